"""``manage.py health``: the readiness report as JSON; exit 1 when not ready (docs/operations.md §1).

Beat's container uses ``--require-beat`` as its healthcheck: beat that stopped ticking is then unhealthy."""

import json

from django.core.management.base import BaseCommand

from ims_project.health import readiness


class Command(BaseCommand):
    help = "Check the database, the broker and beat's last tick; print the report as JSON, exit 1 when not ready."

    def add_arguments(self, parser):
        parser.add_argument("--require-beat", action="store_true", help="not ready when beat's tick is stale")

    def handle(self, *args, require_beat=False, **options):
        report = readiness(require_beat=require_beat)
        self.stdout.write(json.dumps(report, indent=2))
        if not report["ready"]:
            raise SystemExit(1)

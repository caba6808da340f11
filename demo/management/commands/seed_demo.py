"""``manage.py seed_demo``: the demo organisation, its users and ~5,000 documents. Safe to run again."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from audit.services import Actor
from demo.services import login_help, seed_demo


class Command(BaseCommand):
    help = "Create the 'Demo Industries' organisation (slug demo) with a user per role and ~5,000 documents."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="where the site runs (for the message)"
        )

    def handle(self, *args, **options):
        result = seed_demo(actor=Actor.system("seed_demo"))
        for gstin, ingest in result.ingests.items():
            self.stdout.write(
                f"{gstin}: {ingest.created} documents created, {ingest.unchanged} already there"
            )
        if result.created_users:
            self.stdout.write(f"Users created: {', '.join(result.created_users)}")
        if result.register is not None:
            run = result.register.run
            counts = ", ".join(f"{k} {v}" for k, v in sorted((run.counts or {}).items())) if run else ""
            self.stdout.write(
                f"Purchase register: {result.register.lines} lines imported; reconciliation "
                f"#{run.pk if run else '-'} of the demo periods: {counts}"
            )
        if result.local_actions:
            self.stdout.write(f"Local (not yet pushed) actions: {result.local_actions}")
        self.stdout.write(self.style.SUCCESS(login_help(options["url"])))

"""``manage.py export_tenant SLUG --out FILE.zip``: all of an organisation's data as CSV files in a zip, with
``manifest.json`` (docs/operations.md §5)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from tenancy import services
from tenancy.models import Tenant
from tenancy.scoping import tenant_scope


class Command(BaseCommand):
    help = "Write all of an organisation's data to a zip: one CSV per table and manifest.json."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--out", required=True, help="the zip file to write")

    def handle(self, *args, slug, out, **options):
        tenant = Tenant.objects.filter(slug=slug, deleted_at__isnull=True).first()
        if tenant is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        with tenant_scope(tenant):
            manifest = services.write_tenant_export(
                tenant=tenant, actor=Actor.system("manage.py export_tenant"), target=Path(out)
            )
        total = sum(f["rows"] for f in manifest["files"])
        self.stdout.write(f"{tenant.slug}: {total:,} rows in {len(manifest['files'])} files -> {out}")

"""``manage.py dump_tenant SLUG FOLDER``: a backup of one organisation's rows (binary COPY per table and a
manifest), for ``manage.py restore_tenant`` (docs/operations.md §4)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenancy import portability
from tenancy.models import Tenant


class Command(BaseCommand):
    help = "Dump one organisation's rows (binary COPY per table, manifest.json) into a folder."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("folder")

    def handle(self, *args, slug, folder, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No organisation with slug {slug!r}.")
        manifest = portability.write_dump(tenant, Path(folder))
        total = sum(t["rows"] for t in manifest["tables"])
        self.stdout.write(f"{tenant.slug}: {total:,} rows of {len(manifest['tables'])} tables -> {folder}")

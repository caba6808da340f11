"""``manage.py restore_tenant FOLDER``: load a ``dump_tenant`` folder into this database (one with the same schema
that does not hold the organisation), in one transaction (docs/operations.md §4), as the tables' owner (triggers off
while loading need a superuser; with ``DATABASE_OWNER_URL`` set, as that user: docs/decisions/0013)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenancy import portability


class Command(BaseCommand):
    help = "Restore one organisation's rows from a dump_tenant folder into this database."

    def add_arguments(self, parser):
        parser.add_argument("folder")

    def handle(self, *args, folder, **options):
        owner = hasattr(connection, "become_owner")
        if owner:
            connection.become_owner()
        try:
            loaded = portability.restore_dump(Path(folder))
        except portability.RestoreError as exc:
            raise CommandError(f"Nothing restored: {exc}") from exc
        finally:
            if owner:
                connection.become_app()
        self.stdout.write(f"restored {sum(loaded.values()):,} rows of {len(loaded)} tables")

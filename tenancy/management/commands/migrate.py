"""Django's ``migrate``, run as the owner of the tables, then the row-level security of every tenant table
(re)applied: a table added by any migration is protected without a migration of its own (ims_project.rls,
docs/decisions/0012-row-level-security.md)."""

from __future__ import annotations

from django.core.management.commands import migrate
from django.db import connections

from ims_project import rls


class Command(migrate.Command):
    def handle(self, *args, **options):
        connection = connections[options["database"]]
        if connection.vendor != "postgresql" or not hasattr(connection, "become_owner"):
            return super().handle(*args, **options)
        connection.become_owner()
        try:
            super().handle(*args, **options)
            if not rls.enabled():  # IMS_RLS=0: the wall taken down, the application connecting as the owner
                tables = rls.remove(connection)
                if options["verbosity"] >= 1:
                    self.stdout.write(f"Row-level security off (IMS_RLS=0) on {len(tables)} tenant tables.")
                return
            tables = rls.apply(connection)
            if options["verbosity"] >= 1:
                self.stdout.write(f"Row-level security on {len(tables)} tenant tables (role {rls.role()}).")
            for gap in rls.owner_gaps(connection):
                self.stderr.write(f"Warning: {gap}.")
        finally:
            connection.become_app()

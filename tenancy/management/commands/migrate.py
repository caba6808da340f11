"""Django's ``migrate``, run as the owner of the tables (``DATABASE_OWNER_URL`` when set, else the connecting user),
then the row-level security of every tenant table (re)applied: a table added by any migration is protected without a
migration of its own; the application's role, its login (with ``DATABASE_OWNER_URL``) and the owner's functions
(re)created (ims_project.rls, docs/decisions/0012-row-level-security.md, 0013-application-login-owns-nothing.md)."""

from __future__ import annotations

from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS, connections

from ims_project import priority, rls


class Command(migrate.Command):
    def execute(self, *args, **options):
        # As the owner from the start: the system checks that run before ``handle`` connect too, and on a new
        # server the application's role does not exist until this command has created it.
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql" or not hasattr(connection, "become_owner"):
            return super().execute(*args, **options)
        connection.become_owner()
        try:
            return super().execute(*args, **options)
        finally:
            connection.become_app()

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        if connection.vendor != "postgresql" or not hasattr(connection, "become_owner"):
            return super().handle(*args, **options)
        super().handle(*args, **options)
        gaps = priority.install(connection)
        if not rls.enabled():  # IMS_RLS=0: the wall taken down, the application connecting as the owner
            tables = rls.remove(connection)
            if options["verbosity"] >= 1:
                self.stdout.write(f"Row-level security off (IMS_RLS=0) on {len(tables)} tenant tables.")
        else:
            tables = rls.apply(connection)
            if options["verbosity"] >= 1:
                self.stdout.write(f"Row-level security on {len(tables)} tenant tables (role {rls.role()}).")
            gaps = rls.owner_gaps(connection) + rls.login_gaps(connection) + gaps
        for gap in gaps:
            self.stderr.write(f"Warning: {gap}.")

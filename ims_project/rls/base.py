"""The PostgreSQL backend with the session's role and tenant kept for row-level security (ims_project.rls)."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS
from django.db.backends.postgresql import base
from django_scopes.state import get_scope
from psycopg import pq

from . import ALL, SETTING, enabled, role, wanted


class DatabaseWrapper(base.DatabaseWrapper):
    """Sets ``role`` to the application's role at connect, and ``ims.tenant_id`` to the open tenant scope before
    each cursor and statement (one round trip when it changes, none otherwise). A rollback may undo a change of the
    setting made inside the transaction, so the next statement sets it again."""

    owner = False  # migrate: this process runs as the connecting user (tenancy's migrate command)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rls_tenant: str | None = None  # what the session holds; None: not known
        self.execute_wrappers.append(self._rls_execute)

    def _rls_on(self) -> bool:
        return enabled() and self.alias == DEFAULT_DB_ALIAS

    def init_connection_state(self):
        super().init_connection_state()
        self.rls_tenant = None
        if not self._rls_on():
            return
        want = wanted(get_scope())
        with self.wrap_database_errors, self.connection.cursor() as cur:
            if self.owner:
                cur.execute("SELECT set_config(%s, %s, false)", [SETTING, want])
            else:
                cur.execute(
                    "SELECT set_config('role', %s, false), set_config(%s, %s, false)", [role(), SETTING, want]
                )
        self.rls_tenant = want

    def rls_sync(self) -> None:
        """Set ``ims.tenant_id`` to the open scope's when the session holds another value."""
        if self.connection is None or not self._rls_on():
            return
        want = wanted(get_scope())
        if want == self.rls_tenant or self.connection.info.transaction_status == pq.TransactionStatus.INERROR:
            return
        with self.wrap_database_errors, self.connection.cursor() as cur:
            cur.execute("SELECT set_config(%s, %s, false)", [SETTING, want])
        self.rls_tenant = want

    def _rls_execute(self, execute, sql, params, many, context):
        self.rls_sync()
        return execute(sql, params, many, context)

    def create_cursor(self, name=None):
        self.rls_sync()  # a cursor's COPY does not pass through the statement wrappers
        return super().create_cursor(name)

    def _rollback(self):
        self.rls_tenant = None
        return super()._rollback()

    def _savepoint_rollback(self, sid):
        self.rls_tenant = None
        return super()._savepoint_rollback(sid)

    def become_owner(self) -> None:
        """Run as the connecting user from now on in this process (migrate)."""
        type(self).owner = True
        if self.connection is not None:
            with self.cursor() as cur:
                cur.execute("RESET ROLE")

    def become_app(self) -> None:
        """Back to the application's role (after migrate, in a process that goes on: the test run)."""
        type(self).owner = False
        if self.connection is not None and self._rls_on():
            with self.cursor() as cur:
                cur.execute(f"SET ROLE {role()}")


__all__ = ["ALL", "DatabaseWrapper"]

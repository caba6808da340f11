"""The PostgreSQL backend with the session's role and tenant kept for row-level security (ims_project.rls)."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.db.backends.postgresql import base
from django_scopes.state import get_scope
from psycopg import pq

from .. import priority
from . import ALL, SETTING, enabled, owner_credentials, role, wanted


class DatabaseWrapper(base.DatabaseWrapper):
    """Sets ``role`` to the application's role at connect, and ``ims.tenant_id`` to the open tenant scope before
    each cursor and statement (one round trip when it changes, none otherwise). A rollback may undo a change of the
    setting made inside the transaction, so the next statement sets it again."""

    owner = False  # migrate: this process runs as the tables' owner (tenancy's migrate command)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rls_tenant: str | None = None  # what the session holds; None: not known
        # Whether the session's login bypasses row-level security (owner of the tables as superuser or BYPASSRLS):
        # rls.copy_in copies directly then, through a temporary table otherwise. Known at connect.
        self.rls_login_bypasses = True
        self._rls_login: dict | None = None  # the login's credentials while become_owner has the owner's
        self.execute_wrappers.append(self._rls_execute)

    def _rls_on(self) -> bool:
        return enabled() and self.alias == DEFAULT_DB_ALIAS

    def init_connection_state(self):
        super().init_connection_state()
        self.rls_tenant = None
        self._background()
        if not self._rls_on():
            return
        want = wanted(get_scope())
        bypasses = "(SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = session_user)"
        with self.wrap_database_errors, self.connection.cursor() as cur:
            if self.owner:
                cur.execute(f"SELECT set_config(%s, %s, false), {bypasses}", [SETTING, want])
            else:
                cur.execute(
                    f"SELECT set_config('role', %s, false), set_config(%s, %s, false), {bypasses}",
                    [role(), SETTING, want],
                )
            self.rls_login_bypasses = bool(cur.fetchone()[-1])
        self.rls_tenant = want

    def _background(self) -> None:
        """A worker's session: named ``ims-worker`` and its backend at the worker's niceness (ims_project.priority).
        A database without ``ims_lower_priority`` (not migrated yet) leaves the session as it is."""
        nice = priority.background_nice()
        if nice <= 0 or self.alias != DEFAULT_DB_ALIAS:
            return
        try:
            with self.wrap_database_errors, self.connection.cursor() as cur:
                cur.execute(priority.session_sql(), [priority.APPLICATION_NAME, nice])
        except DatabaseError as exc:
            priority.log.warning("background session priority not set: %s", exc)

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
        """Run as the tables' owner from now on in this process (migrate, restore_tenant): the connecting user, or
        the user of ``DATABASE_OWNER_URL`` when set (the connection is closed and opened again as that user)."""
        type(self).owner = True
        owner = owner_credentials()
        if owner is not None and self._rls_login is None:
            self.close()
            self._rls_login = {key: self.settings_dict.get(key) for key in owner}
            self.settings_dict.update(owner)
        elif self.connection is not None:
            with self.cursor() as cur:
                cur.execute("RESET ROLE")

    def become_app(self) -> None:
        """Back to the application's role (after migrate, in a process that goes on: the test run)."""
        type(self).owner = False
        if self._rls_login is not None:
            self.close()
            self.settings_dict.update(self._rls_login)
            self._rls_login = None
        elif self.connection is not None and self._rls_on():
            with self.cursor() as cur:
                cur.execute(f"SET ROLE {role()}")


__all__ = ["ALL", "DatabaseWrapper"]

"""PostgreSQL row-level security: the second wall behind the ORM's tenant scoping (docs/decisions/0012).

Every table with a ``tenant_id`` column has row-level security enabled and forced, with one policy: a row is
visible and writable when its ``tenant_id`` equals the session's ``ims.tenant_id`` setting, or when that setting is
``all`` (system code outside any tenant). An unset setting shows nothing. The application's sessions run as a role
that owns no table and is no superuser (``IMS_RLS_ROLE``, ``SET ROLE`` at connect); migrations, and the few
statements of the reconciliation engine and the ingest that need a table's owner (partitions, ANALYZE), run as the
connecting user, who owns the tables (:func:`as_owner`).

The database backend of this package (``ENGINE = "ims_project.rls"``) keeps ``ims.tenant_id`` equal to the open
django-scopes tenant scope on every connection, before each cursor and each statement: the tenant's id inside
``tenancy.scoping.tenant_scope`` (``scopes_disabled()`` inside it does not widen it), ``all`` where no tenant scope is
open. This module imports nothing of ours (the ims_project room).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

SETTING = "ims.tenant_id"
ALL = "all"  # the value for system code that spans tenants (sweeps, beat fan-out, sign-in, commands)
NONE = "none"  # a scope opened for no tenant: nothing visible
POLICY = "ims_tenant"

# The policy's two sub-selects run once per statement (init plans), not once per row; the tenant is a number or
# NULL (nothing visible), never an error, whatever the setting holds.
_TENANT_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ims_rls_tenant() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN current_setting('{SETTING}', true) ~ '^[0-9]{{1,18}}$'
              THEN current_setting('{SETTING}', true)::bigint END
$$
"""
_USING = f"(SELECT coalesce(current_setting('{SETTING}', true) = '{ALL}', false)) OR tenant_id = (SELECT ims_rls_tenant())"


# Built-in functions the list's filters apply to a column that PostgreSQL does not mark leakproof. Under row-level
# security the planner may not use an index for a filter that is not leakproof (it must check the policy first), so
# the document number search (UPPER(doc_number) LIKE …, a trigram index) and keyset pages by value (numeric
# comparisons) would read every row of the tenant. Marked leakproof in this database when the migrating user is a
# superuser; the wall is against our own code forgetting a filter, not against someone writing SQL (decision 0012).
LEAKPROOF = (
    "upper(text)",
    "textlike(text, text)",
    "texticlike(text, text)",
    "numeric_eq(numeric, numeric)",
    "numeric_ne(numeric, numeric)",
    "numeric_lt(numeric, numeric)",
    "numeric_le(numeric, numeric)",
    "numeric_gt(numeric, numeric)",
    "numeric_ge(numeric, numeric)",
)


def enabled() -> bool:
    return settings.IMS_RLS


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def role() -> str:
    """The application's role (``IMS_RLS_ROLE``): a plain lower-case identifier, since it is written into SQL."""
    name = settings.IMS_RLS_ROLE
    if not _IDENTIFIER.fullmatch(name):
        raise ImproperlyConfigured(f"IMS_RLS_ROLE must be a lower-case PostgreSQL identifier, not {name!r}")
    return name


def wanted(scope: dict) -> str:
    """The ``ims.tenant_id`` a django-scopes state asks for."""
    if "tenant" not in scope:
        return ALL
    tenant = getattr(scope["tenant"], "pk", scope["tenant"])
    return str(int(tenant)) if isinstance(tenant, int) or str(tenant).isdigit() else NONE


def protect_sql(table: str) -> list[str]:
    """The statements that put ``table`` (a name from the code) behind the wall: idempotent."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"CREATE POLICY {POLICY} ON {table} USING ({_USING}) WITH CHECK ({_USING})",
    ]


def tenant_tables(cur) -> list[str]:
    """Every table and partitioned table of the schema with a ``tenant_id`` column (partitions included)."""
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1"
    )
    return [name for (name,) in cur.fetchall()]


def apply(conn=None) -> list[str]:
    """Create the application's role when missing, grant it the data (not the schema) and protect every tenant
    table; run by ``migrate`` as the owner. Returns the tables protected."""
    conn = conn or connection
    name = role()
    with conn.cursor() as cur:
        cur.execute("RESET ROLE")
        # Roles are shared by every database of the server: another database's migrate may create it first.
        cur.execute(
            "DO $$ BEGIN "  # nosec B608  # the role's name is checked to be a plain identifier (role())
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
            f"CREATE ROLE {name} NOLOGIN NOSUPERUSER NOBYPASSRLS; END IF; "
            f"IF NOT pg_has_role(session_user, '{name}', 'MEMBER') THEN GRANT {name} TO session_user; END IF; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        cur.execute(_TENANT_FUNCTION)
        privileges = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
        cur.execute(f"GRANT {privileges} ON ALL TABLES IN SCHEMA public TO {name}")
        cur.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {name}")
        # Tables the owner creates later (a reconciliation run's partition) are the role's to use too.
        cur.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {privileges} ON TABLES TO {name}")
        cur.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {name}"
        )
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user")
        if cur.fetchone()[0]:
            for function in LEAKPROOF:
                cur.execute(f"ALTER FUNCTION pg_catalog.{function} LEAKPROOF")
        tables = tenant_tables(cur)
        for table in tables:
            for statement in protect_sql(table):
                cur.execute(statement)
    return tables


def remove(conn=None) -> list[str]:
    """Take every tenant table out from behind the wall (``IMS_RLS=0``: ``migrate`` calls it, so that the owner the
    application then connects as is not confined by a forced policy with no tenant set). Returns the tables."""
    conn = conn or connection
    with conn.cursor() as cur:
        tables = tenant_tables(cur)
        for table in tables:
            cur.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
            cur.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            cur.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    return tables


@contextmanager
def as_owner() -> Iterator[None]:
    """Run the body as the connecting user, who owns the tables, inside a transaction (a savepoint when one is
    open): for the statements only an owner may run (a partition created, attached or dropped; ANALYZE). Row-level
    security still holds for it (the tables force it)."""
    if not enabled():
        yield
        return
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL ROLE NONE")
        yield
        cur.execute(f"SET LOCAL ROLE {role()}")


@contextmanager
def copy_in(cur, statement: str) -> Iterator:
    """``COPY … FROM STDIN`` into a table behind the wall, on Django cursor ``cur``. PostgreSQL refuses COPY FROM on a
    table under row-level security (forced, even for its owner), so the COPY alone runs as the connecting user, who
    must bypass it (a superuser, or a role with BYPASSRLS); the rows it writes carry the tenant of the caller's scope
    and every other statement of the path runs under the wall."""
    with as_owner(), cur.cursor.copy(statement) as copy:
        yield copy


def owner_gaps(conn=None) -> list[str]:
    """What the connecting user lacks for the wall to hold without breaking the product (said by ``migrate``)."""
    conn = conn or connection
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user")
        superuser, bypass = cur.fetchone()
    gaps = []
    if not (superuser or bypass):
        gaps.append(
            "the connecting user is neither a superuser nor BYPASSRLS: the COPY of the ingest, the ledger, the 2B "
            "import, pushes and reconciliation results will fail (ALTER ROLE … BYPASSRLS, as a superuser)"
        )
    if not superuser:
        gaps.append(
            "the connecting user is not a superuser: the document number search and pages by value cannot use "
            "their indexes under row-level security (functions not marked leakproof; docs/decisions/0012)"
        )
    return gaps


def ensure_connection(conn=None) -> None:
    """Connect, and set the open scope's tenant on the session now: a raw psycopg cursor on the connection
    (``connection.connection``) passes none of the backend's hooks."""
    conn = conn or connection
    conn.ensure_connection()
    if hasattr(conn, "rls_sync"):
        conn.rls_sync()

"""PostgreSQL row-level security: the second wall behind the ORM's tenant scoping (docs/decisions/0012).

Every table with a ``tenant_id`` column has row-level security enabled and forced, with one policy: a row is
visible and writable when its ``tenant_id`` equals the session's ``ims.tenant_id`` setting, or when that setting is
``all`` (system code outside any tenant). An unset setting shows nothing. The application's sessions run as a role
that owns no table and is no superuser (``IMS_RLS_ROLE``, ``SET ROLE`` at connect). Migrations run as the tables'
owner: ``DATABASE_OWNER_URL`` when set (the application then logs in as a role that owns nothing and bypasses
nothing, with no way back to the owner: docs/decisions/0013), else the connecting user. The few steps only an owner
may take (a run's results partition, ANALYZE, the number index's pending list) go through the owner's SECURITY
DEFINER functions (:func:`partition`, :func:`analyze`, :func:`clean_pending_list`), and ``COPY … FROM`` into a table
behind the wall through :func:`copy_in`.

The database backend of this package (``ENGINE = "ims_project.rls"``) keeps ``ims.tenant_id`` equal to the open
django-scopes tenant scope on every connection, before each cursor and each statement: the tenant's id inside
``tenancy.scoping.tenant_scope`` (``scopes_disabled()`` inside it does not widen it), ``all`` where no tenant scope is
open. This module imports nothing of ours (the ims_project room).
"""

from __future__ import annotations

import hashlib
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


def owner_credentials() -> dict | None:
    """The tables' owner's user, password, host and port (``DATABASE_OWNER_URL``), when the application's login
    (``DATABASE_URL``) is another role, one that owns nothing (docs/decisions/0013); None when the application
    connects as the owner."""
    owner = settings.IMS_DATABASE_OWNER
    if not owner:
        return None
    return {key: owner.get(key) for key in ("USER", "PASSWORD", "HOST", "PORT")}


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
        login = getattr(
            conn, "_rls_login", None
        )  # DATABASE_URL's user while migrate runs as DATABASE_OWNER_URL's
        if login is not None:
            _ensure_login(conn, login, name)
        cur.execute("SELECT current_schema()")
        schema = cur.fetchone()[0]
        if not _IDENTIFIER.fullmatch(schema):
            raise ImproperlyConfigured(f"the schema's name must be a plain identifier, not {schema!r}")
        for definition in _functions_sql(schema):
            cur.execute(definition)
        for function in FUNCTIONS:
            cur.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
            cur.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {name}")
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


def _ensure_login(conn, login: dict, group: str) -> None:
    """The application's login (``DATABASE_URL``'s user, another than the owner): created when missing, with its
    password, owning nothing and bypassing nothing, and a member of the application's role ``group``."""
    from psycopg import errors, sql  # noqa: PLC0415 - only migrate with DATABASE_OWNER_URL needs it

    user = login["USER"]
    with conn.connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [user])
        if cur.fetchone() is None:
            statement = sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
            ).format(sql.Identifier(user))
            if login.get("PASSWORD"):
                statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(login["PASSWORD"]))
            try:
                with conn.connection.transaction():
                    cur.execute(statement)
            except errors.DuplicateObject:  # another database's migrate created it first
                pass
        cur.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [user, group])
        if not cur.fetchone()[0]:
            cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(user)))


def login_gaps(conn=None) -> list[str]:
    """What makes the application's login (``DATABASE_URL``) able to get past the wall, with
    ``DATABASE_OWNER_URL`` set: said by ``migrate``."""
    login = getattr(conn or connection, "_rls_login", None)
    if login is None:
        return []
    with (conn or connection).cursor() as cur:
        cur.execute(
            "SELECT rolsuper, rolbypassrls, pg_has_role(rolname, session_user, 'MEMBER'), "
            "EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "        WHERE n.nspname = current_schema() AND c.relowner = r.oid) "
            "FROM pg_roles r WHERE rolname = %s",
            [login["USER"]],
        )
        superuser, bypass, member, owns = cur.fetchone()
    named = [
        ("a superuser", superuser),
        ("BYPASSRLS", bypass),
        ("a member of the owner", member),
        ("the owner of tables", owns),
    ]
    return [
        f"the application's login {login['USER']} is {what}: it can get past row-level security "
        "(docs/operations.md §8)"
        for what, true in named
        if true
    ]


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
    """Run the body as the connecting user inside a transaction (a savepoint when one is open). Only where that user
    owns the tables (no ``DATABASE_OWNER_URL``): the benchmarks' set-up steps. The product's statements that need
    the owner go through :func:`partition`, :func:`analyze`, :func:`clean_pending_list` and :func:`copy_in`, which
    work for a login that owns nothing (docs/decisions/0013)."""
    if not enabled():
        yield
        return
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL ROLE NONE")
        yield
        cur.execute(f"SET LOCAL ROLE {role()}")


# The SECURITY DEFINER functions through which the application's role (which owns nothing) has the owner take the
# few steps only a table's owner may take, each on checked arguments only (docs/decisions/0013). Created by
# ``migrate`` (apply), owned by the migrating user, executable by the application's role alone.
ANALYZE_TABLES = ("invoices_supplierdocument", "reconciliation_purchaseline", "returns_deadlineentry")
PENDING_LIST_INDEXES = ("doc_number_trgm_idx",)
RESULTS = "reconciliation_reconmatch"  # the reconciliation results, partitioned by run (decision 0002)
RUNS = "reconciliation_reconrun"
# The statements of each step of a run's results partition, ``%1$I`` the partition's name and ``%2$s`` the run's id;
# ``create`` also puts the table behind the wall (protect_sql) when the wall is up.
PARTITION_STEPS: dict[str, tuple[str, ...]] = {
    "create": ("DROP TABLE IF EXISTS %1$I", f"CREATE TABLE %1$I (LIKE {RESULTS} INCLUDING DEFAULTS)"),
    "index": (
        "ALTER TABLE %1$I ADD PRIMARY KEY (id, run_id)",
        "CREATE INDEX %1$I_0 ON %1$I (run_id, outcome, id)",
        "CREATE INDEX %1$I_1 ON %1$I (run_id, purchase_id) WHERE purchase_id IS NOT NULL",
        "CREATE INDEX %1$I_2 ON %1$I (run_id, document_id) WHERE document_id IS NOT NULL",
        "ALTER TABLE %1$I ADD CONSTRAINT %1$I_run CHECK (run_id = %2$s)",
    ),
    "attach": (
        f"ALTER TABLE {RESULTS} ATTACH PARTITION %1$I FOR VALUES IN (%2$s)",
        "ALTER TABLE %1$I DROP CONSTRAINT IF EXISTS %1$I_run",
    ),
    "drop": ("DROP TABLE IF EXISTS %1$I",),
}


def _execute_format(statement: str) -> str:
    """A PL/pgSQL ``EXECUTE`` of ``statement`` with ``%1$I`` the partition's name and ``%2$s`` the run's id."""
    return f"EXECUTE format($q${statement}$q$, part, run);"


def _functions_sql(schema: str) -> list[str]:
    """The functions' definitions, for the schema ``schema`` (its name checked by the caller)."""
    search_path = f"SET search_path = {schema}, pg_temp"  # pg_temp last: no temporary table shadows ours
    protect = protect_sql("%1$I")
    branches = "\n  ELS".join(
        f"IF step = '{step}' THEN\n    "
        + "\n    ".join(_execute_format(s) for s in (*statements, *(protect if step == "create" else ())))
        for step, statements in PARTITION_STEPS.items()
    )
    analyze = ", ".join(f"'{t}'" for t in ANALYZE_TABLES)
    pending = ", ".join(f"'{i}'" for i in PENDING_LIST_INDEXES)
    steps = ", ".join(f"'{s}'" for s in PARTITION_STEPS)
    return [
        f"""
CREATE OR REPLACE FUNCTION ims_recon_partition(step text, run bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER {search_path} AS $fn$
DECLARE
  part text := '{RESULTS}_r' || run;
BEGIN
  IF step IS NULL OR step NOT IN ({steps}) THEN
    RAISE EXCEPTION 'ims_recon_partition: no step %', step USING ERRCODE = '22023';
  END IF;
  -- The run must be one of the session's tenant (the runs table is behind the wall for this function's owner too).
  IF run IS NULL OR ims_rls_tenant() IS NULL
     OR NOT EXISTS (SELECT FROM {RUNS} r WHERE r.id = run AND r.tenant_id = ims_rls_tenant()) THEN
    RAISE EXCEPTION 'ims_recon_partition: run % is not a run of this session''s tenant', run
      USING ERRCODE = '42501';
  END IF;
  {branches}
  END IF;
END $fn$""",  # noqa: S608  # nosec B608  # the function's text: names and lists from the code
        f"""
CREATE OR REPLACE FUNCTION ims_analyze(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER {search_path} AS $fn$
BEGIN
  IF name IS NULL OR name NOT IN ({analyze}) THEN
    RAISE EXCEPTION 'ims_analyze: % is not a table the application may analyze', name USING ERRCODE = '42501';
  END IF;
  EXECUTE format('ANALYZE %I', name);
END $fn$""",
        f"""
CREATE OR REPLACE FUNCTION ims_clean_pending_list(name text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER {search_path} AS $fn$
BEGIN
  IF name IS NULL OR name NOT IN ({pending}) THEN
    RAISE EXCEPTION 'ims_clean_pending_list: % is not an index the application may clean', name
      USING ERRCODE = '42501';
  END IF;
  RETURN gin_clean_pending_list(name::regclass);
END $fn$""",
    ]


FUNCTIONS = ("ims_recon_partition(text, bigint)", "ims_analyze(text)", "ims_clean_pending_list(text)")


def partition(cur, step: str, run_id: int) -> None:
    """A step of a reconciliation run's results partition (``create``: the table, empty, behind the wall;
    ``index``: its primary key, indexes and the check of its run; ``attach``; ``drop``), taken by the tables' owner
    for a run of the session's tenant (``ims_recon_partition``). With the wall down (``IMS_RLS=0``) the application
    connects as the owner and takes the step itself."""
    if step not in PARTITION_STEPS:
        raise ValueError(f"no partition step {step!r}")
    if enabled():
        # The step in the statement's text: pg_stat_activity shows which one waits (an ATTACH for its lock).
        cur.execute(f"SELECT ims_recon_partition('{step}', %s)", [int(run_id)])
        return
    part = f"{RESULTS}_r{int(run_id)}"
    for statement in PARTITION_STEPS[step]:
        cur.execute(statement.replace("%1$I", part).replace("%2$s", str(int(run_id))))


def analyze(cur, table: str) -> None:
    """``ANALYZE`` of one of :data:`ANALYZE_TABLES`, taken by its owner (``ims_analyze``; itself with the wall
    down)."""
    if enabled():
        cur.execute("SELECT ims_analyze(%s)", [table])
    elif table in ANALYZE_TABLES:
        cur.execute(f"ANALYZE {table}")


def clean_pending_list(cur, index: str) -> None:
    """``gin_clean_pending_list`` of one of :data:`PENDING_LIST_INDEXES`, by its owner (``ims_clean_pending_list``)."""
    if enabled():
        cur.execute("SELECT ims_clean_pending_list(%s)", [index])
    elif index in PENDING_LIST_INDEXES:
        cur.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])


_COPY = re.compile(r"\s*COPY\s+([a-z_][a-z0-9_]*)\s*\(([a-z0-9_,\s]+)\)\s+FROM\s+STDIN\b(.*)", re.I | re.S)


@contextmanager
def copy_in(cur, statement: str) -> Iterator:
    """``COPY … FROM STDIN`` into a table behind the wall, on Django cursor ``cur``. PostgreSQL refuses COPY FROM on a
    table under row-level security (forced, even for its owner). When the session's login bypasses it (the owner,
    a superuser or BYPASSRLS: no ``DATABASE_OWNER_URL``) the COPY alone runs as that login; otherwise (a login that
    owns nothing) the rows are copied into a temporary table of the same columns (no row-level security there),
    then moved with one ``INSERT … SELECT`` that the policy checks (docs/decisions/0013). Every other statement of
    the path runs under the wall either way."""
    db = getattr(cur, "db", connection)
    if not enabled() or getattr(db, "rls_login_bypasses", True):
        with as_owner(), cur.cursor.copy(statement) as copy:
            yield copy
        return
    found = _COPY.fullmatch(statement)
    if found is None:
        raise ValueError(f"copy_in takes COPY table (columns) FROM STDIN …, not {statement!r}")
    table, columns, options = found[1], ", ".join(c.strip() for c in found[2].split(",")), found[3]
    stage = "ims_copy_" + hashlib.blake2b(f"{table}({columns})".encode(), digest_size=8).hexdigest()
    with transaction.atomic():
        # The stage holds the table's columns (their types, no constraint, no default); dropped at commit, emptied
        # before each use. The INSERT runs on the psycopg cursor, as the COPY would: its errors (a unique key
        # refusing a row: the ingest's presumed-new batch, decision 0004) and its row count are the caller's.
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "  # noqa: S608  # nosec B608  # names matched above
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.cursor.copy(f"COPY {stage} ({columns}) FROM STDIN{options}") as copy:
            yield copy
        cur.cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}")  # noqa: S608  # nosec B608  # as above


def owner_gaps(conn=None) -> list[str]:
    """What the connecting user lacks for the wall to hold without breaking the product (said by ``migrate``)."""
    conn = conn or connection
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user")
        (superuser,) = cur.fetchone()
    gaps = []
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

"""A tenant's rows, table by table: the export an owner downloads, the backup dump a drill restores, and what
deleting a tenant removes (docs/operations.md §4-§6).

Every tenant lives in the same tables, each tenant-owned row carrying a ``tenant`` foreign key (docs/architecture.md
§4), so "a tenant's data" is, for every model with a foreign key to :class:`~tenancy.models.Tenant`, the rows with
that tenant; plus the organisation's own row, the users its rows name (members, actors, requesters) and the
per-GSTIN grants of django-guardian. The tables are found through the app registry (this room imports no room
above it), parents before children (:func:`tenant_tables`); a table with a ``tenant_id`` column that no model
declares makes :func:`uncovered_tables` non-empty, and a test keeps it empty.

SQL here is built from identifiers the app registry gives (table and column names, quoted); the tenant id is always
a parameter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from psycopg import sql

from ims_project import rls

from .models import Registration, Tenant

EXPORT_FORMAT = "ims-tenant-export/1"
DUMP_FORMAT = "ims-tenant-dump/1"
# Columns an export leaves out (a backup dump keeps them: a restore must let people log in again).
EXPORT_SECRET_COLUMNS = {"auth_user": {"password"}}


@dataclass(frozen=True)
class TenantTable:
    """One table's share of a tenant: ``SELECT columns FROM table WHERE predicate`` (``%(tenant)s`` in it)."""

    name: str
    label: str  # the model ("app.Model"), or what the rows are
    columns: tuple[str, ...]
    predicate: str  # SQL text over the table's own columns; the tenant id is the parameter %(tenant)s
    depends_on: tuple[str, ...] = field(default=())

    def select(self, columns: tuple[str, ...] | None = None) -> sql.Composed:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in (columns or self.columns))
        return sql.SQL("SELECT {} FROM {} WHERE {}").format(
            cols, sql.Identifier(self.name), sql.SQL(self.predicate)
        )


def _tenant_fk(model: type[models.Model]) -> models.ForeignKey | None:
    for f in model._meta.concrete_fields:
        if isinstance(f, models.ForeignKey) and f.related_model is Tenant:
            return f
    return None


def _columns(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(f.column for f in model._meta.concrete_fields)


def tenant_models() -> list[type[models.Model]]:
    """Every concrete model with a foreign key to Tenant, parents before children (their foreign keys)."""
    found = [
        m
        for m in apps.get_models(include_auto_created=True)
        if not m._meta.proxy and m._meta.managed is not False and _tenant_fk(m) is not None
    ]
    by_table = {m._meta.db_table: m for m in found}
    ordered: list[type[models.Model]] = []
    seen: set[str] = set()

    def visit(model: type[models.Model], path: tuple[str, ...] = ()) -> None:
        table = model._meta.db_table
        if table in seen or table in path:
            return
        for f in model._meta.concrete_fields:
            parent = getattr(f, "related_model", None)
            if isinstance(f, models.ForeignKey) and parent is not None and parent._meta.db_table in by_table:
                visit(parent, (*path, table))
        seen.add(table)
        ordered.append(model)

    for model in sorted(found, key=lambda m: m._meta.db_table):
        visit(model)
    return ordered


def tenant_tables() -> list[TenantTable]:
    """The tables of a tenant's data in restore order: the organisation, its users, then every tenant-owned table
    (parents first), then the per-GSTIN grants."""
    user_model = get_user_model()
    user_table = user_model._meta.db_table
    owned = tenant_models()
    user_refs: list[str] = []
    tables: list[TenantTable] = []
    for model in owned:
        fk = _tenant_fk(model)
        if fk is None:  # tenant_models() returns only models with one
            raise RuntimeError(f"{model._meta.label} has no foreign key to Tenant")
        deps = tuple(
            sorted(
                {
                    f.related_model._meta.db_table
                    for f in model._meta.concrete_fields
                    if isinstance(f, models.ForeignKey) and f.related_model is not None
                }
            )
        )
        tables.append(
            TenantTable(
                name=model._meta.db_table,
                label=model._meta.label,
                columns=_columns(model),
                predicate=f"{connection.ops.quote_name(fk.column)} = %(tenant)s",
                depends_on=deps,
            )
        )
        for f in model._meta.concrete_fields:
            if isinstance(f, models.ForeignKey) and f.related_model is user_model:
                user_refs.append(
                    f"SELECT {connection.ops.quote_name(f.column)} FROM {connection.ops.quote_name(model._meta.db_table)}"  # nosec B608  # quoted column and table names from the models
                    f" WHERE {connection.ops.quote_name(fk.column)} = %(tenant)s"
                )
    head = [
        TenantTable(Tenant._meta.db_table, Tenant._meta.label, _columns(Tenant), "id = %(tenant)s"),
        TenantTable(
            user_table,
            f"{user_model._meta.label} (the users the tenant's rows name)",
            _columns(user_model),
            f"id IN ({' UNION '.join(user_refs)})" if user_refs else "false",
        ),
    ]
    grants = apps.get_model("guardian", "UserObjectPermission")
    content_type = apps.get_model("contenttypes", "ContentType").objects.get_for_model(Registration)
    registration_table = connection.ops.quote_name(Registration._meta.db_table)
    tail = [
        TenantTable(
            grants._meta.db_table,
            "guardian.UserObjectPermission (per-GSTIN grants)",
            _columns(grants),
            f"content_type_id = {int(content_type.pk)} AND object_pk IN "  # nosec B608  # an int and a model table name; values as params
            f"(SELECT id::text FROM {registration_table} WHERE tenant_id = %(tenant)s)",
            depends_on=(user_table, Registration._meta.db_table),
        )
    ]
    return head + tables + tail


def uncovered_tables() -> list[str]:
    """Tables of the database with a ``tenant_id`` column that :func:`tenant_tables` does not cover (partitions
    are covered by their parent)."""
    covered = {t.name for t in tenant_tables()}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            """
        )
        return sorted({name for (name,) in cursor.fetchall()} - covered)


def _raw() -> psycopg.Connection:
    rls.ensure_connection()  # the open scope's tenant set on the session: the raw connection skips the backend
    return connection.connection  # psycopg 3 connection under Django's


def count_rows(tenant_id: int) -> dict[str, int]:
    """Rows of the tenant in every table of :func:`tenant_tables`."""
    return {table.name: count_rows_in(table, tenant_id) for table in tenant_tables()}


def count_rows_in(table: TenantTable, tenant_id: int) -> int:
    with _raw().cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT count(*) FROM ({}) AS t").format(table.select()), {"tenant": tenant_id}
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view of the tenant for every table read (REPEATABLE READ), when not already in a
    transaction."""
    if connection.in_atomic_block:
        yield
        return
    rls.ensure_connection()  # the scope's tenant set before the transaction: its first statement must be the next
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


# --- The export an owner downloads ------------------------------------------------------------------------------


def _copy_out(
    table: TenantTable, tenant_id: int, fmt: str, columns: tuple[str, ...], write: Callable[[bytes], Any]
) -> int:
    """COPY the table's rows of the tenant out to ``write``; returns the number of rows."""
    query = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT {}{})").format(
        table.select(columns),
        sql.SQL(fmt),
        sql.SQL(", HEADER true") if fmt == "csv" else sql.SQL(""),
    )
    with _raw().cursor() as cursor:
        # COPY takes no parameters: bind the tenant id into the query text on the client side, as a literal.
        text = cursor.mogrify(query, {"tenant": tenant_id})
        with cursor.copy(text) as copy:
            for chunk in copy:
                write(bytes(chunk))
        return int(cursor.rowcount)


def write_export(tenant: Tenant, target: Path) -> dict[str, Any]:
    """Write ``tenant``'s data to ``target`` (a zip): one CSV per table (a heading row, then the rows, in the
    table's own columns) and ``manifest.json`` naming each file's table, model, columns, rows and SHA-256.
    Returns the manifest. Written to a ``.part`` file and renamed when complete."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    files = []
    with (
        zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
        _snapshot(),
    ):
        for n, table in enumerate(tenant_tables(), start=1):
            hidden = EXPORT_SECRET_COLUMNS.get(table.name, set())
            columns = tuple(c for c in table.columns if c not in hidden)
            name = f"{n:02d}_{table.name}.csv"
            digest = hashlib.sha256()
            with archive.open(name, "w", force_zip64=True) as out:

                def write(chunk: bytes, out=out, digest=digest) -> None:
                    out.write(chunk)
                    digest.update(chunk)

                rows = _copy_out(table, tenant.pk, "csv", columns, write)
            files.append(
                {
                    "file": name,
                    "table": table.name,
                    "model": table.label,
                    "columns": list(columns),
                    "rows": rows,
                    "sha256": digest.hexdigest(),
                }
            )
        manifest = {
            "format": EXPORT_FORMAT,
            "tenant": {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name},
            "exported_at": dt.datetime.now(dt.UTC).isoformat(),
            "encoding": 'UTF-8 CSV with a heading row; NULL is an empty field, an empty text is ""',
            "files": files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    part.replace(target)
    return manifest


# --- The backup dump and its restore ------------------------------------------------------------------------------


def write_dump(tenant: Tenant, folder: Path) -> dict[str, Any]:
    """Dump ``tenant``'s rows into ``folder``: one PostgreSQL binary COPY file per table, in restore order, and
    ``manifest.json`` (tables, columns, rows). :func:`restore_dump` loads it into a database with the same schema."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = []
    with _snapshot():
        for n, table in enumerate(tenant_tables(), start=1):
            name = f"{n:02d}_{table.name}.copy"
            with open(folder / name, "wb") as out:
                rows = _copy_out(table, tenant.pk, "binary", table.columns, out.write)
            tables.append({"file": name, "table": table.name, "columns": list(table.columns), "rows": rows})
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM django_migrations")
            (last_migration,) = cursor.fetchone()
    manifest = {
        "format": DUMP_FORMAT,
        "tenant": {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name},
        "dumped_at": dt.datetime.now(dt.UTC).isoformat(),
        "last_migration_id": last_migration,
        "tables": tables,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


class RestoreError(Exception):
    pass


def restore_dump(folder: Path) -> dict[str, int]:
    """Load a :func:`write_dump` folder into this database in one transaction; returns the rows per table.

    The target must have the source's schema (migrated to the same point, or made by ``pg_dump --schema-only``)
    and hold none of the rows (ids are kept, so the audit chain and every reference stay as they were). Triggers
    are off while loading (``session_replication_role = replica``, as ``pg_restore --disable-triggers`` does:
    superuser), so the push-queue trigger does not queue the restored documents a second time; the foreign keys are
    checked afterwards by comparing the rows loaded with the manifest and by ``audit_verify``."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != DUMP_FORMAT:
        raise RestoreError(f"{folder} is not a tenant dump ({manifest.get('format')!r})")
    slug = manifest["tenant"]["slug"]
    raw = _raw()
    loaded: dict[str, int] = {}
    with raw.transaction(), raw.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM tenancy_tenant WHERE id = %s OR slug = %s", [manifest["tenant"]["id"], slug]
        )
        if cursor.fetchone():
            raise RestoreError(
                f"this database already has the tenant {slug!r} (or its id): restore into a fresh one"
            )
        if rls.enabled():  # COPY FROM and the replica role need the owner (restore_tenant runs as it)
            cursor.execute("SET LOCAL ROLE NONE")
        cursor.execute("SET LOCAL session_replication_role = replica")
        for entry in manifest["tables"]:
            query = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
                sql.Identifier(entry["table"]),
                sql.SQL(", ").join(sql.Identifier(c) for c in entry["columns"]),
            )
            with open(folder / entry["file"], "rb") as source, cursor.copy(query) as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            loaded[entry["table"]] = cursor.rowcount
        for entry in manifest["tables"]:
            if "id" in entry["columns"]:
                cursor.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence(%(t)s, 'id'), GREATEST(COALESCE(max(id), 1), 1)) FROM {}"
                    ).format(sql.Identifier(entry["table"])),
                    {"t": entry["table"]},
                )
        wrong = {
            e["table"]: (loaded[e["table"]], e["rows"])
            for e in manifest["tables"]
            if loaded[e["table"]] != e["rows"]
        }
        if wrong:
            raise RestoreError(f"rows loaded differ from the dump's: {wrong}")
    return loaded


# --- Deleting a tenant's data ---------------------------------------------------------------------------------------

# What deleting a tenant keeps: its own row (marked deleted) and its audit ledger, append-only by a trigger, which
# records the deletion; users are people, who may belong to other organisations (only their memberships go).
KEPT_ON_DELETE = {Tenant._meta.db_table, "audit_auditevent"}


def delete_rows(tenant_id: int) -> dict[str, int]:
    """Delete the tenant's rows from every table but those of :data:`KEPT_ON_DELETE` and the users, children
    first; returns the rows deleted per table. Runs inside the caller's transaction (the foreign keys are
    deferred, checked at its commit)."""
    user_table = get_user_model()._meta.db_table
    deleted: dict[str, int] = {}
    tables = [t for t in reversed(tenant_tables()) if t.name not in KEPT_ON_DELETE and t.name != user_table]
    with _raw().cursor() as cursor:
        # Twice: deleting documents makes the triggers of maintained summaries write rows of their own (the
        # dashboard's summary deltas, the deadline queue's dirty marks) into tables already emptied; the second
        # pass removes those, and no trigger writes again.
        for _pass in range(2):
            for table in tables:
                cursor.execute(
                    sql.SQL("DELETE FROM {} WHERE {}").format(
                        sql.Identifier(table.name), sql.SQL(table.predicate)
                    ),
                    {"tenant": tenant_id},
                )
                deleted[table.name] = deleted.get(table.name, 0) + int(cursor.rowcount)
    return deleted


# --- Files the tenant's rows point at ------------------------------------------------------------------------------


def tenant_export_folder(tenant: Tenant) -> Path:
    """Where the organisation's data exports (zip files, tenancy.portability.write_export) are kept."""
    return Path(settings.EXPORT_DIR) / "organisations" / str(tenant.pk)


def tenant_files(tenant: Tenant) -> list[Path]:
    """Files the organisation's rows point at: list exports, kept register uploads and error reports."""
    files: list[Path] = []
    for label, column, root, sub in (
        ("exports.ExportJob", "file_name", settings.EXPORT_DIR, ""),
        ("reconciliation.RegisterImport", "stored_name", settings.MEDIA_ROOT, "recon-imports"),
        ("reconciliation.RegisterImport", "error_file", settings.MEDIA_ROOT, "recon-imports"),
    ):
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if column not in {f.attname for f in model._meta.concrete_fields}:
            continue
        for name in (
            model.objects.filter(tenant=tenant).exclude(**{column: ""}).values_list(column, flat=True)
        ):
            files.append(Path(root) / sub / str(name))
    return files

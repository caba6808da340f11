"""Backup and restore drill (issue #15 §4, docs/operations.md §4): dump one tenant of the shared tables, restore it
into a fresh database, check that ``audit_verify`` passes and that every table holds as many of its rows as the
source; print the time of each step beside the bare PostgreSQL tools doing the same work.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_drill.py [--docs N]

The source is the bench tenant (``bench/common.py``), loaded to at least N documents (``BENCH_DOCS``, default
1,000,000). The steps run as an operator runs them, as commands: ``manage.py dump_tenant`` (binary COPY of the
tenant's rows per table), a fresh database with the source's schema (``pg_dump --schema-only`` and the reference
rows: migrations, content types, permissions), ``manage.py restore_tenant``, ``manage.py audit_verify``.

Ceiling: ``pg_dump --data-only`` of the same tables whole (every tenant's rows, binary custom format) and
``pg_restore --disable-triggers`` of it into a second fresh database: what PostgreSQL's own tools take to move the
same tables. The fresh databases are dropped at the end (``--keep`` keeps them). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import common  # noqa: E402

REFERENCE_TABLES = ("django_migrations", "django_content_type", "auth_permission", "auth_group")


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _libpq(url: str) -> str:
    """The URL as pg_dump/psql take it (postgres:// works for them too; psycopg's scheme variants do not)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def _fresh_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(cmd: list[str], *, stdin=None, stdout=subprocess.PIPE) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=HERE.parent, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    if result.returncode:
        raise SystemExit(f"FAILED: {' '.join(cmd)}\n{result.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def _manage(url: str, *args: str) -> tuple[float, str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "ims_project.settings",
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=HERE.parent, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"FAILED: manage.py {' '.join(args)}\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started, result.stdout.strip()


def _schema_copy(source: str, target: str) -> None:
    """The target gets the source's schema and reference rows (what a migrated database would have)."""
    dump = subprocess.Popen(
        ["pg_dump", "--schema-only", "--no-owner", "-Fc", _libpq(source)], stdout=subprocess.PIPE
    )
    _run(["pg_restore", "--no-owner", "-d", _libpq(target)], stdin=dump.stdout)
    dump.wait()
    tables = [arg for t in REFERENCE_TABLES for arg in ("-t", t)]
    ref = subprocess.Popen(
        ["pg_dump", "--data-only", "--no-owner", *tables, _libpq(source)], stdout=subprocess.PIPE
    )
    _run(["psql", "-q", "-v", "ON_ERROR_STOP=1", _libpq(target)], stdin=ref.stdout, stdout=subprocess.DEVNULL)
    ref.wait()


def _counts(url: str, tenant_id: int, tables) -> dict[str, int]:
    import psycopg

    counts = {}
    with psycopg.connect(_libpq(url)) as conn:
        for table in tables:
            query = psycopg.sql.SQL("SELECT count(*) FROM ({}) AS t").format(table.select())
            counts[table.name] = conn.execute(query, {"tenant": tenant_id}).fetchone()[0]
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=int(os.environ.get("BENCH_DOCS", 1_000_000)))
    parser.add_argument(
        "--slug", default=common.BENCH_SLUG, help="the tenant to drill (default: the bench tenant)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the restored databases")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the pg_dump / pg_restore ceiling")
    args = parser.parse_args()

    source = common.configure()
    if args.slug == common.BENCH_SLUG:
        common.ensure_documents(args.docs)
    from invoices.models import SupplierDocument
    from tenancy.models import Tenant
    from tenancy.portability import tenant_tables
    from tenancy.scoping import tenant_scope

    tenant = Tenant.objects.get(slug=args.slug)
    with tenant_scope(tenant):
        docs = SupplierDocument.objects.filter(tenant=tenant).count()
    tables = tenant_tables()
    admin = _with_db(source, "postgres")
    target_name = f"{_db_name(source)}_drill"
    ceiling_name = f"{_db_name(source)}_drill_ceiling"
    target = _with_db(source, target_name)
    work = Path(tempfile.mkdtemp(prefix="ims-drill-"))
    print(
        f"drill: tenant {tenant.slug!r} with {docs:,} documents, source {_db_name(source)}, target {target_name}"
    )
    ok = True
    try:
        t_dump, out = _manage(source, "dump_tenant", tenant.slug, str(work / "dump"))
        size = sum(p.stat().st_size for p in (work / "dump").iterdir())
        print(f"  dump_tenant      {t_dump:8.1f} s   {out}  ({size / 1e6:,.0f} MB)")
        _fresh_database(admin, target_name)
        t0 = time.perf_counter()
        _schema_copy(source, target)
        t_schema = time.perf_counter() - t0
        print(f"  fresh database   {t_schema:8.1f} s   schema and reference rows from pg_dump --schema-only")
        t_restore, out = _manage(target, "restore_tenant", str(work / "dump"))
        print(f"  restore_tenant   {t_restore:8.1f} s   {out}")
        t_verify, out = _manage(target, "audit_verify", "--tenant", tenant.slug)
        print(f"  audit_verify     {t_verify:8.1f} s   {out}")
        before, after = _counts(source, tenant.pk, tables), _counts(target, tenant.pk, tables)
        differ = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
        rows = sum(before.values())
        if differ:
            ok = False
            print(f"  COUNTS DIFFER (source, restored): {differ}")
        else:
            print(
                f"  counts equal     {len(before)} tables, {rows:,} rows ({before['invoices_supplierdocument']:,} documents)"
            )
        total = t_dump + t_schema + t_restore + t_verify
        print(
            f"drill total       {total:8.1f} s   ({docs / (t_dump + t_restore):,.0f} documents/s dump + restore)"
        )

        if not args.no_ceiling:
            _fresh_database(admin, ceiling_name)
            _schema_copy(source, _with_db(source, ceiling_name))
            names = [arg for t in tables for arg in ("-t", t.name)]
            archive = work / "tables.dump"
            t_pgdump = _run(
                ["pg_dump", "--data-only", "-Fc", "-Z0", *names, "-f", str(archive), _libpq(source)]
            )
            t_pgrestore = _run(
                [
                    "pg_restore",
                    "--data-only",
                    "--disable-triggers",
                    "-d",
                    _libpq(_with_db(source, ceiling_name)),
                    str(archive),
                ]
            )
            import psycopg

            with psycopg.connect(_libpq(source)) as conn:
                all_rows = sum(
                    conn.execute(
                        psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(t.name))
                    ).fetchone()[0]
                    for t in tables
                )
            ceiling = t_pgdump + t_pgrestore
            print(
                f"ceiling: pg_dump {t_pgdump:.1f} s + pg_restore {t_pgrestore:.1f} s = {ceiling:.1f} s for the same "
                f"tables whole ({all_rows:,} rows, every tenant)"
            )
            ours, theirs = rows / (t_dump + t_restore), all_rows / ceiling
            print(
                f"ratio: {ours:,.0f} rows/s dump_tenant + restore_tenant vs {theirs:,.0f} rows/s pg_dump + pg_restore "
                f"= {ours / theirs:.2f}x of the ceiling"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            _drop_database(admin, target_name)
            _drop_database(admin, ceiling_name)
    print("drill: OK" if ok else "drill: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

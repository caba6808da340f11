"""The cost of the COPY path of a login that owns nothing (docs/decisions/0013-application-login-owns-nothing.md) on
the documents table. BENCH_DOCS (default 50,000) documents of the bench tenant, dumped with ``COPY … TO``, are COPYed
back through ``ims_project.rls.copy_in`` into an empty copy of the documents table (its indexes, checks, foreign keys
and the trigger that stands for one; bench_load's ceiling table) put behind the wall (row-level security forced, the
tenant policy), each round in its own transaction, by its two paths:

* **direct** (the ceiling): the COPY as the connecting owner, a superuser who bypasses the wall (one URL, no
  ``DATABASE_OWNER_URL``: what the product did before);
* **staged**: as the application's role, which may not COPY into a table behind the wall: the rows COPYed into a
  temporary table, then one ``INSERT … SELECT`` checked by the policy (what a login that owns nothing does).

The two alternate, BENCH_ROUNDS (default 3) rounds each, the copy emptied between rounds; it prints each round, the
median rates and backend CPU seconds, staged / direct, and the load average.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_copy_in.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import as_owner, ensure_documents  # noqa: E402

DOCS = int(os.environ.get("BENCH_DOCS", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TABLE = "bench_copy_in_documents"


def main() -> None:
    tenant, _regs = ensure_documents(DOCS)
    from django.db import connection, transaction

    from bench.bench_load import _copy_of, _Cpu
    from ims_project import rls
    from tenancy.scoping import tenant_scope

    with connection.cursor() as cur:
        cur.execute(
            "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = 'invoices_supplierdocument'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        columns = cur.fetchone()[0]
        with cur.cursor.copy(
            f"COPY (SELECT {columns} FROM invoices_supplierdocument WHERE tenant_id = {int(tenant.pk)} "  # noqa: S608  # nosec B608  # names from the catalog, an int
            f"ORDER BY id LIMIT {DOCS}) TO STDOUT"
        ) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        rows = data.count(b"\n")
        with as_owner(cur):
            cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
            for statement in _copy_of(cur, "invoices_supplierdocument", TABLE):
                cur.execute(statement)
            for statement in rls.protect_sql(TABLE):
                cur.execute(statement)
            cur.execute(f"GRANT SELECT, INSERT ON {TABLE} TO {rls.role()}")

    with connection.cursor() as cur:
        cpu = _Cpu(cur)  # the backend's CPU seconds: steadier than wall time on a shared machine

    def one_round(staged: bool) -> tuple[float, float]:
        with connection.cursor() as cur, as_owner(cur):
            cur.execute(f"TRUNCATE {TABLE}")
        with tenant_scope(tenant), transaction.atomic(), connection.cursor() as cur:
            connection.rls_login_bypasses = (
                not staged
            )  # the path a login of that kind takes (ims_project.rls)
            start, start_cpu = time.perf_counter(), cpu.backend() or 0.0
            with rls.copy_in(cur, f"COPY {TABLE} ({columns}) FROM STDIN") as copy:
                copy.write(data)
            took, took_cpu = time.perf_counter() - start, (cpu.backend() or 0.0) - start_cpu
            cur.execute(
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'ims_copy_%%' AND relpersistence = 't'"
            )
            assert bool(cur.fetchone()[0]) == staged, "the path measured is not the one named"
        connection.rls_login_bypasses = True
        return took, took_cpu

    load_start = os.getloadavg()
    times: dict[str, list[float]] = {"direct": [], "staged": []}
    cpus: dict[str, list[float]] = {"direct": [], "staged": []}
    print(f"bench_copy_in: {rows:,} documents into a copy of the documents table behind the wall", flush=True)
    for n in range(ROUNDS):
        for name in ("direct", "staged") if n % 2 == 0 else ("staged", "direct"):
            took, took_cpu = one_round(staged=name == "staged")
            times[name].append(took)
            cpus[name].append(took_cpu)
            print(
                f"  round {n + 1} {name}: {took:.2f} s -> {rows / took:,.0f} rows/s (backend CPU {took_cpu:.2f} s)",
                flush=True,
            )
    direct, staged = (rows / statistics.median(times[k]) for k in ("direct", "staged"))
    print(
        f"  median: staged {staged:,.0f} rows/s / direct (ceiling) {direct:,.0f} rows/s = {staged / direct:.2f}x",
        flush=True,
    )
    direct_cpu, staged_cpu = (statistics.median(cpus[k]) for k in ("direct", "staged"))
    print(
        f"  median backend CPU: staged {staged_cpu:.2f} s / direct (ceiling) {direct_cpu:.2f} s = "
        f"{staged_cpu / direct_cpu:.2f}x",
        flush=True,
    )
    print(
        f"  load average (1 min) at start / end: {load_start[0]:.1f} / {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores)",
        flush=True,
    )
    with connection.cursor() as cur, as_owner(cur):
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    main()

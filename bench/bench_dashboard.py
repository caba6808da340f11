"""The dashboard's cold render at 1,000,000 documents, read from the maintained summary (invoices/summary.py,
docs/decisions/0010-maintained-document-summary.md), beside its floor; and what keeping the summary costs the
writers. Target: cold render <= 300 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_dashboard.py

Cold = a new database connection and a cleared cache before every sample. Prints p50 / p95 in milliseconds of:
* the dashboard page (real view, logged in, rendered) as the owner and as a preparer who sees one GSTIN;
* the selector alone (``invoices.selectors.dashboard``);
* the nearest one-period Pending limits of every GSTIN on a day they are live (``returns.selectors``; on the bench's
  own "today" every limit of its periods has passed and the dashboard places no amendment);
* the floor: a new connection and the bare SELECT of the summary rows (what the page cannot go below);
* the old way for comparison: the GROUP BY over the documents each cold render used to run (a scan).
Then the summary's cost on writers, measured in pairs in this run (triggers on / off, each statement rolled back):
an UPDATE of BENCH_DASH_UPDATE documents' local action (a bulk action's statement) and an INSERT of
BENCH_DASH_INSERT documents (an ingest batch).

BENCH_DOCS (default 1,000,000), BENCH_REPEAT (default 15), BENCH_DASH_UPDATE (100,000), BENCH_DASH_INSERT (50,000),
BENCH_DASH_PAIRS (3). The pairs show the whole cost (the old rows PostgreSQL keeps for the trigger included) but move
with the machine's load; EXPLAIN ANALYZE of each statement adds the time spent in each trigger it fired.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
UPDATE_N = int(os.environ.get("BENCH_DASH_UPDATE", "100000"))
INSERT_N = int(os.environ.get("BENCH_DASH_INSERT", "50000"))
PAIRS = int(os.environ.get("BENCH_DASH_PAIRS", "3"))
TARGET_MS = 300
LIMITS_LIVE_ON = dt.date(2025, 12, 5)  # the October 2025 limits (20-12-2025) not yet passed


def _p(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def _cold(fn, repeat=REPEAT) -> tuple[float, float]:
    """p50 / p95 ms of ``fn`` after closing the database connection and clearing the cache each time."""
    from django.core.cache import cache
    from django.db import connection

    fn()  # warm the code paths (imports, templates), not the connection
    samples = []
    for _ in range(repeat):
        connection.close()
        cache.clear()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return _p(samples)


def _user(tenant, username, role, gstins=None):
    from django.contrib.auth import get_user_model

    from audit.services import Actor
    from tenancy import services
    from tenancy.models import Membership
    from tenancy.scoping import tenant_scope

    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"email": f"{username}@bench.in"}
    )
    with tenant_scope(tenant):
        if not Membership.objects.filter(tenant=tenant, user=user).exists():
            services.add_member(tenant=tenant, actor=Actor.system("bench"), user=user, role=role)
        if gstins is not None:
            services.set_gstin_grants(
                tenant=tenant, actor=Actor.system("bench"), user=user, registrations=gstins
            )
    return user


def _page(client, url):
    def get():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        response.content  # noqa: B018 - rendered and read

    return get


def _writer_cost(tenant) -> list[str]:
    """Trigger on / off pairs of one bulk UPDATE and one INSERT … SELECT, each rolled back."""
    import psycopg
    from django.db import connection

    from ims_project import rls

    out = []
    connection.ensure_connection()
    conn: psycopg.Connection = connection.connection
    conn.autocommit = True
    cur = conn.cursor()
    ids = [
        r[0]
        for r in cur.execute(
            "SELECT id FROM invoices_supplierdocument WHERE tenant_id = %s AND local_action IS NULL"
            " ORDER BY id LIMIT %s",
            [tenant.pk, UPDATE_N],
        )
    ]
    cols = [
        r[0]
        for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'invoices_supplierdocument'"
            " AND column_name NOT IN ('id', 'doc_number') ORDER BY ordinal_position"
        )
    ]
    col_list = ", ".join(cols)
    statements = {
        f"UPDATE of {len(ids):,} local actions (a bulk action)": (
            "docsummary_after_update",
            "UPDATE invoices_supplierdocument SET local_action = 'A' WHERE id = ANY(%s)",
            [ids],
        ),
        f"INSERT of {min(INSERT_N, len(ids)):,} documents (an ingest batch)": (
            "docsummary_after_insert",
            f"INSERT INTO invoices_supplierdocument ({col_list}, doc_number) "  # noqa: S608 - column names
            f"SELECT {col_list}, 'BENCH-' || id FROM invoices_supplierdocument WHERE id = ANY(%s)",
            [ids[:INSERT_N]],
        ),
    }
    for label, (trigger, sql, params) in statements.items():
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(PAIRS):
            for on in (True, False) if i % 2 == 0 else (False, True):
                with conn.transaction(force_rollback=True):
                    if not on:
                        # Only the table's owner may switch a trigger off: for that statement alone, the
                        # measured one runs under the application's role as the product's do.
                        cur.execute("SET LOCAL ROLE NONE")
                        cur.execute(f"ALTER TABLE invoices_supplierdocument DISABLE TRIGGER {trigger}")
                        if rls.enabled():
                            cur.execute(f"SET LOCAL ROLE {rls.role()}")
                    t0 = time.perf_counter()
                    cur.execute(sql, params)
                    times[on].append(time.perf_counter() - t0)
        with_t, without = statistics.median(times[True]), statistics.median(times[False])
        out.append(
            f"{label}: {with_t:.2f} s with the summary trigger, {without:.2f} s without "
            f"({(with_t - without) * 1000:+.0f} ms, {100 * (with_t - without) / without:+.1f} %; "
            f"medians of {PAIRS} pairs)"
        )
        # The statement's own account: EXPLAIN ANALYZE times each trigger it fired (rolled back too).
        with conn.transaction(force_rollback=True):
            cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cur.fetchone()[0][0]
        triggers = ", ".join(f"{t['Trigger Name']} {t['Time']:.0f} ms" for t in plan.get("Triggers", []))
        out.append(f"    EXPLAIN ANALYZE: statement {plan['Execution Time']:.0f} ms; triggers: {triggers}")
    conn.autocommit = False
    connection.close()
    return out


def main() -> None:
    from bench.common import configure, ensure_documents

    configure()
    tenant, regs = ensure_documents(DOCS)

    from django.db import connection
    from django.test import Client

    from invoices import selectors
    from invoices.models import SupplierDocument
    from invoices.summary import _READ, scan_rows, summary_rows
    from returns.selectors import nearest_pending_limits
    from tenancy.scoping import tenant_scope

    owner = _user(tenant, "bench-owner", "owner")
    preparer = _user(tenant, "bench-preparer", "preparer", gstins=regs[:1])
    with tenant_scope(tenant):
        total = SupplierDocument.objects.filter(tenant=tenant).count()
    print(
        f"documents in the bench tenant: {total:,}; summary rows: {len(summary_rows(tenant_id=tenant.pk)):,}"
    )

    owner_client, prep_client = Client(), Client()
    owner_client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    prep_client.force_login(preparer, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/t/{tenant.slug}/"

    def selector():
        with tenant_scope(tenant):
            selectors.dashboard(tenant=tenant, user=owner)

    def pending_limits():
        # On a day when the bench's one-period Pending limits are live (its periods end in March 2026): the
        # credit notes come from the summary, the amendments of the nearest limit are placed one by one.
        with tenant_scope(tenant):
            nearest_pending_limits(tenant=tenant, registrations=regs, today=LIMITS_LIVE_ON)

    def floor():
        connection.ensure_connection()
        with connection.connection.cursor() as cur:
            cur.execute(_READ.format(filters=""), {"tenant": tenant.pk})
            cur.fetchall()

    def scan():
        scan_rows(tenant_id=tenant.pk)

    rows = [
        ("dashboard page, owner (every GSTIN), cold", _cold(_page(owner_client, url))),
        ("dashboard page, preparer (one GSTIN), cold", _cold(_page(prep_client, url))),
        ("dashboard selector alone, cold", _cold(selector)),
        (
            f"nearest Pending limits of every GSTIN as of {LIMITS_LIVE_ON:%d-%m-%Y}, cold",
            _cold(pending_limits),
        ),
        ("floor: new connection + bare SELECT of the summary rows", _cold(floor)),
        ("old way: the GROUP BY scan of the documents (each cold render ran it)", _cold(scan, repeat=3)),
    ]
    width = max(len(label) for label, _ in rows)
    for label, (p50, p95) in rows:
        print(f"{label:<{width}}  p50 {p50:8.1f} ms  p95 {p95:8.1f} ms")
    page = rows[0][1][0]
    floor_p50 = rows[4][1][0]
    scan_p50 = rows[5][1][0]
    print(
        f"cold dashboard p50 {page:.1f} ms: {page / floor_p50:.1f}x its floor; the old scan alone took "
        f"{scan_p50 / page:.1f}x as long; target <= {TARGET_MS} ms: {'met' if page <= TARGET_MS else 'NOT met'}"
    )
    for line in _writer_cost(tenant):
        print(line)


if __name__ == "__main__":
    main()

"""The deadline queue page of one GSTIN with N documents (target: 500,000 documents, p95 <= 150 ms).

    DATABASE_URL=... .venv/bin/python -m bench.bench_deadlines   (BENCH_DEADLINE_ROWS=20000 for a quick run)

Uses the 2B bench's loader (documents of one period, mixed actions, a twentieth credit notes) in a fresh tenant,
then requests the page (`/t/<slug>/returns/deadlines/?registration=…`) as a logged-in owner, the first page and
the next page, and prints p50 / p95 of each beside its floor: the bare database reading a page of the same GSTIN's rows
through an index (and, for scale, reading all of them) — and the ratio; then the first page after one action and
after a GSTR-3B filing (the stored queue recomputed for one entry, and whole).
"""

from __future__ import annotations

import os
import statistics
import time

if __package__ in (None, ""):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import as_owner, configure  # noqa: E402

configure(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_bench_deadlines"))

import datetime as dt  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from audit.services import Actor  # noqa: E402
from bench.bench_twob import load  # noqa: E402
from gst.gstin import make_gstin  # noqa: E402
from invoices.models import SupplierDocument  # noqa: E402
from returns.models import Gstr3bFiling  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.scoping import tenant_scope  # noqa: E402

ROWS = int(os.environ.get("BENCH_DEADLINE_ROWS", "500000"))
RUNS = int(os.environ.get("BENCH_DEADLINE_RUNS", "20"))


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def floor(tenant_id: int, reg_id: int, sql: str) -> list[float]:
    times = []
    with connection.cursor() as cur:
        for _ in range(RUNS):
            t0 = time.perf_counter()
            cur.execute(sql, [tenant_id, reg_id])
            cur.fetchall()
            times.append(time.perf_counter() - t0)
    return times


# the bare database reading one page (100 rows) of the same GSTIN's documents through an index
PAGE_FLOOR = (
    "SELECT id, doc_number, doc_date, igst + cgst + sgst + cess FROM invoices_supplierdocument "
    "WHERE tenant_id = %s AND registration_id = %s ORDER BY doc_date DESC, id DESC LIMIT 100"
)
# ... and every row of the GSTIN (what ranking them on each request would read at least)
ALL_ROWS = (
    "SELECT count(*), sum(igst + cgst + sgst + cess) FROM invoices_supplierdocument "
    "WHERE tenant_id = %s AND registration_id = %s"
)


def timed(client, url: str) -> float:
    t0 = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200
    return time.perf_counter() - t0


def main() -> None:
    setup_test_environment()  # responses keep their template context (the page's items and next-page cursor)
    actor = Actor.system("bench")
    slug = f"bench-deadlines-{int(time.time())}"
    tenant = tenancy_services.create_tenant(name="Bench deadlines", slug=slug, actor=actor)
    user = get_user_model().objects.create_user(username=f"{slug}-owner", password="x")  # noqa: S106
    with tenant_scope(tenant):
        tenancy_services.add_member(tenant=tenant, actor=actor, user=user, role="owner")
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=actor, gstin=make_gstin("27", "AABCD1234K"), legal_name="Bench"
        )
        t0 = time.monotonic()
        load(tenant, reg, ROWS)
        with connection.cursor() as cur, as_owner(cur):
            cur.execute("ANALYZE invoices_supplierdocument")
        print(f"loaded {ROWS} documents in {time.monotonic() - t0:.1f} s")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/t/{slug}/returns/deadlines/?registration={reg.pk}"
    first = client.get(url)  # warm: the first request compiles templates and fills caches
    assert first.status_code == 200, first.status_code
    more = first.context["more"]
    pages = {"first page (100)": url, "next page (100)": f"{url}&after={more}" if more else url}
    page_p50, page_p95 = percentiles(floor(tenant.pk, reg.pk, PAGE_FLOOR))
    all_p50, all_p95 = percentiles(floor(tenant.pk, reg.pk, ALL_ROWS))
    print(
        f"floor: index read of one page (100 rows) of the GSTIN: p50 {page_p50:.1f} ms, p95 {page_p95:.1f} ms"
    )
    print(f"       (reading all its {ROWS} rows: p50 {all_p50:.1f} ms, p95 {all_p95:.1f} ms)")
    for name, page_url in pages.items():
        times = [timed(client, page_url) for _ in range(RUNS)]
        p50, p95 = percentiles(times)
        print(
            f"deadline queue {name}: p50 {p50 * 1:.1f} ms, p95 {p95:.1f} ms (target p95 <= 150 ms); "
            f"p95 / page floor p95 = {p95 / page_p95:.1f}x"
        )
    # After a change: one document acted on (its entry recomputed), and a filing recorded (the whole queue).
    with tenant_scope(tenant):
        doc = SupplierDocument.objects.filter(
            tenant=tenant, registration=reg, local_action__isnull=True
        ).first()
        SupplierDocument.objects.filter(pk=doc.pk).update(local_action="R")
    print(f"first page after one action (that entry recomputed): {timed(client, url) * 1000:.0f} ms")
    with tenant_scope(tenant):
        Gstr3bFiling.objects.create(
            tenant=tenant, registration=reg, period=dt.date(2025, 9, 1), filed_on=dt.date(2025, 10, 20)
        )
    print(
        f"first page after a GSTR-3B filing recorded (the whole queue recomputed): {timed(client, url) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

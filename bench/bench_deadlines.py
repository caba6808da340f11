"""The deadline queue page of one GSTIN with N documents (target: 500,000 documents, p95 <= 150 ms).

    DATABASE_URL=... .venv/bin/python -m bench.bench_deadlines   (BENCH_DEADLINE_ROWS=20000 for a quick run)

Uses the 2B bench's loader (documents of one period, mixed actions, a twentieth credit notes) in a fresh tenant,
then requests the page (`/t/<slug>/returns/deadlines/?registration=…`) as a logged-in owner, the first page and
the next page, and prints p50 / p95 of each beside its floor: the bare database reading the same rows (every
document of the GSTIN through the (tenant, registration, period) index, summing their tax — what any ranking of
them must at least read) — and the ratio.
"""

from __future__ import annotations

import os
import statistics
import time

if __package__ in (None, ""):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import configure  # noqa: E402

configure(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_bench_deadlines"))

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from audit.services import Actor  # noqa: E402
from bench.bench_twob import load  # noqa: E402
from gst.gstin import make_gstin  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.scoping import tenant_scope  # noqa: E402

ROWS = int(os.environ.get("BENCH_DEADLINE_ROWS", "500000"))
RUNS = int(os.environ.get("BENCH_DEADLINE_RUNS", "20"))


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def floor(tenant_id: int, reg_id: int) -> list[float]:
    times = []
    with connection.cursor() as cur:
        for _ in range(RUNS):
            t0 = time.perf_counter()
            cur.execute(
                "SELECT count(*), sum(igst + cgst + sgst + cess) FROM invoices_supplierdocument "
                "WHERE tenant_id = %s AND registration_id = %s AND supplier_period >= '2025-04-01'",
                [tenant_id, reg_id],
            )
            cur.fetchone()
            times.append(time.perf_counter() - t0)
    return times


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
        connection.cursor().execute("ANALYZE invoices_supplierdocument")
        print(f"loaded {ROWS} documents in {time.monotonic() - t0:.1f} s")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/t/{slug}/returns/deadlines/?registration={reg.pk}"
    first = client.get(url)  # warm: the first request compiles templates and fills caches
    assert first.status_code == 200, first.status_code
    more = first.context["more"]
    pages = {"first page": url, "next page": f"{url}&after={more}" if more else url}
    floor_p50, floor_p95 = percentiles(floor(tenant.pk, reg.pk))
    print(f"floor (index read of the GSTIN's {ROWS} rows): p50 {floor_p50:.1f} ms, p95 {floor_p95:.1f} ms")
    for name, page_url in pages.items():
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            response = client.get(page_url)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200
        p50, p95 = percentiles(times)
        print(
            f"deadline queue {name} ({len(response.context['items'])} items): p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(target p95 <= 150 ms); p95 / floor p95 = {p95 / floor_p95:.2f}x"
        )


if __name__ == "__main__":
    main()

"""Partial document-number search (issue #14 §3) at 1,000,000 documents of one tenant: the list PAGE (real view,
logged in, template rendered) with ``number=`` a fragment from the middle of existing numbers ("00029" finds
"INV/2026-27/00029"), against the floor of the same page found by an exact normalised number (a b-tree range).
Prints p50 / p95 in milliseconds, the ratio to the floor, and whether the plan reads the trigram index
(migration invoices 0008). Target: partial search p50 <= 100 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_search.py

BENCH_DOCS (default 1,000,000) sets the size, BENCH_REPEAT (default 15) the samples per case;
BENCH_TENANT_SLUG measures an already loaded tenant of DATABASE_URL instead of the bench tenant.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
TARGET_MS = 100.0
INDEX = "doc_number_trgm_idx"


def _owner(tenant):
    from django.contrib.auth import get_user_model

    from audit.services import Actor
    from tenancy import services
    from tenancy.models import Membership
    from tenancy.scoping import tenant_scope

    user, _ = get_user_model().objects.get_or_create(
        username="bench-owner", defaults={"email": "bench-owner@bench.in"}
    )
    with tenant_scope(tenant):
        if not Membership.objects.filter(tenant=tenant, user=user).exists():
            services.add_member(tenant=tenant, actor=Actor.system("bench"), user=user, role="owner")
    return user


def _samples(fn) -> tuple[float, float]:
    """(p50, p95) ms of ``fn`` after two warm-up calls."""
    for _ in range(2):
        fn()
    samples = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def _page(client, url, params) -> tuple[float, float]:
    """The list page with ``params``, rendered and read."""
    response = client.get(url, params)
    assert response.status_code == 200, (params, response.status_code, response.content[:500])
    return _samples(lambda: client.get(url, params).content)


def _query(tenant, user, text: str) -> tuple[float, int, bool]:
    """The first page's query alone: p50 ms, its rows, and whether its plan reads the trigram index."""
    from django.db import connection

    from invoices.filters import DocumentFilter
    from invoices.models import SupplierDocument
    from tenancy.scoping import tenant_scope

    with tenant_scope(tenant):
        base = SupplierDocument.objects.filter(tenant=tenant)
        qs = DocumentFilter({"number": text}, queryset=base, tenant=tenant, user=user).qs
        page = qs.order_by("-doc_date", "-id")[:51]
        p50, _p95 = _samples(lambda: list(page.all()))
        rows = len(list(page.all()))
        sql, params = page.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    return p50, rows, INDEX in plan


def _fragments(tenant) -> list[tuple[str, str]]:
    """(label, typed text) cases from real numbers of the tenant: the digit run at the end of a slashed number
    ("00029" of "INV/2026-27/00029"), letters and digits in lower case, three characters, and no match."""
    from invoices.models import SupplierDocument
    from tenancy.scoping import tenant_scope

    with tenant_scope(tenant):
        numbers = list(
            SupplierDocument.objects.filter(tenant=tenant)
            .order_by("id")
            .values_list("doc_number", flat=True)[5000:5400]
        )
    slashed = next((n for n in numbers if n.count("/") >= 2), numbers[0])
    digits = re.findall(r"\d{4,}", slashed) or re.findall(r"\d+", slashed) or [slashed[-5:]]
    tail = digits[-1]
    lettered = next((m[0] for n in numbers if (m := re.search(r"[A-Z]{2,}\d{3,}", n))), slashed)
    return [
        (f"digits '{tail}' of {slashed}", tail),
        (f"letters and digits, lower case '{lettered[:6].lower()}'", lettered[:6].lower()),
        (f"three characters '{tail[-3:]}'", tail[-3:]),
        ("no match 'QXZ9QXZ'", "QXZ9QXZ"),
    ]


def measure(tenant) -> list[tuple[str, float, float, float]]:
    """Print and return (case, page p50, page p95, ratio to the floor) for each case."""
    from django.test import Client

    from gst.numbers import normalise_doc_number
    from invoices.models import SupplierDocument
    from tenancy.scoping import tenant_scope

    owner = _owner(tenant)
    client = Client()
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/t/{tenant.slug}/documents/"
    with tenant_scope(tenant):
        everything = SupplierDocument.objects.filter(tenant=tenant)
        n = everything.count()
        sample = everything.order_by("id").values("doc_number", "fy")[min(5000, n - 1)]
    exact = normalise_doc_number(sample["doc_number"], sample["fy"])

    print(f"\nbench_search: {n:,} documents, {REPEAT} samples a case; target page p50 <= {TARGET_MS:.0f} ms")
    print(f"  {'case':<50} {'page p50':>8} {'p95':>7} {'query':>7} {'rows':>5} {'x floor':>8} {'trigram':>7}")
    floor, floor95 = _page(client, url, {})
    print(f"  {'floor: first page, no filter':<50} {floor:8.1f} {floor95:7.1f}", flush=True)
    results = [("floor", floor, floor95, 1.0)]
    for label, text in [(f"normalised number {exact!r}", exact), *_fragments(tenant)]:
        p50, p95 = _page(client, url, {"number": text})
        q50, rows, used = _query(tenant, owner, text)
        flag = "" if p50 <= TARGET_MS else "  over target"
        print(
            f"  {label[:50]:<50} {p50:8.1f} {p95:7.1f} {q50:7.1f} {rows:>5} {p50 / floor:7.1f}x "
            f"{'yes' if used else 'no':>7}{flag}",
            flush=True,
        )
        results.append((label, p50, p95, p50 / floor))
    return results


def main():
    from bench.common import configure, ensure_documents

    slug = os.environ.get("BENCH_TENANT_SLUG")
    if slug:
        configure()
        from tenancy.models import Tenant

        tenant = Tenant.objects.get(slug=slug)
    else:
        tenant, _registrations = ensure_documents(DOCS)
    measure(tenant)


if __name__ == "__main__":
    main()

"""Latency of the document list PAGE (real view, logged in, template rendered) and of the API list, at
1,000,000 documents of one tenant: first page and a page 10,000 rows deep, unfiltered and filtered; plus the
dashboard and the count fragment. Prints p50 / p95 in milliseconds, and the floor: the bare database reading the
first and the deep page's rows through the same index (and the ratio). Target: list p50 <= 150 ms at any depth.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_list.py

BENCH_DOCS (default 1,000,000) sets the size, BENCH_REPEAT (default 15) the samples per case;
BENCH_TENANT_SLUG measures an already loaded tenant of DATABASE_URL instead of the bench tenant.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
DEPTH = 10_000
PER_PAGE = 50


def _user(tenant, username, role, gstins=None):
    from django.contrib.auth import get_user_model

    from audit.services import Actor
    from tenancy import services
    from tenancy.scoping import tenant_scope

    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"email": f"{username}@bench.in"}
    )
    with tenant_scope(tenant):
        services.add_member(tenant=tenant, actor=Actor.system("bench"), user=user, role=role)
        if gstins is not None:
            services.set_gstin_grants(
                tenant=tenant, actor=Actor.system("bench"), user=user, registrations=gstins
            )
    return user


def _depth(rows: int) -> int:
    """DEPTH rows in, or as deep as a smaller set goes (the last page but one): small sizes rerun too."""
    return min(DEPTH, max(rows - PER_PAGE, 1))


def _cursor_at(qs, sort, depth):
    """The page cursor that starts ``depth`` rows into ``qs`` in ``sort`` order (built directly, once)."""
    from invoices.pagination import SORTS, _ordering, encode_cursor

    keys = SORTS[sort]
    row = qs.order_by(*_ordering(keys, False)).values_list(*[f for f, _ in keys])[depth - 1 : depth].first()
    return encode_cursor(sort, list(row)) if row else None


def _api_cursor_at(client, url, headers, depth, query=""):
    """Follow the API's own `next` links (page_size 200) until ``depth`` rows deep; returns that page's URL."""
    next_url, seen = f"{url}?page_size=200{query}", 0
    while seen < depth and next_url:
        body = client.get(next_url, **headers).json()
        seen += len(body["results"])
        next_url = body["next"]
    return next_url.replace("page_size=200", f"page_size={PER_PAGE}") if next_url else None


def _time(client, url, headers=None, params=None, before=None):
    headers = headers or {}
    for _ in range(2):
        response = client.get(url, params or {}, **headers)
        assert response.status_code == 200, (url, params, response.status_code, response.content[:500])
    samples = []
    for _ in range(REPEAT):
        if before:
            before()
        t0 = time.perf_counter()
        response = client.get(url, params or {}, **headers)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        else:
            response.content  # noqa: B018 - rendered and read
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def measure(tenant, registrations) -> list[tuple[str, float, float]]:
    from django.core.cache import cache
    from django.db.models import Count
    from django.test import Client

    from audit.services import Actor
    from invoices.models import SupplierDocument
    from tenancy.scoping import tenant_scope
    from tenancy.tokens import create_token

    owner = _user(tenant, "bench-owner", "owner")
    preparer = _user(tenant, "bench-preparer", "preparer", gstins=registrations[:1])
    _token, key = create_token(
        tenant=tenant, actor=Actor.system("bench"), user=owner, name="bench_list", scopes=["read"]
    )
    api_headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    page_url = f"/t/{tenant.slug}/documents/"
    api_url = f"/api/v1/t/{tenant.slug}/documents/"

    with tenant_scope(tenant):
        everything = SupplierDocument.objects.filter(tenant=tenant)
        top = everything.values("supplier_gstin", "section").annotate(n=Count("id")).order_by("-n").first()
        supplier, section = top["supplier_gstin"], top["section"]
        filtered_qs = everything.filter(section=section, supplier_gstin=supplier)
        n_filtered = filtered_qs.count()
        filtered_depth = _depth(n_filtered)
        depth = _depth(everything.count())
        cursors = {
            ("-date", False): _cursor_at(everything, "-date", depth),
            ("-date", True): _cursor_at(filtered_qs, "-date", filtered_depth),
            ("-value", False): _cursor_at(everything, "-value", depth),
            ("supplier", False): _cursor_at(everything, "supplier", depth),
        }
    filt = {"section": section, "supplier": supplier}

    client = Client()
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    prep = Client()
    prep.force_login(preparer, backend="django.contrib.auth.backends.ModelBackend")
    api = Client()
    api_deep = _api_cursor_at(api, api_url, api_headers, depth)
    api_filtered_deep = _api_cursor_at(
        api, api_url, api_headers, filtered_depth, f"&section={section}&supplier={supplier}"
    )

    results = []

    def case(label, *args, **kwargs):
        p50, p95 = _time(*args, **kwargs)
        results.append((label, p50, p95))
        print(f"  {label:<58} {p50:8.1f} {p95:8.1f}", flush=True)

    print(
        f"\nbench_list: {DOCS:,} documents, {REPEAT} samples a case; filtered = {section} of supplier {supplier} "
        f"({n_filtered:,} documents; deep = {filtered_depth:,} rows in)"
    )
    print(f"  {'case':<58} {'p50 ms':>8} {'p95 ms':>8}")
    case("page: first, date desc", client, page_url)
    case(
        f"page: {depth:,} rows deep, date desc",
        client,
        page_url,
        params={"cursor": cursors[("-date", False)]},
    )
    case("page: first, filtered (section + supplier)", client, page_url, params=filt)
    case(
        "page: deep, filtered (section + supplier)",
        client,
        page_url,
        params={**filt, "cursor": cursors[("-date", True)]},
    )
    case("page: first, 200 rows", client, page_url, params={"per_page": 200})
    case("page: first, preparer with one GSTIN", prep, page_url)
    # The shapes the registration-level indexes served before migration invoices 0013 (decision 0011): one GSTIN
    # by the filter, the largest and the smallest, sorted by date and by value, first page and deep.
    for reg, share in ((registrations[0], "largest"), (registrations[-1], "smallest")):
        with tenant_scope(tenant):
            one = everything.filter(registration=reg)
            reg_depth = _depth(one.count())
            reg_cursor = _cursor_at(one, "-date", reg_depth)
        case(
            f"page: first, GSTIN filter ({share} GSTIN)", client, page_url, params={"registration": reg.gstin}
        )
        case(
            f"page: {reg_depth:,} rows deep, GSTIN filter ({share})",
            client,
            page_url,
            params={"registration": reg.gstin, "cursor": reg_cursor},
        )
        case(
            f"page: first, GSTIN filter ({share}), value desc",
            client,
            page_url,
            params={"registration": reg.gstin, "sort": "-value"},
        )
    case("page: first, number search 'INV12345'", client, page_url, params={"number": "INV12345"})
    case("page: first, value desc (no index on value)", client, page_url, params={"sort": "-value"})
    case(
        f"page: {depth:,} rows deep, value desc",
        client,
        page_url,
        params={"sort": "-value", "cursor": cursors[("-value", False)]},
    )
    case(
        f"page: {depth:,} rows deep, supplier GSTIN",
        client,
        page_url,
        params={"sort": "supplier", "cursor": cursors[("supplier", False)]},
    )
    case("API: first page", api, api_url, headers=api_headers)
    if api_deep:
        case(f"API: {depth:,} rows deep (following next)", api, api_deep, headers=api_headers)
    case("API: first page, filtered", api, api_url, headers=api_headers, params=filt)
    if api_filtered_deep:
        case("API: deep, filtered", api, api_filtered_deep, headers=api_headers)
    case("count fragment (capped at 10,000), unfiltered", client, page_url + "count/")
    case("count fragment, filtered", client, page_url + "count/", params=filt)
    case("dashboard, all periods (warm connection)", client, f"/t/{tenant.slug}/")
    case("dashboard, all periods (cache cleared)", client, f"/t/{tenant.slug}/", before=cache.clear)
    case("dashboard, preparer with one GSTIN (cache cleared)", prep, f"/t/{tenant.slug}/", before=cache.clear)

    # The floor: the bare database reading the same page's rows (every column, through the same index, keyset for
    # the deep one) on the same connection and tenant, no view, no template.
    with tenant_scope(tenant):
        deep_row = (
            everything.order_by("-doc_date", "-id").values_list("doc_date", "id")[depth - 1 : depth].first()
        )
        floors = {
            "first": _floor(
                "SELECT * FROM invoices_supplierdocument WHERE tenant_id = %s ORDER BY doc_date DESC, id DESC LIMIT %s",
                [tenant.pk, PER_PAGE],
            ),
            "deep": _floor(
                "SELECT * FROM invoices_supplierdocument WHERE tenant_id = %s AND (doc_date, id) < (%s, %s) "
                "ORDER BY doc_date DESC, id DESC LIMIT %s",
                [tenant.pk, *deep_row, PER_PAGE],
            ),
        }
    pages = {"first": results[0], "deep": results[1]}
    for which, (p50, p95) in floors.items():
        label, _page50, page95 = pages[which]
        print(
            f"  floor: the database reading that page's {PER_PAGE} rows ({which}): p50 {p50:.2f} ms, p95 {p95:.2f} ms; "
            f"'{label}' p95 / floor p95 = {page95 / p95:.0f}x",
            flush=True,
        )
    return results


def _floor(sql: str, params: list) -> tuple[float, float]:
    """p50 / p95 (ms) of ``sql`` with its rows fetched, REPEAT times after two warm-ups."""
    from django.db import connection

    samples = []
    with connection.cursor() as cur:
        for i in range(REPEAT + 2):
            t0 = time.perf_counter()
            cur.execute(sql, params)
            cur.fetchall()
            if i >= 2:
                samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main():
    from bench.common import configure, ensure_documents

    slug = os.environ.get("BENCH_TENANT_SLUG")
    if slug:  # measure a tenant already loaded in DATABASE_URL (e.g. one made faster with raw SQL)
        configure()
        from tenancy.models import Registration, Tenant
        from tenancy.scoping import tenant_scope

        tenant = Tenant.objects.get(slug=slug)
        with tenant_scope(tenant):
            registrations = list(Registration.objects.filter(tenant=tenant).order_by("pk"))
    else:
        tenant, registrations = ensure_documents(DOCS)
    measure(tenant, list(registrations))


if __name__ == "__main__":
    main()

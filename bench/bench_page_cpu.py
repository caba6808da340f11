"""Server CPU per request of the document list and document pages (issue #15; docs/performance.md §3.11), beside
its floor: a view that does nothing, under the same tenant URL, through the same middleware stack.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_page_cpu.py

CPU is this process's user + system time (``time.process_time``) over N requests of Django's test client, the
database's own CPU left out: what a server's workers spend a request. Other work on the machine moves it less than
wall time but still moves it (up to a third at load 15 on 2 cores): compare the cases of one run, and the floor. Each
case is measured in ``BENCH_ROUNDS`` interleaved rounds and the median
round is printed. Then each middleware's share: the floor's CPU with the middleware list cut after it, less the
list cut before it.

BENCH_DOCS (1,000,000) sizes the bench tenant (a page reads 50 rows by keyset, whatever the size); BENCH_CPU_REQUESTS
(40) requests a round, BENCH_ROUNDS (5); BENCH_CPU_MIDDLEWARE=0 skips the middleware shares.
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
REQUESTS = int(os.environ.get("BENCH_CPU_REQUESTS", "40"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
MIDDLEWARE_SHARES = os.environ.get("BENCH_CPU_MIDDLEWARE", "1") != "0"
FLOOR_PATH = "bench-floor/"


def floor_view(request, tenant_slug):
    from django.http import HttpResponse

    return HttpResponse(b"ok", content_type="text/plain")


def _urlpatterns():
    from django.urls import include, path

    return [
        path(f"t/<slug:tenant_slug>/{FLOOR_PATH}", floor_view),
        path("", include("ims_project.urls")),
    ]


def __getattr__(name):  # this module is the URLconf while it measures: the application's URLs + the floor
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def _cpu_ms(client, url, params, n) -> float:
    start = time.process_time()
    for _ in range(n):
        response = client.get(url, params)
        response.content  # noqa: B018 - rendered and read
    return (time.process_time() - start) * 1000 / n


def _queries(client, url, params) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(url, params)
    return len(ctx.captured_queries)


def measure(tenant) -> None:
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings

    from bench.bench_list import _user
    from invoices.models import SupplierDocument
    from tenancy.scoping import tenant_scope

    owner = _user(tenant, "bench-owner", "owner")
    with tenant_scope(tenant):
        doc = SupplierDocument.objects.filter(tenant=tenant).order_by("-doc_date", "-id").first()
    base = f"/t/{tenant.slug}/"
    cases = [
        ("floor: empty view, same URL prefix and middleware", base + FLOOR_PATH, {}),
        ("document list, first page (50 rows)", base + "documents/", {}),
        ("document list, first page (200 rows)", base + "documents/", {"per_page": 200}),
        ("document page", f"{base}documents/{doc.pk}/", {}),
    ]
    with override_settings(ROOT_URLCONF=__name__):
        client = Client()
        client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
        for _label, url, params in cases:  # warm: templates compiled, connection open, caches filled
            for _ in range(3):
                response = client.get(url, params)
                assert response.status_code == 200, (url, response.status_code, response.content[:300])
        samples: dict[str, list[float]] = {label: [] for label, _u, _p in cases}
        for _ in range(ROUNDS):
            for label, url, params in cases:
                samples[label].append(_cpu_ms(client, url, params, REQUESTS))
        queries = {label: _queries(client, url, params) for label, url, params in cases}
        cpu = {label: statistics.median(s) for label, s in samples.items()}
        floor = cpu[cases[0][0]]
        print(
            f"\nbench_page_cpu: server CPU per request (this process), {REQUESTS} requests x {ROUNDS} rounds, "
            f"median round; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        print(f"  {'case':<52} {'CPU ms':>7} {'min-max':>13} {'queries':>7} {'x floor':>8}")
        for label, _u, _p in cases:
            print(
                f"  {label:<52} {cpu[label]:7.2f} {min(samples[label]):6.2f}-{max(samples[label]):<6.2f} "
                f"{queries[label]:>7} {cpu[label] / floor:7.1f}x"
            )
        per_row = (cpu[cases[2][0]] - cpu[cases[1][0]]) / 150
        print(f"  a list row: {per_row:.3f} ms (200 rows less 50 rows, over 150)")
        if MIDDLEWARE_SHARES:
            _middleware_shares(owner, base + FLOOR_PATH, list(settings.MIDDLEWARE))


def _middleware_shares(owner, url, middleware) -> None:
    from django.test import Client
    from django.test.utils import override_settings

    clients = []
    for k in range(len(middleware) + 1):
        with override_settings(MIDDLEWARE=middleware[:k]):
            client = Client()
            client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
            for _ in range(3):
                client.get(url)
        clients.append(client)
    samples: list[list[float]] = [[] for _ in clients]
    for _ in range(ROUNDS):  # interleaved: a change of load moves every cut alike
        for k, client in enumerate(clients):  # each client keeps the middleware chain it was made with
            samples[k].append(_cpu_ms(client, url, {}, REQUESTS))
    cost = [statistics.median(s) for s in samples]
    print(
        f"\n  middleware shares of the floor (median of {ROUNDS} interleaved rounds; the list cut after each, less "
        f"cut before; none: {cost[0]:.2f} ms; a share within about ±0.5 ms of 0 is noise)"
    )
    for k, path in enumerate(middleware, start=1):
        print(f"  {path:<60} {cost[k] - cost[k - 1]:7.2f} ms")
    print(f"  {'all of them':<60} {cost[-1] - cost[0]:7.2f} ms")


def main() -> None:
    from bench.common import ensure_documents

    tenant, _regs = ensure_documents(DOCS)
    measure(tenant)


if __name__ == "__main__":
    main()

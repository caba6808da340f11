"""IMS actions at scale, 1,000,000 documents of one tenant:
(a) the preview (confirmation step) of an action on ALL documents matching an empty filter — target <= 3 s;
(b) a bulk accept of 100,000 documents by ids: rules, one UPDATE per new state, one audit event per document plus
    the summary, in one transaction (the in-request path) — target <= 10 s; and the same size through the worker
    path (chunks of IMS_BULK_ACTION_CHUNK, one transaction each), for comparison.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_actions.py

BENCH_DOCS (default 1,000,000) sets the size, BENCH_REPEAT (default 3) the preview samples, BENCH_BULK (default
100,000) the bulk size. Each bulk run accepts documents not yet acted on, so the script can be re-run.
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
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
BULK = int(os.environ.get("BENCH_BULK", "100000"))


def _owner(tenant):
    from django.contrib.auth import get_user_model

    from audit.services import Actor
    from tenancy import services
    from tenancy.models import Membership
    from tenancy.scoping import tenant_scope

    user, _ = get_user_model().objects.get_or_create(username="bench-actions", defaults={"email": "a@bench.in"})
    with tenant_scope(tenant):
        membership = Membership.objects.filter(tenant=tenant, user=user).first() or services.add_member(
            tenant=tenant, actor=Actor.system("bench"), user=user, role="owner")
    return user, membership


def _fresh_ids(tenant, n):
    from invoices.models import SupplierDocument

    return list(
        SupplierDocument.objects.filter(tenant=tenant, local_action__isnull=True, section="b2b", portal_action="N")
        .order_by("-id").values_list("id", flat=True)[:n]
    )


def main() -> None:
    from bench.common import ensure_documents

    tenant, _regs = ensure_documents(DOCS)
    from django.conf import settings
    from django.db import connection

    from actions import selectors, services
    from audit.services import Actor
    from tenancy.scoping import tenant_scope

    user, membership = _owner(tenant)
    with connection.cursor() as cur:
        cur.execute("ANALYZE invoices_supplierdocument")
    with tenant_scope(tenant):
        n = selectors.target_size(selectors.target_documents(tenant=tenant, user=user, membership=membership,
                                                             filters={}))[0]
        print(f"documents in the bench tenant: {n:,}")
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            preview = selectors.bulk_preview(tenant=tenant, user=user, membership=membership, filters={},
                                             action="A")
            times.append(time.perf_counter() - start)
        print(f"(a) preview of accept on all {preview.total:,} matching: median {statistics.median(times):.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in times)}); outcomes {preview.outcomes}; "
              f"{len(preview.sections)} sections; target <= 3 s")

        ids = _fresh_ids(tenant, BULK)
        settings.IMS_BULK_ACTION_SYNC_MAX = BULK + 1  # the in-request path: one transaction
        start = time.perf_counter()
        result = services.bulk_set_action(tenant=tenant, actor=Actor.user(user), user=user, membership=membership,
                                          ids=ids, action="A", remarks="bench")
        took = time.perf_counter() - start
        print(f"(b) bulk accept of {len(ids):,} by ids, one transaction: {took:.2f} s — applied {result.applied:,}, "
              f"refused {result.refused_count:,}, already {result.already:,}; target <= 10 s")

        ids = _fresh_ids(tenant, BULK)
        settings.IMS_BULK_ACTION_SYNC_MAX = 20_000
        services._enqueue = lambda run_id: None  # no broker here: run the worker's function below, in-process
        start = time.perf_counter()
        queued = services.bulk_set_action(tenant=tenant, actor=Actor.user(user), user=user, membership=membership,
                                          ids=ids, action="A", remarks="bench")
    status = services.run_bulk_action(run_id=queued.run_id)  # what the worker runs
    took = time.perf_counter() - start
    print(f"(b') bulk accept of {len(ids):,} by ids through the worker path (chunks of "
          f"{services.chunk_size():,}): {took:.2f} s — {status}")


if __name__ == "__main__":
    from bench.common import configure

    configure()
    main()

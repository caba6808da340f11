"""IMS actions at scale, 1,000,000 documents of one tenant:
(a) the preview (confirmation step) of an action on ALL documents matching an empty filter — target <= 3 s;
(b) a bulk accept of 100,000 documents by ids: rules, one UPDATE per new state, one audit event per document plus
    the summary, in one transaction (the in-request path) — target <= 10 s; and the same size through the worker
    path (chunks of IMS_BULK_ACTION_CHUNK, one transaction each), for comparison.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_actions.py

BENCH_DOCS (default 1,000,000) sets the size, BENCH_REPEAT (default 3) the preview samples, BENCH_BULK (default
100,000) the bulk size. Each bulk run accepts documents not yet acted on; when fewer than twice BENCH_BULK are left
(about every fourth run at the default sizes) the earlier runs' actions are cleared first, so the script reruns on
the same database without end (BENCH_RESET=1 clears them every time).
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
RESET = os.environ.get("BENCH_RESET") == "1"


def _owner(tenant):
    from django.contrib.auth import get_user_model

    from audit.services import Actor
    from tenancy import services
    from tenancy.models import Membership
    from tenancy.scoping import tenant_scope

    user, _ = get_user_model().objects.get_or_create(
        username="bench-actions", defaults={"email": "a@bench.in"}
    )
    with tenant_scope(tenant):
        membership = Membership.objects.filter(tenant=tenant, user=user).first() or services.add_member(
            tenant=tenant, actor=Actor.system("bench"), user=user, role="owner"
        )
    return user, membership


def _fresh_ids(tenant, n):
    from invoices.models import SupplierDocument

    return list(
        SupplierDocument.objects.filter(
            tenant=tenant, local_action__isnull=True, section="b2b", portal_action="N"
        )
        .order_by("-id")
        .values_list("id", flat=True)[:n]
    )


class _Stages:
    """Wall time spent in each stage of the bulk path (wrapping the module functions the service calls)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._undo: list = []

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def __enter__(self):
        from actions import gates, selectors, services

        self.wrap(selectors, "target_documents", "target (ids checked)")
        self.wrap(selectors, "lock_documents", "lock the target rows (FOR UPDATE)")
        self.wrap(selectors, "kinds", "rules: group by rule columns (SQL)")
        self.wrap(services, "evaluate_many", "rules: decide each kind (Python)")
        self.wrap(services, "_update", "update (SQL, returning the state before)")
        self.wrap(services, "record_many", "audit events + summary (hash, COPY)")
        self.wrap(gates, "hold", "approvals (hold / supersede)")
        return self

    def __exit__(self, *exc):
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)

    def report(self, total: float) -> str:
        parts = [f"{label} {secs:.2f}" for label, secs in self.seconds.items()]
        rest = total - sum(self.seconds.values())
        return "; ".join([*parts, f"other {rest:.2f}"])


def _hot_share(cur) -> str:
    cur.execute(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'invoices_supplierdocument'"
    )
    return cur.fetchone()


def main() -> None:
    from bench.common import as_owner, ensure_documents

    tenant, _regs = ensure_documents(DOCS)
    from django.conf import settings
    from django.db import connection

    from actions import selectors, services
    from audit.services import Actor
    from tenancy.scoping import tenant_scope

    user, membership = _owner(tenant)
    with tenant_scope(tenant):
        # Each run accepts 2 × BENCH_BULK documents not yet acted on; when earlier runs have left fewer, their
        # actions are cleared first, so the script reruns on the same database for ever.
        short = len(_fresh_ids(tenant, 2 * BULK)) < 2 * BULK
    with connection.cursor() as cur:
        if RESET or short:  # earlier runs' actions: clear them (not audited: bench data only)
            cur.execute(
                "UPDATE invoices_supplierdocument SET local_action = NULL, local_remarks = '' "
                "WHERE tenant_id = %s AND local_action IS NOT NULL",
                [tenant.pk],
            )
            print(f"cleared the local actions of {cur.rowcount:,} documents")
        with as_owner(cur):
            cur.execute("ANALYZE invoices_supplierdocument")
    with tenant_scope(tenant):
        n = selectors.target_size(
            selectors.target_documents(tenant=tenant, user=user, membership=membership, filters={})
        )[0]
        print(f"documents in the bench tenant: {n:,}")
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            preview = selectors.bulk_preview(
                tenant=tenant, user=user, membership=membership, filters={}, action="A"
            )
            times.append(time.perf_counter() - start)
        print(
            f"(a) preview of accept on all {preview.total:,} matching: median {statistics.median(times):.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in times)}); outcomes {preview.outcomes}; "
            f"{len(preview.sections)} sections; target <= 3 s"
        )

        ids = _fresh_ids(tenant, BULK)
        settings.IMS_BULK_ACTION_SYNC_MAX = BULK + 1  # the in-request path: one transaction
        with connection.cursor() as cur:
            upd0, hot0 = _hot_share(cur)
        start = time.perf_counter()
        with _Stages() as stages:
            result = services.bulk_set_action(
                tenant=tenant,
                actor=Actor.user(user),
                user=user,
                membership=membership,
                ids=ids,
                action="A",
                remarks="bench",
            )
        took = time.perf_counter() - start
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_stat_force_next_flush()"
            )  # this backend's counters, at its next transaction end
            cur.execute("SELECT 1")
            upd1, hot1 = _hot_share(cur)
        print(
            f"(b) bulk accept of {len(ids):,} by ids, one transaction: {took:.2f} s — applied {result.applied:,}, "
            f"refused {result.refused_count:,}, already {result.already:,}; target <= 10 s"
        )
        print(f"    breakdown (s): {stages.report(took)}")
        print(f"    rows updated {upd1 - upd0:,}, of them in place (HOT) {hot1 - hot0:,}")

        ids = _fresh_ids(tenant, BULK)
        settings.IMS_BULK_ACTION_SYNC_MAX = 20_000
        services._enqueue = lambda run_id: None  # no broker here: run the worker's function below, in-process
        start = time.perf_counter()
        queued = services.bulk_set_action(
            tenant=tenant,
            actor=Actor.user(user),
            user=user,
            membership=membership,
            ids=ids,
            action="A",
            remarks="bench",
        )
        with _Stages() as stages:
            status = services.run_bulk_action(run_id=queued.run_id)  # what the worker runs
    took = time.perf_counter() - start
    print(
        f"(b') bulk accept of {len(ids):,} by ids through the worker path (chunks of "
        f"{services.chunk_size():,}): {took:.2f} s — {status}"
    )
    print(f"    breakdown (s): {stages.report(took)}")


if __name__ == "__main__":
    from bench.common import configure

    configure()
    main()

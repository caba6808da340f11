"""Pushing local IMS actions to the sandbox portal: BENCH_PUSH_DOCS (default 10,000) documents synced from it, a
local action set on every one of them (one SQL UPDATE: Accept, or Reject where the portal already says Accept),
then ``gst_sync.push.queue_push`` and ``run_push`` of every batch (SAVE over HTTP, REQSTS polling, results stored)
timed end to end.

    .venv/bin/python bench/bench_push.py                 # DATABASE_URL=…/ims_bench → runs on ims_bench_push
    BENCH_PUSH_DOCS=2000 .venv/bin/python bench/bench_push.py

The portal answers the first REQSTS of a request with IP (in progress), as the real one may; the adapter polls
after BENCH_PUSH_POLL_FIRST seconds (default 0.1; the product's default is 2 s, growing ×1.8), so the figure is
our cost plus the sandbox's, not the waits. Batch size: settings.IMS_PUSH_BATCH_SIZE (IMS_PUSH_BATCH_SIZE env).

The queue at scale (BENCH_QUEUE_DOCS, e.g. 1000000; runs instead of the above on DATABASE_URL's bench tenant,
loading it if needed): BENCH_QUEUE_ACTIONS (default 100,000) local actions on the largest GSTIN (60 % of the
documents), then the readers timed — the portal page's counts, the Offline Tool counts, push selection, queue_push
(rolled back) — beside the scan of the documents the queue needed before ``gst_sync_pushqueue``; and what the
queue's triggers cost ingest (a 50,000-document batch created, then updated; rolled back) with them on and off.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench BENCH_QUEUE_DOCS=1000000 .venv/bin/python bench/bench_push.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOCS = int(os.environ.get("BENCH_PUSH_DOCS", "10000"))
POLL_FIRST = float(os.environ.get("BENCH_PUSH_POLL_FIRST", "0.1"))
QUEUE_DOCS = int(os.environ.get("BENCH_QUEUE_DOCS", "0"))
QUEUE_ACTIONS = int(os.environ.get("BENCH_QUEUE_ACTIONS", "100000"))
TRIGGERS = ("pushqueue_after_insert", "pushqueue_after_update")


def set_local_actions(tenant, reg) -> int:
    """Every synced document gets a local action that differs from the portal's (set-based, like a bulk action)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """UPDATE invoices_supplierdocument
                  SET local_action = CASE WHEN portal_action = 'A' THEN 'R' ELSE 'A' END,
                      local_updated_at = now()
                WHERE tenant_id = %s AND registration_id = %s AND vanished_at IS NULL""",
            [tenant.pk, reg.pk],
        )
        return cur.rowcount


def main() -> None:
    from bench.bench_sync import (
        Timings,
        bench_url,
        connected_recipient,
        keep_tasks_in_process,
        sandbox_portal,
        seed_portal,
        sync_all,
        timed_adapter,
    )
    from bench.common import configure, recreate_database

    url = bench_url("push")
    recreate_database(url)
    configure(url)
    keep_tasks_in_process()
    from django.conf import settings

    from audit.services import Actor
    from gst_sync import push
    from gst_sync.client import PollPolicy
    from gst_sync.models import PushBatch, PushItem
    from tenancy.scoping import tenant_scope

    print(
        f"bench_push: {DOCS:,} documents, batches of {settings.IMS_PUSH_BATCH_SIZE:,}, "
        f"first REQSTS poll after {POLL_FIRST} s",
        flush=True,
    )
    with sandbox_portal() as http:
        counts = seed_portal(http, DOCS)
        base_url = str(http.base_url).rstrip("/")
        poll = PollPolicy(max_polls=12, first_delay=POLL_FIRST, factor=1.8, max_delay=5.0)
        with timed_adapter(base_url, Timings(), poll=poll) as adapter:
            tenant, reg = connected_recipient(adapter)
            start = time.perf_counter()
            runs = sync_all(tenant, reg, adapter)
            if any(r.status != "succeeded" for r in runs):
                raise SystemExit(f"sync failed: {[(r.section, r.error_message[:200]) for r in runs]}")
            print(
                f"  synced {sum(counts.values()):,} documents in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            with tenant_scope(tenant):
                marked = set_local_actions(tenant, reg)
                start = time.perf_counter()
                batches = push.queue_push(tenant=tenant, actor=Actor.system("bench"), registration=reg)
                queued = time.perf_counter() - start
            for batch in batches:
                push.run_push(batch.pk, adapter=adapter)
            total = time.perf_counter() - start
        calls = http.get("/__sandbox__/stats").json()["by_action"]
    with tenant_scope(tenant):
        done = PushBatch.objects.filter(pk__in=[b.pk for b in batches])
        states = sorted({b.status for b in done})
        results = {
            r: PushItem.objects.filter(batch__in=done, result=r).count()
            for r in ("saved", "failed", "conflict", "sent")
        }
        left = push.pending_push(tenant=tenant, registration=reg).count()
    print(
        f"  {marked:,} local actions -> {len(batches)} batches ({', '.join(states)}); results "
        + ", ".join(f"{k} {v:,}" for k, v in results.items() if v)
        + f"; {left:,} still to push, of them {len(batches.held):,} held (an Accept that needs the ITC-reduction "
        "answer is never sent: docs/rules/ims-actions.md §4.4)"
    )
    print(
        f"  portal calls: SAVE {calls.get('SAVE', 0)}, RESETIMS {calls.get('RESETIMS', 0)}, "
        f"REQSTS {calls.get('REQSTS', 0)}"
    )
    print(f"  total {total:.1f} s -> {marked / total:,.0f} actions/s (queue_push {queued:.2f} s)", flush=True)
    if states != ["done"] or results["saved"] != marked - len(batches.held) or left != len(batches.held):
        raise SystemExit("push incomplete")


def _timed(label: str, fn, repeat: int = 3):
    import statistics

    runs, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        runs.append(time.perf_counter() - start)
    print(
        f"  {label}: median {statistics.median(runs) * 1000:,.0f} ms "
        f"(runs {', '.join(f'{r * 1000:,.0f}' for r in runs)}) -> {value}",
        flush=True,
    )
    return value


class _Rollback(Exception):
    pass


def _triggers(cur, on: bool) -> None:
    from bench.common import as_owner

    with as_owner(cur):
        for name in TRIGGERS:
            cur.execute(
                f"ALTER TABLE invoices_supplierdocument {'ENABLE' if on else 'DISABLE'} TRIGGER {name}"
            )


def _ingest_cost(tenant, reg) -> None:
    """A batch of 50,000 new documents through ingest, then the same batch again with the portal action changed
    on each (an update of every row), with the queue's triggers on and off; each run rolled back."""
    from django.db import connection, transaction

    from audit.services import Actor
    from bench.common import PERIODS
    from invoices.services.ingest import ingest_documents
    from tools.generator import batches

    batch = next(
        batches(
            seed=4242,
            recipient_gstin=reg.gstin,
            periods=PERIODS,
            n_docs=50_000,
            n_suppliers=1200,
            batch_size=50_000,
        )
    )
    changed = {sec: [{**r, "action": "A"} for r in rows] for sec, rows in batch.items()}
    for on in (True, False, True, False):
        try:
            with transaction.atomic():
                with connection.cursor() as cur:
                    _triggers(cur, on)
                t0 = time.perf_counter()
                created = ingest_documents(
                    tenant=tenant,
                    registration=reg,
                    records=batch,
                    actor=Actor.system("bench"),
                    source="bench",
                    audit_created=False,
                )
                t1 = time.perf_counter()
                updated = ingest_documents(
                    tenant=tenant,
                    registration=reg,
                    records=changed,
                    actor=Actor.system("bench"),
                    source="bench",
                )
                t2 = time.perf_counter()
                print(
                    f"  ingest, queue triggers {'on ' if on else 'off'}: {created.created:,} created in "
                    f"{t1 - t0:.2f} s; {updated.changed:,} updated in {t2 - t1:.2f} s",
                    flush=True,
                )
                raise _Rollback
        except _Rollback:
            pass


def _update_cost(tenant, reg) -> None:
    """The bulk action's UPDATE (the local_* columns of 100,000 documents, RETURNING the state before, as
    actions.services._update) with the queue's triggers on and off, alternately; each run rolled back."""
    from django.db import connection, transaction

    with connection.cursor() as cur:
        cur.execute(
            "SELECT id FROM invoices_supplierdocument WHERE tenant_id = %s AND registration_id = %s "
            "AND local_action IS NULL ORDER BY id LIMIT %s",
            [tenant.pk, reg.pk, QUEUE_ACTIONS],
        )
        ids = [r[0] for r in cur.fetchall()]
    for on in (True, False, True, False, True, False):
        try:
            with transaction.atomic(), connection.cursor() as cur:
                _triggers(cur, on)
                start = time.perf_counter()
                cur.execute(
                    "UPDATE invoices_supplierdocument d SET local_action = 'A', local_remarks = 'bench', "
                    "local_updated_at = now() FROM (SELECT id, local_action, local_remarks FROM "
                    "invoices_supplierdocument WHERE tenant_id = %s AND id = ANY(%s)) o "
                    "WHERE d.id = o.id AND d.tenant_id = %s RETURNING d.id, o.local_action, o.local_remarks",
                    [tenant.pk, ids, tenant.pk],
                )
                n = len(cur.fetchall())
                print(
                    f"  bulk UPDATE of {n:,} documents' local action, queue triggers {'on ' if on else 'off'}: "
                    f"{time.perf_counter() - start:.2f} s",
                    flush=True,
                )
                raise _Rollback
        except _Rollback:
            pass


def queue_at_scale() -> None:
    from bench.common import as_owner, configure, ensure_documents

    configure()
    tenant, regs = ensure_documents(QUEUE_DOCS)
    from django.db import connection, transaction

    from audit.services import Actor
    from gst_sync import push
    from gst_sync.files import imports
    from gst_sync.models import ConnectionStatus, PortalConnection
    from gst_sync.selectors import push_queue_counts
    from tenancy.scoping import tenant_scope

    big = regs[0]
    with tenant_scope(tenant), connection.cursor() as cur:
        cur.execute(
            "UPDATE invoices_supplierdocument SET local_action = NULL, local_remarks = '' "
            "WHERE tenant_id = %s AND local_action IS NOT NULL",
            [tenant.pk],
        )
        cur.execute(
            "SELECT count(*) FROM invoices_supplierdocument WHERE tenant_id = %s AND registration_id = %s",
            [tenant.pk, big.pk],
        )
        size = cur.fetchone()[0]
        start = time.perf_counter()
        cur.execute(
            """UPDATE invoices_supplierdocument SET local_action = CASE WHEN portal_action = 'A' THEN 'R' ELSE 'A' END
                WHERE id IN (SELECT id FROM invoices_supplierdocument WHERE tenant_id = %s AND registration_id = %s
                             ORDER BY id DESC LIMIT %s)""",
            [tenant.pk, big.pk, QUEUE_ACTIONS],
        )
        print(
            f"queue at scale: {QUEUE_DOCS:,} documents; {cur.rowcount:,} local actions set on a GSTIN of "
            f"{size:,} in {time.perf_counter() - start:.2f} s (one UPDATE, triggers on)",
            flush=True,
        )
        with as_owner(cur):
            cur.execute("ANALYZE invoices_supplierdocument")
            cur.execute("ANALYZE gst_sync_pushqueue")

        def scan(reg):
            cur.execute(
                "SELECT count(*) FROM invoices_supplierdocument WHERE tenant_id = %s AND registration_id = %s "
                "AND local_action IS NOT NULL AND vanished_at IS NULL",
                [tenant.pk, reg.pk],
            )
            return cur.fetchone()[0]

        for reg in regs:
            _timed(f"before: scan of the documents of GSTIN {reg.gstin} for its queue", lambda r=reg: scan(r))
        _timed(
            "portal page: queue counts of every GSTIN",
            lambda: {r: c["all"] for r, c in push_queue_counts(tenant=tenant, registrations=regs).items()},
        )
        _timed(
            "Offline Tool page: SAVE / RESET counts of every GSTIN",
            lambda: imports.pending_upload_counts(tenant=tenant, registrations=regs),
        )
        _timed(
            f"push selection: SAVE rows of GSTIN {big.gstin}",
            lambda: len(
                list(
                    push.pending_push(tenant=tenant, registration=big, kind="save")
                    .order_by("section", "id")
                    .values("id", *imports._UPLOAD_FIELDS)
                )
            ),
        )
        PortalConnection.objects.update_or_create(
            tenant=tenant,
            registration=big,
            defaults={"username": "bench", "status": ConnectionStatus.CONNECTED, "session_blob": "bench"},
        )
        for _ in range(2):
            try:
                with transaction.atomic():
                    start = time.perf_counter()
                    made = push.queue_push(tenant=tenant, actor=Actor.system("bench"), registration=big)
                    print(
                        f"  queue_push: {len(made):,} batches of {sum(b.item_count for b in made):,} documents in "
                        f"{time.perf_counter() - start:.2f} s (rolled back)",
                        flush=True,
                    )
                    raise _Rollback
            except _Rollback:
                pass
        _update_cost(tenant, regs[1])
        _ingest_cost(tenant, regs[2])


if __name__ == "__main__":
    if QUEUE_DOCS:
        queue_at_scale()
    else:
        main()

"""Pushing local IMS actions to the sandbox portal: BENCH_PUSH_DOCS (default 10,000) documents synced from it, a
local action set on every one of them (one SQL UPDATE: Accept, or Reject where the portal already says Accept),
then ``gst_sync.push.queue_push`` and ``run_push`` of every batch (SAVE over HTTP, REQSTS polling, results stored)
timed end to end.

    .venv/bin/python bench/bench_push.py                 # DATABASE_URL=…/ims_bench → runs on ims_bench_push
    BENCH_PUSH_DOCS=2000 .venv/bin/python bench/bench_push.py

The portal answers the first REQSTS of a request with IP (in progress), as the real one may; the adapter polls
after BENCH_PUSH_POLL_FIRST seconds (default 0.1; the product's default is 2 s, growing ×1.8), so the figure is
our cost plus the sandbox's, not the waits. Batch size: settings.IMS_PUSH_BATCH_SIZE (IMS_PUSH_BATCH_SIZE env).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOCS = int(os.environ.get("BENCH_PUSH_DOCS", "10000"))
POLL_FIRST = float(os.environ.get("BENCH_PUSH_POLL_FIRST", "0.1"))


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
    from gst_sync.adapters import PollPolicy
    from gst_sync.models import PushBatch, PushItem
    from tenancy.scoping import tenant_scope

    print(f"bench_push: {DOCS:,} documents, batches of {settings.IMS_PUSH_BATCH_SIZE:,}, "
          f"first REQSTS poll after {POLL_FIRST} s", flush=True)
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
            print(f"  synced {sum(counts.values()):,} documents in {time.perf_counter() - start:.1f} s", flush=True)
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
        results = {r: PushItem.objects.filter(batch__in=done, result=r).count()
                   for r in ("saved", "failed", "conflict", "sent")}
        left = push.pending_push(tenant=tenant, registration=reg).count()
    print(f"  {marked:,} local actions -> {len(batches)} batches ({', '.join(states)}); results "
          + ", ".join(f"{k} {v:,}" for k, v in results.items() if v) + f"; {left:,} still to push")
    print(f"  portal calls: SAVE {calls.get('SAVE', 0)}, RESETIMS {calls.get('RESETIMS', 0)}, "
          f"REQSTS {calls.get('REQSTS', 0)}")
    print(f"  total {total:.1f} s -> {marked / total:,.0f} actions/s (queue_push {queued:.2f} s)", flush=True)
    if states != ["done"] or results["saved"] != marked:
        raise SystemExit("push incomplete")


if __name__ == "__main__":
    main()

"""Celery queues, one per kind of job, and the priorities and tenant interleaving that keep them fair.

* **Queues** (the ``queue=`` of each task; docs/operations.md lists them): ``sync`` (portal downloads and other
  portal reads), ``push`` (saving actions on the portal), ``reconcile`` (reconciliation runs and register imports),
  ``rebuild`` (GSTR-2B previews and ITC claim periods), ``exports``, ``notifications`` (e-mail digests and
  webhooks) and ``default`` (beat's sweeps and bulk actions). A worker consumes all of them (``-Q`` with
  :data:`ALL`) or a group of them, so a flood of one kind cannot hold up another kind's worker.
* **Priorities** (Redis: 0 is served first; kombu keeps one list per step of 0, 3, 6, 9 and a worker always takes
  from the lowest step that has a message): a person's "Sync now" is :data:`INTERACTIVE`, jobs that name no
  priority are :data:`NORMAL`, the nightly batch and a CA firm's "sync all" are :data:`BATCH`, and a tenant's
  share of a batch beyond :data:`FAIR_SHARE` GSTINs goes to :data:`BATCH_TAIL`.
* **Fairness between tenants**: a batch is enqueued round-robin over tenants (:func:`interleave`), so one
  tenant's 5,000 GSTINs and another's one are served one each in turn; and because a big tenant's tail sits on a
  lower priority step, a smaller tenant's batch queued later still overtakes it.

The filesystem broker of ``make run`` (docs/decisions/0009) has no priorities: the queues and the interleaving
still apply there.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

DEFAULT = "default"
SYNC = "sync"
PUSH = "push"
RECONCILE = "reconcile"
REBUILD = "rebuild"
EXPORTS = "exports"
NOTIFICATIONS = "notifications"
ALL: tuple[str, ...] = (DEFAULT, SYNC, PUSH, RECONCILE, REBUILD, EXPORTS, NOTIFICATIONS)

INTERACTIVE = 0
NORMAL = 3
BATCH = 6
BATCH_TAIL = 9
PRIORITY_STEPS = [INTERACTIVE, NORMAL, BATCH, BATCH_TAIL]
FAIR_SHARE = 50  # GSTINs of one tenant per batch at BATCH priority; the rest of its batch waits at BATCH_TAIL

T = TypeVar("T")


def priority_for(trigger: str) -> int:
    """The priority of a job started by ``trigger``: "user" (a person clicked) is served first, "schedule" and
    "batch" last, anything else in between."""
    if trigger == "user":
        return INTERACTIVE
    if trigger in ("schedule", "batch"):
        return BATCH
    return NORMAL


def batch_priority(position_in_tenant: int) -> int:
    """The priority of the ``position_in_tenant``-th (0-based) GSTIN of one tenant in a batch."""
    return BATCH if position_in_tenant < FAIR_SHARE else BATCH_TAIL


def interleave(items: Iterable[T], key: Callable[[T], Hashable]) -> list[tuple[T, int]]:
    """``items`` reordered round-robin over ``key`` (the tenant), each with its position within its key:
    [(a1, 0), (b1, 0), (a2, 1), (a3, 2)] for tenants a (three items) and b (one). Keys keep the order of their
    first item; items keep their order within a key."""
    groups: dict[Hashable, deque[T]] = defaultdict(deque)
    for item in items:
        groups[key(item)].append(item)
    out: list[tuple[T, int]] = []
    position = 0
    while groups:
        for k in list(groups):
            out.append((groups[k].popleft(), position))
            if not groups[k]:
                del groups[k]
        position += 1
    return out

"""Compare-and-set claims with a lease, shared by sync runs and push batches.

A row is claimable when it is queued, or when it is in one of its running states but its heartbeat is older than
``settings.IMS_SYNC_LEASE_SECONDS`` (its worker died). The claim is one conditional UPDATE, so two deliveries of the
same task never both proceed.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection
from django.utils import timezone


class LeaseLost(Exception):
    """The lease of this attempt was taken over by another worker (ours expired): stop without touching the job."""


def claim(
    model, pk: int, *, running: tuple[str, ...], new_status_sql: str, set_started: bool = False
) -> bool:
    """Claim row ``pk`` of ``model``: set ``status = new_status_sql``, the heartbeat and ``attempts + 1``
    (and ``started_at`` when asked). True when this caller got it."""
    return (
        claim_attempt(model, pk, running=running, new_status_sql=new_status_sql, set_started=set_started)
        is not None
    )


def claim_attempt(
    model, pk: int, *, running: tuple[str, ...], new_status_sql: str, set_started: bool = False
) -> int | None:
    """As :func:`claim`, returning this caller's attempt number (the row's new ``attempts``), None when not
    claimed. Attempt > 1 means an earlier worker died holding the job: its half-done work must be undone or
    found idempotent. Keep the number for :func:`renew`."""
    now = timezone.now()
    started = ", started_at = %(now)s" if set_started else ""
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE {model._meta.db_table}
                SET status = {new_status_sql}, heartbeat_at = %(now)s, attempts = attempts + 1{started}
                WHERE id = %(pk)s AND (status = 'queued' OR (status = ANY(%(running)s) AND heartbeat_at < %(stale)s))
                RETURNING attempts""",
            {
                "now": now,
                "pk": pk,
                "running": list(running),
                "stale": now - dt.timedelta(seconds=settings.IMS_SYNC_LEASE_SECONDS),
            },
        )
        row = cur.fetchone()
        return row[0] if row else None


def renew(model, pk: int, attempt: int, *, running: tuple[str, ...], **fields) -> None:
    """Heartbeat of attempt ``attempt`` of row ``pk`` (and ``fields`` set with it, e.g. progress). Raises
    :class:`LeaseLost` when the row is no longer this attempt's (taken over after its lease expired, or finished).
    Inside a transaction the row stays locked until it ends, so a takeover waits for it — call it first in a
    transaction that must only commit while the lease is held."""
    updated = model._base_manager.filter(pk=pk, attempts=attempt, status__in=running).update(
        heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise LeaseLost(f"{model._meta.label} #{pk}: attempt {attempt} lost its lease")

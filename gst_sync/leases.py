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


def claim(model, pk: int, *, running: tuple[str, ...], new_status_sql: str, set_started: bool = False) -> bool:
    """Claim row ``pk`` of ``model``: set ``status = new_status_sql``, the heartbeat and ``attempts + 1``
    (and ``started_at`` when asked). True when this caller got it."""
    now = timezone.now()
    started = ", started_at = %(now)s" if set_started else ""
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE {model._meta.db_table}
                SET status = {new_status_sql}, heartbeat_at = %(now)s, attempts = attempts + 1{started}
                WHERE id = %(pk)s AND (status = 'queued' OR (status = ANY(%(running)s) AND heartbeat_at < %(stale)s))""",
            {"now": now, "pk": pk, "running": list(running),
             "stale": now - dt.timedelta(seconds=settings.IMS_SYNC_LEASE_SECONDS)},
        )
        return cur.rowcount == 1

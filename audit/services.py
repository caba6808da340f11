"""The only writer of the audit ledger.

Call :func:`record` (one event) or :func:`record_many` (a bulk change: one event per row plus a summary) from
inside the service's ``transaction.atomic()`` block, so the event commits or rolls back with the change.
Events of one tenant are chained in ``seq`` order under a per-tenant advisory lock.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .chain import GENESIS_HASH, event_fields, link_hash, normalise_json
from .models import ActorType

_LOCK_NAMESPACE = 7_260_001  # pg_advisory_xact_lock(namespace, tenant_id) serialises a tenant's chain


@dataclass(frozen=True)
class Actor:
    type: str
    label: str
    id: int | None = None

    @classmethod
    def user(cls, user) -> Actor:
        return cls(ActorType.USER, user.get_username(), user.pk)

    @classmethod
    def api(cls, user) -> Actor:
        return cls(ActorType.API, user.get_username(), user.pk)

    @classmethod
    def task(cls, name: str) -> Actor:
        return cls(ActorType.TASK, name)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(ActorType.SYSTEM, label)

    @classmethod
    def from_request(cls, request) -> Actor:
        if getattr(request, "auth", None) is not None:
            return cls.api(request.user)
        return cls.user(request.user)


@dataclass
class Event:
    action: str
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def _lock_and_tail(tenant_id: int) -> tuple[int, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, tenant_id])
        cur.execute(
            "SELECT seq, hash FROM audit_auditevent WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1", [tenant_id]
        )
        row = cur.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def _rows(tenant_id: int, actor: Actor, events: Iterable[Event], request_id: str, start_seq: int, prev: str):
    now = timezone.now()
    seq, prev_hash = start_seq, prev
    for ev in events:
        seq += 1
        changes = normalise_json(ev.changes)
        metadata = normalise_json(ev.metadata)
        fields = event_fields(
            tenant_id=tenant_id,
            seq=seq,
            occurred_at=now,
            actor_type=str(actor.type),
            actor_id=actor.id,
            actor_label=actor.label,
            action=ev.action,
            object_type=ev.object_type,
            object_id=str(ev.object_id),
            object_repr=ev.object_repr[:200],
            changes=changes,
            metadata=metadata,
            request_id=request_id,
        )
        h = link_hash(prev_hash, fields)
        yield fields, prev_hash, h
        prev_hash = h


_COLUMNS = (
    "tenant_id, seq, occurred_at, actor_type, actor_id, actor_label, action, object_type, object_id, "
    "object_repr, changes, metadata, request_id, prev_hash, hash"
)


def _copy(rows) -> int:
    """COPY rows into the ledger (text format). Returns how many were written."""
    from .chain import canonical

    n = 0
    with connection.cursor() as cur:
        raw = cur.cursor
        with raw.copy(f"COPY audit_auditevent ({_COLUMNS}) FROM STDIN") as copy:
            buf = io.StringIO()
            for fields, prev_hash, h in rows:
                vals = (
                    str(fields["tenant_id"]),
                    str(fields["seq"]),
                    fields["occurred_at"],
                    fields["actor_type"],
                    None if fields["actor_id"] is None else str(fields["actor_id"]),
                    fields["actor_label"],
                    fields["action"],
                    fields["object_type"],
                    fields["object_id"],
                    fields["object_repr"],
                    canonical(fields["changes"]),
                    canonical(fields["metadata"]),
                    fields["request_id"],
                    prev_hash,
                    h,
                )
                buf.write("\t".join("\\N" if v is None else _escape(v) for v in vals))
                buf.write("\n")
                n += 1
                if n % 5000 == 0:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
    return n


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def record(
    *,
    tenant,
    actor: Actor,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    request_id: str = "",
) -> int:
    """Append one event to ``tenant``'s ledger; returns its ``seq``. Must run inside the change's transaction."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    ev = Event(action, object_type, str(object_id), object_repr, changes or {}, metadata or {})
    return record_many(tenant=tenant, actor=actor, events=[ev], request_id=request_id)


def record_many(
    *,
    tenant,
    actor: Actor,
    events: Sequence[Event] | Iterable[Event],
    summary: Event | None = None,
    request_id: str = "",
) -> int:
    """Append many events (one per changed row) and an optional summary event last; returns the last ``seq``.

    Written with COPY in one pass, so a bulk change of 100,000 rows costs seconds, not minutes.
    """
    tenant_id = getattr(tenant, "pk", tenant)
    if not connection.in_atomic_block:
        raise RuntimeError("audit events must be written inside the transaction of the change they record")
    with transaction.atomic():
        last_seq, last_hash = _lock_and_tail(tenant_id)
        all_events: Iterable[Event] = events
        if summary is not None:
            import itertools

            all_events = itertools.chain(events, [summary])
        n = _copy(_rows(tenant_id, actor, all_events, request_id, last_seq, last_hash))
    return last_seq + n

"""The only writer of the audit ledger.

Call :func:`record` (one event) or :func:`record_many` (a bulk change: one event per row plus a summary) from
inside the service's ``transaction.atomic()`` block, so the event commits or rolls back with the change.
Events of one tenant are chained in ``seq`` order under a per-tenant advisory lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from gst.copytext import escape as _esc
from ims_project import rls
from ims_project.logcontext import current_request_id

from .chain import GENESIS_HASH, canonical, normalise_json
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
            "SELECT seq, hash FROM audit_auditevent WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1",
            [tenant_id],
        )
        row = cur.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


_DUMPS = json.JSONEncoder(ensure_ascii=False).encode  # one scalar (str) exactly as inside canonical()
_CANON_STRICT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_FLAT = frozenset({str, int, bool, type(None)})


def _enc(text: str) -> str:
    """_DUMPS(text), skipping the encoder for the plain ASCII text most ids and names are."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return _DUMPS(text)


def _json_text(value: dict[str, Any]) -> str:
    """canonical(normalise_json(value)) — directly for the flat {field: [old, new]} shape most events carry
    (string keys, str/int/bool/None values or lists of them, where normalising changes nothing)."""
    if not value:
        return "{}"
    if all(type(k) is str for k in value):
        for v in value.values():
            t = type(v)
            if t in _FLAT or ((t is list or t is tuple) and all(type(x) in _FLAT for x in v)):
                continue
            break
        else:
            return _CANON_STRICT(value)
    return canonical(normalise_json(value))


class Canonical(str):
    """JSON text already in the ledger's canonical form, as :func:`canonical_json` makes it: an :class:`Event`'s
    ``changes`` or ``metadata`` may be given so when many events share them (a bulk change encodes them once)."""

    __slots__ = ()


def canonical_json(value: dict[str, Any]) -> Canonical:
    """``value`` in the canonical form the hash chain is computed over (what the verifier rebuilds from JSONB)."""
    return Canonical(_json_text(value))


def _rows(tenant_id: int, actor: Actor, events: Iterable[Event], request_id: str, start_seq: int, prev: str):
    """Yield (COPY line, hash) per event, chaining hashes from ``prev``.

    The canonical text is assembled from pre-encoded pieces in sort_keys order; it is byte-for-byte what
    ``chain.canonical(chain.event_fields(...))`` gives (the verifier's form — a test holds the two together), at a
    fraction of the cost, so a bulk change of 100,000 rows spends little time here.
    """
    now = timezone.now()
    occurred = now.astimezone(dt.UTC).isoformat(timespec="microseconds")
    actor_id = "null" if actor.id is None else str(int(actor.id))
    head = f'"actor_id":{actor_id},"actor_label":{_DUMPS(actor.label)},"actor_type":{_DUMPS(str(actor.type))}'
    tail = f'"occurred_at":{_DUMPS(occurred)},"request_id":{_DUMPS(request_id)}'
    tenant_text = str(int(tenant_id))
    fixed_copy = "\t".join(
        (
            occurred,
            _esc(str(actor.type)),
            "\\N" if actor.id is None else str(int(actor.id)),
            _esc(actor.label),
        )
    )
    encoded: dict[str, str] = {}  # action / object_type strings repeat: encode each once
    escaped: dict[tuple, tuple[str, str]] = {}
    request_copy = _esc(request_id)
    seq, prev_hash = start_seq, prev
    sha = hashlib.sha256
    for ev in events:
        seq += 1
        action, otype = ev.action, ev.object_type
        oid, orepr = str(ev.object_id), ev.object_repr[:200]
        oid_json, orepr_json = _enc(oid), _enc(orepr)
        a_json = encoded.get(action) or encoded.setdefault(action, _DUMPS(action))
        t_json = encoded.get(otype) or encoded.setdefault(otype, _DUMPS(otype))
        changes, metadata = ev.changes, ev.metadata
        if type(changes) is not Canonical:
            changes = _json_text(changes)
        if type(metadata) is not Canonical:
            metadata = _json_text(metadata)
        text = (
            f'{{"action":{a_json},{head},"changes":{changes},"metadata":{metadata},"object_id":{oid_json},'
            f'"object_repr":{orepr_json},"object_type":{t_json},{tail},"seq":{seq},"tenant_id":{tenant_text}}}'
        )
        h = sha((prev_hash + text).encode()).hexdigest()
        # The same action / object type / JSON texts repeat across a bulk change: escape each once.
        head_copy = escaped.get((action, otype, changes, metadata))
        if head_copy is None:
            if len(escaped) > 1000:
                escaped.clear()
            head_copy = escaped[(action, otype, changes, metadata)] = (
                f"{_esc(action)}\t{_esc(otype)}",
                f"{_esc(changes)}\t{_esc(metadata)}\t{request_copy}",
            )
        line = (
            f"{tenant_text}\t{seq}\t{fixed_copy}\t{head_copy[0]}\t{_esc(oid)}\t{_esc(orepr)}\t{head_copy[1]}"
            f"\t{prev_hash}\t{h}"
        )
        yield line, h
        prev_hash = h


_COLUMNS = (
    "tenant_id, seq, occurred_at, actor_type, actor_id, actor_label, action, object_type, object_id, "
    "object_repr, changes, metadata, request_id, prev_hash, hash"
)


# Lines per write: small enough that the backend always has lines to take while the next ones are hashed
# (docs/performance.md §2.1).
_COPY_CHUNK = 2000


def _copy(rows) -> int:
    """COPY the lines into the ledger (text format) in chunks. Returns how many were written."""
    n = 0
    with (
        connection.cursor() as cur,
        rls.copy_in(cur, f"COPY audit_auditevent ({_COLUMNS}) FROM STDIN") as copy,
    ):
        chunk: list[str] = []
        for line, _h in rows:
            chunk.append(line)
            n += 1
            if len(chunk) == _COPY_CHUNK:
                copy.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            copy.write("\n".join(chunk) + "\n")
    return n


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
    # The request (or Celery task) the change came from, when the caller did not name one (ims_project.logcontext).
    request_id = request_id or current_request_id()
    if not connection.in_atomic_block:
        raise RuntimeError("audit events must be written inside the transaction of the change they record")
    with transaction.atomic():
        last_seq, last_hash = _lock_and_tail(tenant_id)
        all_events: Iterable[Event] = events
        if summary is not None:
            all_events = itertools.chain(events, [summary])
        n = _copy(_rows(tenant_id, actor, all_events, request_id, last_seq, last_hash))
    return last_seq + n

"""Canonical form and hashing of audit events. Pure module: no ORM."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


_PLAIN = json.JSONEncoder(default=_default).encode
_CANONICAL = json.JSONEncoder(
    default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode


def normalise_json(value: Any) -> Any:
    """What JSONB will give back: plain JSON types, Decimals and dates as strings."""
    return json.loads(_PLAIN(value))


def canonical(fields: dict[str, Any]) -> str:
    return _CANONICAL(fields)


def event_fields(
    *,
    tenant_id: int,
    seq: int,
    occurred_at: dt.datetime,
    actor_type: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    changes: Any,
    metadata: Any,
    request_id: str,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "seq": seq,
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": object_repr,
        "changes": changes,
        "metadata": metadata,
        "request_id": request_id,
    }


def link_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()

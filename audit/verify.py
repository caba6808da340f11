"""Walk a tenant's ledger in ``seq`` order and check every link of the hash chain (read-only).

Streams rows through a server-side cursor, so memory stays constant whatever the ledger's length.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chain import GENESIS_HASH, event_fields, link_hash
from .models import AuditEvent

_FIELDS = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "metadata",
    "request_id",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class ChainReport:
    events: int  # events checked before the first broken link (all of them when ok)
    broken_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_chain(*, tenant, chunk_size: int = 5000) -> ChainReport:
    """Recompute ``tenant``'s chain; report the first broken link (a gap in seq, a prev_hash that is not the
    previous event's hash, or a hash that does not match the event's content). Needs the tenant's scope open."""
    tenant_id = getattr(tenant, "pk", tenant)
    rows = AuditEvent.objects.filter(tenant_id=tenant_id).order_by("seq").values_list(*_FIELDS)
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    for (
        seq,
        occurred_at,
        actor_type,
        actor_id,
        actor_label,
        action,
        object_type,
        object_id,
        object_repr,
        changes,
        metadata,
        request_id,
        prev_hash,
        stored_hash,
    ) in rows.iterator(chunk_size=chunk_size):
        if seq != expected_seq:
            missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq}-{seq - 1}"
            return ChainReport(checked, seq, f"gap in seq: {missing} missing before seq {seq}")
        if prev_hash != prev:
            return ChainReport(
                checked,
                seq,
                f"prev_hash {prev_hash[:12]}… does not equal the hash of seq {seq - 1} ({prev[:12]}…)"
                if seq > 1
                else f"prev_hash {prev_hash[:12]}… of the first event is not the genesis hash",
            )
        fields = event_fields(
            tenant_id=tenant_id,
            seq=seq,
            occurred_at=occurred_at,
            actor_type=actor_type,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            changes=changes,
            metadata=metadata,
            request_id=request_id,
        )
        computed = link_hash(prev_hash, fields)
        if computed != stored_hash:
            return ChainReport(
                checked,
                seq,
                f"hash mismatch: stored {stored_hash[:12]}…, content hashes to {computed[:12]}… (event altered)",
            )
        prev, expected_seq, checked = stored_hash, seq + 1, checked + 1
    return ChainReport(checked)

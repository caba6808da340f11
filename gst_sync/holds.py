"""Documents whose local action must not be pushed yet: held for approval by the approvals app.

The push queue (``PushQueueEntry``, kept by triggers) lists every document with a local action not on the portal;
the readers leave out the held ones. Approvals sits above gst_sync, so it registers its reader here when Django
starts (``ApprovalsConfig.ready``); without one, nothing is held.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

# (*, tenant) -> a QuerySet of ``values("document_id")``: the documents held now.
HeldReader = Callable[..., QuerySet]

_readers: list[HeldReader] = []


def register(reader: HeldReader) -> HeldReader:
    if reader not in _readers:
        _readers.append(reader)
    return reader


def held(*, tenant) -> list[QuerySet]:
    """One ``values("document_id")`` QuerySet per registered reader."""
    return [reader(tenant=tenant) for reader in _readers]

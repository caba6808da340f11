"""What the dashboard says to do today, per GSTIN, from the apps above invoices (the next GSTR-3B due date and the
deadline queue, the last successful sync, approvals waiting for the member, the latest reconciliation's
exceptions).

invoices sits below the apps that know these things, so it cannot import them; instead each registers a provider
when Django starts (in its ``AppConfig.ready``)::

    today.register("sync", last_sync_items)

where ``fn(*, tenant, user, membership, registrations, today) -> dict[int | None, list[Item]]`` returns items per
registration id (None: items of the whole tenant), for the ``registrations`` the member may see. Each provider
reads small stored facts (a handful of indexed rows), never a scan of the documents.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Item:
    key: str  # a stable name: the page's element id and the tests' handle
    label: str  # what it is: "GSTR-3B 11-2025"
    text: str  # what it says: "due 20-12-2025, in 5 days"
    url: str  # the filtered list or page it links to
    tone: str = ""  # "danger" (overdue, failing), "warning" (soon), "" otherwise
    order: int = 50  # position on the GSTIN's card (smaller first)


Provider = Callable[..., dict[int | None, list[Item]]]

_PROVIDERS: dict[str, Provider] = {}


def register(name: str, fn: Provider) -> Provider:
    """Register ``fn`` under ``name`` (re-registering a name replaces it)."""
    _PROVIDERS[name] = fn
    return fn


def items_for(
    *, tenant, user, membership, registrations: list[Any], today: dt.date
) -> dict[int | None, list[Item]]:
    """Every provider's items for the visible ``registrations``, per registration id (None: the tenant's)."""
    out: dict[int | None, list[Item]] = defaultdict(list)
    if not registrations:
        return out
    for fn in _PROVIDERS.values():
        for reg_id, items in fn(
            tenant=tenant, user=user, membership=membership, registrations=registrations, today=today
        ).items():
            out[reg_id].extend(items)
    for items in out.values():
        items.sort(key=lambda i: (i.order, i.key))
    return out


def days_text(due: dt.date, today: dt.date) -> tuple[str, str]:
    """("in 5 days" / "today" / "overdue by 3 days", tone) for a due date."""
    days = (due - today).days
    if days < 0:
        return f"overdue by {-days} day{'s' if days != -1 else ''}", "danger"
    if days == 0:
        return "today", "danger"
    return f"in {days} day{'s' if days != 1 else ''}", "warning" if days <= 7 else ""


def age_text(when: dt.datetime, now: dt.datetime) -> str:
    """How long ago, in the largest whole unit: "3 hours ago", "2 days ago"."""
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"

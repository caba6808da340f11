"""The audit ledger as an export kind ("audit") of exports.registry: the same sentences as the page."""

from __future__ import annotations

import datetime as dt
import itertools

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from exports.registry import ExportError, register
from tenancy.selectors import membership_for

from .forms import LedgerFilterForm
from .selectors import can_view_ledger, ledger
from .templatetags.audit_tags import changes_text
from .words import OBJECT_TYPES, PHRASES, lines_for

HEADERS = [
    "Entry",
    "Time (IST)",
    "What happened",
    "Document",
    "Supplier",
    "Changes",
    "Who",
    "Fingerprint (hash)",
]
_CHUNK = 2000


def describe(params: dict) -> list[tuple[str, str]]:
    """The filters of an audit export in words, for the file's About sheet."""
    out = []
    if params.get("actor"):
        out.append(("Who", params["actor"]))
    if params.get("action"):
        words = PHRASES.get(params["action"], params["action"])
        out.append(("What happened", words.replace(" {obj}", "").replace(" ({obj})", "").replace("{of}", "")))
    if params.get("object_type"):
        out.append(("About", OBJECT_TYPES.get(params["object_type"], params["object_type"])))
    for key, label in (("date_from", "From"), ("date_to", "To")):
        if params.get(key):
            out.append((label, dt.date.fromisoformat(params[key]).strftime("%d-%m-%Y")))
    return out or [("Filters", "None: the whole audit trail")]


def audit_export(*, tenant, user, params):
    membership = membership_for(tenant=tenant, user=user)
    if not can_view_ledger(membership):
        raise PermissionDenied
    form = LedgerFilterForm(params)
    if not form.is_valid():
        raise ExportError(
            "The audit filters are not valid: "
            + "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        )
    qs = ledger(tenant=tenant, user=user, membership=membership, **form.filters())
    if form.cleaned_data.get("before"):
        qs = qs.filter(seq__lt=form.cleaned_data["before"])
    events = qs.only(
        "seq",
        "occurred_at",
        "actor_type",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "metadata",
        "hash",
    )

    def rows():
        stream = events.iterator(chunk_size=_CHUNK)
        while chunk := list(itertools.islice(stream, _CHUNK)):
            for ev, line in lines_for(chunk, tenant=tenant):
                local = timezone.localtime(ev.occurred_at)
                yield (
                    ev.seq,
                    dt.datetime.combine(local.date(), local.time()),
                    line.sentence,
                    line.document,
                    line.supplier,
                    changes_text(ev.changes),
                    ev.actor_label,
                    ev.hash,
                )

    return "Audit trail", HEADERS, rows(), qs.count()


register("audit", audit_export, describe=describe)

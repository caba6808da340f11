"""The audit ledger as an export kind ("audit") of exports.registry."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from exports.registry import ExportError, register
from tenancy.selectors import membership_for

from .forms import LedgerFilterForm
from .selectors import can_view_ledger, ledger
from .templatetags.audit_tags import changes_text

HEADERS = [
    "Seq",
    "Time (IST)",
    "Actor type",
    "Actor",
    "Action",
    "Object type",
    "Object id",
    "Object",
    "Changes",
    "Request id",
    "Hash",
]


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
    values = qs.values_list(
        "seq",
        "occurred_at",
        "actor_type",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "request_id",
        "hash",
    )

    def rows():
        for seq, at, a_type, a_label, action, o_type, o_id, o_repr, changes, req, h in values.iterator(
            chunk_size=2000
        ):
            local = timezone.localtime(at)
            yield (
                seq,
                dt.datetime.combine(local.date(), local.time()),
                a_type,
                a_label,
                action,
                o_type,
                o_id,
                o_repr,
                changes_text(changes),
                req,
                h,
            )

    return "Audit trail", HEADERS, rows(), qs.count()


register("audit", audit_export)

"""Parsing an IMS action request (the same for every document) and the capability check."""

from __future__ import annotations

from django.utils import timezone

from gst.rules import HEADS, ActionRequest, Context, DocumentFacts, Reason, evaluate_many
from gst.sections import Section
from tenancy.models import Membership, Tenant
from tenancy.roles import Capability, can

from .errors import ActionError, ActionForbidden

# Refusals that depend only on the request, never on a document: the whole request is invalid.
REQUEST_ERRORS = frozenset(
    {
        Reason.INVALID_ACTION,
        Reason.REMARKS_WITH_RESET,
        Reason.REMARKS_TOO_LONG,
        Reason.DECLARATION_INVALID,
        Reason.DECLARATION_ACCEPT_ONLY,
    }
)


def action_request(*, action: str, remarks: str = "", declaration: dict | None = None) -> ActionRequest:
    """Parse an action request; raises :class:`ActionError` when it is invalid whatever the document (unknown
    action, remarks on a reset, remarks too long, a malformed or negative declaration, a declaration without
    Accept). ``declaration``: ``itc_red_req`` ("Y"/"N") and ``decl_igst`` … ``decl_cess`` (amounts)."""
    declaration = declaration or {}
    unknown = set(declaration) - {"itc_red_req", *(f"decl_{h}" for h in HEADS)}
    if unknown:
        raise ActionError(
            sorted(unknown)[0], "invalid", f"Unknown declaration field(s): {', '.join(sorted(unknown))}."
        )
    request = ActionRequest(
        action=str(action or "").strip().upper(),
        remarks=(remarks or "").strip() or None,
        **{k: (v if v not in ("",) else None) for k, v in declaration.items()},
    )
    # Any document shows the request-level errors; a credit note of an open period lets a declaration through.
    probe = evaluate_many(
        request, [DocumentFacts(section=Section.B2BCN)], Context(today=timezone.localdate())
    )[0]
    if not probe.allowed and probe.code in REQUEST_ERRORS:
        raise ActionError(probe.field, probe.code, probe.message)
    return request


def request_json(request: ActionRequest) -> dict:
    out = {"action": request.action, "remarks": request.remarks or ""}
    for key in ("itc_red_req", *(f"decl_{h}" for h in HEADS)):
        value = getattr(request, key)
        if value not in (None, ""):
            out[key] = str(value)
    return out


def request_from_json(data: dict) -> ActionRequest:
    return ActionRequest(
        action=data["action"],
        remarks=data.get("remarks") or None,
        **{k: data.get(k) for k in ("itc_red_req", *(f"decl_{h}" for h in HEADS))},
    )


def require_act(membership: Membership | None, tenant: Tenant) -> None:
    if membership is None or membership.tenant_id != tenant.pk or not can(membership.role, Capability.ACT):
        raise ActionForbidden("Your role may not take IMS actions.")

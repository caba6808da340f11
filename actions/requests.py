"""Parsing an IMS action request (the same for every document) and the capability check."""

from __future__ import annotations

import json

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


def action_request(
    *, action: str, remarks: str = "", declaration: dict | None = None, itc_red_default: str | None = None
) -> ActionRequest:
    """Parse an action request; raises :class:`ActionError` when it is invalid whatever the document (unknown
    action, remarks on a reset, remarks too long, a malformed or negative declaration, a declaration without
    Accept). ``declaration``: ``itc_red_req`` ("Y"/"N") and ``decl_igst`` … ``decl_cess`` (amounts), made on every
    document. ``itc_red_default``: the answer ("Y"/"N") for the specified records an Accept reaches when no
    declaration is made (docs/rules/ims-actions.md §4.4); None: such an Accept is refused."""
    declaration = declaration or {}
    unknown = set(declaration) - {"itc_red_req", *(f"decl_{h}" for h in HEADS)}
    if unknown:
        raise ActionError(
            sorted(unknown)[0], "invalid", f"Unknown declaration field(s): {', '.join(sorted(unknown))}."
        )
    request = ActionRequest(
        action=str(action or "").strip().upper(),
        remarks=(remarks or "").strip() or None,
        itc_red_default=(itc_red_default or "").strip().upper() or None,
        **{k: (v if v not in ("",) else None) for k, v in declaration.items()},
    )
    # Any document shows the request-level errors; a credit note of an open period lets a declaration through.
    probe = evaluate_many(
        request, [DocumentFacts(section=Section.B2BCN)], Context(today=timezone.localdate())
    )[0]
    if not probe.allowed and probe.code in REQUEST_ERRORS:
        raise ActionError(probe.field, probe.code, probe.message)
    return request


MAX_OVERRIDES = 1000
DECLARATION_FIELDS = ("itc_red_req", *(f"decl_{h}" for h in HEADS))


def parse_overrides(
    overrides: object, *, action: str, remarks: str = "", itc_red_default: str | None = None
) -> list[tuple[list[int], ActionRequest, dict[str, str]]]:
    """Per-document answers of a bulk Accept (docs/rules/ims-actions.md §4.4: one answer for the batch, single rows
    overridden): ``{document id: {itc_red_req, decl_igst, …}}`` → (ids, their request, the declaration as given),
    documents with the same answer together, in id order. Raises :class:`ActionError` for anything invalid."""
    if not overrides:
        return []
    if not isinstance(overrides, dict):
        raise ActionError("overrides", "invalid", "Overrides are an object: document id → its declaration.")
    if str(action or "").strip().upper() != "A":
        raise ActionError("overrides", "invalid", "Per-document declarations go with Accept only.")
    if len(overrides) > MAX_OVERRIDES:
        raise ActionError(
            "overrides", "invalid", f"At most {MAX_OVERRIDES:,} per-document declarations at once."
        )
    groups: dict[str, tuple[list[int], ActionRequest, dict[str, str]]] = {}
    seen: set[int] = set()
    for key, given in overrides.items():
        try:
            doc_id = int(key)
        except (TypeError, ValueError):
            raise ActionError(
                "overrides", "invalid_ids", f"Override key {key!r} is not a document id."
            ) from None
        if doc_id in seen:
            raise ActionError("overrides", "invalid_ids", f"Document {doc_id} is overridden twice.")
        seen.add(doc_id)
        if not isinstance(given, dict):
            raise ActionError(
                "overrides", "invalid", f"The declaration of document {doc_id} is not an object."
            )
        declaration = {k: ("" if v is None else str(v)) for k, v in given.items() if v not in (None, "")}
        if not declaration:
            continue
        try:
            request = action_request(
                action=action, remarks=remarks, declaration=declaration, itc_red_default=itc_red_default
            )
        except ActionError as exc:
            raise ActionError("overrides", exc.code, f"Document {doc_id}: {exc.message}") from None
        text = json.dumps(declaration, sort_keys=True)
        groups.setdefault(text, ([], request, declaration))[0].append(doc_id)
    return [(sorted(ids), request, declaration) for ids, request, declaration in groups.values()]


def request_json(request: ActionRequest) -> dict:
    out = {"action": request.action, "remarks": request.remarks or ""}
    for key in ("itc_red_req", *(f"decl_{h}" for h in HEADS), "itc_red_default"):
        value = getattr(request, key)
        if value not in (None, ""):
            out[key] = str(value)
    return out


def request_from_json(data: dict) -> ActionRequest:
    return ActionRequest(
        action=data["action"],
        remarks=data.get("remarks") or None,
        **{k: data.get(k) for k in ("itc_red_req", *(f"decl_{h}" for h in HEADS), "itc_red_default")},
    )


def require_act(membership: Membership | None, tenant: Tenant) -> None:
    if membership is None or membership.tenant_id != tenant.pk or not can(membership.role, Capability.ACT):
        raise ActionForbidden("Your role may not take IMS actions.")

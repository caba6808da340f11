"""Template tags that put the action forms on the document pages (their views belong to invoices)."""

from __future__ import annotations

from django import template

from gst.rules import HEADS
from gst.sections import SECTIONS, Section
from ims_project.params import as_id

from .. import selectors
from ..facts import SPECIFIED_SECTIONS
from ..forms import ActionForm, BulkActionForm
from ..views import RETRY_KEY

register = template.Library()


@register.inclusion_tag("actions/_document_actions.html", takes_context=True)
def document_actions(context, doc):
    """The rule verdict of each action on ``doc`` and, for members who may act, the action form."""
    verdicts = selectors.document_verdicts(tenant=context["current_tenant"], document=doc)
    # The question is asked where an Accept takes an answer the person may give (docs/rules/ims-actions.md §4.4):
    # a specified record of a period from the cut-over whose answer the portal does not lock.
    accept = next(v.decision for v in verdicts if v.action == "A")
    declarable = accept.allowed and accept.declaration is not None and not doc.itc_red_blocked
    # The box starts at the document's current action (ours if set, else the portal's), so saving it unchanged
    # changes nothing.
    form = ActionForm(prefix=None, initial=_current_action(doc))
    # Only the actions the section takes (a bill of entry: Accept or Pending, docs/rules/sections.md §4.1).
    allowed = SECTIONS[Section(doc.section)].actions
    form.fields["action"].choices = [c for c in form.fields["action"].choices if c[0] in allowed]
    return {
        "doc": doc,
        "verdicts": verdicts,
        "form": form,
        "can_act": context.get("can_act"),
        "current_tenant": context["current_tenant"],
        "csrf_token": context.get("csrf_token"),
        "declarable": declarable,
        # The list the page was opened from travels with the form, so the page after saving keeps previous / next.
        "review_query": (context.get("review") or {}).get("query", ""),
        "review_has_next": bool((context.get("review") or {}).get("next")),
        # Remarks go with Accept, Reject and Pending, unless the portal blocks them on this document.
        "remarks_apply": not doc.remarks_blocked,
        "decl_fields": [form[f"decl_{h}"] for h in ("igst", "cgst", "sgst", "cess")],
        # From the books, when an app above fills it (reconciliation, through invoices.panels).
        "itc_suggestion": context.get("itc_suggestion") if declarable else None,
    }


def _current_action(doc) -> dict:
    """The action form's starting values: the document's effective action, its remarks and declaration."""
    local = doc.local_action is not None
    prefix = "local" if local else "portal"
    initial = {
        "action": doc.effective_action,
        "remarks": getattr(doc, f"{prefix}_remarks") or "",
    }
    answer = getattr(doc, f"{prefix}_itc_red_req") or ""
    amounts = {h: getattr(doc, f"{prefix}_decl_{h}") for h in HEADS}
    if answer == "N":
        initial["declaration"] = "nil"
    elif answer == "Y" and any(v is not None for v in amounts.values()):
        initial["declaration"] = "partial"
        initial.update({f"decl_{h}": v for h, v in amounts.items() if v is not None})
    return initial


@register.simple_tag(takes_context=True)
def bulk_retry(context) -> dict:
    """A bulk form the confirmation step sent back with errors (once): its errors, choices and ticked ids."""
    request = context["request"]
    data = request.session.pop(RETRY_KEY, None) if hasattr(request, "session") else None
    if not isinstance(data, dict):
        return {}
    data["ids"] = {i for v in data.get("ids") or [] if (i := as_id(v)) is not None}
    return data


@register.inclusion_tag("actions/_bulk_bar.html", takes_context=True)
def bulk_action_bar(context, retry=None):
    """The bulk-action bar above the document list (the row checkboxes point at its form). Remarks show with
    Accept, Reject and Pending; the ITC-reduction answer with Accept when the selection may hold a specified record
    (static/js/review.js); ``retry``: a form sent back from the confirmation step with its errors."""
    request = context["request"]
    query = request.GET.copy()
    for key in selectors.NOT_FILTERS:
        query.pop(key, None)
    retry = retry or {}
    initial = {k: retry[k] for k in ("action", "remarks", "declaration") if retry.get(k)}
    initial.update({k: v for k, v in retry.items() if k.startswith("decl_") and v})
    form = BulkActionForm(initial=initial)
    return {
        "form": form,
        "query": query.urlencode(),
        "back": request.GET.urlencode(),
        "current_tenant": context["current_tenant"],
        "csrf_token": context.get("csrf_token"),
        "decl_fields": [form[f"decl_{h}"] for h in ("igst", "cgst", "sgst", "cess")],
        "specified_sections": " ".join(SPECIFIED_SECTIONS),
        "errors": retry.get("errors") or [],
        "all_matching": bool(retry.get("all_matching")),
    }

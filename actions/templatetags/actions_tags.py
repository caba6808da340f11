"""Template tags that put the action forms on the document pages (their views belong to invoices)."""

from __future__ import annotations

from django import template

from .. import selectors
from ..forms import ActionForm, BulkActionForm

register = template.Library()


@register.inclusion_tag("actions/_document_actions.html", takes_context=True)
def document_actions(context, doc):
    """The rule verdict of each action on ``doc`` and, for members who may act, the action form."""
    verdicts = selectors.document_verdicts(tenant=context["current_tenant"], document=doc)
    # The question is asked where an Accept takes an answer the person may give (docs/rules/ims-actions.md §4.4):
    # a specified record of a period from the cut-over whose answer the portal does not lock.
    accept = next(v.decision for v in verdicts if v.action == "A")
    declarable = accept.allowed and accept.declaration is not None and not doc.itc_red_blocked
    form = ActionForm(prefix=None)
    return {
        "doc": doc,
        "verdicts": verdicts,
        "form": form,
        "can_act": context.get("can_act"),
        "current_tenant": context["current_tenant"],
        "csrf_token": context.get("csrf_token"),
        "declarable": declarable,
        "decl_fields": [form[f"decl_{h}"] for h in ("igst", "cgst", "sgst", "cess")],
        # From the books, when an app above fills it (reconciliation, through invoices.panels).
        "itc_suggestion": context.get("itc_suggestion") if declarable else None,
    }


@register.inclusion_tag("actions/_bulk_bar.html", takes_context=True)
def bulk_action_bar(context):
    """The bulk-action bar above the document list (the row checkboxes point at its form)."""
    request = context["request"]
    query = request.GET.copy()
    for key in selectors.NOT_FILTERS:
        query.pop(key, None)
    form = BulkActionForm()
    return {
        "form": form,
        "query": query.urlencode(),
        "current_tenant": context["current_tenant"],
        "csrf_token": context.get("csrf_token"),
        "decl_fields": [form[f"decl_{h}"] for h in ("igst", "cgst", "sgst", "cess")],
    }

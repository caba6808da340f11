"""Template tags that put the action forms on the document pages (their views belong to invoices)."""

from __future__ import annotations

from django import template

from gst.rule_data import DEFAULT_RULES

from .. import selectors
from ..forms import ActionForm, BulkActionForm

register = template.Library()


@register.inclusion_tag("actions/_document_actions.html", takes_context=True)
def document_actions(context, doc):
    """The rule verdict of each action on ``doc`` and, for members who may act, the action form."""
    verdicts = selectors.document_verdicts(tenant=context["current_tenant"], document=doc)
    declarable = any(doc.section in row.sections for row in DEFAULT_RULES.itc_reduction_records)
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

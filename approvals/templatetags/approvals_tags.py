"""Template tags that show approvals on other apps' pages (the bulk action's run page)."""

from __future__ import annotations

from django import template

from ..models import ApprovalRequest

register = template.Library()


@register.inclusion_tag("approvals/_run_approvals.html", takes_context=True)
def run_approvals(context, run):
    """The batches a bulk action put up for approval (its held documents are not pushed until approved)."""
    tenant = context["current_tenant"]
    return {
        "approvals": list(ApprovalRequest.objects.filter(tenant=tenant, run_id=run.pk)),
        "current_tenant": tenant,
    }

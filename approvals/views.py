"""Pages of approvals: the batches (list, detail with the impact preview, approve / return / withdraw), the
policies (owners and admins)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import Actor
from tenancy.roles import Capability, can
from tenancy.views import require_capability

from . import selectors, services
from .errors import ApprovalError, ApprovalForbidden
from .forms import DecisionForm, PolicyForm
from .models import ApprovalPolicy, ApprovalRequest, RequestStatus


def _approval(request, pk) -> ApprovalRequest:
    try:
        return selectors.request_for(
            tenant=request.tenant, user=request.user, membership=request.membership, pk=pk
        )
    except ApprovalRequest.DoesNotExist:
        raise Http404("No such batch") from None


@require_GET
def approval_list(request, tenant_slug):
    status = request.GET.get("status", RequestStatus.PENDING)
    if status not in RequestStatus.values and status != "all":
        status = RequestStatus.PENDING
    qs = selectors.requests_for(
        tenant=request.tenant,
        user=request.user,
        membership=request.membership,
        status=None if status == "all" else status,
    )
    return render(
        request,
        "approvals/list.html",
        {
            "approvals": qs[:200],
            "status": status,
            "statuses": RequestStatus.choices,
            "can_approve": can(request.membership.role, Capability.APPROVE),
        },
    )


@require_GET
def approval_detail(request, tenant_slug, pk):
    approval = _approval(request, pk)
    is_proposer = approval.proposed_by_id == request.user.pk
    deciders = services.approvers_for(tenant=request.tenant, approval=approval) if approval.is_pending else []
    return render(
        request,
        "approvals/detail.html",
        {
            "deciders": deciders,
            "no_approver_help": (
                services.no_approver_help(tenant=request.tenant, approval=approval)
                if approval.is_pending and not deciders
                else ""
            ),
            "approval": approval,
            "items": selectors.items_for(tenant=request.tenant, approval=approval),
            "counts": selectors.item_counts(tenant=request.tenant, approval=approval),
            "impact": selectors.request_impact(tenant=request.tenant, approval=approval)
            if approval.is_pending
            else None,
            "is_proposer": is_proposer,
            "may_decide": approval.is_pending
            and not is_proposer
            and can(request.membership.role, Capability.APPROVE),
            "form": DecisionForm(),
        },
    )


@require_POST
def approval_decide(request, tenant_slug, pk, decision):
    approval = _approval(request, pk)
    form = DecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    kwargs = {
        "tenant": request.tenant,
        "actor": Actor.user(request.user),
        "user": request.user,
        "membership": request.membership,
        "approval": approval,
    }
    try:
        if decision == "approve":
            services.approve(**kwargs, comment=comment)
            messages.success(
                request, f"Batch #{approval.pk} approved: its actions will be pushed to the portal."
            )
        elif decision == "return":
            services.return_request(**kwargs, comment=comment)
            messages.success(
                request, f"Batch #{approval.pk} returned; its documents are back to their earlier actions."
            )
        else:
            services.withdraw(**kwargs)
            messages.success(request, f"Batch #{approval.pk} withdrawn.")
    except ApprovalForbidden as exc:
        raise PermissionDenied(str(exc)) from None
    except ApprovalError as exc:
        messages.error(request, f"Not done: {exc.message}")
    return redirect("approval-detail", tenant_slug, approval.pk)


@require_capability(Capability.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def policy_list(request, tenant_slug):
    """The policies and a form to add one."""
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_policy(
                tenant=request.tenant,
                actor=Actor.user(request.user),
                membership=request.membership,
                **form.values(),
            )
        except ApprovalError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Policy added.")
            return redirect("approval-policies", tenant_slug)
    return render(
        request,
        "approvals/policies.html",
        {
            "policies": selectors.policies_for(tenant=request.tenant),
            "form": form,
            "approvers": selectors.members_who_approve(tenant=request.tenant),
        },
        status=400 if form.errors else 200,
    )


def _policy(request, pk) -> ApprovalPolicy:
    policy = selectors.policies_for(tenant=request.tenant).filter(pk=pk).first()
    if policy is None:
        raise Http404("No such policy")
    return policy


@require_capability(Capability.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def policy_edit(request, tenant_slug, pk):
    policy = _policy(request, pk)
    form = PolicyForm.for_policy(policy, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.save_policy(
            tenant=request.tenant,
            actor=Actor.user(request.user),
            membership=request.membership,
            policy=policy,
            **form.values(),
        )
        messages.success(request, "Policy saved.")
        return redirect("approval-policies", tenant_slug)
    return render(
        request,
        "approvals/policy_edit.html",
        {"policy": policy, "form": form},
        status=400 if form.errors else 200,
    )


@require_capability(Capability.MANAGE_MEMBERS)
@require_POST
def policy_delete(request, tenant_slug, pk):
    policy = _policy(request, pk)
    services.delete_policy(
        tenant=request.tenant, actor=Actor.user(request.user), membership=request.membership, policy=policy
    )
    messages.success(request, f"Policy “{policy.name}” removed.")
    return redirect("approval-policies", tenant_slug)


__all__ = [
    "approval_decide",
    "approval_detail",
    "approval_list",
    "policy_delete",
    "policy_edit",
    "policy_list",
]

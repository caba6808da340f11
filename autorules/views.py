"""Pages of auto-action rules: the list with a dry run, add / edit / delete, run now. Approvers, admins and owners
only (a rule acts without a person looking at each document)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.services import Actor
from tenancy.roles import Capability
from tenancy.views import require_capability

from . import selectors, services
from .conditions import describe
from .forms import RuleForm

MANAGE = Capability.APPROVE


@require_capability(MANAGE)
def rule_list(request, tenant_slug):
    """The rules in the order they run; ``?dry_run=1`` adds what each would do now."""
    rules = _visible(request, selectors.rules_for(tenant=request.tenant))
    for rule in rules:
        rule.lines = describe(rule.conditions)
    dry = {}
    if request.GET.get("dry_run"):
        dry = {r.pk: selectors.dry_run(tenant=request.tenant, rule=r) for r in rules}
    for rule in rules:
        rule.dry = dry.get(rule.pk)
    return render(
        request,
        "autorules/list.html",
        {
            "rules": rules,
            "dry_run": bool(dry),
            "runs": selectors.rule_runs(tenant=request.tenant, rules=rules, limit=30),
        },
    )


def _visible(request, rules) -> list:
    """The rules the member may see and handle: those acting only on GSTINs they may act on (docs/access.md §2)."""
    return selectors.rules_within_reach(
        tenant=request.tenant, user=request.user, membership=request.membership, rules=list(rules)
    )


def _rule(request, pk):
    """A rule of the tenant; 404 if there is none. Reading one that acts on a GSTIN the member lacks is 404 too;
    running, changing or deleting it (POST) is 403."""
    rule = get_object_or_404(selectors.rules_for(tenant=request.tenant), pk=pk)
    if not _visible(request, [rule]):
        if request.method == "POST":
            raise PermissionDenied(selectors.OUT_OF_REACH)
        raise Http404("No such rule.")
    return rule


def _edit(request, tenant_slug, rule=None):
    form = RuleForm(request.POST or None, initial=RuleForm.initial_for(rule) if rule else None)
    if request.method == "POST" and form.is_valid():
        kwargs = {
            "tenant": request.tenant,
            "actor": Actor.from_request(request),
            "owner": request.user,
            **form.service_kwargs(),
        }
        try:
            rule = services.update_rule(rule=rule, **kwargs) if rule else services.create_rule(**kwargs)
        except services.RuleError as err:
            form.apply_error(err.field, err.message)
        else:
            messages.success(request, f"Saved the rule “{rule.name}”.")
            return redirect("autorule-list", tenant_slug)
    return render(
        request, "autorules/edit.html", {"form": form, "rule": rule}, status=400 if form.errors else 200
    )


@require_capability(MANAGE)
def rule_create(request, tenant_slug):
    return _edit(request, tenant_slug)


@require_capability(MANAGE)
def rule_edit(request, tenant_slug, pk):
    return _edit(request, tenant_slug, _rule(request, pk))


@require_POST
@require_capability(MANAGE)
def rule_delete(request, tenant_slug, pk):
    rule = _rule(request, pk)
    services.delete_rule(tenant=request.tenant, actor=Actor.from_request(request), rule=rule)
    messages.success(request, f"Deleted the rule “{rule.name}”.")
    return redirect("autorule-list", tenant_slug)


@require_POST
@require_capability(MANAGE)
def rule_run(request, tenant_slug, pk):
    run = services.run_rule(
        tenant=request.tenant, rule=_rule(request, pk), trigger="manual", runner=Actor.from_request(request)
    )
    text = (
        f"“{run.rule.name}”: {run.get_status_display().lower()} — matched {run.matched}, applied {run.applied}, "
        f"already {run.already}, refused {run.refused}."
    )
    if run.message:
        text += f" {run.message}"
    (messages.error if run.status == "failed" else messages.success)(request, text)
    return redirect("autorule-list", tenant_slug)

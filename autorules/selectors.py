"""Readers of auto-action rules: the rules, their runs, and the dry run (what each rule would do now)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from actions.errors import ActionError
from actions.requests import action_request
from actions.selectors import preview, target_documents
from reconciliation.latest import LatestRuns, latest_runs
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.selectors import visible_registrations

from .conditions import ConditionError, recon_outcomes, to_filters
from .models import AutoRule, AutoRuleRun


def rules_for(*, tenant: Tenant) -> QuerySet[AutoRule]:
    return AutoRule.objects.filter(tenant=tenant).order_by("priority", "id")


def rule_runs(*, tenant: Tenant, rule: AutoRule | None = None, limit: int = 50) -> list[AutoRuleRun]:
    qs = AutoRuleRun.objects.filter(tenant=tenant).select_related("rule", "registration")
    if rule is not None:
        qs = qs.filter(rule=rule)
    return list(qs.order_by("-created_at", "-id")[:limit])


def rule_owner(*, tenant: Tenant, rule: AutoRule) -> tuple[object, Membership] | None:
    """The member a rule acts as, if they are still a member whose role may take IMS actions."""
    membership = (
        Membership.objects.filter(tenant=tenant, user_id=rule.owner_id).select_related("user").first()
    )
    if membership is None or not can(membership.role, Capability.ACT) or not membership.user.is_active:
        return None
    return membership.user, membership


def owner_sees(*, tenant: Tenant, owner, registration: Registration) -> bool:
    user, membership = owner
    return (
        visible_registrations(tenant=tenant, user=user, membership=membership)
        .filter(pk=registration.pk)
        .exists()
    )


@dataclass
class Targets:
    """The documents a rule selects now: one queryset per filter set (``filters``; one per named supplier), the
    reconciliation outcomes included. ``recon`` is the latest run of each GSTIN considered (None: the rule does not
    look at reconciliation)."""

    querysets: list[QuerySet]
    filters: list[dict[str, list[str]]]
    recon: LatestRuns | None = None

    @property
    def no_reconciliation(self) -> bool:
        return self.recon is not None and not self.recon.by_registration


def rule_targets(
    *, tenant: Tenant, rule: AutoRule, user, membership: Membership, registration: Registration | None = None
) -> Targets:
    """What ``rule`` selects, as its owner (``user``, ``membership``) sees the documents. Raises ActionError or
    ConditionError on conditions that no longer compile."""
    latest = None
    if recon_outcomes(rule.conditions) is not None:
        latest = latest_runs(tenant=tenant, registration_ids=[registration.pk] if registration else None)
    filters = to_filters(rule.conditions, registration_gstin=registration.gstin if registration else None)
    querysets = [
        target_documents(tenant=tenant, user=user, membership=membership, filters=data) for data in filters
    ]
    return Targets(querysets, filters, latest)


@dataclass
class DryRun:
    """What a rule would do now: documents matched and, of those, how many would change, are already so, or the
    IMS rules refuse (with the reasons). ``error`` says why the rule cannot run (then the counts are zero)."""

    rule: AutoRule
    matched: int = 0
    apply: int = 0
    already: int = 0
    refused: int = 0
    refusals: dict[str, dict] = field(default_factory=dict)
    error: str = ""
    note: str = ""
    recon_runs: list[int] = field(default_factory=list)


def dry_run(*, tenant: Tenant, rule: AutoRule, registration: Registration | None = None) -> DryRun:
    """Counts of the documents ``rule`` would touch, from the same FilterSet and the same IMS rules the bulk action
    uses (one grouped query per filter set); nothing is changed."""
    out = DryRun(rule)
    owner = rule_owner(tenant=tenant, rule=rule)
    if owner is None:
        out.error = "The member who saved this rule may no longer take IMS actions: save it again."
        return out
    user, membership = owner
    try:
        request = action_request(action=rule.action, remarks=rule.remarks)
        targets = rule_targets(
            tenant=tenant, rule=rule, user=user, membership=membership, registration=registration
        )
        if targets.recon is not None:
            out.recon_runs = [r.pk for r in targets.recon.runs]
            if targets.no_reconciliation:
                out.note = "No reconciliation has finished for these GSTINs yet: the rule matches nothing until one does."
        for qs in targets.querysets:
            p = preview(tenant=tenant, qs=qs, request=request)
            out.matched += p.total
            out.apply += p.outcomes["apply"]
            out.already += p.outcomes["already"]
            out.refused += p.outcomes["refused"]
            for code, entry in p.refusals.items():
                out.refusals.setdefault(code, {"message": entry["message"], "count": 0})["count"] += entry[
                    "count"
                ]
    except (ActionError, ConditionError) as exc:
        out.error = exc.message
    return out

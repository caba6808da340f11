"""Readers of auto-action rules: the rules, their runs, and the dry run (what each rule would do now)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from actions.errors import ActionError
from actions.requests import action_request
from actions.selectors import preview, target_documents
from reconciliation.latest import LatestRuns, latest_runs
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can, sees_all_gstins
from tenancy.selectors import visible_registrations

from .conditions import ConditionError, recon_outcomes, to_filters
from .models import AutoRule, AutoRuleRun

OUT_OF_REACH = (
    "This rule acts on GSTINs you may not act on: only a member with access to all of them (or an owner or admin) "
    "may run, change or delete it."
)


def rules_for(*, tenant: Tenant) -> QuerySet[AutoRule]:
    return AutoRule.objects.filter(tenant=tenant).order_by("priority", "id")


def rule_runs(
    *, tenant: Tenant, rule: AutoRule | None = None, limit: int = 50, rules: list[AutoRule] | None = None
) -> list[AutoRuleRun]:
    """The latest runs of ``rule`` (or of ``rules``, or of every rule), newest first."""
    qs = AutoRuleRun.objects.filter(tenant=tenant).select_related("rule", "registration")
    if rule is not None:
        qs = qs.filter(rule=rule)
    elif rules is not None:
        qs = qs.filter(rule_id__in=[r.pk for r in rules])
    return list(qs.order_by("-created_at", "-id")[:limit])


def rule_gstins(*, tenant: Tenant, rules: list[AutoRule]) -> dict[int, frozenset[int] | None]:
    """The GSTINs (registration ids) each rule acts on: those its owner may see, while the owner may still take
    IMS actions; None when the owner may not (the rule cannot run). One query per distinct owner."""
    owners: dict[int, frozenset[int] | None] = {}
    for owner_id in {r.owner_id for r in rules}:
        owner = _acting_member(tenant=tenant, user_id=owner_id)
        if owner is None:
            owners[owner_id] = None
            continue
        user, membership = owner
        owners[owner_id] = frozenset(
            visible_registrations(tenant=tenant, user=user, membership=membership).values_list(
                "pk", flat=True
            )
        )
    return {r.pk: owners[r.owner_id] for r in rules}


def rules_within_reach(
    *, tenant: Tenant, user: AbstractBaseUser, membership: Membership, rules: list[AutoRule]
) -> list[AutoRule]:
    """Of ``rules``, those ``user`` may see, dry-run, run, change and delete: every rule for a member who sees every
    GSTIN (owners, admins); otherwise the rules acting only on GSTINs the member may act on (a rule whose owner
    may no longer act is then hidden: its reach is unknown). See docs/access.md §2."""
    if sees_all_gstins(membership.role):
        return list(rules)
    mine = frozenset(
        visible_registrations(tenant=tenant, user=user, membership=membership).values_list("pk", flat=True)
    )
    spans = rule_gstins(tenant=tenant, rules=list(rules))
    return [r for r in rules if (span := spans[r.pk]) is not None and span <= mine]


def within_reach(*, tenant: Tenant, user: AbstractBaseUser, membership: Membership, rule: AutoRule) -> bool:
    return bool(rules_within_reach(tenant=tenant, user=user, membership=membership, rules=[rule]))


def rule_owner(*, tenant: Tenant, rule: AutoRule) -> tuple[object, Membership] | None:
    """The member a rule acts as, if they are still a member whose role may take IMS actions."""
    return _acting_member(tenant=tenant, user_id=rule.owner_id)


def _acting_member(*, tenant: Tenant, user_id: int) -> tuple[object, Membership] | None:
    membership = Membership.objects.filter(tenant=tenant, user_id=user_id).select_related("user").first()
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

"""Writers of auto-action rules, and running them.

A rule is conditions (data, see :mod:`autorules.conditions`) plus an action. :func:`run_rules` applies each enabled
rule, in priority order, through ``actions.services.bulk_set_action`` with the filter its conditions compile to,
as the rule's owner (their GSTINs, their role) and with the actor ``autorule:<id>``: the same IMS rules, audit
events (``ims.action_set`` per document, ``ims.bulk_action`` summary) and approvals as a person's bulk action.
Rules only touch documents that have no action yet, so the first matching rule wins and a person's decision is
never overridden. Each run is recorded (:class:`AutoRuleRun`) and audited as ``autorule.run``.

:func:`run_after_sync` is called by ``gst_sync.services.run_sync`` after a successful ingest, and
:func:`run_after_reconciliation` by ``reconciliation.engine.execute_run`` once a run is done; neither raises.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet

from actions.errors import ActionError
from actions.requests import action_request
from actions.services import bulk_set_action, sync_max
from audit.models import ActorType
from audit.services import Actor, record
from invoices.models import SupplierDocument
from reconciliation.suggestions import SPECIFIED_SECTIONS, book_requests
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.scoping import tenant_scope

from . import selectors
from .conditions import ConditionError, normalise, recon_outcomes
from .models import ITC_ANSWERS, RULE_ACTIONS, AutoRule, AutoRuleRun, RuleRunStatus

log = logging.getLogger(__name__)
FIELDS = ("name", "enabled", "priority", "conditions", "action", "remarks", "itc_answer", "owner_id")
SUGGESTED_AT_MOST = 5_000  # specified records whose answer a run takes from the books; the rest: in full


class RuleError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def rule_actor(rule: AutoRule) -> Actor:
    """The actor of a rule's actions: a task named after the rule, carrying its owner's user id. The owner is thus
    the proposer of any batch the rule's actions put up for approval, and may not approve it themselves."""
    return Actor(ActorType.TASK, f"autorule:{rule.pk}", rule.owner_id)


def _clean(
    *,
    tenant: Tenant,
    owner,
    name: str,
    action: str,
    remarks: str,
    conditions: list[dict],
    enabled: bool,
    priority: int,
    itc_answer: str = "Y",
) -> dict:
    membership = Membership.objects.filter(tenant=tenant, user=owner).first()
    if membership is None or not can(membership.role, Capability.ACT):
        raise RuleError(None, "Only a member who may take IMS actions can own a rule.")
    name = (name or "").strip()
    if not name:
        raise RuleError("name", "Give the rule a name.")
    if action not in dict(RULE_ACTIONS):
        raise RuleError("action", "Choose accept, reject or keep pending.")
    if itc_answer not in dict(ITC_ANSWERS):
        raise RuleError(
            "itc_answer", "Choose Y (reduce in full), N (do not reduce) or books (as the register suggests)."
        )
    try:
        action_request(action=action, remarks=remarks)
        conditions = normalise(conditions)
    except (ActionError, ConditionError) as exc:
        raise RuleError(exc.field, exc.message) from None
    if not conditions:
        raise RuleError(
            "conditions", "Give at least one condition: a rule without one would act on everything."
        )
    return {
        "name": name[:120],
        "action": action,
        "remarks": (remarks or "").strip(),
        "itc_answer": itc_answer,
        "conditions": conditions,
        "enabled": bool(enabled),
        "priority": int(priority),
        "owner_id": owner.pk,
    }


def create_rule(
    *,
    tenant: Tenant,
    actor: Actor,
    owner,
    name: str,
    action: str,
    conditions: list[dict],
    remarks: str = "",
    enabled: bool = True,
    priority: int = 100,
    itc_answer: str = "Y",
) -> AutoRule:
    """A new rule owned by ``owner`` (who must be able to take IMS actions); audited ``autorule.created``."""
    values = _clean(
        tenant=tenant,
        owner=owner,
        name=name,
        action=action,
        remarks=remarks,
        conditions=conditions,
        enabled=enabled,
        priority=priority,
        itc_answer=itc_answer,
    )
    with transaction.atomic():
        rule = AutoRule.objects.create(tenant=tenant, **values)
        record(
            tenant=tenant,
            actor=actor,
            action="autorule.created",
            obj=rule,
            changes={k: [None, v] for k, v in values.items()},
        )
    return rule


def update_rule(
    *,
    tenant: Tenant,
    actor: Actor,
    owner,
    rule: AutoRule,
    name: str,
    action: str,
    conditions: list[dict],
    remarks: str = "",
    enabled: bool = True,
    priority: int = 100,
    itc_answer: str = "Y",
) -> AutoRule:
    """Change a rule; whoever saves it becomes its owner (the rule acts with their access from now on)."""
    if rule.tenant_id != tenant.pk:
        raise RuleError(None, "No such rule.")
    values = _clean(
        tenant=tenant,
        owner=owner,
        name=name,
        action=action,
        remarks=remarks,
        conditions=conditions,
        enabled=enabled,
        priority=priority,
        itc_answer=itc_answer,
    )
    changes = {k: [getattr(rule, k), v] for k, v in values.items() if getattr(rule, k) != v}
    if not changes:
        return rule
    with transaction.atomic():
        for k, v in values.items():
            setattr(rule, k, v)
        rule.save()
        record(tenant=tenant, actor=actor, action="autorule.updated", obj=rule, changes=changes)
    return rule


def delete_rule(*, tenant: Tenant, actor: Actor, rule: AutoRule) -> None:
    if rule.tenant_id != tenant.pk:
        raise RuleError(None, "No such rule.")
    with transaction.atomic():
        record(
            tenant=tenant,
            actor=actor,
            action="autorule.deleted",
            obj=rule,
            changes={k: [getattr(rule, k), None] for k in ("name", "action", "conditions")},
        )
        rule.delete()


def run_rule(
    *,
    tenant: Tenant,
    rule: AutoRule,
    trigger: str,
    registration: Registration | None = None,
    request_id: str = "",
    source: str = "",
    runner: Actor | None = None,
) -> AutoRuleRun:
    """Apply one rule now (to ``registration``'s documents only, when given) and record the run.

    The rule's conditions compile to document filters (the reconciliation outcome included), each handed to the
    bulk action as an "all matching" filter: see :func:`_bulk_by_filter` for why a person acting at the same moment
    is never overridden. ``source`` names what triggered the run (e.g. ``recon:12``).

    ``runner`` is the person who runs it by hand: the run and its actions are audited as them (and they propose
    any batch an approval policy holds), while the documents are still those of the owner's GSTINs. The caller
    checks that the runner may act on every one of them (``selectors.within_reach``, docs/access.md §2)."""
    actor = runner or rule_actor(rule)
    run = AutoRuleRun(
        tenant=tenant, rule=rule, trigger=trigger, registration=registration, source=source[:40]
    )
    owner = selectors.rule_owner(tenant=tenant, rule=rule)
    if owner is None:
        run.status, run.message = RuleRunStatus.SKIPPED, "The rule's owner may no longer take IMS actions."
    elif registration is not None and not selectors.owner_sees(
        tenant=tenant, owner=owner, registration=registration
    ):
        run.status, run.message = RuleRunStatus.SKIPPED, f"The rule's owner cannot see {registration.gstin}."
    else:
        user, membership = owner
        run.status = RuleRunStatus.NOTHING
        bulk = {
            "tenant": tenant,
            "actor": actor,
            "user": user,
            "membership": membership,
            "action": rule.action,
            "remarks": rule.remarks,
            "itc_red_default": "N" if rule.itc_answer == "N" else "Y",
            "request_id": request_id or f"autorule:{rule.pk}",
        }
        try:
            targets = selectors.rule_targets(
                tenant=tenant, rule=rule, user=user, membership=membership, registration=registration
            )
            if targets.no_reconciliation:
                run.message = "No reconciliation has finished for these GSTINs yet."
            for qs, data in zip(targets.querysets, targets.filters, strict=True):
                overrides = _book_answers(tenant, rule, qs)
                run.suggested += len(overrides)
                _count(run, _bulk_by_filter(qs=qs, filters=data, overrides=overrides or None, **bulk))
        except (ActionError, ConditionError) as exc:
            run.status, run.message = RuleRunStatus.FAILED, exc.message[:500]
    with transaction.atomic():
        run.save()
        record(
            tenant=tenant,
            actor=actor,
            action="autorule.run",
            obj=run,
            object_repr=f"{rule.name} ({trigger})",
            request_id=request_id,
            metadata={
                "rule": rule.pk,
                "owner": rule.owner_id,
                "trigger": trigger,
                "status": run.status,
                "matched": run.matched,
                "applied": run.applied,
                "already": run.already,
                "refused": run.refused,
                "suggested": run.suggested,
                "bulk_runs": run.bulk_runs,
                "registration": registration.gstin if registration else None,
                **({"source": run.source} if run.source else {}),
                **({"message": run.message} if run.message else {}),
            },
        )
    return run


def _book_answers(
    tenant: Tenant, rule: AutoRule, qs: QuerySet[SupplierDocument]
) -> dict[int, dict[str, object]]:
    """For a rule that accepts with the answer the books suggest: ``{document id: its declaration}`` of the specified
    records it selects that the latest reconciliation paired with register lines (reconciliation.suggestions,
    found in one query); the rest take the answer in full."""
    if rule.action != "A" or rule.itc_answer != "books":
        return {}
    documents = list(
        qs.filter(section__in=sorted(SPECIFIED_SECTIONS)).select_related("registration")[:SUGGESTED_AT_MOST]
    )
    return {pk: dict(request) for pk, request in book_requests(tenant=tenant, documents=documents).items()}


def _bulk_by_filter(*, qs, filters: dict[str, list[str]], **bulk):
    """The bulk action of one filter set (``qs`` is what it selects now); None when nothing matches.

    A rule only touches documents with no action yet (the filter says so), and the filter is re-run wherever the
    bulk action is applied. A set small enough to be applied at once is applied in this transaction after its
    documents are locked (in id order): a person acting on one of them at that moment waits, and their action is
    not overridden (it comes after). A larger set is queued: the worker re-runs the filter on each chunk when it
    applies it, so a document a person acted on in the meantime no longer matches and is left alone."""
    with transaction.atomic():
        # The filter's query may be DISTINCT (which FOR UPDATE refuses): lock through it as a subquery.
        lock = (
            SupplierDocument.objects.filter(tenant=bulk["tenant"], pk__in=qs.order_by().values("pk"))
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)[: sync_max() + 1]
        )
        if not len(lock):
            return None
        return _bulk(filters=filters, **bulk)


def _bulk(**kwargs):
    """The bulk action of one filter set; None when nothing matches."""
    try:
        return bulk_set_action(**kwargs)
    except ActionError as exc:
        if exc.code == "no_documents":
            return None
        raise


def _count(run: AutoRuleRun, result) -> None:
    if result is None:
        return
    run.bulk_runs.append(result.run_id)
    run.matched += result.total
    run.applied += result.applied
    run.already += result.already
    run.refused += result.refused_count
    if result.status == "queued":
        run.status = RuleRunStatus.QUEUED
    elif run.status == RuleRunStatus.NOTHING:
        run.status = RuleRunStatus.DONE


def run_rules(
    *, tenant: Tenant, trigger: str, registration: Registration | None = None, request_id: str = ""
) -> list[AutoRuleRun]:
    """Run every enabled rule of ``tenant`` in priority order. The caller opens the tenant scope."""
    return [
        run_rule(tenant=tenant, rule=rule, trigger=trigger, registration=registration, request_id=request_id)
        for rule in selectors.rules_for(tenant=tenant).filter(enabled=True)
    ]


def run_after_sync(*, tenant: Tenant, registration: Registration, request_id: str = "") -> list[AutoRuleRun]:
    """The hook of a successful sync: run the rules on the synced GSTIN. A failure is logged, never raised, so a
    broken rule cannot fail the sync that already saved its documents."""
    try:
        return run_rules(tenant=tenant, trigger="sync", registration=registration, request_id=request_id)
    except Exception:  # noqa: BLE001 - the sync succeeded; a rule's failure must not undo or fail it
        log.exception("auto-action rules after the sync of %s failed", registration.gstin)
        return []


def run_after_reconciliation(*, run) -> list[AutoRuleRun]:
    """The hook of a finished reconciliation (``reconciliation.ReconRun``): run the enabled rules that look at
    reconciliation outcomes on each GSTIN of the run. Once per rule, GSTIN and run (a second call does nothing);
    rules without a reconciliation condition already ran after the sync. A failure is logged, never raised: the
    reconciliation's results are saved whatever a rule does."""
    out: list[AutoRuleRun] = []
    source = f"recon:{run.pk}"
    try:
        with tenant_scope(run.tenant_id):
            tenant = Tenant.objects.get(pk=run.tenant_id)
            rules = [
                r
                for r in selectors.rules_for(tenant=tenant).filter(enabled=True)
                if _looks_at_reconciliation(r)
            ]
            if not rules:
                return out
            done = set(
                AutoRuleRun.objects.filter(tenant=tenant, source=source).values_list(
                    "rule_id", "registration_id"
                )
            )
            for registration in Registration.objects.filter(tenant=tenant, pk__in=list(run.registration_ids)):
                for rule in rules:
                    if (rule.pk, registration.pk) in done:
                        continue
                    out.append(
                        run_rule(
                            tenant=tenant,
                            rule=rule,
                            trigger="reconciliation",
                            registration=registration,
                            source=source,
                            request_id=f"autorule:{rule.pk}:{source}",
                        )
                    )
    except Exception:  # noqa: BLE001 - the reconciliation succeeded; a rule's failure must not fail it
        log.exception("auto-action rules after reconciliation %s failed", run.pk)
    return out


def _looks_at_reconciliation(rule: AutoRule) -> bool:
    try:
        return recon_outcomes(rule.conditions) is not None
    except ConditionError:
        return False

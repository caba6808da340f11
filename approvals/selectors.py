"""Readers of approvals: held documents (the push queue excludes them), policies, the batches a user may see, the
impact preview of a batch (pending approval) or of a bulk action about to be confirmed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Sum, Value
from django.utils import timezone

from actions import facts as rule_facts
from actions.requests import action_request, parse_overrides, require_act
from actions.selectors import classify, ids_in, rule_context, rule_inputs, target_documents
from gst.duedates import open_twob_period, return_period, twob_period_of_filing
from gst.rule_data import DEFAULT_RULES
from gst.rules import HEADS, ActionRequest, evaluate_many
from invoices.models import SupplierDocument
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.selectors import visible_registrations

from . import impact as itc_impact
from .models import ApprovalItem, ApprovalPolicy, ApprovalRequest, ItemState


def held_documents(*, tenant: Tenant, registration: Registration | None = None) -> QuerySet:
    """Ids (``values("document_id")``) of documents whose local action awaits approval: not to be pushed."""
    qs = ApprovalItem.objects.filter(tenant=tenant, state=ItemState.HELD)
    if registration is not None:
        qs = qs.filter(registration_id=registration.pk)
    return qs.values("document_id")


def policies_for(*, tenant: Tenant) -> QuerySet[ApprovalPolicy]:
    return ApprovalPolicy.objects.filter(tenant=tenant).order_by("name", "id")


def requests_for(
    *, tenant: Tenant, user, membership: Membership | None = None, status: str | None = None
) -> QuerySet[ApprovalRequest]:
    """Batches whose every GSTIN ``user`` may see, newest first (``status`` narrows them)."""
    visible = list(
        visible_registrations(tenant=tenant, user=user, membership=membership).values_list("pk", flat=True)
    )
    qs = ApprovalRequest.objects.filter(tenant=tenant, registration_ids__contained_by=visible)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def request_for(*, tenant: Tenant, user, membership: Membership | None = None, pk: int) -> ApprovalRequest:
    """One batch ``user`` may see; ``ApprovalRequest.DoesNotExist`` otherwise (another tenant's: 404)."""
    return requests_for(tenant=tenant, user=user, membership=membership).get(pk=pk)


def items_for(*, tenant: Tenant, approval: ApprovalRequest, limit: int = 200) -> list[ApprovalItem]:
    """The first ``limit`` documents of a batch, with the document loaded."""
    return list(
        ApprovalItem.objects.filter(tenant=tenant, request=approval)
        .select_related("document")
        .order_by("id")[:limit]
    )


def item_counts(*, tenant: Tenant, approval: ApprovalRequest) -> dict[str, int]:
    rows = (
        ApprovalItem.objects.filter(tenant=tenant, request=approval).values("state").annotate(n=Count("pk"))
    )
    return {r["state"]: r["n"] for r in rows}


def members_who_approve(*, tenant: Tenant) -> list[Membership]:
    """Active members whose role may approve (owners, admins, approvers), by user name."""

    return [
        m
        for m in Membership.objects.filter(tenant=tenant, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
        if can(m.role, Capability.APPROVE)
    ]


# --- impact ----------------------------------------------------------------------------------------------------


class _Periods:
    """A group's GSTR-2B return period (known, else guessed from the supplier's filing date like the rules do;
    None when the supplier has not filed) and whether its GSTR-3B is filed."""

    def __init__(self, tenant: Tenant):

        self.regs, self.filed = rule_inputs(tenant=tenant)
        self.gstins = dict(Registration.objects.filter(tenant=tenant).values_list("pk", "gstin"))
        self.today = timezone.localdate()

    def of(self, reg_id: int, twob: dt.date | None, filing_status: str, filing_date: dt.date | None):
        frequency = self.regs[reg_id][0]
        if twob is None:
            if filing_status != "filed":
                return None, False
            twob = (
                twob_period_of_filing(filing_date, iff=True) if filing_date else open_twob_period(self.today)
            )
        period = return_period(twob, frequency)
        return period, (reg_id, period) in self.filed


def _declared(has: bool, sums: tuple) -> itc_impact.Heads | None:
    return itc_impact.heads(*sums) if has else None


def request_impact(*, tenant: Tenant, approval: ApprovalRequest) -> itc_impact.Impact:
    """What approving a pending batch changes: each held document from its state before the proposal to the
    proposed one. One grouped query over the batch's items."""

    def decl(side: str, src: str) -> str:
        return ", ".join(
            f"CASE WHEN i.prev_action IS NULL THEN d.portal_decl_{h} ELSE {src}_decl_{h} END AS {side}_{h}"
            for h in HEADS
        )

    def decl_after() -> str:
        return ", ".join(
            f"CASE WHEN d.local_action IS NULL THEN d.portal_decl_{h} ELSE d.local_decl_{h} END AS a_{h}"
            for h in HEADS
        )

    def has(side: str) -> str:
        return "(" + " OR ".join(f"{side}_{h} IS NOT NULL" for h in HEADS) + ")"

    sql = f"""
    WITH x AS (
      SELECT d.registration_id, d.twob_period, d.supplier_filing_status,
             CASE WHEN d.twob_period IS NULL THEN d.supplier_filing_date END AS nf_date, d.section, d.supplier_gstin,
             d.igst, d.cgst, d.sgst, d.cess,
             COALESCE(i.prev_action, d.portal_action) AS b_action,
             CASE WHEN i.prev_action IS NULL THEN d.portal_itc_red_req ELSE i.prev_itc_red_req END AS b_red,
             {decl("b", "i.prev")},
             COALESCE(d.local_action, d.portal_action) AS a_action,
             CASE WHEN d.local_action IS NULL THEN d.portal_itc_red_req ELSE d.local_itc_red_req END AS a_red,
             {decl_after()}
      FROM approvals_approvalitem i
      JOIN invoices_supplierdocument d ON d.id = i.document_id AND d.tenant_id = i.tenant_id
      WHERE i.tenant_id = %s AND i.request_id = %s AND i.state = %s
    )
    SELECT registration_id, twob_period, supplier_filing_status, nf_date, section, supplier_gstin,
           b_action, b_red, {has("b")}, a_action, a_red, {has("a")}, count(*),
           {", ".join(f"sum({h})" for h in HEADS)}, {", ".join(f"sum(b_{h})" for h in HEADS)},
           {", ".join(f"sum(a_{h})" for h in HEADS)}
    FROM x GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
    """  # nosec B608  # column names from HEADS, values as params
    with connection.cursor() as cur:
        cur.execute(sql, [tenant.pk, approval.pk, ItemState.HELD])
        groups = cur.fetchall()
    periods = _Periods(tenant)
    lines = []
    for (
        reg,
        twob,
        status,
        nf_date,
        section,
        supplier,
        b_action,
        b_red,
        b_has,
        a_action,
        a_red,
        a_has,
        n,
        *sums,
    ) in groups:
        period, filed = periods.of(reg, twob, status, nf_date)
        lines.append(
            itc_impact.Line(
                gstin=periods.gstins[reg],
                period=period,
                section=section,
                supplier_gstin=supplier,
                tax=itc_impact.heads(*sums[0:4]),
                count=n,
                gstr3b_filed=filed,
                before=itc_impact.Side(b_action, b_red or "", _declared(b_has, sums[4:8])),
                after=itc_impact.Side(a_action, a_red or "", _declared(a_has, sums[8:12])),
            )
        )
    return itc_impact.compute(lines)


@dataclass
class BatchImpact:
    """The impact of a bulk action before it is applied, and how many of its changes approval policies catch
    (policy name → documents; each document counts under the first policy that catches it)."""

    impact: itc_impact.Impact
    held: dict[str, int] = field(default_factory=dict)

    @property
    def held_total(self) -> int:
        return sum(self.held.values())

    def as_json(self) -> dict:
        return {**self.impact.as_json(), "needs_approval": self.held, "needs_approval_total": self.held_total}


def _policy_condition(p: ApprovalPolicy):
    q = Q()
    if p.min_value is not None:
        q &= Q(doc_value__gte=p.min_value)
    if p.sections:
        q &= Q(section__in=p.sections)
    if p.supplier_filing_status:
        q &= Q(supplier_filing_status=p.supplier_filing_status)
    if p.supplier_gstins:
        q &= Q(supplier_gstin__in=p.supplier_gstins)
    return (
        ExpressionWrapper(q, output_field=BooleanField()) if q else Value(True, output_field=BooleanField())
    )


def bulk_impact(
    *,
    tenant: Tenant,
    user,
    membership: Membership | None,
    ids=None,
    filters=None,
    action: str,
    remarks: str = "",
    declaration: dict | None = None,
    itc_red_default: str | None = DEFAULT_RULES.itc_red_default,
    overrides: dict[str, dict[str, object]] | dict[int, dict[str, object]] | None = None,
) -> BatchImpact:
    """The impact preview of a bulk action (same checks as ``actions.selectors.bulk_preview``; nothing changed):
    the documents that would change, grouped in SQL by the rule columns, supplier and the policies' conditions.
    Documents with their own declaration (``overrides``) are previewed under it."""

    require_act(membership, tenant)
    request = action_request(
        action=action, remarks=remarks, declaration=declaration, itc_red_default=itc_red_default
    )
    groups = parse_overrides(overrides, action=action, remarks=remarks, itc_red_default=itc_red_default)
    qs = target_documents(tenant=tenant, user=user, membership=membership, ids=ids, filters=filters)
    override_ids = sorted(i for group_ids, _r, _d in groups for i in group_ids)
    parts = [(qs.exclude(pk__in=ids_in(override_ids)) if override_ids else qs, request)]
    parts += [(qs.filter(pk__in=ids_in(group_ids)), group_request) for group_ids, group_request, _d in groups]
    regs, filed = rule_inputs(tenant=tenant)
    policies = list(ApprovalPolicy.objects.filter(tenant=tenant, enabled=True).order_by("name", "id"))
    out = BatchImpact(itc_impact.Impact())
    periods = _Periods(tenant)
    lines: list[itc_impact.Line] = []
    for part_qs, part_request in parts:
        _impact_lines(part_qs, part_request, regs, filed, policies, periods, out, lines)
    out.impact = itc_impact.compute(lines)
    return out


def _impact_lines(
    qs: QuerySet[SupplierDocument],
    request: ActionRequest,
    regs: dict[int, tuple[str, str]],
    filed: set[tuple[int, dt.date]],
    policies: list[ApprovalPolicy],
    periods: _Periods,
    out: BatchImpact,
    lines: list[itc_impact.Line],
) -> None:
    """The impact lines (and policy holds) of ``request`` on ``qs``, added to ``lines`` and ``out``."""
    mode = rule_facts.decl_mode(request)
    declaring = bool(mode)
    builder = rule_facts.FactsBuilder(registrations=regs, filed=filed, declaring=declaring)
    flags = {f"pol_{p.pk}": _policy_condition(p) for p in policies}
    decl_any = {
        side: ExpressionWrapper(
            Q(*[Q(**{f"{side}_decl_{h}__isnull": False}) for h in HEADS], _connector=Q.OR),
            output_field=BooleanField(),
        )
        for side in ("local", "portal")
    }
    sums = {
        "n": Count("pk"),
        **{f"s_{h}": Sum(h) for h in HEADS},
        **{f"s_l_{h}": Sum(f"local_decl_{h}") for h in HEADS},
        **{f"s_p_{h}": Sum(f"portal_decl_{h}") for h in HEADS},
    }
    extra = ("supplier_gstin", "supplier_filing_status", "l_has", "p_has", *flags)
    annotated = qs.annotate(
        **rule_facts.fact_columns((request.remarks or "").strip()),
        **flags,
        l_has=decl_any["local"],
        p_has=decl_any["portal"],
    )
    groups = [
        g
        for part, keys in rule_facts.grouping(annotated, mode)
        for g in part.values(*dict.fromkeys((*keys, *extra))).annotate(**sums).order_by()
    ]
    if not groups:
        return
    rows = [_Row(g) for g in groups]
    decisions = evaluate_many(request, (builder.facts(r) for r in rows), rule_context())
    for row, decision in zip(rows, decisions, strict=True):
        outcome, state = classify(row, request, decision, declaring)
        if outcome != "apply":
            continue
        n = row.n
        tax = itc_impact.heads(*(getattr(row, f"s_{h}") for h in HEADS))
        portal = itc_impact.Side(
            row.portal_action,
            row.portal_itc_red_req or "",
            _declared(row.p_has, tuple(getattr(row, f"s_p_{h}") for h in HEADS)),
        )
        before = (
            portal
            if row.local_action is None
            else itc_impact.Side(
                row.local_action,
                row.local_itc_red_req or "",
                _declared(row.l_has, tuple(getattr(row, f"s_l_{h}") for h in HEADS)),
            )
        )
        if state.action is None:
            after = portal
        else:
            amounts = None
            if any(v is not None for v in state.decl):
                amounts = {h: Decimal(v or 0) * n for h, v in zip(HEADS, state.decl, strict=True)}
            after = itc_impact.Side(state.action, state.itc_red_req or "", amounts)
        period, is_filed = periods.of(
            row.registration_id, row.twob_period, row.supplier_filing_status, row.nf_date
        )
        lines.append(
            itc_impact.Line(
                gstin=periods.gstins[row.registration_id],
                period=period,
                section=row.section,
                supplier_gstin=row.supplier_gstin,
                tax=tax,
                before=before,
                after=after,
                count=n,
                gstr3b_filed=is_filed,
            )
        )
        if state.action is not None:
            policy = next(
                (p for p in policies if p.action == state.action and getattr(row, f"pol_{p.pk}")), None
            )
            if policy is not None:
                out.held[policy.name] = out.held.get(policy.name, 0) + n


class _Row:
    __slots__ = ("__dict__",)

    def __init__(self, values: dict):
        self.__dict__.update(values)

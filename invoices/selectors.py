"""Readers of supplier documents. Everything a user sees of a document follows its registration (GSTIN)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce

from gst.periods import add_months
from gst.sections import ACTION_LABELS, SECTIONS, Action, DocKind, Section
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import sees_all_gstins
from tenancy.selectors import inactive_registration_ids, membership_for, visible_registrations

from .models import DocumentVersion, Supplier, SupplierDocument
from .saved_views import SavedView
from .summary import summary_rows

ZERO = Decimal("0.00")
TAX_HEADS = ("igst", "cgst", "sgst", "cess")
TAX_HEAD_LABELS = {"igst": "IGST", "cgst": "CGST", "sgst": "SGST/UTGST", "cess": "Cess"}
ACTION_ORDER = (Action.ACCEPTED, Action.NO_ACTION, Action.REJECTED, Action.PENDING)


def effective_action_expr():
    """The action that counts: the user's (not yet pushed) local action if any, else the portal's."""
    return Coalesce(F("local_action"), F("portal_action"))


def effective_action_q(actions) -> Q:
    """Documents whose effective action is one of ``actions`` (index-friendly: no function on the columns)."""
    actions = list(actions)
    return Q(local_action__in=actions) | Q(local_action__isnull=True, portal_action__in=actions)


def visible_registration_ids(
    *, tenant: Tenant, user, membership: Membership | None = None
) -> list[int] | None:
    """Ids of the GSTINs ``user`` may see, or None when the member sees every GSTIN of the tenant (none of which is
    deactivated: a request's tenant carries its deactivated ids, so this costs no query then)."""
    membership = membership or membership_for(tenant=tenant, user=user)
    if (
        membership is not None
        and membership.tenant_id == tenant.pk
        and sees_all_gstins(membership.role)
        and not inactive_registration_ids(tenant)
    ):
        return None
    return list(
        visible_registrations(tenant=tenant, user=user, membership=membership).values_list("pk", flat=True)
    )


def documents_for(
    *, tenant: Tenant, user, membership: Membership | None = None
) -> QuerySet[SupplierDocument]:
    """The documents ``user`` may see in ``tenant``: those of the visible GSTINs only (none for a non-member).

    The visible GSTIN ids are fetched first (a handful) so the planner sees a plain ``IN`` list, not guardian's
    generic-object subquery.
    """
    qs = SupplierDocument.objects.filter(tenant=tenant)
    reg_ids = visible_registration_ids(tenant=tenant, user=user, membership=membership)
    if reg_ids is None:
        return qs
    return qs.filter(registration_id__in=reg_ids)


def document_detail(
    *, tenant: Tenant, user, membership: Membership | None = None, pk: int
) -> SupplierDocument:
    """One visible document with its registration, original and amendments; raises DoesNotExist otherwise."""
    return (
        documents_for(tenant=tenant, user=user, membership=membership)
        .select_related("registration", "original")
        .prefetch_related("amendments")
        .get(pk=pk)
    )


def document_versions(*, document: SupplierDocument) -> QuerySet[DocumentVersion]:
    return DocumentVersion.objects.filter(tenant_id=document.tenant_id, document=document).order_by(
        "-version"
    )


def supplier_names(*, tenant: Tenant, gstins) -> dict[str, str]:
    """GSTIN → display name for the given supplier GSTINs (one query)."""
    gstins = set(gstins)
    if not gstins:
        return {}
    rows = Supplier.objects.filter(tenant=tenant, gstin__in=gstins).values_list(
        "gstin", "trade_name", "legal_name"
    )
    return {g: (trade or legal) for g, trade, legal in rows}


def matching_supplier_gstins(*, tenant: Tenant, text: str) -> QuerySet[Supplier]:
    """Supplier GSTINs whose name contains ``text`` or whose GSTIN starts with it (as a subquery)."""
    text = text.strip()
    return (
        Supplier.objects.filter(tenant=tenant)
        .filter(
            Q(legal_name__icontains=text) | Q(trade_name__icontains=text) | Q(gstin__startswith=text.upper())
        )
        .values("gstin")
    )


@dataclass
class SupplierHistory:
    """What a supplier's other documents say, for the document page: counts by effective action and the latest."""

    gstin: str
    total: int
    by_action: list[tuple[str, str, int]]  # (action, label, documents), the actions some document has
    not_filed: int
    recent: list[SupplierDocument]


def supplier_history(
    *,
    tenant: Tenant,
    user: AbstractBaseUser | AnonymousUser,
    membership: Membership | None = None,
    document: SupplierDocument,
    recent: int = 8,
) -> SupplierHistory:
    """The supplier of ``document`` across the documents ``user`` may see (one aggregate, one short list; both
    read the (tenant, supplier GSTIN, date) index)."""
    qs = documents_for(tenant=tenant, user=user, membership=membership).filter(
        supplier_gstin=document.supplier_gstin
    )
    counts = qs.aggregate(
        total=Count("id"),
        not_filed=Count("id", filter=Q(supplier_filing_status="not_filed")),
        **{f"a_{a.value}": Count("id", filter=effective_action_q([a.value])) for a in ACTION_ORDER},
    )
    return SupplierHistory(
        gstin=document.supplier_gstin,
        total=counts["total"],
        by_action=[
            (a.value, ACTION_LABELS[a], counts[f"a_{a.value}"])
            for a in ACTION_ORDER
            if counts[f"a_{a.value}"]
        ],
        not_filed=counts["not_filed"],
        recent=list(qs.exclude(pk=document.pk).order_by("-doc_date", "-id")[:recent]),
    )


def saved_views_for(*, tenant: Tenant, user: AbstractBaseUser | AnonymousUser) -> QuerySet[SavedView]:
    """The member's own saved views of the documents list and those the team shares, by name."""
    if not user.is_authenticated:
        return SavedView.objects.none()
    return SavedView.objects.filter(Q(user=user) | Q(shared=True), tenant=tenant).order_by("name", "id")


# --- Dashboard summaries --------------------------------------------------------------------------------------


@dataclass
class SectionCounts:
    section: str
    label: str
    counts: dict[str, int] = field(default_factory=dict)  # action code → count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class ToDo:
    """What is left to do on a GSTIN, over every period: documents with no action yet and kept pending (each with
    its ITC, credit notes negative), and documents whose local action is not yet pushed."""

    no_action: int = 0
    no_action_itc: Decimal = ZERO
    pending: int = 0
    pending_itc: Decimal = ZERO
    not_pushed: int = 0


@dataclass
class RegistrationCounts:
    registration: Registration
    sections: list[SectionCounts] = field(default_factory=list)
    todo: ToDo = field(default_factory=ToDo)

    @cached_property
    def totals(self) -> dict[str, int]:  # read once per action cell of the table's footer
        out: dict[str, int] = defaultdict(int)
        for s in self.sections:
            for a, n in s.counts.items():
                out[a] += n
        return {a.value: out.get(a.value, 0) for a in ACTION_ORDER}

    @property
    def total(self) -> int:
        return sum(self.totals.values())


@dataclass
class Dashboard:
    registrations: list[RegistrationCounts]
    itc: dict[str, dict[str, Decimal]]  # tax head → {"A", "N", "available", "R", "P"} → amount
    itc_totals: dict[str, Decimal]
    trend_periods: list[dt.date]
    trend: dict[str, list[Decimal]]  # action → ITC per period (aligned with trend_periods)
    period: dt.date | None
    document_count: int
    risk_trend: dict[str, list[Decimal]] = field(default_factory=dict)  # "available" / "at_risk" per period
    # supplier periods with current documents, newest first
    periods: list[dt.date] = field(default_factory=list)


CREDIT_SECTIONS = frozenset(s.value for s in Section if SECTIONS[s].kind == DocKind.CREDIT_NOTE)


def _itc_sign(section: str) -> int:
    """Credit notes reduce ITC (the portal reports their amounts as positive)."""
    return -1 if section in CREDIT_SECTIONS else 1


def _summary(*, tenant, user, membership) -> list[dict]:
    """The maintained summary's rows (:mod:`invoices.summary`) of the GSTINs ``user`` may see: a few hundred rows
    however many documents, read without scanning them."""
    reg_ids = visible_registration_ids(tenant=tenant, user=user, membership=membership)
    return summary_rows(tenant_id=tenant.pk, registration_ids=reg_ids)


def _itc(row: dict[str, Any]) -> Decimal:
    """A summary row's ITC: its four tax heads, credit notes negative."""
    return _itc_sign(row["section"]) * sum((row[h] or ZERO for h in TAX_HEADS), ZERO)


def dashboard(
    *,
    tenant: Tenant,
    user,
    membership: Membership | None = None,
    period: dt.date | None = None,
    trend_months: int = 6,
    periods_listed: int = 24,
) -> Dashboard:
    """Counts by GSTIN × section × action, ITC by tax head by action (credit notes negative), what is left to do
    per GSTIN (documents with no action yet or kept pending and their ITC, local actions not yet pushed: over every
    period), and ITC by action and available vs at risk over the last ``trend_months`` supplier periods (ending at
    the latest period with documents, or at ``period``), and the ``periods_listed`` latest supplier periods with
    documents. One read of the maintained summary
    (:mod:`invoices.summary`), never a scan of the documents."""
    all_rows = _summary(tenant=tenant, user=user, membership=membership)
    rows = all_rows if period is None else [r for r in all_rows if r["supplier_period"] == period]
    regs = {
        r.pk: r
        for r in visible_registrations(tenant=tenant, user=user, membership=membership).order_by("gstin")
    }
    counts: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    itc = {h: {a.value: ZERO for a in Action} for h in TAX_HEADS}
    for row in rows:
        counts[row["registration_id"]][row["section"]][row["action"]] += row["n"]
        sign = _itc_sign(row["section"])
        for h in TAX_HEADS:
            itc[h][row["action"]] += sign * (row[h] or ZERO)
    todo: dict[int, ToDo] = defaultdict(ToDo)
    for row in all_rows:
        row["itc"] = _itc(row)
        item = todo[row["registration_id"]]
        if row["action"] == Action.NO_ACTION:
            item.no_action += row["n"]
            item.no_action_itc += row["itc"]
        elif row["action"] == Action.PENDING:
            item.pending += row["n"]
            item.pending_itc += row["itc"]
        if row["local"]:
            item.not_pushed += row["n"]

    reg_counts = []
    for reg_id, reg in regs.items():
        sections = [
            SectionCounts(
                s.value,
                SECTIONS[s].label,
                {a.value: counts[reg_id][s.value].get(a.value, 0) for a in ACTION_ORDER},
            )
            for s in Section
            if counts[reg_id].get(s.value)
        ]
        reg_counts.append(RegistrationCounts(reg, sections, todo=todo.get(reg_id) or ToDo()))

    for h in TAX_HEADS:
        itc[h]["available"] = itc[h]["A"] + itc[h]["N"]
    itc_totals = {k: sum((itc[h][k] for h in TAX_HEADS), ZERO) for k in ("A", "N", "available", "R", "P")}

    last = period or max((r["supplier_period"] for r in all_rows), default=None)
    trend_periods = [add_months(last, -i) for i in range(trend_months - 1, -1, -1)] if last else []
    by_period: dict[tuple[dt.date, str], Decimal] = defaultdict(lambda: ZERO)
    for r in all_rows:
        by_period[r["supplier_period"], r["action"]] += r["itc"]
    trend = {a.value: [by_period.get((p, a.value), ZERO) for p in trend_periods] for a in ACTION_ORDER}
    risk_trend = {
        "available": [trend["A"][i] + trend["N"][i] for i in range(len(trend_periods))],
        "at_risk": list(trend["P"]),
    }
    return Dashboard(
        registrations=reg_counts,
        itc=itc,
        itc_totals=itc_totals,
        trend_periods=trend_periods,
        trend=trend,
        period=period,
        document_count=sum(r["n"] for r in rows),
        risk_trend=risk_trend,
        periods=sorted({r["supplier_period"] for r in all_rows}, reverse=True)[:periods_listed],
    )


ACTION_NAMES = {a.value: ACTION_LABELS[a] for a in Action}

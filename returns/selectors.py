"""Readers of the returns app. Every reader takes the user and narrows to the GSTINs they may see."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django.utils import timezone

from gst.duedates import return_period
from gst.labels import action_word
from gst.periods import add_months
from gst.rule_data import DEFAULT_RULES, RuleSet
from gst.rules import pending_deadline
from gst.sections import Section
from gst_sync.models import Gstr2bDocument, Gstr2bStatement
from ims_project.params import as_id
from invoices.models import SupplierDocument
from invoices.selectors import matching_supplier_gstins
from invoices.summary import summary_rows
from tenancy.models import Membership, Registration, Tenant
from tenancy.selectors import visible_registrations

from . import documents, gstr3b, twob_sql
from .models import CreditReversalBalance, Gstr3bFiling, PreviewRebuild, SupplierGstr3bStatus, TwobPreview
from .services import compute, recipient_of
from .snapshots import Entries
from .twob import (
    HEADS,
    ITCREV,
    RECLAIM,
    Doc,
    Part,
    Recipient,
    flatten_itcsumm,
    official_json,
    pending_specified,
    place,
    rule37a_dates,
    rule37a_table,
    twob_month,
)

ZERO = Decimal("0")


def registrations_for(*, tenant: Tenant, user, membership=None) -> QuerySet[Registration]:
    return visible_registrations(tenant=tenant, user=user, membership=membership)


def registration_for(*, tenant: Tenant, user, registration_id, membership=None) -> Registration | None:
    return (
        registrations_for(tenant=tenant, user=user, membership=membership).filter(pk=registration_id).first()
    )


# --- GSTR-3B filings and the credit-reversal statement balance ------------------------------------------------


def filings_for(*, tenant: Tenant, user: Any, membership: Membership | None = None) -> QuerySet[Gstr3bFiling]:
    """Recorded GSTR-3B filings of the GSTINs the user may see, newest period first."""
    regs = registrations_for(tenant=tenant, user=user, membership=membership)
    return (
        Gstr3bFiling.objects.filter(tenant=tenant, registration__in=regs)
        .select_related("registration")
        .order_by("registration__gstin", "-period")
    )


def filing_for(
    *, tenant: Tenant, user: Any, pk: int, membership: Membership | None = None
) -> Gstr3bFiling | None:
    return filings_for(tenant=tenant, user=user, membership=membership).filter(pk=pk).first()


def balances_for(
    *, tenant: Tenant, user: Any, membership: Membership | None = None
) -> QuerySet[CreditReversalBalance]:
    """Recorded credit-reversal statement balances of the GSTINs the user may see, newest period first."""
    regs = registrations_for(tenant=tenant, user=user, membership=membership)
    return (
        CreditReversalBalance.objects.filter(tenant=tenant, registration__in=regs)
        .select_related("registration")
        .order_by("registration__gstin", "-period")
    )


def balance_for(
    *, tenant: Tenant, user: Any, pk: int, membership: Membership | None = None
) -> CreditReversalBalance | None:
    return balances_for(tenant=tenant, user=user, membership=membership).filter(pk=pk).first()


def balance_in_force(
    *, tenant: Tenant, registration: Registration, period: dt.date
) -> CreditReversalBalance | None:
    """The balance recorded for ``period``'s GSTR-3B, else the latest recorded for an earlier period."""
    return (
        CreditReversalBalance.objects.filter(tenant=tenant, registration=registration, period__lte=period)
        .order_by("-period")
        .first()
    )


def latest_preview(*, tenant: Tenant, registration: Registration, period: dt.date) -> TwobPreview | None:
    return (
        TwobPreview.objects.filter(tenant=tenant, registration=registration, period=period)
        .order_by("-built_at", "-id")
        .first()
    )


def latest_rebuild(*, tenant: Tenant, registration: Registration, period: dt.date) -> PreviewRebuild | None:
    return (
        PreviewRebuild.objects.filter(tenant=tenant, registration=registration, period=period)
        .order_by("-created_at", "-id")
        .first()
    )


def rebuild_for(*, tenant: Tenant, user, rebuild_id, membership=None) -> PreviewRebuild | None:
    """A rebuild of a GSTIN the user may see, or None."""
    regs = registrations_for(tenant=tenant, user=user, membership=membership)
    return (
        PreviewRebuild.objects.filter(tenant=tenant, registration__in=regs, pk=rebuild_id)
        .select_related("registration")
        .first()
    )


def previews_for(*, tenant: Tenant, registration: Registration, period: dt.date) -> QuerySet[TwobPreview]:
    return (
        TwobPreview.objects.filter(tenant=tenant, registration=registration, period=period)
        .defer("entries")
        .order_by("-built_at", "-id")
    )


def bucket_documents(*, tenant: Tenant, preview: TwobPreview, prefix: str) -> QuerySet[SupplierDocument]:
    """The documents behind a figure: those of the snapshot whose bucket starts with ``prefix``
    (``itcavl``, ``itcavl/othersup``, ``itcavl/nonrevsup/b2b`` …; several prefixes comma-separated)."""
    prefixes = [p.strip() for p in prefix.split(",") if p.strip()]
    wanted = {
        i
        for i, name in enumerate(preview.buckets)
        if any(name == p or name.startswith(p + "/") for p in prefixes)
    }
    entries = Entries.unpack(preview.entries)
    ids = [doc_id for doc_id, b in zip(entries.ids, entries.buckets, strict=True) if b in wanted]
    return SupplierDocument.objects.filter(
        tenant=tenant, registration=preview.registration, id__in=ids
    ).order_by("supplier_gstin", "doc_date", "id")


def diff_document_numbers(*, tenant: Tenant, preview: TwobPreview) -> dict[int, str]:
    """Document id → "number of supplier" for the documents the preview's "since the previous build" lists."""
    diff = preview.diff or {}
    ids = {e["id"] for key in ("entered", "left", "changed") for e in diff.get(key) or () if "id" in e}
    if not ids:
        return {}
    rows = SupplierDocument.objects.filter(tenant=tenant, registration=preview.registration, id__in=ids)
    return {i: number for i, number in rows.values_list("id", "doc_number")}


def preview_json(*, registration: Registration, period: dt.date, today: dt.date) -> dict:
    """The preview (computed now) as the portal's GET2B ``data`` object, document lists included."""
    recipient = recipient_of(registration)
    period = return_period(period, registration.filing_frequency)
    summary, _entries, _buckets, placed = compute(registration=registration, period=period)
    docs = documents.documents_by_id(
        tenant_id=registration.tenant_id, registration_id=registration.pk, ids=list(placed)
    )
    pairs = [
        (d, place(d, recipient)) for d in sorted(docs, key=lambda d: (d.supplier_gstin, d.doc_date, d.id))
    ]
    return official_json(recipient, period, summary, pairs, generated=today)


# --- against the portal's own 2B ----------------------------------------------------------------------------

_KEY = ("ims_section", "supplier_gstin", "doc_number", "fy")


def compare_with_portal(*, tenant: Tenant, registration: Registration, preview: TwobPreview) -> dict | None:
    """Differences between the preview and the portal's 2B of the same period (None when none is stored):
    per total (part, group, section, head) and per document, each with an explanation."""
    statement = Gstr2bStatement.objects.filter(
        tenant=tenant, registration=registration, period=preview.period
    ).first()
    if statement is None:
        return None
    ours = flatten_itcsumm(preview.summary.get("itcsumm", {}))
    theirs = flatten_itcsumm(statement.summary.get("itcsumm", {}))
    totals = [
        {
            "key": "/".join(k[:3]).rstrip("/"),
            "head": k[3],
            "preview": ours.get(k, ZERO),
            "portal": theirs.get(k, ZERO),
            "difference": ours.get(k, ZERO) - theirs.get(k, ZERO),
            "why": _why_total(k, ours, theirs),
        }
        for k in sorted(set(ours) | set(theirs))
        if ours.get(k, ZERO) != theirs.get(k, ZERO)
    ]
    names = {i: n.split("/")[0] for i, n in enumerate(preview.buckets)}
    entries = Entries.unpack(preview.entries)
    part_of = {doc_id: names[b] for doc_id, b in zip(entries.ids, entries.buckets, strict=True)}
    local = {
        (d.section, d.supplier_gstin, d.doc_number, d.fy): d
        for d in SupplierDocument.objects.filter(
            tenant=tenant, registration=registration, id__in=list(part_of)
        )
    }
    portal_rows = Gstr2bDocument.objects.filter(tenant=tenant, statement=statement)
    generated = statement.generated_on
    diffs, seen = [], set()
    for g in portal_rows.iterator(chunk_size=2000):
        key = (g.ims_section, g.supplier_gstin, g.doc_number, g.fy)
        seen.add(key)
        portal_part = (
            Part.REJECTED.value
            if g.rejected
            else (Part.UNAVAILABLE.value if g.itc_available == "N" else Part.AVAILABLE.value)
        )
        d = local.get(key)
        if d is None:
            why = _why_absent(tenant, registration, key)
            diffs.append(
                {
                    "document": f"{g.supplier_gstin} {g.doc_number}",
                    "preview": "—",
                    "portal": portal_part,
                    "why": why,
                    "late_action": False,
                }
            )
            continue
        ours_part = part_of[d.pk]
        if ours_part != portal_part:
            late = bool(d.local_updated_at and generated and d.local_updated_at.date() >= generated)
            diffs.append(
                {
                    "document": f"{d.supplier_gstin} {d.doc_number}",
                    "id": d.pk,
                    "preview": ours_part,
                    "portal": portal_part,
                    "late_action": late or d.local_action is not None,
                    "why": f"{action_word(d.effective_action).lower()} after the portal generated its 2B"
                    if (late or d.local_action)
                    else "the portal placed it differently",
                }
            )
    for key, d in local.items():
        if key not in seen and part_of[d.pk] != Part.PENDING.value:
            late = d.local_action is not None
            diffs.append(
                {
                    "document": f"{d.supplier_gstin} {d.doc_number}",
                    "id": d.pk,
                    "preview": part_of[d.pk],
                    "portal": "—",
                    "late_action": late,
                    "why": "action changed after the portal generated its 2B"
                    if late
                    else "filed after the portal generated its 2B, or a 2B period the portal did not give it",
                }
            )
    late_actions = any(x["late_action"] for x in diffs)
    filed = Gstr3bFiling.objects.filter(
        tenant=tenant, registration=registration, period=preview.period
    ).exists()
    return {
        "statement": statement,
        "totals": totals,
        "documents": diffs[:1000],
        "document_count": len(diffs),
        "recompute_needed": late_actions and not filed,
    }


def _why_total(key, ours, theirs) -> str:
    if key[0] == ITCREV:
        if not ours.get(key):
            return (
                "the portal reverses ITC here under Rule 37A; the preview knows of no supplier that missed its "
                "GSTR-3B: ask the portal for the suppliers' filings (Rule 37A watch)"
            )
        return "Rule 37A reversal from the suppliers' filings as the return tracking last said" + (
            "; the portal shows none" if not theirs.get(key) else ""
        )
    return "the documents below that differ make up this total"


def _why_absent(tenant, registration, key) -> str:
    doc = SupplierDocument.objects.filter(
        tenant=tenant,
        registration=registration,
        section=key[0],
        supplier_gstin=key[1],
        doc_number=key[2],
        fy=key[3],
    ).first()
    if doc is None:
        return "not in our IMS copy: sync or import the IMS documents"
    if doc.effective_action == "P":
        return "kept pending after the portal generated its 2B"
    return "placed in another period by the preview (filing date or 2B period)"


# --- GSTR-3B Table 4 ----------------------------------------------------------------------------------------


def table4(*, preview: TwobPreview, reclaim: dict[str, Decimal] | None = None) -> list[gstr3b.Row]:
    """Table 4 of the preview; 4(D)(1) from its Rule 37A re-availments unless ``reclaim`` is given."""
    if reclaim is None:
        reclaim = (preview.summary.get(RECLAIM) or {}).get("nonrevsup") or {}
    return gstr3b.table4(preview.summary.get("itcsumm", {}), reclaim=reclaim)


def reclaim_check(*, tenant: Tenant, preview: TwobPreview, rows: list[gstr3b.Row]) -> dict[str, Any]:
    """The recorded credit-reversal statement balance in force for the preview's period and the heads whose
    4(D)(1) re-claim exceeds it (docs/rules/gstr3b.md §2.3)."""
    balance = balance_in_force(tenant=tenant, registration=preview.registration, period=preview.period)
    amounts = {h: getattr(balance, h) for h in gstr3b.HEADS} if balance is not None else None
    return {"balance": balance, "excess": gstr3b.reclaim_excess(rows, amounts)}


# --- the deadline queue -------------------------------------------------------------------------------------


# The deadline queue's clocks (returns.twob_sql._DEADLINE_ROWS), as the page names them.
CLOCKS = ("GSTR-3B due", "Pending limit", "Section 16(4)", "Rule 37A")


@dataclass(frozen=True)
class QueueFilter:
    """The deadline queue's filters: IMS sections, a supplier (GSTIN, GSTIN prefix or name), days left at most
    (overdue ones are negative), ITC at stake at least and one clock."""

    sections: tuple[str, ...] = ()
    supplier: str = ""
    days_max: int | None = None
    min_itc: Decimal | None = None
    clock: str = ""  # one of CLOCKS, "" = any

    def query(self) -> dict[str, object]:
        """The filters as query parameters of the queue's page (and of its "all matching" bulk action)."""
        out: dict[str, object] = {}
        if self.sections:
            out["section"] = list(self.sections)
        if self.supplier:
            out["supplier"] = self.supplier
        if self.days_max is not None:
            out["days_max"] = str(self.days_max)
        if self.min_itc is not None:
            out["min_itc"] = str(self.min_itc)
        if self.clock:
            out["clock"] = self.clock
        return out


def queue_filter(params: QueryDict | dict[str, list[str]]) -> QueueFilter:
    """A :class:`QueueFilter` from query parameters (a QueryDict or a dict of lists); unreadable values are
    ignored, unknown sections dropped."""

    def first(name: str) -> str:
        values = params.getlist(name) if hasattr(params, "getlist") else params.get(name) or []
        values = [values] if isinstance(values, str) else values
        return str(values[0]).strip() if values else ""

    raw_sections = params.getlist("section") if hasattr(params, "getlist") else params.get("section") or []
    sections = tuple(sorted({str(x) for x in raw_sections if str(x) in {s.value for s in Section}}))
    days = first("days_max")
    try:
        days_max = int(days) if days else None
    except ValueError:
        days_max = None
    amount = first("min_itc")
    try:
        min_itc = Decimal(amount) if amount else None
    except InvalidOperation:
        min_itc = None
    if min_itc is not None and not min_itc.is_finite():
        min_itc = None
    clock = first("clock")
    return QueueFilter(
        sections=sections,
        supplier=first("supplier")[:200],
        days_max=days_max,
        min_itc=min_itc,
        clock=clock if clock in CLOCKS else "",
    )


def _queue_params(
    *,
    tenant: Tenant,
    reg: Registration,
    today: dt.date,
    limit: int,
    after: tuple[Decimal, int] | None,
    flt: QueueFilter,
) -> dict[str, Any]:
    recipient = recipient_of(reg, as_of=today)
    suppliers = None
    if flt.supplier:
        text = flt.supplier.upper().replace(" ", "")
        if len(text) == 15 and text.isalnum():
            suppliers = [text]
        else:
            suppliers = list(
                matching_supplier_gstins(tenant=tenant, text=flt.supplier).values_list("gstin", flat=True)
            )
    return twob_sql.deadline_params(
        tenant_id=tenant.pk,
        registration_id=reg.pk,
        state_code=reg.state_code,
        frequency=reg.filing_frequency,
        today=today,
        filed_3b=dict(recipient.filed_3b),
        since=add_months(return_period(today, reg.filing_frequency), -6),
        limit=limit,
        after=after,
        sections=flt.sections,
        suppliers=suppliers,
        days_max=flt.days_max,
        min_itc=flt.min_itc,
        clock=flt.clock,
        at_risk=rule37a_table(recipient),
    )


def deadline_queue(
    *,
    tenant: Tenant,
    registrations,
    today: dt.date,
    limit: int = 200,
    after: tuple[Decimal, int] | None = None,
    flt: QueueFilter | None = None,
) -> list[dict]:
    """Documents that still need a decision, with a clock, most urgent first (ITC at stake ÷ days left; overdue:
    × days overdue): the GSTR-3B due date of their 2B period for documents with no action (3B not filed yet),
    the one-period limit of pending specified records (from October 2025), the section 16(4) last date of
    pending invoices and debit notes, the Rule 37A reverse-by day of accepted invoices and debit notes whose
    supplier missed its GSTR-3B (until it files). Accepted and rejected documents, and those of a period whose
    GSTR-3B is filed, are otherwise settled and left out. Ranked in SQL per GSTIN (returns.twob_sql.deadlines), merged here;
    ``after`` = the (score, id) of the last item of the previous page. Each item carries its ``score`` and
    ``id`` for the next page, and the supplier's name."""
    flt = flt or QueueFilter()
    ranked: list[tuple] = []
    for reg in registrations:
        p = _queue_params(tenant=tenant, reg=reg, today=today, limit=limit, after=after, flt=flt)
        ranked.extend((row, reg) for row in twob_sql.deadlines(p))
    ranked.sort(key=lambda x: (x[0][6], x[0][0]), reverse=True)
    ranked = ranked[:limit]
    docs: dict[int | None, Doc] = {}
    by_reg: dict[Registration, list[int]] = {}
    for row, reg in ranked:
        by_reg.setdefault(reg, []).append(row[0])
    for reg, ids in by_reg.items():
        docs.update(
            (d.id, d) for d in documents.documents_by_id(tenant_id=tenant.pk, registration_id=reg.pk, ids=ids)
        )
    return [
        {
            "registration": reg,
            "gstin": reg.gstin,
            "doc": docs[doc_id],
            "supplier_name": docs[doc_id].supplier_name,
            "part": part,
            "clock": clock,
            "due": due,
            "days_left": days,
            "itc": stake,
            "score": score,
            "id": doc_id,
        }
        for (doc_id, part, clock, due, days, stake, score), reg in ranked
    ]


def deadline_totals(
    *, tenant: Tenant, registrations: Iterable[Registration], today: dt.date, flt: QueueFilter | None = None
) -> tuple[int, Decimal]:
    """(documents, ITC at stake) of the whole filtered queue (every page)."""
    flt = flt or QueueFilter()
    count, stake = 0, Decimal("0")
    for reg in registrations:
        n, itc = twob_sql.deadline_totals(
            _queue_params(tenant=tenant, reg=reg, today=today, limit=0, after=None, flt=flt)
        )
        count, stake = count + n, stake + itc
    return count, stake


def deadline_ids(
    *, tenant: Tenant, registrations: Iterable[Registration], today: dt.date, flt: QueueFilter | None = None
) -> list[int]:
    """Every document id of the filtered queue (a bulk action on "all matching")."""
    flt = flt or QueueFilter()
    ids: list[int] = []
    for reg in registrations:
        ids += twob_sql.deadline_ids(
            _queue_params(tenant=tenant, reg=reg, today=today, limit=0, after=None, flt=flt)
        )
    return ids


def in_queue(
    queryset: QuerySet[SupplierDocument], *, tenant: Tenant, values: Sequence[str]
) -> QuerySet[SupplierDocument]:
    """The documents list's "in the deadline queue" filter (``invoices.facets``): ``values[0]`` is the queue
    page's query string (``registration`` id and the :class:`QueueFilter` parameters); the documents of that
    queue today."""
    params = QueryDict(values[0] if values else "")
    regs = Registration.objects.filter(tenant=tenant)
    chosen = params.get("registration", "")
    if chosen:
        chosen_id = as_id(chosen)
        regs = regs.filter(pk=chosen_id) if chosen_id is not None else regs.none()
    ids = deadline_ids(
        tenant=tenant, registrations=list(regs), today=timezone.localdate(), flt=queue_filter(params)
    )
    return queryset.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [ids]))


# --- the Rule 37A watch (docs/rules/gstr2b.md §7) ---------------------------------------------------------------


class Rule37aState:
    AT_RISK = "at_risk"  # the supplier has not filed yet; its deadline has not passed
    REVERSE = "reverse"  # the deadline passed unfiled: reverse the ITC by the reverse-by day
    REAVAILED = "reavailed"  # reversed, and the supplier has filed since: re-availed (GSTR-3B 4(D)(1))


RULE37A_STATE_LABELS = {
    Rule37aState.AT_RISK: "At risk: supplier's GSTR-3B not filed yet",
    Rule37aState.REVERSE: "To reverse: supplier missed the 30 September deadline",
    Rule37aState.REAVAILED: "Re-availed: supplier filed after the deadline",
}


def rule37a_watch(*, tenant: Tenant, registration: Registration, today: dt.date) -> dict[str, Any]:
    """The accepted (or deemed accepted) invoices and debit notes of ``registration`` whose supplier has not filed
    the GSTR-3B of their period by its Rule 37A deadline, or not yet, as the portal's return tracking last said
    (:class:`returns.models.SupplierGstr3bStatus`): each with its state, amounts by tax head, the supplier's
    deadline, the reverse-by day, the 2B period that reverses it and the period it is re-availed in; and totals
    per state and head."""
    recipient = recipient_of(registration, as_of=today)
    statuses = {
        (s.supplier_gstin, s.period): s
        for s in SupplierGstr3bStatus.objects.filter(tenant=tenant)
        if s.filed_on is None or s.filed_on > rule37a_dates(s.period)[0]
    }
    items: list[dict[str, Any]] = []
    docs = documents.rule37a_documents(
        tenant_id=tenant.pk, registration_id=registration.pk, pairs=sorted(statuses)
    )
    totals = {state: dict.fromkeys(HEADS, Decimal("0.00")) for state in RULE37A_STATE_LABELS}
    for doc in docs:
        p = place(doc, recipient)
        if p.part != Part.AVAILABLE:
            continue  # no ITC availed: nothing to reverse
        status = statuses[(doc.supplier_gstin, doc.supplier_period)]
        deadline, _month, reverse_by = rule37a_dates(doc.supplier_period)
        if p.rule37a_period is not None:
            state = Rule37aState.REAVAILED if p.reavail_period is not None else Rule37aState.REVERSE
        elif not status.filed and today <= deadline:
            state = Rule37aState.AT_RISK
        else:
            continue
        amounts = dict(zip(HEADS, p.itc, strict=True))
        for h in HEADS:
            totals[state][h] += amounts[h]
        items.append(
            {
                "doc": doc,
                "id": doc.id,
                "state": state,
                "state_label": RULE37A_STATE_LABELS[state],
                "supplier_gstin": doc.supplier_gstin,
                "supplier_name": doc.supplier_name,
                "supplier_period": doc.supplier_period,
                "supplier_deadline": deadline,
                "supplier_filed_on": status.filed_on,
                "fetched_at": status.fetched_at,
                "reverse_by": reverse_by,
                "reversal_period": p.rule37a_period,
                "reavail_period": p.reavail_period,
                "amounts": amounts,
                "itc": sum(amounts.values(), Decimal("0.00")),
            }
        )
    order = list(RULE37A_STATE_LABELS)
    items.sort(key=lambda i: (order.index(i["state"]), i["reverse_by"], -i["itc"], i["id"]))
    return {"registration": registration, "items": items, "totals": totals, "labels": RULE37A_STATE_LABELS}


# --- the nearest one-period Pending limit of each GSTIN (the dashboard) ----------------------------------------


@dataclass(frozen=True)
class PendingLimit:
    """The nearest day by which documents kept pending must be accepted or rejected (else deemed accepted): how
    many documents and their ITC at stake."""

    due: dt.date
    documents: int
    itc: Decimal


def _unconditional_sections(rules: RuleSet = DEFAULT_RULES) -> frozenset[str]:
    """Sections whose pending documents always carry the one-period limit (credit notes): rows of the rules with
    no condition on the original."""
    return frozenset(
        s.value
        for row in rules.pending_restricted
        if row.direction is None and row.original_actions is None and row.original_3b_filed is None
        for s in row.sections
    )


def nearest_pending_limits(
    *, tenant: Tenant, registrations: Sequence[Registration], today: dt.date
) -> dict[int, PendingLimit]:
    """Per registration id: the nearest one-period Pending limit not yet passed on ``today`` and the documents kept
    pending under it (those the deadline queue shows with the "Pending limit" clock and that due day). Read from
    the maintained summary (its ``limit_month`` groups: count and tax per GSTIN × section × GSTR-2B month); only
    amendments, whose limit depends on their original, are placed one by one (:func:`_limited_amendments`)."""
    regs = {r.pk: r for r in registrations}
    if not regs:
        return {}
    by_due: dict[int, dict[dt.date, list[dict[str, Any]]]] = {pk: {} for pk in regs}
    for row in summary_rows(tenant_id=tenant.pk, registration_ids=list(regs), limited=True, fold_first=False):
        reg = regs[row["registration_id"]]
        due = pending_deadline(row["limit_month"], reg.filing_frequency, reg.state_code)
        if due >= today:
            by_due[reg.pk].setdefault(due, []).append(row)
    always = _unconditional_sections()
    # GSTR-3B filings per GSTIN, read once when an amendment needs them
    filed: dict[int, dict[dt.date, dt.date]] | None = None
    out: dict[int, PendingLimit] = {}
    for reg_id, dues in by_due.items():
        for due in sorted(dues):
            rows = dues[due]
            n = sum(int(r["n"]) for r in rows if r["section"] in always)
            itc = sum((r[h] or Decimal(0) for r in rows if r["section"] in always for h in HEADS), Decimal(0))
            amended = [r for r in rows if r["section"] not in always]
            if amended:
                if filed is None:
                    filed = defaultdict(dict)
                    for reg_pk, period, on in Gstr3bFiling.objects.filter(
                        tenant=tenant, registration_id__in=list(regs)
                    ).values_list("registration_id", "period", "filed_on"):
                        filed[reg_pk][period] = on
                entries = _limited_amendments(
                    tenant=tenant, reg=regs[reg_id], today=today, filed=filed[reg_id], rows=amended
                )
                n += sum(1 for _id, day, _stake in entries if day == due)
                itc += sum((stake for _id, day, stake in entries if day == due), Decimal(0))
            if n:
                out[reg_id] = PendingLimit(due=due, documents=n, itc=itc)
                break
    return out


def _limited_amendments(
    *,
    tenant: Tenant,
    reg: Registration,
    today: dt.date,
    filed: dict[dt.date, dt.date],
    rows: list[dict[str, Any]],
) -> list[tuple[int | None, dt.date, Decimal]]:
    """(id, due, ITC at stake) of the amendments kept pending that the summary ``rows`` count and that carry the
    one-period limit (their original decides), placed by the reference placement (:func:`returns.twob.place`,
    which the deadline queue's SQL equals). ``filed``: the GSTIN's GSTR-3B filings (whether an original's was)."""
    docs = documents.pending_amendments(
        tenant_id=tenant.pk,
        registration_id=reg.pk,
        periods=sorted({r["supplier_period"] for r in rows}),
        sections=sorted({r["section"] for r in rows}),
    )
    # The suppliers' GSTR-3B filings (Rule 37A) matter only to documents available, not to those kept pending.
    recipient = Recipient(reg.gstin, reg.state_code, reg.filing_frequency, filed_3b=filed, as_of=today)
    out = []
    for doc in docs:
        month, _how = twob_month(doc)
        if (
            month is not None
            and month >= DEFAULT_RULES.pending_one_period_from
            and place(doc, recipient).part == Part.PENDING
            and pending_specified(doc, recipient)
        ):
            due = pending_deadline(month, reg.filing_frequency, reg.state_code)
            out.append((doc.id, due, sum(doc.tax, Decimal(0))))
    return out

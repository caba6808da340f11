"""GSTR-2B preview computed from IMS documents, their actions and the suppliers' filing dates, in the portal's
official structure (docs/rules/gstr2b.md). Pure module: no ORM, no Django.

Which 2B period a document lands in (:func:`twob_month`):

1. the 2B period the portal gave it (``SupplierDocument.twob_period``, set by an imported or synced 2B) wins;
2. else, from the supplier's filing date with the cut-offs of §4.1: monthly GSTR-1 filers up to the 11th of M+1
   → M; IFF / quarterly GSTR-1 filers up to the 13th. A supplier counts as quarterly when the document came
   through IFF (``src_form`` "IFF") — the IMS record says nothing else about the supplier's frequency;
3. else (filed, but no filing date known — GETINV does not carry one): the supplier's return period, i.e. we
   assume it was filed within that period's cut-off;
4. documents the supplier has only saved (not filed) are in no 2B.

A QRMP recipient's 2B is quarterly: the month is mapped to its quarter (named by the quarter's last month).

Placement (§4.4, §4.3, §1.3): POS-ineligible (supplier state = POS ≠ recipient state, ``rsn`` P) and section
16(4)-barred (filed after the last date, ``rsn`` C) documents bypass IMS and go to ``itcunavl`` whatever their
action; otherwise Accepted and No action (deemed accepted) → ``itcavl``, Rejected → ``itcRejected``, Pending →
left out. Credit notes sit in ``othersup`` (ITC reversal) with the declared reduction where one was made
(``itcRedReq`` "N" = nil, "Y" without amounts or no declaration = full); debit notes in ``nonrevsup.cdnr``.

Carried forward (docs/rules/gstr2b.md §4): on filing the GSTR-3B of a period, accepted and rejected records of
that 2B period leave IMS; pending ones stay and reach the next open 2B. So a document whose 2B period (as above)
has a filed GSTR-3B (``Recipient.filed_3b``) moves to the next period when it was pending at that filing: it is
pending now, or its local action changed after the filing date (accepted and rejected records can no longer change
then, so a later change means it was pending). Repeated while the next period is filed too. Our reading: an action
taken on the same day as the filing counts as before it; an action taken directly on the portal after the filing
is only known through the portal's own 2B (an imported 2B period wins as the starting point).

Pending past the one-period limit (docs/rules/gstr2b.md §5, from the October-2025 2B period): a *specified* record (the
``pending_restricted`` table of the rules, unknown facts counting as specified, as the action rules do) still
pending after the GSTR-3B due date of the following period is deemed accepted from the day after that deadline:
it lands, as accepted, in the 2B that is open then (the carry-forward above counts it pending up to the deadline).

``itcrev`` (docs/rules/gstr2b.md §7) is the ITC reversal on account of Rule 37A: the ITC of an accepted (or deemed
accepted) invoice, debit note or their amendment (``RuleSet.rule37a_sections``) whose supplier has not filed the
GSTR-3B of the document's period by 30 September after the end of its financial year is reversed in the 2B of
``RuleSet.rule37a_twob_month`` after that year (or the document's own 2B if later), and re-availed (GSTR-3B
4(D)(1), :data:`RECLAIM`, not a block of the portal's 2B) in the return period the supplier files, never earlier.
``Recipient.supplier_3b`` says what the portal's return tracking told us of each supplier and period; a pair not
in it is unknown and nothing is reversed for it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from gst.duedates import Frequency, return_period, section_16_4_last_date, twob_period_of_filing
from gst.labels import place_of_supply
from gst.periods import add_months, format_period, format_portal_date, fy_start_year, quarter_periods
from gst.rule_data import DEFAULT_RULES, Direction, RuleSet
from gst.rules import DocumentFacts, match_record, pending_deadline
from gst.sections import SECTIONS, DocKind, GoodsType, Section

ZERO = Decimal("0.00")
HEADS = ("igst", "cgst", "sgst", "cess")
QUARTERLY_SRC_FORMS = frozenset({"IFF"})


class Part(StrEnum):
    AVAILABLE = "itcavl"
    UNAVAILABLE = "itcunavl"
    REJECTED = "itcRejected"
    PENDING = "pending"  # left out of this 2B, stays in IMS
    NOT_FILED = "not_filed"  # saved by the supplier, in no 2B yet


ITCREV = "itcrev"  # ITC reversal on account of Rule 37A (module docstring)
RECLAIM = "reclaim"  # ITC re-availed once the supplier filed: GSTR-3B 4(D)(1), not a block of the portal's 2B


IN_2B = (Part.AVAILABLE, Part.UNAVAILABLE, Part.REJECTED)
PART_LABELS = {
    Part.AVAILABLE: "ITC available",
    Part.UNAVAILABLE: "ITC not available",
    Part.REJECTED: "ITC rejected",
    Part.PENDING: "Pending (not in this 2B)",
    Part.NOT_FILED: "Not filed by the supplier",
}
REASON_LABELS = {
    "P": "POS rules (supplier state = POS, recipient elsewhere)",
    "C": "Section 16(4) time limit",
    "I": "ISD: ITC not eligible",
}


@dataclass(frozen=True, slots=True)
class Recipient:
    """The GSTIN whose 2B is previewed. ``filed_3b``: return period → date its GSTR-3B was filed; ``as_of``: the
    day the preview is computed for (the one-period Pending limit, Rule 37A's deadline); ``supplier_3b``: (supplier
    GSTIN, return period) → the day the supplier filed that GSTR-3B, None when the portal says it is not filed
    (a pair not given is unknown)."""

    gstin: str
    state_code: str
    frequency: str = Frequency.MONTHLY
    filed_3b: Mapping[dt.date, dt.date] = field(default_factory=dict, hash=False, compare=False)
    as_of: dt.date | None = None
    supplier_3b: Mapping[tuple[str, dt.date], dt.date | None] = field(
        default_factory=dict, hash=False, compare=False
    )


@dataclass(frozen=True, slots=True)
class Doc:
    """One IMS record with its *effective* action (local if set, else the portal's) and declaration."""

    section: str
    supplier_gstin: str
    doc_number: str
    doc_date: dt.date
    supplier_period: dt.date
    filed: bool
    pos: str
    doc_value: Decimal
    taxable_value: Decimal
    igst: Decimal = ZERO
    cgst: Decimal = ZERO
    sgst: Decimal = ZERO
    cess: Decimal = ZERO
    action: str = "N"
    filing_date: dt.date | None = None
    twob_period: dt.date | None = None
    src_form: str = ""
    inv_type: str = "R"
    orig_doc_number: str = ""
    orig_doc_date: dt.date | None = None
    itc_red_req: str = ""  # "Y", "N" or "" (not declared)
    decl: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None] = (None, None, None, None)
    id: int | None = None
    supplier_name: str = ""
    changed_on: dt.date | None = None  # day of the last local action (local time)
    # the linked original of an amendment: direction (up/down/unchanged; None = no original linked), its effective
    # action, its 2B period as the portal gave it, its id and tax
    orig_direction: str | None = None
    orig_action: str | None = None
    orig_twob_period: dt.date | None = None
    orig_id: int | None = None
    orig_tax: tuple[Decimal, Decimal, Decimal, Decimal] | None = None
    orig_changed_on: dt.date | None = None
    itc_eligible: str | None = None  # ISD documents: the ISD's ``itcelg`` ("N": ITC not available)
    port_code: str | None = None  # bills of entry
    ref_date: dt.date | None = None

    @property
    def tax(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        return (self.igst, self.cgst, self.sgst, self.cess)


@dataclass(frozen=True, slots=True)
class Placement:
    period: dt.date | None  # the recipient's 2B return period (quarter's last month for QRMP)
    part: Part
    reason: str  # "" | "P" | "C"
    why: str
    group: str  # "nonrevsup" | "othersup" | "isdsup" | "imports"
    twob_section: str  # b2b, b2ba, cdnr, cdnra, ecom, ecoma, isd, isda, impg, impga, impgsez, impgasez
    itc: tuple[
        Decimal, Decimal, Decimal, Decimal
    ]  # the amounts the 2B summary counts (declared reduction for CNs)
    filing_date: dt.date | None  # as known or assumed
    natural: dt.date | None = None  # the return period before any carry-forward
    lapsed: dt.date | None = None  # pending past its one-period limit (this deadline): deemed accepted
    rule37a_period: dt.date | None = None  # Rule 37A: the 2B period whose itcrev reverses this ITC
    reavail_period: dt.date | None = None  # Rule 37A: the return period the ITC is re-availed in (4(D)(1))
    reverse_by: dt.date | None = None  # Rule 37A: the day by which the ITC must be reversed


@lru_cache(maxsize=64)
def _section(section: str):
    info = SECTIONS[Section(section)]
    group = info.twob_group
    nttyp = {DocKind.CREDIT_NOTE: "C", DocKind.DEBIT_NOTE: "D"}.get(info.kind, "")
    return info, group, nttyp


_default_month = lru_cache(maxsize=4096)(twob_period_of_filing)  # keyed without the (large) RuleSet
_default_last_date = lru_cache(maxsize=4096)(section_16_4_last_date)


def _month_of_filing(filing_date: dt.date, *, iff: bool, rules: RuleSet) -> dt.date:
    if rules is DEFAULT_RULES:
        return _default_month(filing_date, iff=iff)
    return twob_period_of_filing(filing_date, iff=iff, rules=rules)


def _last_date(itc_date: dt.date, *, rules: RuleSet) -> dt.date:
    return (
        _default_last_date(itc_date)
        if rules is DEFAULT_RULES
        else section_16_4_last_date(itc_date, rules=rules)
    )


_return_period = lru_cache(maxsize=512)(return_period)
_fmt_period = lru_cache(maxsize=512)(format_period)
_fmt_date = lru_cache(maxsize=4096)(format_portal_date)


def is_quarterly_supplier(doc: Doc) -> bool:
    return (doc.src_form or "").upper() in QUARTERLY_SRC_FORMS


def twob_month(doc: Doc, *, rules: RuleSet = DEFAULT_RULES) -> tuple[dt.date | None, str]:
    """(2B month, how it was found) — see the module docstring. None for a document not filed."""
    if not doc.filed:
        return None, "not filed by the supplier"
    if doc.twob_period is not None:
        return doc.twob_period, "2B period given by the portal"
    if doc.filing_date is not None:
        iff = is_quarterly_supplier(doc)
        month = _month_of_filing(doc.filing_date, iff=iff, rules=rules)
        month = max(month, doc.supplier_period)
        cutoff = rules.twob_cutoff_day_iff if iff else rules.twob_cutoff_day
        return month, f"filed {_fmt_date(doc.filing_date)} (cut-off the {cutoff}th)"
    return doc.supplier_period, "no filing date: assumed filed within the supplier's period"


def _declared_reduction(doc: Doc) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    flag = (doc.itc_red_req or "").upper()
    if flag == "N":
        return (ZERO, ZERO, ZERO, ZERO)
    if any(v is not None for v in doc.decl):
        return tuple(v or ZERO for v in doc.decl)  # type: ignore[return-value]
    return doc.tax


def pending_specified(doc: Doc, recipient: Recipient, *, rules: RuleSet = DEFAULT_RULES) -> bool:
    """Is ``doc`` a record with the one-period Pending limit (rules' ``pending_restricted``; unknown facts count)?"""
    linked = doc.orig_direction is not None
    filed = None
    if linked:
        filed = (
            doc.orig_twob_period is not None
            and return_period(doc.orig_twob_period, recipient.frequency) in recipient.filed_3b
        )
    facts = DocumentFacts(
        section=Section(doc.section),
        amendment_direction=Direction(doc.orig_direction) if linked else None,
        original_action=doc.orig_action if linked else None,
        original_3b_filed=filed,
    )
    return match_record(facts, rules.pending_restricted)[0] is not None


def lapse_deadline(
    doc: Doc, month: dt.date, recipient: Recipient, *, rules: RuleSet = DEFAULT_RULES
) -> dt.date | None:
    """The one-period Pending deadline of a pending specified record of 2B ``month`` when it has passed on
    ``recipient.as_of`` (the record is then deemed accepted), else None."""
    if doc.action != "P" or recipient.as_of is None or month < rules.pending_one_period_from:
        return None
    deadline = pending_deadline(month, recipient.frequency, recipient.state_code, rules=rules)
    if recipient.as_of <= deadline or not pending_specified(doc, recipient, rules=rules):
        return None
    return deadline


def landing_period(natural: dt.date, doc: Doc, recipient: Recipient, lapsed: dt.date | None) -> dt.date:
    """The return period a document lands in after carry-forward past filed GSTR-3Bs (module docstring)."""
    period, step = natural, 3 if recipient.frequency == Frequency.QRMP else 1
    while (filed_on := recipient.filed_3b.get(period)) is not None:
        if doc.action == "P":
            pending_then = lapsed is None or lapsed >= filed_on
        else:
            pending_then = doc.changed_on is not None and doc.changed_on > filed_on
        if not pending_then:
            break
        period = add_months(period, step)
    return period


def rule37a_dates(
    supplier_period: dt.date, *, rules: RuleSet = DEFAULT_RULES
) -> tuple[dt.date, dt.date, dt.date]:
    """Rule 37A for a supplier's return period: (the day by which the supplier must have filed its GSTR-3B, the
    first month of the recipient's 2B that shows the reversal, the day by which the recipient reverses)."""
    end = fy_start_year(supplier_period) + 1
    (sm, sd), (rm, rd) = rules.rule37a_supplier_month_day, rules.rule37a_reverse_by_month_day
    return dt.date(end, sm, sd), dt.date(end, rules.rule37a_twob_month, 1), dt.date(end, rm, rd)


@dataclass(frozen=True, slots=True)
class AtRisk:
    """A supplier's return period whose GSTR-3B was not filed by its Rule 37A deadline (as known on the
    recipient's ``as_of``): the reversal's earliest 2B period, the re-availment's return period (None while the
    supplier has not filed) and the reverse-by day."""

    supplier_gstin: str
    period: dt.date
    reversal: dt.date
    reavail: dt.date | None
    reverse_by: dt.date
    filed_on: dt.date | None


def rule37a_at_risk(
    supplier_gstin: str, period: dt.date, recipient: Recipient, *, rules: RuleSet = DEFAULT_RULES
) -> AtRisk | None:
    """The Rule 37A state of one supplier's return period for ``recipient`` (None: not at risk, or unknown)."""
    key = (supplier_gstin, period)
    if key not in recipient.supplier_3b:
        return None
    filed_on = recipient.supplier_3b[key]
    deadline, month, reverse_by = rule37a_dates(period, rules=rules)
    if (filed_on is not None and filed_on <= deadline) or (
        recipient.as_of is not None and recipient.as_of <= deadline
    ):
        return None
    reversal = _return_period(month, recipient.frequency)
    reavail = None
    if filed_on is not None:
        reavail = max(_return_period(filed_on.replace(day=1), recipient.frequency), reversal)
    return AtRisk(supplier_gstin, period, reversal, reavail, reverse_by, filed_on)


def rule37a_table(recipient: Recipient, *, rules: RuleSet = DEFAULT_RULES) -> list[AtRisk]:
    """Every supplier's return period at risk under Rule 37A for ``recipient``, each once (the SQL's input)."""
    out = []
    for gstin, period in sorted(recipient.supplier_3b):
        risk = rule37a_at_risk(gstin, period, recipient, rules=rules)
        if risk is not None:
            out.append(risk)
    return out


def _rule37a(doc: Doc, recipient: Recipient, period: dt.date, rules: RuleSet) -> dict:
    """The Rule 37A fields of an available document's placement (empty when not at risk)."""
    if not recipient.supplier_3b or Section(doc.section) not in rules.rule37a_sections:
        return {}
    risk = rule37a_at_risk(doc.supplier_gstin, doc.supplier_period, recipient, rules=rules)
    if risk is None:
        return {}
    reversal = max(risk.reversal, period)
    return dict(
        rule37a_period=reversal,
        reavail_period=max(risk.reavail, reversal) if risk.reavail is not None else None,
        reverse_by=risk.reverse_by,
    )


def place(doc: Doc, recipient: Recipient, *, rules: RuleSet = DEFAULT_RULES) -> Placement:
    """Where ``doc`` lands in the recipient's GSTR-2B, and why."""
    info, group, _nttyp = _section(doc.section)
    month, how = twob_month(doc, rules=rules)
    filing = doc.filing_date
    if month is None:
        return Placement(None, Part.NOT_FILED, "", how, group, info.twob_section, doc.tax, filing)
    natural = _return_period(month, recipient.frequency)
    if filing is None:  # assumed: filed on the monthly cut-off day after the 2B month
        filing = add_months(month, 1).replace(day=rules.twob_cutoff_day)
    base = dict(
        period=natural,
        group=group,
        twob_section=info.twob_section,
        filing_date=doc.filing_date,
        natural=natural,
    )
    # POS-ineligible and 16(4)-barred documents bypass IMS: no action, no carry-forward
    if doc.pos and doc.supplier_gstin[:2] == doc.pos and doc.pos != recipient.state_code:
        return Placement(
            part=Part.UNAVAILABLE,
            reason="P",
            itc=doc.tax,
            why=f"the place of supply {place_of_supply(doc.pos)} is the supplier's state, not yours "
            f"({place_of_supply(recipient.state_code)})",
            **base,
        )
    if doc.itc_eligible == "N":
        return Placement(
            part=Part.UNAVAILABLE,
            reason="I",
            itc=doc.tax,
            why="the ISD marked this ITC as not eligible",
            **base,
        )
    if info.kind != DocKind.CREDIT_NOTE:
        itc_date = doc.orig_doc_date if info.amendment and doc.orig_doc_date else doc.doc_date
        last = _last_date(itc_date, rules=rules)
        if filing > last:
            return Placement(
                part=Part.UNAVAILABLE,
                reason="C",
                itc=doc.tax,
                why=f"filed {format_portal_date(filing)}, after the section 16(4) last date "
                f"{format_portal_date(last)}",
                **base,
            )
    lapsed = lapse_deadline(doc, month, recipient, rules=rules)
    period = landing_period(natural, doc, recipient, lapsed) if recipient.filed_3b else natural
    carried = ""
    if period != natural:
        carried = f"carried forward from {_fmt_period(natural)} (pending when its GSTR-3B was filed)"
        how += "; " + carried
        base["period"] = period
    action = "N" if lapsed is not None else doc.action
    if action == "P":
        return Placement(
            part=Part.PENDING,
            reason="",
            itc=doc.tax,
            why="kept pending in IMS" + (f"; {carried}" if carried else ""),
            **base,
        )
    if action == "R":
        return Placement(part=Part.REJECTED, reason="", itc=doc.tax, why="rejected in IMS", **base)
    if lapsed is not None:
        why = f"pending past its one-period limit ({_fmt_date(lapsed)}): deemed accepted"
    else:
        why = "accepted" if action == "A" else "no action: deemed accepted"
    itc = doc.tax
    if info.kind == DocKind.CREDIT_NOTE:
        itc = _declared_reduction(doc)
        if itc != doc.tax:
            why += "; ITC reduction declared " + ("nil" if not any(itc) else "partial")
    r37 = _rule37a(doc, recipient, period, rules)
    if r37:
        why += (
            f"; Rule 37A: the supplier's GSTR-3B of {_fmt_period(doc.supplier_period)} was not filed in time"
        )
    return Placement(
        part=Part.AVAILABLE, reason="", itc=itc, why=f"{why} ({how})", lapsed=lapsed, **base, **r37
    )


def period_months(period: dt.date, frequency: str) -> list[dt.date]:
    """The months whose documents make up the recipient's 2B of ``period``."""
    return quarter_periods(period) if frequency == Frequency.QRMP else [period]


# --- the official structure -------------------------------------------------------------------------------


def _heads(values) -> dict[str, Decimal]:
    return dict(zip(HEADS, values, strict=True))


@dataclass
class Summary:
    """Running totals of a 2B preview: feed placements with :meth:`add`, read :meth:`itcsumm` / :meth:`cpsumm`."""

    # (part, group, section) → [igst, cgst, sgst, cess]
    itc: dict[tuple[str, str, str], list[Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: [ZERO] * 4)
    )
    # (section, ctin, nttyp, supprd, supfildt) → [name, count, txval, igst, cgst, sgst, cess]
    cp: dict[tuple[str, str, str, str, str], list] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # section → [igst, cgst, sgst, cess] re-availed under Rule 37A (GSTR-3B 4(D)(1))
    reclaimed: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(lambda: [ZERO] * 4))

    def add_rule37a(self, p: Placement, period: dt.date) -> bool:
        """Count a document's Rule 37A reversal (``itcrev``) or re-availment falling in ``period``; True if any."""
        hit = False
        if p.rule37a_period == period:
            acc = self.itc[(ITCREV, "nonrevsup", p.twob_section)]
            for i, v in enumerate(p.itc):
                acc[i] += v
            hit = True
        if p.reavail_period == period:
            acc = self.reclaimed[p.twob_section]
            for i, v in enumerate(p.itc):
                acc[i] += v
            hit = True
        return hit

    def reclaim(self) -> dict:
        """The Rule 37A re-availments: ``{"nonrevsup": {igst…, section: {igst…}}}`` (empty when none)."""
        if not self.reclaimed:
            return {}
        group: dict = {**_heads([ZERO] * 4)}
        for section, vals in sorted(self.reclaimed.items()):
            group[section] = _heads(vals)
            for h, v in zip(HEADS, vals, strict=True):
                group[h] += v
        return {"nonrevsup": group}

    def add(self, doc: Doc, p: Placement, n: int = 1) -> None:
        """Add one document (or ``n`` documents whose amounts ``doc`` carries summed)."""
        self.counts[p.part] += n
        if p.part not in IN_2B:
            return
        acc = self.itc[(p.part, p.group, p.twob_section)]
        for i, v in enumerate(p.itc):
            acc[i] += v
        if p.part == Part.REJECTED:
            return
        nttyp = _section(doc.section)[2]
        key = (
            p.twob_section,
            doc.supplier_gstin,
            nttyp,
            _fmt_period(doc.supplier_period),
            _fmt_date(p.filing_date) if p.filing_date else "",
        )
        row = self.cp.get(key)
        if row is None:
            row = self.cp[key] = [doc.supplier_name, 0, ZERO, ZERO, ZERO, ZERO, ZERO]
        row[0] = row[0] or doc.supplier_name
        row[1] += n
        for i, v in enumerate((doc.taxable_value, *doc.tax)):
            row[2 + i] += v

    def itcsumm(self) -> dict:
        out: dict = {}
        for (part, group, section), vals in sorted(self.itc.items()):
            g = out.setdefault(str(part), {}).setdefault(group, {**_heads([ZERO] * 4)})
            g[section] = _heads(vals)
            for h, v in zip(HEADS, vals, strict=True):
                g[h] += v
        return out

    def cpsumm(self) -> dict:
        out: dict = defaultdict(list)
        for (section, ctin, nttyp, supprd, supfildt), row in sorted(self.cp.items()):
            entry = {"ctin": ctin, "trdnm": row[0], "supprd": supprd, "supfildt": supfildt}
            if nttyp:
                entry["nttyp"] = nttyp
            entry.update(ttldocs=row[1], txval=row[2], **_heads(row[3:]))
            out[section].append(entry)
        return dict(out)


def build_summary(
    docs: Iterable[Doc], recipient: Recipient, period: dt.date, *, rules: RuleSet = DEFAULT_RULES
) -> tuple[Summary, list[tuple[Doc, Placement]]]:
    """Place every document; keep those of ``period`` and those whose Rule 37A reversal or re-availment falls in
    it. Returns the summary and the kept (doc, placement)."""
    summary, kept = Summary(), []
    for doc in docs:
        p = place(doc, recipient, rules=rules)
        here = p.period == period
        if here:
            summary.add(doc, p)
        if summary.add_rule37a(p, period) or here:
            kept.append((doc, p))
    return summary, kept


def _other_tab_entry(doc: Doc, p: Placement, info) -> dict:
    """A bill of entry (``impg`` lists: ``refdt``, ``portcode``, ``boenum``…) or an ISD document (``doclist``:
    ``doctyp`` ISDI / ISDC, ``docnum``…) as the 2B lists it (docs/rules/gstr2b.md §6)."""
    if info.is_bill_of_entry:
        return {
            "refdt": format_portal_date(doc.ref_date) if doc.ref_date else format_portal_date(doc.doc_date),
            "recdt": format_portal_date(doc.ref_date) if doc.ref_date else format_portal_date(doc.doc_date),
            "portcode": doc.port_code or "",
            "boenum": doc.doc_number,
            "boedt": format_portal_date(doc.doc_date),
            "isamd": "Y" if info.amendment else "N",
            "txval": doc.taxable_value,
            "igst": doc.igst,
            "cess": doc.cess,
        }
    entry = {
        "doctyp": "ISDC" if info.kind == DocKind.CREDIT_NOTE else "ISDI",
        "docnum": doc.doc_number,
        "docdt": format_portal_date(doc.doc_date),
        "itcelg": "N" if p.part == Part.UNAVAILABLE else "Y",
        **_heads(doc.tax),
    }
    if info.amendment:
        entry.update(
            odoctyp=entry["doctyp"],
            odocnum=doc.orig_doc_number,
            odocdt=format_portal_date(doc.orig_doc_date) if doc.orig_doc_date else "",
        )
    return entry


def _list_key(twob_section: str) -> str:
    """The key of a supplier's document list in a 2B section."""
    if twob_section.startswith("cdnr"):
        return "nt"
    if twob_section.startswith("impg"):
        return "boe"
    if twob_section.startswith("isd"):
        return "doclist"
    return "inv"


def document_entry(doc: Doc, p: Placement) -> dict:
    """A document as the 2B's ``docdata`` lists it (v4 layout: amounts on the document)."""
    info = SECTIONS[Section(doc.section)]
    if info.goods_typ != GoodsType.ALL_OTHER:
        return _other_tab_entry(doc, p, info)
    entry: dict = {}
    if info.twob_section in ("cdnr", "cdnra"):
        entry["ntnum"] = doc.doc_number
        entry["typ"] = "C" if info.kind == DocKind.CREDIT_NOTE else "D"
        entry["suptyp"] = doc.inv_type or "R"
        if info.amendment:
            entry.update(
                onttyp=entry["typ"],
                ontnum=doc.orig_doc_number,
                ontdt=format_portal_date(doc.orig_doc_date) if doc.orig_doc_date else "",
            )
    else:
        entry["inum"] = doc.doc_number
        entry["typ"] = doc.inv_type or "R"
        if info.amendment:
            entry.update(
                oinum=doc.orig_doc_number,
                oidt=format_portal_date(doc.orig_doc_date) if doc.orig_doc_date else "",
            )
    entry.update(
        dt=format_portal_date(doc.doc_date),
        val=doc.doc_value,
        pos=doc.pos,
        rev="N",
        itcavl="N" if p.part == Part.UNAVAILABLE else "Y",
        rsn=p.reason,
        diffprcnt=1,
        txval=doc.taxable_value,
        **_heads(doc.tax),
    )
    if info.kind == DocKind.CREDIT_NOTE and doc.itc_red_req:
        entry["itcRedReq"] = doc.itc_red_req
        if any(v is not None for v in doc.decl):
            entry.update({f"decl{h.capitalize()}": v or ZERO for h, v in zip(HEADS, doc.decl, strict=True)})
    return entry


def docdata(placed: Iterable[tuple[Doc, Placement]]) -> tuple[dict, dict]:
    """(``docdata``, ``docRejdata``) in the official nesting: section → supplier → documents."""
    lists: dict[str, dict] = {"docdata": {}, "docRejdata": {}}
    for doc, p in placed:
        if p.part not in IN_2B:
            continue
        target = lists["docRejdata" if p.part == Part.REJECTED else "docdata"]
        if not doc.supplier_gstin:  # a bill of entry from overseas: flat records, no supplier
            target.setdefault(p.twob_section, {}).setdefault(("", "", ""), []).append(document_entry(doc, p))
            continue
        by_supplier = target.setdefault(p.twob_section, {})
        key = (
            doc.supplier_gstin,
            format_period(doc.supplier_period),
            format_portal_date(p.filing_date) if p.filing_date else "",
        )
        sup = by_supplier.get(key)
        if sup is None:
            sup = by_supplier[key] = {
                "ctin": key[0],
                "trdnm": doc.supplier_name,
                "supfildt": key[2],
                "supprd": key[1],
                _list_key(p.twob_section): [],
            }
        sup[_list_key(p.twob_section)].append(document_entry(doc, p))

    def flat(by_supplier: dict) -> list:
        out: list = []
        for value in by_supplier.values():
            if isinstance(value, list):  # the flat records of bills of entry from overseas
                out.extend(value)
            else:
                out.append(value)
        return out

    return (
        {s: flat(v) for s, v in lists["docdata"].items()},
        {s: flat(v) for s, v in lists["docRejdata"].items()},
    )


def official_json(
    recipient: Recipient,
    period: dt.date,
    summary: Summary,
    placed: Iterable[tuple[Doc, Placement]],
    *,
    generated: dt.date,
) -> dict:
    """The preview as the portal's GET2B ``data`` object. Documents whose ITC is reversed under Rule 37A in
    ``period`` are listed under ``docdata.itcrev`` by their own section."""
    placed = list(placed)
    doc_lists, rej_lists = docdata((d, p) for d, p in placed if p.period == period)
    reversed_docs = [(d, p) for d, p in placed if p.rule37a_period == period]
    if reversed_docs:
        doc_lists[ITCREV] = [docdata(reversed_docs)[0]]
    return {
        "gstin": recipient.gstin,
        "rtnprd": format_period(period),
        "version": "preview",
        "gendt": format_portal_date(generated),
        "itcsumm": summary.itcsumm(),
        "cpsumm": summary.cpsumm(),
        "docdata": doc_lists,
        "docRejdata": rej_lists,
    }


def flatten_itcsumm(itcsumm: dict) -> dict[tuple[str, str, str, str], Decimal]:
    """``{(part, group, section or "", head): amount}`` from an ``itcsumm`` block (ours or the portal's)."""
    out: dict[tuple[str, str, str, str], Decimal] = {}
    for part, groups in (itcsumm or {}).items():
        for group, body in (groups or {}).items():
            if not isinstance(body, dict):
                continue
            for key, value in body.items():
                if isinstance(value, dict):
                    for h in HEADS:
                        out[(part, group, key, h)] = Decimal(str(value.get(h) or 0))
                elif key in HEADS:
                    out[(part, group, "", key)] = Decimal(str(value or 0))
    return out


__all__ = [
    "Doc",
    "HEADS",
    "IN_2B",
    "ITCREV",
    "PART_LABELS",
    "RECLAIM",
    "AtRisk",
    "Part",
    "Placement",
    "REASON_LABELS",
    "Recipient",
    "Summary",
    "build_summary",
    "docdata",
    "document_entry",
    "flatten_itcsumm",
    "landing_period",
    "lapse_deadline",
    "official_json",
    "pending_specified",
    "period_months",
    "place",
    "rule37a_at_risk",
    "rule37a_dates",
    "rule37a_table",
    "twob_month",
]

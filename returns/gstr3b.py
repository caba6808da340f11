"""GSTR-3B Table 4 (ITC) preview from a 2B preview's ``itcsumm``. Pure module: no ORM.

As the portal fills it now (docs/rules/gstr3b.md §2): 4(A)(5) "All other ITC" = ITC available from
non-reverse-charge supplies **less** credit notes (each at its declared reduction), a head that comes out negative
stays negative there (allowed since the January-2023 period); credit notes have no 4(B)(2) row. 4(D)(2) = ITC
restricted by POS rules and documents barred by section 16(4). Rejected documents are not auto-populated. The
``itcrev`` block (ITC reversal on account of Rule 37A, docs/rules/gstr2b.md §7) is a reversal in 4(B)(2), on its
own row. 4(D)(1) is the ITC re-claimed in this return (Rule 37A re-availments once the supplier filed); the
portal refuses a GSTR-3B whose 4(D)(1) exceeds the balance of the Electronic Credit Reversal and Re-claimed
Statement (:func:`reclaim_excess`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

HEADS = ("igst", "cgst", "sgst", "cess")
ZERO = Decimal("0")


@dataclass(frozen=True)
class Row:
    code: str
    label: str
    amounts: dict[str, Decimal]
    drill: str  # bucket prefix of the documents behind the figure

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)


def _get(itcsumm: dict, part: str, group: str) -> dict[str, Decimal]:
    body = (itcsumm.get(part) or {}).get(group) or {}
    return {h: Decimal(str(body.get(h) or 0)) for h in HEADS}


def _section(itcsumm: dict, part: str, group: str, sections: tuple[str, ...]) -> dict[str, Decimal]:
    body = (itcsumm.get(part) or {}).get(group) or {}
    return {h: sum((Decimal(str((body.get(s) or {}).get(h) or 0)) for s in sections), ZERO) for h in HEADS}


_ISD_CN = ("isd", "isda")  # ISD credit notes sit in othersup under these lists
# Drill-downs: bucket prefixes, comma-separated (returns.selectors.bucket_documents)
_ISD_DRILL = ",".join(f"itcavl/othersup/{s}" for s in _ISD_CN)
_CN_DRILL = "itcavl/othersup/cdnr,itcavl/othersup/cdnra"


def _sum(*parts: dict[str, Decimal]) -> dict[str, Decimal]:
    return {h: sum((p[h] for p in parts), ZERO) for h in HEADS}


def table4(itcsumm: dict, *, reclaim: dict[str, Decimal] | None = None) -> list[Row]:
    """The Table 4 rows; ``reclaim``: the ITC re-claimed in 4(D)(1), head by head (none by default).

    4(A)(1) Import of goods = bills of entry available (``imports``); 4(A)(4) Inward supplies from ISD = ISD invoices
    (``isdsup``) less ISD credit notes (``othersup`` lists ``isd``/``isda``), netted like 4(A)(5) (our reading,
    UNVERIFIED: docs/rules/gstr3b.md §2)."""
    gross = _get(itcsumm, "itcavl", "nonrevsup")
    all_credit = _get(itcsumm, "itcavl", "othersup")
    isd_credit = _section(itcsumm, "itcavl", "othersup", _ISD_CN)
    credit = {h: all_credit[h] - isd_credit[h] for h in HEADS}
    net = {h: gross[h] - credit[h] for h in HEADS}
    imports = _get(itcsumm, "itcavl", "imports")
    isd_gross = _get(itcsumm, "itcavl", "isdsup")
    isd_net = {h: isd_gross[h] - isd_credit[h] for h in HEADS}
    groups = ("nonrevsup", "othersup", "isdsup", "imports")
    unavl = _sum(*(_get(itcsumm, "itcunavl", g) for g in groups))
    rejected = _sum(*(_get(itcsumm, "itcRejected", g) for g in groups))
    reclaimed = {h: Decimal(str((reclaim or {}).get(h) or 0)) for h in HEADS}
    return [
        Row("4A1", "4(A)(1) Import of goods (bills of entry)", imports, "itcavl/imports"),
        Row(
            "4A4",
            "4(A)(4) Inward supplies from ISD (net of ISD credit notes)",
            isd_net,
            f"itcavl/isdsup,{_ISD_DRILL}",
        ),
        Row("4A4-gross", "   of which: ISD invoices", isd_gross, "itcavl/isdsup"),
        Row("4A4-cn", "   less: ISD credit notes", isd_credit, _ISD_DRILL),
        Row(
            "4A5",
            "4(A)(5) All other ITC (net of credit notes; may be negative)",
            net,
            f"itcavl/nonrevsup,{_CN_DRILL}",
        ),
        Row("4A5-gross", "   of which: invoices, debit notes, ECO documents", gross, "itcavl/nonrevsup"),
        Row("4A5-cn", "   less: credit notes (declared reductions)", credit, _CN_DRILL),
        Row(
            "4B2-rule37a",
            "4(B)(2) Others: ITC reversal on account of Rule 37A",
            _get(itcsumm, "itcrev", "nonrevsup"),
            "itcrev",
        ),
        Row("4D1", "4(D)(1) ITC re-claimed (Rule 37A: the supplier has filed since)", reclaimed, "reclaim"),
        Row("4D2", "4(D)(2) Ineligible ITC (POS rules, section 16(4))", unavl, "itcunavl"),
        Row("rejected", "Rejected in IMS (not auto-populated)", rejected, "itcRejected"),
    ]


def reclaim_excess(rows: list[Row], balance: dict[str, Decimal] | None) -> dict[str, Decimal]:
    """Heads whose 4(D)(1) re-claim exceeds the recorded balance of the Electronic Credit Reversal and
    Re-claimed Statement, with the excess (empty when none does). With no balance recorded, any re-claim counts as
    excess (the portal checks against a balance of nil)."""
    reclaim = next((r.amounts for r in rows if r.code == "4D1"), {})
    have = {h: Decimal(str((balance or {}).get(h) or 0)) for h in HEADS}
    return {h: reclaim[h] - have[h] for h in HEADS if reclaim.get(h, ZERO) > have[h]}

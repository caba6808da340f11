"""GSTR-3B Table 4 (ITC) preview from a 2B preview's ``itcsumm``. Pure module: no ORM.

Our reading (docs/rules/gstr3b.md §2.1 marks the current auto-population UNVERIFIED): 4(A)(5) "All other ITC" = ITC
available from non-reverse-charge supplies less credit notes (with their declared reductions); a head that comes
out negative is shown as zero in 4(A)(5) and reversed in 4(B)(2). 4(D)(2) = ITC restricted by POS rules; documents
barred by section 16(4) are shown apart (not claimable). Rejected documents are not auto-populated. The
``itcrev`` block (ITC of originals whose amendment was rejected; our reading, UNVERIFIED, see returns.twob) is a
reversal in 4(B)(2), shown on its own row.
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


def table4(itcsumm: dict) -> list[Row]:
    gross = _get(itcsumm, "itcavl", "nonrevsup")
    credit = _get(itcsumm, "itcavl", "othersup")
    net = {h: gross[h] - credit[h] for h in HEADS}
    a5 = {h: max(v, ZERO) for h, v in net.items()}
    b2 = {h: max(-v, ZERO) for h, v in net.items()}
    unavl = {
        h: _get(itcsumm, "itcunavl", "nonrevsup")[h] + _get(itcsumm, "itcunavl", "othersup")[h] for h in HEADS
    }
    rejected = {h: _get(itcsumm, "itcRejected", "nonrevsup")[h] for h in HEADS}
    return [
        Row("4A5", "4(A)(5) All other ITC (net of credit notes)", a5, "itcavl"),
        Row("4A5-gross", "   of which: invoices, debit notes, ECO documents", gross, "itcavl/nonrevsup"),
        Row("4A5-cn", "   less: credit notes (declared reductions)", credit, "itcavl/othersup"),
        Row("4B2", "4(B)(2) Others: net credit notes exceeding ITC", b2, "itcavl/othersup"),
        Row(
            "4B2-itcrev",
            "4(B)(2) Others: ITC reversal (itcrev: originals whose amendment was rejected; our reading)",
            _get(itcsumm, "itcrev", "nonrevsup"),
            "itcrev",
        ),
        Row("4D2", "4(D)(2) Ineligible ITC (POS rules, section 16(4))", unavl, "itcunavl"),
        Row("rejected", "Rejected in IMS (not auto-populated)", rejected, "itcRejected"),
    ]

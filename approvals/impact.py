"""Impact preview of a batch of IMS actions (the issue's §4). Pure module: no ORM, no Django.

Input: :class:`Line` s — a group of documents (``count``) of one recipient GSTIN, GSTR-2B period, section and
supplier, with their effective state before and after the batch. Output: :class:`Impact` —

* per (GSTIN, 2B period): the draft GSTR-2B by bucket (ITC available, rejected, pending = deferred to a later
  period) and tax head, before, after and the change (docs/rules/gstr2b.md §3: No action = deemed accepted; credit notes
  count negative, they reduce ITC; an accepted credit note with a declaration reduces ITC by the declared amount,
  "N" = nothing, §2.3);
* per supplier: the liability added back to the supplier by rejected credit notes (§2.5), before, after, change;
* warnings: a rejection can only be undone through the supplier once the GSTR-3B of its period is filed (§2.5),
  changes to periods whose GSTR-3B is already filed, documents not yet in any 2B (supplier has not filed).

Our readings: an amendment counts with its own amounts (not the delta over its original); a document whose
supplier has not filed is in no 2B yet (``period`` None) and changes no draft 2B.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

HEADS = ("igst", "cgst", "sgst", "cess")
ZERO = Decimal("0.00")
CREDIT_SECTIONS = frozenset({"b2bcn", "b2bcna"})
BUCKETS = ("available", "rejected", "pending")
BUCKET_OF = {"A": "available", "N": "available", "R": "rejected", "P": "pending"}

Heads = dict[str, Decimal]


def heads(*values) -> Heads:
    """``heads(igst, cgst, sgst, cess)`` or ``heads()`` (all zero), as Decimals."""
    values = values or (ZERO,) * 4
    return {h: Decimal(v if v is not None else 0) for h, v in zip(HEADS, values, strict=True)}


def _add(into: Heads, other: Heads, sign: int = 1) -> None:
    for h in HEADS:
        into[h] += sign * other[h]


def _total(value: Heads) -> Decimal:
    return sum((value[h] for h in HEADS), ZERO)


@dataclass(frozen=True)
class Side:
    """A document's effective IMS state: the action (A, R, P, N) and, for an accepted credit note, the ITC-reduction
    declaration (``itc_red_req`` "Y"/"N"/"" and ``declared`` = the summed declared heads of the group, None when no
    amounts were given, i.e. the full tax)."""

    action: str
    itc_red_req: str = ""
    declared: Heads | None = None


@dataclass(frozen=True)
class Line:
    gstin: str  # recipient GSTIN
    period: dt.date | None  # GSTR-2B return period; None: the supplier has not filed, in no 2B yet
    section: str
    supplier_gstin: str
    tax: Heads  # summed over the group
    before: Side
    after: Side
    count: int = 1
    gstr3b_filed: bool = False  # the GSTR-3B of ``period`` is filed


class _BeforeAfter:
    """Tax heads before and after the proposed actions, and their difference."""

    before: Heads
    after: Heads

    @property
    def delta(self) -> Heads:
        return {h: self.after[h] - self.before[h] for h in HEADS}

    @property
    def delta_total(self) -> Decimal:
        return _total(self.delta)


@dataclass
class BucketChange(_BeforeAfter):
    before: Heads = field(default_factory=heads)
    after: Heads = field(default_factory=heads)


@dataclass
class PeriodImpact:
    gstin: str
    period: dt.date
    documents: int = 0
    buckets: dict[str, BucketChange] = field(default_factory=lambda: {b: BucketChange() for b in BUCKETS})

    @property
    def rows(self) -> list[tuple[str, BucketChange]]:
        return [(b, self.buckets[b]) for b in BUCKETS]


@dataclass
class SupplierImpact(_BeforeAfter):
    gstin: str
    credit_notes: int = 0
    before: Heads = field(default_factory=heads)
    after: Heads = field(default_factory=heads)


@dataclass
class Warning:
    code: str
    message: str
    count: int = 0
    tax: Decimal = ZERO
    periods: list[str] = field(default_factory=list)


@dataclass
class Impact:
    documents: int = 0
    periods: list[PeriodImpact] = field(default_factory=list)
    suppliers: list[SupplierImpact] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)

    def as_json(self) -> dict:
        def s(value: Heads) -> dict[str, str]:
            return {h: str(value[h]) for h in HEADS}

        return {
            "documents": self.documents,
            "periods": [
                {
                    "gstin": p.gstin,
                    "period": p.period.strftime("%m%Y"),
                    "documents": p.documents,
                    "buckets": {
                        b: {"before": s(c.before), "after": s(c.after), "delta": s(c.delta)}
                        for b, c in p.buckets.items()
                    },
                }
                for p in self.periods
            ],
            "suppliers": [
                {
                    "gstin": x.gstin,
                    "credit_notes": x.credit_notes,
                    "add_back_before": s(x.before),
                    "add_back_after": s(x.after),
                    "delta": s(x.delta),
                }
                for x in self.suppliers
            ],
            "warnings": [
                {
                    "code": w.code,
                    "message": w.message,
                    "count": w.count,
                    "tax": str(w.tax),
                    "periods": w.periods,
                }
                for w in self.warnings
            ],
        }


def itc_amount(section: str, side: Side, tax: Heads) -> Heads:
    """The signed ITC a group contributes to its bucket: its tax, negative for credit notes; an accepted credit
    note reduces ITC by its declared amount ("N": nothing; "Y" without amounts, or no declaration: the full tax)."""
    if section not in CREDIT_SECTIONS:
        return dict(tax)
    if side.action == "A" and side.itc_red_req == "N":
        return heads()
    if side.action == "A" and side.itc_red_req == "Y" and side.declared is not None:
        return {h: -side.declared[h] for h in HEADS}
    return {h: -tax[h] for h in HEADS}


UNDO_VIA_SUPPLIER = "undo_via_supplier_after_3b"
PERIOD_FILED = "gstr3b_already_filed"
NOT_IN_2B = "not_in_any_2b"
MESSAGES = {
    UNDO_VIA_SUPPLIER: "Once the GSTR-3B of the period is filed, a rejection can only be undone through the "
    "supplier (who must report the same document again in GSTR-1A or a later amendment).",
    PERIOD_FILED: "The GSTR-3B of the period is already filed: the change cannot reach that return; a rejection "
    "there can only be undone through the supplier.",
    NOT_IN_2B: "The supplier has not filed these documents yet: they are in no GSTR-2B, no draft changes now.",
}


def compute(lines: Iterable[Line]) -> Impact:
    """Fold ``lines`` into an :class:`Impact` (sorted by GSTIN and period; suppliers by the size of the change)."""
    out = Impact()
    periods: dict[tuple[str, dt.date], PeriodImpact] = {}
    suppliers: dict[str, SupplierImpact] = {}
    warnings: dict[str, Warning] = {}

    def warn(code: str, line: Line) -> None:
        w = warnings.setdefault(code, Warning(code, MESSAGES[code]))
        w.count += line.count
        w.tax += _total(line.tax)
        label = line.period.strftime("%m-%Y") if line.period else ""
        if label and label not in w.periods:
            w.periods.append(label)

    for line in lines:
        if line.count <= 0:
            continue
        out.documents += line.count
        changed = line.before != line.after
        if line.period is None:
            warn(NOT_IN_2B, line)
        else:
            p = periods.setdefault((line.gstin, line.period), PeriodImpact(line.gstin, line.period))
            p.documents += line.count
            _add(
                p.buckets[BUCKET_OF[line.before.action]].before,
                itc_amount(line.section, line.before, line.tax),
            )
            _add(
                p.buckets[BUCKET_OF[line.after.action]].after, itc_amount(line.section, line.after, line.tax)
            )
            if changed and line.gstr3b_filed:
                warn(PERIOD_FILED, line)
            elif line.after.action == "R" and line.before.action != "R":
                warn(UNDO_VIA_SUPPLIER, line)
        if line.section in CREDIT_SECTIONS:
            s = suppliers.setdefault(line.supplier_gstin, SupplierImpact(line.supplier_gstin))
            s.credit_notes += line.count
            if line.before.action == "R":
                _add(s.before, line.tax)
            if line.after.action == "R":
                _add(s.after, line.tax)
    out.periods = [periods[k] for k in sorted(periods)]
    out.suppliers = sorted(
        (s for s in suppliers.values() if s.delta_total or _total(s.after)),
        key=lambda s: (-abs(s.delta_total), s.gstin),
    )
    out.warnings = [warnings[c] for c in (PERIOD_FILED, UNDO_VIA_SUPPLIER, NOT_IN_2B) if c in warnings]
    return out

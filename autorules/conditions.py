"""Conditions of auto-action rules, as data. Pure module: no ORM.

A rule's conditions are a JSON list, all of which must hold, e.g.::

    [{"type": "section", "values": ["b2b", "b2bdn"]},
     {"type": "filing_status", "value": "filed"},
     {"type": "value_range", "max": "50000.00"},
     {"type": "supplier_in", "gstins": ["27AAACS1234A1Z5"]}]

Each condition becomes parameters of the document list's FilterSet (``invoices.filters.DocumentFilter``), so a
rule selects exactly what the list would show with those filters. On top of them a rule only ever touches
documents with no action yet (neither on the portal nor locally) that are still on the portal: it never
overrides a person's decision.

``reconciliation`` (the outcome of matching the document against the purchase register in the latest
reconciliation of its GSTIN, see ``reconciliation.latest``) becomes the FilterSet's ``reconciliation`` parameter
like any other condition, so the bulk action re-runs it on the server when it applies (also in a worker), e.g.::

    {"type": "reconciliation", "outcomes": ["exact", "tolerance"]}
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

from gst.gstin import validate_gstin
from gst.sections import SECTION_CHOICES
from reconciliation.domain.outcomes import DOCUMENT_OUTCOMES, UnknownOutcome, expand

MAX_SUPPLIERS = 200
BASE_FILTER = {"action": ["N"], "pending_push": ["false"], "vanished": ["false"]}
FILING_STATUSES = {"filed": "Filed", "not_filed": "Not filed"}
# Outcomes a rule may name: those with a supplier document to act on (missing in supplier data has none); the
# group names of reconciliation.domain.outcomes (matched, mismatched, missing_in_books) are accepted too. The
# document filter takes the same values.
RECONCILIATION_OUTCOMES = DOCUMENT_OUTCOMES


class ConditionType(StrEnum):
    SECTION = "section"
    FILING_STATUS = "filing_status"
    VALUE_RANGE = "value_range"
    SUPPLIER_IN = "supplier_in"
    RECONCILIATION = "reconciliation"


CONDITION_LABELS = {
    ConditionType.SECTION: "Section is one of",
    ConditionType.FILING_STATUS: "Supplier's return is",
    ConditionType.VALUE_RANGE: "Document value between",
    ConditionType.SUPPLIER_IN: "Supplier is one of",
    ConditionType.RECONCILIATION: "Reconciliation outcome is",
}
# Condition types that cannot be used (type → why); none at present.
UNAVAILABLE: dict[ConditionType, str] = {}


class ConditionError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


MAX_AMOUNT = Decimal(10) ** 13  # above any amount a document can hold (15 digits, 2 after the point)


def _money(value, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ConditionError(field, f"{value!r} is not an amount.") from None
    if not amount.is_finite() or amount < 0:
        raise ConditionError(field, "Enter an amount of zero or more.")
    if amount >= MAX_AMOUNT:  # 1e309 passed the checks above and failed in quantize(): a 500
        raise ConditionError(field, f"Enter an amount below {MAX_AMOUNT:,}.")
    return amount.quantize(Decimal("0.01"))


def normalise(conditions: list[dict]) -> list[dict]:
    """Check every condition and return them in canonical form; raises :class:`ConditionError` naming the field."""
    if not isinstance(conditions, list):
        raise ConditionError("conditions", "Conditions must be a list.")
    out: list[dict] = []
    seen: set[str] = set()
    sections = {v for v, _ in SECTION_CHOICES}
    for cond in conditions:
        kind = str((cond or {}).get("type", ""))
        if kind not in ConditionType._value2member_map_:
            raise ConditionError("conditions", f"Unknown condition type {kind!r}.")
        kind = ConditionType(kind)
        if kind in UNAVAILABLE:
            raise ConditionError(kind.value, UNAVAILABLE[kind])
        if kind in seen:
            raise ConditionError(kind.value, "Give each kind of condition once.")
        seen.add(kind)
        if kind == ConditionType.SECTION:
            values = sorted({str(v).lower() for v in cond.get("values") or []})
            bad = [v for v in values if v not in sections]
            if not values or bad:
                raise ConditionError(
                    "section",
                    "Choose one or more IMS sections."
                    if not bad
                    else f"Unknown section(s): {', '.join(bad)}.",
                )
            out.append({"type": kind.value, "values": values})
        elif kind == ConditionType.FILING_STATUS:
            value = str(cond.get("value", ""))
            if value not in FILING_STATUSES:
                raise ConditionError("filing_status", "Choose filed or not filed.")
            out.append({"type": kind.value, "value": value})
        elif kind == ConditionType.VALUE_RANGE:
            low, high = _money(cond.get("min"), "value_min"), _money(cond.get("max"), "value_max")
            if low is None and high is None:
                raise ConditionError("value_min", "Give a lowest or a highest value.")
            if low is not None and high is not None and low > high:
                raise ConditionError("value_max", "The highest value is below the lowest.")
            out.append(
                {
                    "type": kind.value,
                    **({"min": str(low)} if low is not None else {}),
                    **({"max": str(high)} if high is not None else {}),
                }
            )
        elif kind == ConditionType.SUPPLIER_IN:
            gstins: list[str] = []
            for raw in cond.get("gstins") or []:
                check = validate_gstin(str(raw))
                if not check.valid:
                    raise ConditionError("suppliers", f"{raw}: {check.message}.")
                if check.gstin not in gstins:
                    gstins.append(check.gstin)
            if not gstins:
                raise ConditionError("suppliers", "Give one or more supplier GSTINs.")
            if len(gstins) > MAX_SUPPLIERS:
                raise ConditionError("suppliers", f"At most {MAX_SUPPLIERS} suppliers in one rule.")
            out.append({"type": kind.value, "gstins": sorted(gstins)})
        elif kind == ConditionType.RECONCILIATION:
            raw = cond.get("outcomes")
            if raw is None and cond.get("value"):
                raw = [cond["value"]]
            if isinstance(raw, str):
                raw = [raw]
            try:
                outcomes = expand(raw or [])
            except UnknownOutcome as exc:
                raise ConditionError("reconciliation", str(exc)) from None
            if not outcomes:
                raise ConditionError("reconciliation", "Choose one or more reconciliation outcomes.")
            out.append({"type": kind.value, "outcomes": outcomes})
    return out


def recon_outcomes(conditions: list[dict]) -> list[str] | None:
    """The reconciliation outcomes a rule requires (None: the rule does not look at reconciliation)."""
    for cond in normalise(conditions):
        if cond["type"] == ConditionType.RECONCILIATION:
            return list(cond["outcomes"])
    return None


def to_filters(
    conditions: list[dict], *, registration_gstin: str | None = None
) -> list[dict[str, list[str]]]:
    """The DocumentFilter parameters that select a rule's documents: one set per supplier GSTIN when the rule
    names suppliers (the FilterSet takes one supplier at a time), otherwise one set."""
    data: dict[str, list[str]] = {k: list(v) for k, v in BASE_FILTER.items()}
    if registration_gstin:
        data["registration"] = [registration_gstin]
    suppliers: list[str] = []
    for cond in normalise(conditions):
        kind = cond["type"]
        if kind == ConditionType.SECTION:
            data["section"] = list(cond["values"])
        elif kind == ConditionType.FILING_STATUS:
            data["filing_status"] = [cond["value"]]
        elif kind == ConditionType.VALUE_RANGE:
            if "min" in cond:
                data["value_min"] = [cond["min"]]
            if "max" in cond:
                data["value_max"] = [cond["max"]]
        elif kind == ConditionType.SUPPLIER_IN:
            suppliers = list(cond["gstins"])
        elif kind == ConditionType.RECONCILIATION:
            data["reconciliation"] = list(cond["outcomes"])
    if not suppliers:
        return [data]
    return [{**data, "supplier": [g]} for g in suppliers]


def describe(conditions: list[dict]) -> list[str]:
    """One readable line per condition, for the rules page."""
    labels = dict(SECTION_CHOICES)
    lines = []
    for cond in conditions:
        kind = ConditionType(cond["type"])
        if kind == ConditionType.SECTION:
            text = ", ".join(labels.get(v, v) for v in cond["values"])
        elif kind == ConditionType.FILING_STATUS:
            text = FILING_STATUSES[cond["value"]]
        elif kind == ConditionType.VALUE_RANGE:
            text = f"{cond.get('min', '0.00')} and {cond.get('max', 'any')}"
        elif kind == ConditionType.SUPPLIER_IN:
            text = ", ".join(cond["gstins"])
        elif kind == ConditionType.RECONCILIATION:
            text = " or ".join(RECONCILIATION_OUTCOMES.get(o, o).lower() for o in cond["outcomes"])
            text += " (latest reconciliation of the GSTIN)"
        else:
            text = str(cond.get("value", ""))
        lines.append(f"{CONDITION_LABELS[kind]} {text}")
    return lines

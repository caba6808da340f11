"""A tenant's matching rules (versioned; the engine stores the version it used). Pure module: no ORM."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation

HEADS = ("taxable", "igst", "cgst", "sgst", "cess")
HEAD_TOLERANCE_FIELDS = frozenset(f"{h}_{k}" for h in HEADS for k in ("abs", "pct"))


class RuleError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class RuleSet:
    """What counts as a match. Defaults are india-compliance's (docs/rules/matching.md §2) made explicit:

    * ``amount_abs`` rupees and ``amount_pct`` percent of the supplier's amount: a head is within tolerance when
      ``|Δ| <= max(amount_abs, amount_pct % of the supplier amount)``;
    * ``<head>_abs`` / ``<head>_pct`` (head: taxable, igst, cgst, sgst, cess): that head's own tolerance, used
      instead of ``amount_abs`` / ``amount_pct`` when set (``None``, the default, inherits the general one);
    * ``date_window`` days between the two dates for a within-tolerance or probable pair;
    * ``fuzzy_threshold`` (0-100) the least number similarity of a fuzzy pair: numbers less alike are never
      paired, whatever the amounts say;
    * ``pan_fallback``: a supplier's other registration (same PAN) may pair, as probable at best;
    * ``across_fy``: documents of different financial years may pair (off by default);
    * ``absolute_amounts``: compare amounts without sign (credit notes booked negative in the ERP);
    * ``groups``: one document may pair with several lines of the same number whose sum fits (1:n, n:1);
      ``max_group`` lines at most.
    """

    amount_abs: Decimal = Decimal("1.00")
    amount_pct: Decimal = Decimal("0")
    date_window: int = 10
    fuzzy_threshold: int = 90
    pan_fallback: bool = True
    across_fy: bool = False
    absolute_amounts: bool = True
    groups: bool = True
    max_group: int = 10
    taxable_abs: Decimal | None = None
    taxable_pct: Decimal | None = None
    igst_abs: Decimal | None = None
    igst_pct: Decimal | None = None
    cgst_abs: Decimal | None = None
    cgst_pct: Decimal | None = None
    sgst_abs: Decimal | None = None
    sgst_pct: Decimal | None = None
    cess_abs: Decimal | None = None
    cess_pct: Decimal | None = None

    def head_abs(self, head: str) -> Decimal:
        own = getattr(self, f"{head}_abs")
        return self.amount_abs if own is None else own

    def head_pct(self, head: str) -> Decimal:
        own = getattr(self, f"{head}_pct")
        return self.amount_pct if own is None else own

    def tolerance(self, head: str, supplier_amount: Decimal) -> Decimal:
        """How far ``head`` may differ from the supplier's ``supplier_amount`` and still be within tolerance."""
        return max(self.head_abs(head), abs(supplier_amount) * self.head_pct(head) / 100)

    def as_json(self) -> dict:
        """Stored form; per-head tolerances appear only when set (so older versions compare equal)."""
        return {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in asdict(self).items()
            if not (k in HEAD_TOLERANCE_FIELDS and v is None)
        }

    @classmethod
    def from_json(cls, data: dict | None) -> RuleSet:
        """Parse stored or submitted rules; unknown keys are refused, missing ones take the default."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise RuleError(sorted(unknown)[0], f"Unknown rule {sorted(unknown)[0]!r}.")
        out = {}
        for name, value in data.items():
            default = known[name].default
            if name in HEAD_TOLERANCE_FIELDS:
                if value is None or str(value).strip() == "":
                    out[name] = None
                    continue
                default = Decimal("0")
            if isinstance(default, bool):
                out[name] = (
                    value if isinstance(value, bool) else str(value).lower() in ("1", "true", "on", "yes")
                )
            elif isinstance(default, Decimal):
                try:
                    out[name] = Decimal(str(value)).quantize(Decimal("0.01"))
                except (InvalidOperation, ValueError):
                    raise RuleError(name, f"{name} must be an amount, e.g. 1.00") from None
                if not out[name].is_finite() or out[name] < 0 or out[name] > 10_000_000:
                    raise RuleError(name, f"{name} must be between 0 and 1,00,00,000")
            else:
                try:
                    out[name] = int(value)
                except (TypeError, ValueError):
                    raise RuleError(name, f"{name} must be a whole number") from None
        rules = cls(**out)
        if not 50 <= rules.fuzzy_threshold <= 100:
            raise RuleError("fuzzy_threshold", "fuzzy_threshold must be between 50 and 100")
        if not 0 <= rules.date_window <= 366:
            raise RuleError("date_window", "date_window must be between 0 and 366 days")
        for name in ("amount_pct", *(f"{h}_pct" for h in HEADS)):
            if (getattr(rules, name) or 0) > 100:
                raise RuleError(name, f"{name} must be at most 100")
        if not 2 <= rules.max_group <= 50:
            raise RuleError("max_group", "max_group must be between 2 and 50")
        return rules

"""IMS action rules (docs/rules/ims-actions.md §1–§4): may this action be taken on this record now, what to warn about, and the
normalised ITC-reduction declaration. Pure module: no ORM, no Django; the rule tables and dates are data in
:mod:`gst.rule_data` (a :class:`~gst.rule_data.RuleSet` travels in :class:`Context`).

UNVERIFIED or configurable (each a field of ``RuleSet``):

* the October-2025 cut-over (one-period Pending limit, ITC-reduction declaration) and the one-period limit;
* which records are "specified" (``PENDING_RESTRICTED``, ``ITC_REDUCTION_RECORDS``);
* remarks mandatory for a partial or nil reduction — UNVERIFIED, default off; remarks length — UNVERIFIED, 500;
* GSTR-3B due days (20th; QRMP 22nd/24th), the QRMP state groups (a state in none gets the earlier day),
  notified extensions; GSTR-2B cut-off days; the section 16(4) date and the warning window before it.

Our readings (the rules do not settle them; docs/rules/ims-actions.md §9):

* the original's "No action" at its GSTR-3B filing counts as accepted (deemed acceptance, §2.1);
* an amendment is upward/downward by total tax, then taxable value (:func:`amendment_direction`); an unchanged
  amendment is neither, so no "specified" row fits it;
* when the amendment direction or the original's action / 3B status is unknown, a record that *may* be
  specified is treated as specified (Pending restricted, declaration allowed) and the Decision says so in
  ``assumptions``; an unknown GSTR-2B period is taken as the earliest one possible (also an assumption);
* a record kept Pending when its GSTR-3B was filed stays in IMS (§2.1) and may still be changed;
* the portal's block flags (``ispendactblocked``, ``isRemarksBlocked``, ``isItcRedReqBlocked`` /
  ``itcRedReqBlocked`` — name CONFLICT, the caller parses both) always win over our tables;
* an Accept of a specified record carries an answer (docs/rules/ims-actions.md §4.4, §4.9): the request's
  declaration, else its default answer (``ActionRequest.itc_red_default``), else it is refused; a locked answer
  keeps the portal's; an accepted record downloaded without one reads as full (:func:`portal_declaration`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from operator import attrgetter
from typing import Any

from .duedates import (
    Frequency,
    gstr3b_due_date,
    next_return_period,
    open_twob_period,
    qrmp_due_day,
    return_period,
    section_16_4_last_date,
    twob_period_of_filing,
)
from .periods import format_portal_date, period_label, quarter_label
from .rule_data import DEFAULT_RULES, Direction, RecordRule, RuleSet
from .sections import SECTIONS, Action, DocKind, Section

ZERO = Decimal("0.00")
_CENT = Decimal("0.01")
HEADS = ("igst", "cgst", "sgst", "cess")
HEAD_LABELS = {"igst": "IGST", "cgst": "CGST", "sgst": "SGST/UTGST", "cess": "cess"}


class Reason(StrEnum):
    """Stable codes of a Decision (``OK`` when allowed)."""

    OK = "ok"
    INVALID_ACTION = "invalid_action"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    LEFT_IMS = "left_ims"
    PENDING_BLOCKED_BY_PORTAL = "pending_blocked_by_portal"
    PENDING_NOT_ALLOWED = "pending_not_allowed"
    PENDING_DEADLINE_PASSED = "pending_deadline_passed"
    REMARKS_WITH_RESET = "remarks_with_reset"
    REMARKS_TOO_LONG = "remarks_too_long"
    REMARKS_BLOCKED = "remarks_blocked"
    REMARKS_REQUIRED = "remarks_required"
    DECLARATION_INVALID = "declaration_invalid"
    DECLARATION_ACCEPT_ONLY = "declaration_accept_only"
    DECLARATION_BEFORE_CUTOVER = "declaration_before_cutover"
    DECLARATION_NOT_APPLICABLE = "declaration_not_applicable"
    DECLARATION_BLOCKED = "declaration_blocked"
    DECLARATION_EXCEEDS_TAX = "declaration_exceeds_tax"
    DECLARATION_CGST_SGST_DIFFER = "declaration_cgst_sgst_differ"
    DECLARATION_INCONSISTENT = "declaration_inconsistent"
    DECLARATION_REQUIRED = "declaration_required"


class NoticeCode(StrEnum):
    """Codes of warnings (the action is allowed, but the user should know) and of assumptions."""

    SUPPLIER_NOT_FILED = "supplier_not_filed"
    CN_REJECT_RAISES_SUPPLIER_LIABILITY = "cn_reject_raises_supplier_liability"
    REJECT_UNDONE_ONLY_VIA_SUPPLIER = "reject_undone_only_via_supplier"
    PENDING_UNTIL = "pending_until"
    NO_ACTION_DEEMED_ACCEPTED = "no_action_deemed_accepted"
    ITC_TIME_LIMIT_NEAR = "itc_time_limit_near"
    # assumptions
    ASSUMED_SPECIFIED = "assumed_specified"
    ASSUMED_TWOB_PERIOD = "assumed_twob_period"
    ASSUMED_QRMP_DUE_DAY = "assumed_qrmp_due_day"


class DeclarationKind(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NIL = "nil"


@dataclass(frozen=True, slots=True)
class TaxHeads:
    igst: Decimal = ZERO
    cgst: Decimal = ZERO
    sgst: Decimal = ZERO
    cess: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.igst + self.cgst + self.sgst + self.cess


@dataclass(frozen=True, slots=True)
class Declaration:
    """A normalised ITC-reduction declaration (docs/rules/ims-actions.md §4).

    ``reduction`` is the ITC to reduce (the document's tax when full, zero when nil). On the portal: ``itcRedReq``
    = :attr:`itc_red_req`; ``decl*`` values = :attr:`declared` (partial only; the portal omits them for full).
    """

    kind: DeclarationKind
    reduction: TaxHeads

    @property
    def itc_red_req(self) -> str:
        return "N" if self.kind == DeclarationKind.NIL else "Y"

    @property
    def declared(self) -> TaxHeads | None:
        return self.reduction if self.kind == DeclarationKind.PARTIAL else None


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """What the user asks for one or many records. ``action``: A, R, P or N (N = reset to no action).

    Declaration: ``itc_red_req`` "Y"/"N" (None = infer from the amounts) and head amounts (Decimal, int or
    text; None = not given). "Y" with no amounts = full reduction. A declaration is made on every record the
    request reaches: a record that carries none refuses it (``declaration_not_applicable``).

    ``itc_red_default`` ("Y" full / "N" nil) is the answer for the records that need one when the request declares
    nothing: an Accept of a specified record of a period from the cut-over (docs/rules/ims-actions.md §4.4). Other
    records ignore it, so one answer serves a whole batch. Without it (None) such an Accept is refused
    (``declaration_required``): the portal refuses it too (IMSSAV0054).
    """

    action: str
    remarks: str | None = None
    itc_red_req: str | None = None
    decl_igst: Decimal | str | int | None = None
    decl_cgst: Decimal | str | int | None = None
    decl_sgst: Decimal | str | int | None = None
    decl_cess: Decimal | str | int | None = None
    itc_red_default: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the rules need to know about one IMS record.

    ``twob_period``: the record's GSTR-2B period (first of the month; None = not in a 2B yet). ``frequency``:
    the recipient's "M" or "Q"; ``state_code``: the recipient GSTIN's state (QRMP due day). ``gstr3b_filed``:
    the GSTR-3B of ``twob_period`` is filed. ``amendment_direction`` / ``original_action`` /
    ``original_3b_filed``: about the amended original (None = unknown). ``current_*``: the record's state on the
    portal. ``itc_document_date``: date of the invoice / debit note the ITC pertains to (for amendments the
    original's), for the section 16(4) warning.
    """

    section: Section
    twob_period: dt.date | None = None
    frequency: str = Frequency.MONTHLY
    state_code: str | None = None
    current_action: str = Action.NO_ACTION
    amendment_direction: Direction | None = None
    original_action: str | None = None
    original_3b_filed: bool | None = None
    gstr3b_filed: bool = False
    pending_blocked: bool = False
    remarks_blocked: bool = False
    itc_red_blocked: bool = False
    tax: TaxHeads = TaxHeads()
    supplier_filed: bool = True
    supplier_filing_date: dt.date | None = None
    current_remarks: str = ""
    current_itc_red_req: str = ""
    current_decl: TaxHeads | None = None
    itc_document_date: dt.date | None = None

    @property
    def doc_kind(self) -> DocKind:
        return SECTIONS[self.section].kind

    @property
    def is_amendment(self) -> bool:
        return SECTIONS[self.section].amendment


@dataclass(frozen=True, slots=True)
class Context:
    today: dt.date
    rules: RuleSet = DEFAULT_RULES


@dataclass(frozen=True, slots=True)
class Notice:
    code: NoticeCode
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed`` with ``code`` "ok", or refused with a stable :class:`Reason` code, a message fit for a tax
    professional and the request ``field`` it is about (action, remarks, itc_red_req, decl_igst, ...).
    ``declaration`` is the normalised declaration to send (None = none given); ``pending_deadline`` the last day a
    specified record may stay Pending (when that limit applies)."""

    allowed: bool
    code: str
    message: str
    field: str | None = None
    action: Action | None = None
    remarks: str = ""
    declaration: Declaration | None = None
    pending_deadline: dt.date | None = None
    warnings: tuple[Notice, ...] = ()
    assumptions: tuple[Notice, ...] = ()


# --- helpers that callers use too ----------------------------------------------------------------------------


def amendment_direction(
    *,
    amended_tax: Decimal,
    original_tax: Decimal | None,
    amended_taxable: Decimal | None = None,
    original_taxable: Decimal | None = None,
) -> Direction | None:
    """UP / DOWN / UNCHANGED comparing total tax, then taxable value; None when the original is unknown."""
    if original_tax is None:
        return None
    if amended_tax != original_tax:
        return Direction.UP if amended_tax > original_tax else Direction.DOWN
    if amended_taxable is not None and original_taxable is not None and amended_taxable != original_taxable:
        return Direction.UP if amended_taxable > original_taxable else Direction.DOWN
    return Direction.UNCHANGED


def match_record(facts: DocumentFacts, table: Iterable[RecordRule]) -> tuple[RecordRule | None, bool]:
    """The first row of ``table`` that the record surely fits → (row, False); else the first it may fit given
    unknown facts → (row, True); else (None, False)."""
    maybe: RecordRule | None = None
    for row in table:
        if facts.section not in row.sections:
            continue
        unknown = False
        for wanted, known in (
            (row.direction, facts.amendment_direction),
            (row.original_actions, facts.original_action),
            (row.original_3b_filed, facts.original_3b_filed),
        ):
            if wanted is None:
                continue
            if known is None:
                unknown = True
                continue
            fits = known in wanted if isinstance(wanted, frozenset) else known == wanted
            if not fits:
                break
        else:
            if not unknown:
                return row, False
            maybe = maybe or row
    return maybe, maybe is not None


def pending_deadline(
    twob_period: dt.date,
    frequency: str = Frequency.MONTHLY,
    state_code: str | None = None,
    *,
    rules: RuleSet = DEFAULT_RULES,
) -> dt.date:
    """Last day a specified record of GSTR-2B period ``twob_period`` may be kept Pending (docs/rules/ims-actions.md §2.3, from
    the October-2025 period): the GSTR-3B due date of the return period ``rules.pending_limit_periods`` after
    it (one month, or one quarter for QRMP). E.g. 2B October 2025, monthly → 20-12-2025."""
    later = next_return_period(twob_period, frequency, rules.pending_limit_periods)
    return gstr3b_due_date(later, frequency, state_code, rules=rules)


def normalise_declaration(
    itc_red_req: str | None, amounts: TaxHeads | dict[str, Decimal | None] | None, tax: TaxHeads
) -> Declaration | None:
    """Normalise a declaration against the document's ``tax``; None when nothing was declared.

    Raises :class:`DeclarationError` when a head is negative or above the document's tax for that head, CGST
    differs from SGST, or the flag contradicts the amounts. "Y" without amounts = full; amounts equal to the
    document's tax = full; all zero or "N" = nil; a document with no tax gives nil.
    """
    given = _given_heads(amounts)
    flag = (itc_red_req or "").strip().upper() or None
    if flag not in (None, "Y", "N"):
        raise DeclarationError(
            Reason.DECLARATION_INVALID, "itc_red_req", "Whether ITC needs to be reduced must be Y or N."
        )
    if flag is None and not given:
        return None
    for head, value in given.items():
        if value < 0:
            raise DeclarationError(
                Reason.DECLARATION_INVALID,
                f"decl_{head}",
                f"The {HEAD_LABELS[head]} to be reduced cannot be negative.",
            )
        limit = getattr(tax, head)
        if value > limit:
            raise DeclarationError(
                Reason.DECLARATION_EXCEEDS_TAX,
                f"decl_{head}",
                f"The {HEAD_LABELS[head]} to be reduced ({value}) is more than the {HEAD_LABELS[head]} on the "
                f"document ({limit}).",
            )
    if given and given.get("cgst", ZERO) != given.get("sgst", ZERO):
        raise DeclarationError(
            Reason.DECLARATION_CGST_SGST_DIFFER,
            "decl_sgst",
            f"CGST and SGST/UTGST to be reduced must be equal (CGST {given.get('cgst', ZERO)}, "
            f"SGST/UTGST {given.get('sgst', ZERO)}).",
        )
    reduction = TaxHeads(**{h: given.get(h, ZERO) for h in HEADS}) if given else tax
    positive = reduction.total > 0
    if flag == "N" and given and positive:
        raise DeclarationError(
            Reason.DECLARATION_INCONSISTENT,
            "itc_red_req",
            "ITC reduction is declared as not required (N) but amounts to be reduced were given.",
        )
    if flag == "Y" and given and not positive:
        raise DeclarationError(
            Reason.DECLARATION_INCONSISTENT,
            "itc_red_req",
            "ITC reduction is declared as required (Y) but every amount is zero: give the amounts, leave them "
            "empty for a full reduction, or declare N.",
        )
    if flag == "N" or not positive:
        return Declaration(DeclarationKind.NIL, TaxHeads())
    if reduction == tax:
        return Declaration(DeclarationKind.FULL, tax)
    return Declaration(DeclarationKind.PARTIAL, reduction)


class DeclarationError(ValueError):
    def __init__(self, code: Reason, field_name: str, message: str):
        super().__init__(message)
        self.code, self.field, self.message = code, field_name, message


def portal_declaration(
    action: str, itc_red_req: str | None, declared: TaxHeads | None, tax: TaxHeads
) -> Declaration | None:
    """The declaration a record downloaded from the portal carries (docs/rules/ims-actions.md §4.4): what it says,
    and for an accepted record that says nothing, a full reduction (the portal reads a missing answer as Yes; a
    non-specified record carries none anyway, so the caller asks only about specified ones). None: no declaration.
    An unreadable stored declaration counts as none."""
    try:
        declaration = normalise_declaration(itc_red_req or None, declared, tax)
    except DeclarationError:
        return None
    if declaration is None and str(action).strip().upper() == Action.ACCEPTED:
        return Declaration(DeclarationKind.FULL, tax)
    return declaration


def requires_declaration(facts: DocumentFacts, rules: RuleSet = DEFAULT_RULES) -> bool:
    """Whether an Accept of this record must carry the ITC-reduction answer (``itcRedReq``) to the portal: a
    specified record (or one that may be, its original not being known) of a GSTR-2B period from the cut-over, or
    of a period not known yet (docs/rules/ims-actions.md §4.4). The push never sends such an Accept without it."""
    row, _assumed = match_record(facts, rules.itc_reduction_records)
    if row is None:
        return False
    if facts.twob_period is None:
        return True
    return return_period(facts.twob_period, facts.frequency) >= rules.itc_reduction_from


class Source(StrEnum):
    """Where a suggested head comes from (docs/rules/ims-actions.md §4.4)."""

    SUPPLIER = "supplier"  # the books agree within the tolerance: the supplier's value
    BOOKS = "books"  # the books are lower: the book value
    CAPPED = "capped"  # the books are higher: capped at the document's tax
    MIRRORS_CGST = "mirrors_cgst"  # SGST/UTGST always equals CGST


SOURCE_LABELS = {
    Source.SUPPLIER: "the supplier's value (the books agree within ₹1)",
    Source.BOOKS: "the book value (lower than the supplier's)",
    Source.CAPPED: "the document's tax (the books are higher)",
    Source.MIRRORS_CGST: "equal to CGST",
}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A declaration suggested from the purchase register: the normalised declaration and, per head, where its value
    came from (:class:`Source`). Only a person (or an auto rule that says so) applies it."""

    declaration: Declaration
    amounts: TaxHeads
    sources: tuple[tuple[str, Source], ...]

    @property
    def request(self) -> dict[str, str]:
        """The declaration as action-request fields (``itc_red_req``, ``decl_*``) that apply it."""
        decl = self.declaration
        if decl.kind == DeclarationKind.NIL:
            return {"itc_red_req": "N"}
        if decl.kind == DeclarationKind.FULL:
            return {"itc_red_req": "Y"}
        return {"itc_red_req": "Y", **{f"decl_{h}": str(getattr(self.amounts, h)) for h in HEADS}}


def suggest_declaration(*, tax: TaxHeads, books: TaxHeads, rules: RuleSet = DEFAULT_RULES) -> Suggestion:
    """The ITC to reduce on a specified record, suggested from the reconciled purchase-register line
    (docs/rules/ims-actions.md §4.4): per head, a book value within ``rules.suggestion_tolerance`` of the
    supplier's (the document's) takes the supplier's; a lower one is used as it is; a higher one is capped at the
    document's tax. SGST/UTGST mirrors CGST. Book values are taken without sign (a purchase return may be booked
    negative). Money is Decimal throughout."""
    values: dict[str, Decimal] = {}
    sources: list[tuple[str, Source]] = []
    for head in ("igst", "cgst", "cess"):
        supplier, book = getattr(tax, head), abs(getattr(books, head))
        if abs(book - supplier) <= rules.suggestion_tolerance:
            value, source = supplier, Source.SUPPLIER
        elif book < supplier:
            value, source = book, Source.BOOKS
        else:
            value, source = supplier, Source.CAPPED
        values[head] = value.quantize(_CENT)
        sources.append((head, source))
    # SGST mirrors CGST; both stay within the document's SGST too (they are equal on any real document).
    values["sgst"] = values["cgst"] = min(values["cgst"], tax.sgst)
    sources.append(("sgst", Source.MIRRORS_CGST))
    amounts = TaxHeads(**values)
    declaration = normalise_declaration(None, amounts, tax) or Declaration(DeclarationKind.NIL, TaxHeads())
    return Suggestion(declaration, amounts, tuple(sorted(sources, key=lambda s: HEADS.index(s[0]))))


def deemed_action(facts: DocumentFacts, context: Context) -> Action:
    """The action GSTR-2B applies to the record: No action is deemed accepted; a specified record kept Pending
    past its one-period deadline (from October 2025) is deemed accepted too (docs/rules/ims-actions.md §3)."""
    current = Action(facts.current_action)
    if current == Action.NO_ACTION:
        return Action.ACCEPTED
    if current == Action.PENDING:
        refusal, _deadline = _Evaluator(ActionRequest(Action.PENDING), context)._pending_limit(facts, [])
        if refusal is not None and refusal.code == Reason.PENDING_DEADLINE_PASSED:
            return Action.ACCEPTED
    return current


def evaluate(request: ActionRequest, facts: DocumentFacts, context: Context) -> Decision:
    """May ``request`` be applied to the record described by ``facts`` on ``context.today``?"""
    return _Evaluator(request, context).run(facts)


def evaluate_many(request: ActionRequest, facts: Iterable[DocumentFacts], context: Context) -> list[Decision]:
    """:func:`evaluate` for many records (a bulk action): the request is parsed once and the per-period
    verdicts (cut-over, deadline) are computed once per (2B period, frequency, state)."""
    evaluator = _Evaluator(request, context)
    return [evaluator.run(f) for f in facts]


# --- implementation ------------------------------------------------------------------------------------------


def _given_heads(amounts: TaxHeads | dict[str, Decimal | None] | None) -> dict[str, Decimal]:
    if amounts is None:
        return {}
    if isinstance(amounts, TaxHeads):
        return {h: getattr(amounts, h) for h in HEADS}
    return {h: v for h, v in amounts.items() if v is not None}


def _amount(value: Decimal | str | int | None) -> Decimal | None:
    """Parse a declared amount; raises ValueError with a message. Floats are refused (money is Decimal)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise ValueError("is not an amount")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
        if not amount.is_finite() or amount != amount.quantize(_CENT):
            raise ValueError("must be an amount in rupees with at most 2 decimals")
    except InvalidOperation:
        raise ValueError("is not an amount") from None
    return amount.quantize(_CENT)


# Facts a decision without a declaration depends on: all but the amounts and the declaration state.
_DECLARATION_FIELDS = frozenset({"tax", "itc_red_blocked", "current_itc_red_req", "current_decl"})
_undeclared_key = attrgetter(*(f.name for f in fields(DocumentFacts) if f.name not in _DECLARATION_FIELDS))


def _period_text(period: dt.date, frequency: str) -> str:
    return quarter_label(period) if frequency == Frequency.QRMP else period_label(period)


def _refuse(code: Reason, message: str, field_name: str = "action", **extra: Any) -> Decision:
    return Decision(False, code.value, message, field_name, **extra)


class _Evaluator:
    """Parses the request once; evaluates records one by one, caching per-period verdicts."""

    def __init__(self, request: ActionRequest, context: Context):
        self.request, self.context, self.rules = request, context, context.rules
        self._windows: dict[tuple[dt.date, str, str | None], tuple[bool, dt.date, bool]] = {}
        self._decisions: dict[object, Decision] = {}
        self.action: Action | None = None
        self.remarks = ""
        self.flag: str | None = None
        self.amounts: dict[str, Decimal | None] = {}
        self.declaring = False
        self.default: str | None = None
        self._specified_sections = frozenset().union(*(r.sections for r in self.rules.itc_reduction_records))
        self.error = self._parse()

    # request-level checks (the same for every record)
    def _parse(self) -> Decision | None:
        req, rules = self.request, self.rules
        try:
            self.action = Action(str(req.action).strip().upper())
        except ValueError:
            return _refuse(
                Reason.INVALID_ACTION,
                f"Action {req.action!r} is not one of A (accept), R (reject), "
                "P (pending) or N (reset to no action).",
            )
        self.remarks = (req.remarks or "").strip()
        if self.remarks and self.action not in rules.remarks_actions:
            return _refuse(
                Reason.REMARKS_WITH_RESET,
                "Remarks cannot be saved when resetting a record to no action.",
                "remarks",
            )
        if len(self.remarks) > rules.remarks_max_length:
            return _refuse(
                Reason.REMARKS_TOO_LONG,
                f"Remarks may have at most {rules.remarks_max_length} "
                f"characters ({len(self.remarks)} given).",
                "remarks",
            )
        for head in HEADS:
            try:
                self.amounts[head] = _amount(getattr(req, f"decl_{head}"))
            except ValueError as exc:
                return _refuse(
                    Reason.DECLARATION_INVALID,
                    f"The {HEAD_LABELS[head]} to be reduced ({getattr(req, f'decl_{head}')!r}) {exc}.",
                    f"decl_{head}",
                )
        self.flag = (req.itc_red_req or "").strip().upper() or None
        if self.flag not in (None, "Y", "N"):
            return _refuse(
                Reason.DECLARATION_INVALID, "Whether ITC needs to be reduced must be Y or N.", "itc_red_req"
            )
        self.declaring = self.has_declaration
        if self.declaring and self.action != Action.ACCEPTED:
            return _refuse(
                Reason.DECLARATION_ACCEPT_ONLY,
                "An ITC-reduction declaration can be made only when accepting a record.",
                "itc_red_req",
            )
        self.default = (req.itc_red_default or "").strip().upper() or None
        if self.default not in (None, "Y", "N"):
            return _refuse(
                Reason.DECLARATION_INVALID, "Whether ITC needs to be reduced must be Y or N.", "itc_red_req"
            )
        return None

    @property
    def has_declaration(self) -> bool:
        return self.flag is not None or any(v is not None for v in self.amounts.values())

    def run(self, facts: DocumentFacts) -> Decision:
        """Decisions are memoised on the facts they depend on (all of them when a declaration is made; without
        one, the amounts and declaration state do not matter), so a bulk action over many similar records
        decides each kind of record once."""
        if self.error is not None:
            return self.error
        # An Accept of a record that may be specified depends on the declaration state (§4.4) even without one.
        accepting = self.action == Action.ACCEPTED and facts.section in self._specified_sections
        key = facts if self.declaring or accepting else _undeclared_key(facts)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self._decide(facts)
        return decision

    def _decide(self, facts: DocumentFacts) -> Decision:
        notes: list[Notice] = []
        refusal, deadline, declaration = self._check(facts, notes)
        if refusal is not None:
            return replace(refusal, assumptions=tuple(notes))
        return Decision(
            allowed=True,
            code=Reason.OK.value,
            message="Allowed.",
            action=self.action,
            remarks=self.remarks,
            declaration=declaration,
            pending_deadline=deadline,
            warnings=tuple(self._warnings(facts, deadline)),
            assumptions=tuple(notes),
        )

    def _check(
        self, facts: DocumentFacts, notes: list[Notice]
    ) -> tuple[Decision | None, dt.date | None, Declaration | None]:
        """(refusal or None, pending deadline, normalised declaration); assumptions go to ``notes``."""
        if facts.gstr3b_filed and facts.current_action != Action.PENDING:
            period = facts.twob_period
            when = (
                f" for {_period_text(return_period(period, facts.frequency), facts.frequency)}"
                if period
                else ""
            )
            return (
                _refuse(
                    Reason.LEFT_IMS,
                    f"The GSTR-3B{when} has been filed: this record has left IMS and its "
                    "action can no longer be changed.",
                ),
                None,
                None,
            )
        deadline = None
        info = SECTIONS[facts.section]
        if self.action is not None and self.action.value not in info.actions:
            return (
                _refuse(
                    Reason.ACTION_NOT_ALLOWED,
                    f"A {info.label.lower()} cannot be rejected: accept it or keep it pending (the Import of "
                    "Goods section allows only these).",
                ),
                None,
                None,
            )
        if self.action == Action.PENDING and info.is_isd and not self.rules.isd_pending_allowed:
            return (
                _refuse(
                    Reason.PENDING_NOT_ALLOWED,
                    "Pending is not allowed for ISD documents under the rules this product applies. Accept or "
                    "reject it.",
                ),
                None,
                None,
            )
        if self.action == Action.PENDING:
            if facts.pending_blocked:
                return (
                    _refuse(
                        Reason.PENDING_BLOCKED_BY_PORTAL,
                        "The GST portal does not allow Pending for this "
                        "record now (ispendactblocked = Y). Accept or reject it.",
                    ),
                    None,
                    None,
                )
            refusal, deadline = self._pending_limit(facts, notes)
            if refusal is not None:
                return refusal, deadline, None
        if self.remarks and facts.remarks_blocked and self.remarks != facts.current_remarks.strip():
            return (
                _refuse(
                    Reason.REMARKS_BLOCKED,
                    "The GST portal does not allow remarks on this record now (isRemarksBlocked = Y).",
                    "remarks",
                ),
                deadline,
                None,
            )
        if self.declaring:
            return self._declaration(facts, notes)
        if self.action == Action.ACCEPTED:
            return self._answer(facts, notes)
        return None, deadline, None

    def _twob_period(self, facts: DocumentFacts, notes: list[Notice]) -> dt.date:
        if facts.twob_period is not None:
            return return_period(facts.twob_period, facts.frequency)
        if facts.supplier_filing_date is not None:
            guess = twob_period_of_filing(facts.supplier_filing_date, iff=True, rules=self.rules)
            basis = f"from the supplier's filing date {format_portal_date(facts.supplier_filing_date)}"
        else:
            guess = open_twob_period(self.context.today, rules=self.rules)
            basis = "the earliest period still open"
        guess = return_period(guess, facts.frequency)
        notes.append(
            Notice(
                NoticeCode.ASSUMED_TWOB_PERIOD,
                f"The GSTR-2B period is not known yet; assumed "
                f"{_period_text(guess, facts.frequency)} ({basis}).",
            )
        )
        return guess

    def _window(self, period: dt.date, frequency: str, state: str | None) -> tuple[bool, dt.date, bool]:
        """(period is from the cut-over, pending deadline, state in no QRMP group) — cached per key."""
        key = (period, frequency, state)
        hit = self._windows.get(key)
        if hit is None:
            rules = self.rules
            unknown_state = frequency == Frequency.QRMP and qrmp_due_day(state, rules=rules) is None
            hit = (
                period >= rules.pending_one_period_from,
                pending_deadline(period, frequency, state, rules=rules),
                unknown_state,
            )
            self._windows[key] = hit
        return hit

    def _pending_limit(
        self, facts: DocumentFacts, notes: list[Notice]
    ) -> tuple[Decision | None, dt.date | None]:
        """Our Pending table (§2.2): (refusal or None, deadline or None = no one-period limit)."""
        row, assumed = match_record(facts, self.rules.pending_restricted)
        if row is None:
            return None, None
        if assumed:
            notes.append(
                Notice(
                    NoticeCode.ASSUMED_SPECIFIED,
                    "The amended original is not fully known: treated "
                    f"as {row.label}, for which Pending is restricted.",
                )
            )
        period = self._twob_period(facts, notes)
        from_cutover, deadline, unknown_state = self._window(period, facts.frequency, facts.state_code)
        cutover = period_label(self.rules.pending_one_period_from)
        ptext = _period_text(period, facts.frequency)
        if not from_cutover:
            return _refuse(
                Reason.PENDING_NOT_ALLOWED,
                f"Pending is not allowed for {row.label} of a GSTR-2B "
                f"period before {cutover} (this record: {ptext}). Accept or reject it.",
            ), None
        if unknown_state:
            notes.append(
                Notice(
                    NoticeCode.ASSUMED_QRMP_DUE_DAY,
                    f"The recipient's state {facts.state_code!r} is "
                    "in no QRMP group: assumed the earlier GSTR-3B due day.",
                )
            )
        if self.context.today > deadline:
            limit = self.rules.pending_limit_periods
            span = "one tax period" if limit == 1 else f"{limit} tax periods"
            last = next_return_period(period, facts.frequency, limit)
            return _refuse(
                Reason.PENDING_DEADLINE_PASSED,
                f"From the {cutover} period, {row.label} may be kept pending for {span} only: for GSTR-2B "
                f"{ptext} that ended on {format_portal_date(deadline)} (the GSTR-3B due date for "
                f"{_period_text(last, facts.frequency)}). Accept or reject it; left without action it is "
                "deemed accepted.",
                pending_deadline=deadline,
            ), deadline
        return None, deadline

    def _declaration(
        self, facts: DocumentFacts, notes: list[Notice]
    ) -> tuple[Decision | None, dt.date | None, Declaration | None]:
        rules = self.rules
        row, assumed = match_record(facts, rules.itc_reduction_records)
        if row is None:
            return (
                _refuse(
                    Reason.DECLARATION_NOT_APPLICABLE,
                    "An ITC-reduction declaration applies only to "
                    "credit notes, upward amendments of credit notes and downward amendments of invoices "
                    "or debit notes.",
                    "itc_red_req",
                ),
                None,
                None,
            )
        if assumed:
            notes.append(
                Notice(
                    NoticeCode.ASSUMED_SPECIFIED,
                    "The amended original is not fully known: treated "
                    f"as {row.label}, which carries an ITC-reduction declaration.",
                )
            )
        period = self._twob_period(facts, notes)
        if period < rules.itc_reduction_from:
            return (
                _refuse(
                    Reason.DECLARATION_BEFORE_CUTOVER,
                    "The ITC-reduction declaration applies from the "
                    f"{period_label(rules.itc_reduction_from)} GSTR-2B period (this record: "
                    f"{_period_text(period, facts.frequency)}).",
                    "itc_red_req",
                ),
                None,
                None,
            )
        try:
            declaration = normalise_declaration(self.flag, self.amounts, facts.tax)
        except DeclarationError as exc:
            return _refuse(exc.code, exc.message, exc.field), None, None
        if facts.itc_red_blocked and declaration != self._current_declaration(facts):
            return (
                _refuse(
                    Reason.DECLARATION_BLOCKED,
                    "The GST portal does not allow changing the ITC-reduction "
                    "declaration on this record now.",
                    "itc_red_req",
                ),
                None,
                None,
            )
        if (
            rules.remarks_required_for_partial_or_nil
            and declaration is not None
            and declaration.kind != DeclarationKind.FULL
            and not self.remarks
        ):
            return (
                _refuse(
                    Reason.REMARKS_REQUIRED,
                    f"Remarks are required when declaring a {declaration.kind} reduction of ITC.",
                    "remarks",
                ),
                None,
                None,
            )
        return None, None, declaration

    def _answer(
        self, facts: DocumentFacts, notes: list[Notice]
    ) -> tuple[Decision | None, dt.date | None, Declaration | None]:
        """An Accept that declares nothing (§4.4): a specified record of a period from the cut-over gets the
        request's default answer (the portal refuses an Accept without one, IMSSAV0054); a record whose answer the
        portal locks keeps the portal's; without a default the Accept is refused. Other records need no answer."""
        rules = self.rules
        row, assumed = match_record(facts, rules.itc_reduction_records)
        if row is None:
            return None, None, None
        period_notes: list[Notice] = []
        period = self._twob_period(facts, period_notes)
        if period < rules.itc_reduction_from:
            return None, None, None
        notes.extend(period_notes)
        if assumed:
            notes.append(
                Notice(
                    NoticeCode.ASSUMED_SPECIFIED,
                    "The amended original is not fully known: treated "
                    f"as {row.label}, which carries an ITC-reduction declaration.",
                )
            )
        if facts.itc_red_blocked:
            current = self._current_declaration(facts)
            if current is not None:
                return None, None, current
        if self.default is None:
            return (
                _refuse(
                    Reason.DECLARATION_REQUIRED,
                    f"Say whether ITC needs to be reduced on {row.label}: the GST portal refuses an Accept of it "
                    "without the answer (itcRedReq, error IMSSAV0054).",
                    "itc_red_req",
                ),
                None,
                None,
            )
        if self.default == "N":
            declaration = Declaration(DeclarationKind.NIL, TaxHeads())
        else:
            declaration = Declaration(DeclarationKind.FULL, facts.tax)
        if (
            rules.remarks_required_for_partial_or_nil
            and declaration.kind == DeclarationKind.NIL
            and not self.remarks
        ):
            return (
                _refuse(
                    Reason.REMARKS_REQUIRED,
                    "Remarks are required when declaring a nil reduction of ITC.",
                    "remarks",
                ),
                None,
                None,
            )
        return None, None, declaration

    @staticmethod
    def _current_declaration(facts: DocumentFacts) -> Declaration | None:
        """The record's declaration on the portal; an accepted record without one reads as full (§4.4)."""
        return portal_declaration(
            facts.current_action, facts.current_itc_red_req, facts.current_decl, facts.tax
        )

    def _warnings(self, facts: DocumentFacts, deadline: dt.date | None) -> list[Notice]:
        out: list[Notice] = []
        action, rules = self.action, self.rules
        if action == Action.ACCEPTED and not facts.supplier_filed:
            out.append(
                Notice(
                    NoticeCode.SUPPLIER_NOT_FILED,
                    "The supplier has only saved this record, not filed "
                    "it: it reaches your GSTR-2B (and ITC) only after the supplier files.",
                )
            )
        if action == Action.REJECTED:
            if facts.doc_kind == DocKind.CREDIT_NOTE:
                out.append(
                    Notice(
                        NoticeCode.CN_REJECT_RAISES_SUPPLIER_LIABILITY,
                        "Rejecting a credit note adds "
                        "its tax back to the supplier's liability in their GSTR-3B.",
                    )
                )
            out.append(
                Notice(
                    NoticeCode.REJECT_UNDONE_ONLY_VIA_SUPPLIER,
                    "Once the GSTR-3B for this period is "
                    "filed, a rejection can be undone only by the supplier reporting the same record "
                    "again (GSTR-1A or the amendment table of a later GSTR-1/IFF).",
                )
            )
        if action == Action.NO_ACTION:
            out.append(
                Notice(
                    NoticeCode.NO_ACTION_DEEMED_ACCEPTED,
                    "A record with no action is deemed accepted when GSTR-2B is generated.",
                )
            )
        if action == Action.PENDING:
            if deadline is not None:
                out.append(
                    Notice(
                        NoticeCode.PENDING_UNTIL,
                        f"It may stay pending until "
                        f"{format_portal_date(deadline)}; left without action after that it is deemed "
                        "accepted.",
                    )
                )
            elif facts.itc_document_date is not None and facts.doc_kind != DocKind.CREDIT_NOTE:
                limit = section_16_4_last_date(facts.itc_document_date, rules=rules)
                if (limit - self.context.today).days <= rules.itc_limit_warn_days:
                    out.append(
                        Notice(
                            NoticeCode.ITC_TIME_LIMIT_NEAR,
                            f"The section 16(4) time limit for this "
                            f"ITC is {format_portal_date(limit)}: a record still pending then loses "
                            "its ITC.",
                        )
                    )
        return out


__all__ = [
    "HEADS",
    "ActionRequest",
    "Context",
    "Decision",
    "Declaration",
    "DeclarationError",
    "DeclarationKind",
    "Direction",
    "DocumentFacts",
    "Notice",
    "NoticeCode",
    "Reason",
    "Source",
    "Suggestion",
    "TaxHeads",
    "amendment_direction",
    "deemed_action",
    "evaluate",
    "evaluate_many",
    "match_record",
    "normalise_declaration",
    "pending_deadline",
    "portal_declaration",
    "requires_declaration",
    "suggest_declaration",
]

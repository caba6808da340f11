"""From document rows to the rules' :class:`~gst.rules.DocumentFacts`, and from a rule decision to the
document's new local state. Shared by the preview (rows GROUP BY these columns in SQL) and the apply path (one row
per document): both read the same columns, so the preview and the result agree.

Our readings (the rules leave them open; docs/rules/ims-actions.md §9):

* the rules' ``current_action`` is the portal's action (what 3B filing and the portal's flags refer to);
* the original's action is its effective one (local if set, else portal's);
* a request describes the whole desired state: action, remarks and declaration. When it equals what the portal
  already has, nothing is left to push (the local fields are cleared); when it equals the local state, the
  document is "already so" and is neither changed nor audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractYear
from django.db.models.lookups import GreaterThan, LessThan

from gst.duedates import return_period
from gst.rule_data import DEFAULT_RULES, Direction
from gst.rules import HEADS, ActionRequest, Decision, DocumentFacts, TaxHeads
from gst.sections import SECTIONS, Action, DocKind, Section

ZERO = Decimal("0.00")
CREDIT_SECTIONS = frozenset(s.value for s in Section if SECTIONS[s].kind == DocKind.CREDIT_NOTE)
LOCAL_FIELDS = ("local_action", "local_remarks", "local_itc_red_req", *(f"local_decl_{h}" for h in HEADS))
NO_DECL = (None, None, None, None)
# Sections whose records may carry an ITC-reduction declaration (docs/rules/ims-actions.md §4.1).
SPECIFIED_SECTIONS = sorted({s.value for row in DEFAULT_RULES.itc_reduction_records for s in row.sections})

# How a request touches the declaration: DECLARE (it makes one: the amounts of every document matter), ANSWER (an
# Accept that makes none: specified records get the request's default answer, docs/rules/ims-actions.md §4.4), or
# "" (no Accept, no declaration: the declaration columns do not matter).
DECLARE, ANSWER = "declare", "answer"


def decl_mode(request: ActionRequest) -> str:
    declaring = request.itc_red_req not in (None, "") or any(
        getattr(request, f"decl_{h}") not in (None, "") for h in HEADS
    )
    if declaring:
        return DECLARE
    return ANSWER if str(request.action).strip().upper() == Action.ACCEPTED else ""


@dataclass(frozen=True, slots=True)
class State:
    """A document's local action state: what the columns ``local_*`` hold."""

    action: str | None
    remarks: str = ""
    itc_red_req: str = ""
    decl: tuple[Decimal | None, ...] = NO_DECL

    def as_columns(self) -> dict[str, object]:
        return dict(zip(LOCAL_FIELDS, (self.action, self.remarks, self.itc_red_req, *self.decl), strict=True))


CLEAR = State(None)


def _tax_total(prefix: str = ""):
    return F(f"{prefix}igst") + F(f"{prefix}cgst") + F(f"{prefix}sgst") + F(f"{prefix}cess")


def fact_columns(remarks: str, *, with_original: bool = True) -> dict[str, object]:
    """The computed columns (besides plain ones) the rules need; ``remarks`` is the request's (stripped).
    ``with_original=False`` is for documents known to have no linked original: no join, the original's columns
    are NULL."""
    tax, otax = _tax_total(), _tax_total("original__")
    if not with_original:
        none = {"output_field": CharField()}
        original = {
            "direction": Value(None, **none),
            "orig_action": Value(None, **none),
            "orig_twob": Value(None, output_field=DateField()),
        }
    else:
        original = {
            "direction": _direction(tax, otax),
            "orig_action": Coalesce(F("original__local_action"), F("original__portal_action")),
            "orig_twob": F("original__twob_period"),
        }
    return {
        **original,
        # The supplier's filing date matters only to guess a GSTR-2B period that is not known yet.
        "nf_date": Case(When(twob_period__isnull=True, then=F("supplier_filing_date")), default=None),
        # Financial year of the document the ITC pertains to (an amendment's original): the section 16(4) limit.
        "itc_fy": Case(
            When(
                is_amendment=True,
                orig_doc_date__isnull=False,
                then=ExtractYear("orig_doc_date")
                - Case(When(orig_doc_date__month__lt=4, then=Value(1)), default=Value(0)),
            ),
            default=F("fy"),
            output_field=IntegerField(),
        ),
        "p_rem_eq": ExpressionWrapper(Q(portal_remarks=remarks), output_field=BooleanField()),
        "l_rem_eq": ExpressionWrapper(Q(local_remarks=remarks), output_field=BooleanField()),
        "l_rem_empty": ExpressionWrapper(Q(local_remarks=""), output_field=BooleanField()),
        "cur_remarks": Case(When(remarks_blocked=True, then=F("portal_remarks")), default=Value("")),
    }


def _amounts_needed() -> Q:
    """The documents whose amounts an Accept without a declaration (ANSWER) needs: specified records whose
    declaration is locked or already holds amounts. The rest take the default answer, which needs no amount (and
    their declaration amounts are NULL anyway)."""
    has_amounts = Q(itc_red_blocked=True)
    for side in ("portal", "local"):
        for h in HEADS:
            has_amounts |= Q(**{f"{side}_decl_{h}__isnull": False})
    return Q(section__in=SPECIFIED_SECTIONS) & has_amounts


def grouping(qs: QuerySet, mode: str) -> list[tuple[QuerySet, tuple[str, ...]]]:
    """``qs`` (annotated with :func:`fact_columns`) as the parts to group by the rule columns, each with its
    columns. For ANSWER the few documents whose amounts matter are grouped with the declaration columns and the rest
    without them, so a bulk accept groups into a few kinds instead of one per amount (docs/performance.md §1)."""
    if mode != ANSWER:
        return [(qs, key_columns(mode))]
    needed = _amounts_needed()
    return [(qs.filter(needed), KEY_COLUMNS + DECL_COLUMNS), (qs.exclude(needed), KEY_COLUMNS)]


def _get(row, name: str):
    """A declaration column of a row (None for a row grouped without them: its amounts do not matter)."""
    return getattr(row, name, None)


def _direction(tax, otax):
    """Amendment direction by total tax, then taxable value (rules.amendment_direction); NULL without original."""
    taxable, otaxable = F("taxable_value"), F("original__taxable_value")
    return Case(
        When(original__isnull=True, then=Value(None)),
        When(GreaterThan(tax, otax), then=Value(Direction.UP.value)),
        When(LessThan(tax, otax), then=Value(Direction.DOWN.value)),
        When(GreaterThan(taxable, otaxable), then=Value(Direction.UP.value)),
        When(LessThan(taxable, otaxable), then=Value(Direction.DOWN.value)),
        default=Value(Direction.UNCHANGED.value),
        output_field=CharField(),
    )


KEY_COLUMNS = (
    "section",
    "twob_period",
    "registration_id",
    "portal_action",
    "local_action",
    "pending_blocked",
    "remarks_blocked",
    "itc_red_blocked",
    "supplier_filing_status",
    "portal_itc_red_req",
    "local_itc_red_req",
    "nf_date",
    "direction",
    "orig_action",
    "orig_twob",
    "itc_fy",
    "p_rem_eq",
    "l_rem_eq",
    "l_rem_empty",
    "cur_remarks",
)
DECL_COLUMNS = (
    "igst",
    "cgst",
    "sgst",
    "cess",
    *(f"portal_decl_{h}" for h in HEADS),
    *(f"local_decl_{h}" for h in HEADS),
)


def key_columns(mode: str | bool) -> tuple[str, ...]:
    """The rule columns of one document: with the declaration columns for DECLARE or ANSWER (or True). Groups of
    many documents: :func:`grouping`."""
    return KEY_COLUMNS + DECL_COLUMNS if mode else KEY_COLUMNS


class FactsBuilder:
    """Row (with :data:`KEY_COLUMNS`) → DocumentFacts, given the tenant's GSTINs and filed GSTR-3B periods."""

    def __init__(
        self, *, registrations: dict[int, tuple[str, str]], filed: set[tuple[int, dt.date]], declaring: bool
    ):
        self.registrations, self.filed, self.declaring = registrations, filed, declaring

    def _filed(self, reg_id: int, period: dt.date | None, frequency: str) -> bool:
        return period is not None and (reg_id, return_period(period, frequency)) in self.filed

    def facts(self, row) -> DocumentFacts:
        frequency, state = self.registrations[row.registration_id]
        has_orig = row.direction is not None
        tax, current_decl = TaxHeads(), None
        if self.declaring:
            tax = TaxHeads(*(_get(row, h) or ZERO for h in HEADS))
            portal = [_get(row, f"portal_decl_{h}") for h in HEADS]
            if any(v is not None for v in portal):
                current_decl = TaxHeads(*(v if v is not None else ZERO for v in portal))
        return DocumentFacts(
            section=Section(row.section),
            twob_period=row.twob_period,
            frequency=frequency,
            state_code=state,
            current_action=row.portal_action,
            amendment_direction=Direction(row.direction) if has_orig else None,
            original_action=row.orig_action if has_orig else None,
            original_3b_filed=self._filed(row.registration_id, row.orig_twob, frequency)
            if has_orig
            else None,
            gstr3b_filed=self._filed(row.registration_id, row.twob_period, frequency),
            pending_blocked=row.pending_blocked,
            remarks_blocked=row.remarks_blocked,
            itc_red_blocked=row.itc_red_blocked,
            tax=tax,
            supplier_filed=row.supplier_filing_status == "filed",
            supplier_filing_date=row.nf_date,
            current_remarks=row.cur_remarks or "",
            current_itc_red_req=row.portal_itc_red_req if self.declaring else "",
            current_decl=current_decl,
            itc_document_date=dt.date(row.itc_fy, 4, 1) if row.itc_fy else None,
        )


def wanted_state(request: ActionRequest, decision: Decision) -> State:
    """The state an allowed decision asks for (before comparing it with the portal's)."""
    action = decision.action or Action(request.action)
    if action == Action.NO_ACTION:
        return State(Action.NO_ACTION.value)
    decl = decision.declaration
    if decl is None:
        return State(action.value, decision.remarks)
    amounts = tuple(getattr(decl.declared, h) for h in HEADS) if decl.declared is not None else NO_DECL
    return State(action.value, decision.remarks, decl.itc_red_req, amounts)


def _decl_of(row, prefix: str, declaring: bool) -> tuple:
    if not declaring:
        return NO_DECL
    return tuple(_get(row, f"{prefix}_decl_{h}") for h in HEADS)


def new_local_state(row, wanted: State, declaring: bool) -> State:
    """What the local columns become: cleared when ``wanted`` is what the portal already has (a reset: when the
    portal has no action), else ``wanted``. ``row.p_rem_eq`` compares the portal's remarks with the request's. An
    accepted record downloaded without an answer reads as a full reduction (docs/rules/ims-actions.md §4.4), so
    accepting it again with a full reduction leaves nothing to push."""
    if wanted.action == Action.NO_ACTION:
        return CLEAR if row.portal_action == Action.NO_ACTION else wanted
    portal_decl = _decl_of(row, "portal", declaring)
    portal_red = row.portal_itc_red_req
    if (
        not portal_red
        and wanted.itc_red_req
        and row.portal_action == Action.ACCEPTED
        and portal_decl == NO_DECL
    ):
        portal_red = "Y"
    same_as_portal = (
        row.portal_action == wanted.action
        and row.p_rem_eq
        and portal_red == wanted.itc_red_req
        and (not declaring or portal_decl == wanted.decl)
    )
    return CLEAR if same_as_portal else wanted


def is_current(row, state: State, declaring: bool) -> bool:
    """Whether the document's local columns already hold ``state`` (remarks compared in SQL: ``l_rem_eq`` with the
    request's remarks, ``l_rem_empty`` with none)."""
    if row.local_action != state.action or row.local_itc_red_req != state.itc_red_req:
        return False
    if not (row.l_rem_empty if state.remarks == "" else row.l_rem_eq):
        return False
    return not declaring or _decl_of(row, "local", True) == state.decl


def itc_sign(section: str) -> int:
    """Credit notes reduce ITC (the portal reports their amounts as positive)."""
    return -1 if section in CREDIT_SECTIONS else 1


def count_notices(target: dict[str, dict], decision: Decision, n: int) -> None:
    for notice in decision.warnings:
        entry = target.setdefault(notice.code.value, {"message": notice.message, "count": 0})
        entry["count"] += n


def heads_zero() -> dict[str, Decimal]:
    return {h: ZERO for h in HEADS}


def sum_heads(rows: Iterable[dict[str, Decimal]]) -> dict[str, Decimal]:
    out = heads_zero()
    for r in rows:
        for h in HEADS:
            out[h] += r[h]
    return out

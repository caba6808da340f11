"""The ITC-reduction declaration (docs/rules/ims-actions.md §4): which records carry it, from which period, Accept only, the
head limits, CGST = SGST, itcRedReq semantics, the portal's block flag and the remarks switch. Pure: no database."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gst.rule_data import DEFAULT_RULES, Direction
from gst.rules import (
    ActionRequest,
    Declaration,
    DeclarationError,
    DeclarationKind,
    NoticeCode,
    Reason,
    TaxHeads,
    evaluate,
    evaluate_many,
    normalise_declaration,
)

from .helpers import INTER, INTRA, SEP_2025, D, facts, on

TODAY = on(D(2025, 11, 20))
FULL = ActionRequest("A", itc_red_req="Y")
UP, DOWN, SAME = Direction.UP, Direction.DOWN, Direction.UNCHANGED

# §2.3 "specified records": credit notes, upward amendments of CN, downward amendments of invoices / debit notes
# (categories B2BCN, B2BCNA, B2BA, B2BDNA). (section, amendment direction, carries a declaration?)
TABLE_2_3 = [
    ("b2bcn", None, True),
    ("b2bcna", UP, True),
    ("b2ba", DOWN, True),
    ("b2bdna", DOWN, True),
    ("b2bcna", DOWN, False),
    ("b2bcna", SAME, False),
    ("b2ba", UP, False),
    ("b2bdna", UP, False),
    ("b2ba", SAME, False),
    ("b2b", None, False),
    ("b2bdn", None, False),
    ("ecom", None, False),
    ("ecoma", DOWN, False),
]


@pytest.mark.parametrize(("section", "direction", "specified"), TABLE_2_3)
def test_table_2_3_declaration_only_on_specified_records(section, direction, specified):
    decision = evaluate(FULL, facts(section, amendment_direction=direction), TODAY)
    if specified:
        assert decision.allowed, decision.message
        assert decision.declaration == Declaration(DeclarationKind.FULL, INTRA)
        assert decision.assumptions == ()
    else:
        assert (decision.allowed, decision.code, decision.field) == (
            False,
            Reason.DECLARATION_NOT_APPLICABLE,
            "itc_red_req",
        )


@pytest.mark.parametrize(("section", "direction", "specified"), [r for r in TABLE_2_3 if r[2]])
def test_declaration_applies_from_the_oct_2025_2b_period_only(section, direction, specified):
    decision = evaluate(FULL, facts(section, amendment_direction=direction, twob_period=SEP_2025), TODAY)
    assert decision.code == Reason.DECLARATION_BEFORE_CUTOVER
    assert "Oct 2025" in decision.message
    assert "Sep 2025" in decision.message


@pytest.mark.parametrize("action", ["R", "P", "N"])
def test_declaration_only_with_accept(action):
    decision = evaluate(ActionRequest(action, itc_red_req="N"), facts("b2bcn"), TODAY)
    assert (decision.allowed, decision.code) == (False, Reason.DECLARATION_ACCEPT_ONLY)


def test_accept_of_a_specified_record_without_an_answer_is_refused_as_the_portal_would():
    decision = evaluate(ActionRequest("A"), facts("b2bcn"), TODAY)
    assert decision.code == Reason.DECLARATION_REQUIRED
    assert decision.field == "itc_red_req"
    assert "IMSSAV0054" in decision.message


def test_amendment_with_unknown_direction_may_declare_and_the_decision_says_it_assumed():
    decision = evaluate(FULL, facts("b2ba", amendment_direction=None), TODAY)
    assert decision.allowed
    assert [a.code for a in decision.assumptions] == [NoticeCode.ASSUMED_SPECIFIED]


# --- itcRedReq semantics and classification ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "tax", "kind", "reduction", "itc_red_req", "declared"),
    [
        # "Y" with no amounts = full; the portal omits the values
        (ActionRequest("A", itc_red_req="Y"), INTRA, "full", INTRA, "Y", None),
        # amounts equal to the document's tax = full, sent as "Y" without values
        (ActionRequest("A", decl_cgst="90", decl_sgst="90.00"), INTRA, "full", INTRA, "Y", None),
        (
            ActionRequest("A", itc_red_req="Y", decl_igst="180", decl_cess="12"),
            INTER,
            "full",
            INTER,
            "Y",
            None,
        ),
        # part of the tax = partial, with head-wise values
        (
            ActionRequest("A", itc_red_req="Y", decl_cgst="40.50", decl_sgst="40.5"),
            INTRA,
            "partial",
            TaxHeads(cgst=Decimal("40.50"), sgst=Decimal("40.50")),
            "Y",
            TaxHeads(cgst=Decimal("40.50"), sgst=Decimal("40.50")),
        ),
        (
            ActionRequest("A", decl_igst=Decimal("100")),  # flag inferred: Y iff any head > 0
            INTER,
            "partial",
            TaxHeads(igst=Decimal("100.00")),
            "Y",
            TaxHeads(igst=Decimal("100.00")),
        ),
        # "N" = nil; zero amounts without a flag = nil
        (ActionRequest("A", itc_red_req="N"), INTRA, "nil", TaxHeads(), "N", None),
        (
            ActionRequest("A", itc_red_req="n", decl_cgst="0", decl_sgst="0"),
            INTRA,
            "nil",
            TaxHeads(),
            "N",
            None,
        ),
        (ActionRequest("A", decl_igst=0), INTER, "nil", TaxHeads(), "N", None),
        # a document with no tax has nothing to reduce
        (ActionRequest("A", itc_red_req="Y"), TaxHeads(), "nil", TaxHeads(), "N", None),
    ],
)
def test_declaration_is_normalised_and_classified(request_, tax, kind, reduction, itc_red_req, declared):
    decision = evaluate(request_, facts("b2bcn", tax=tax), TODAY)
    assert decision.allowed, decision.message
    declaration = decision.declaration
    assert declaration.kind == kind
    assert declaration.reduction == reduction
    assert declaration.itc_red_req == itc_red_req
    assert declaration.declared == declared


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (
            ActionRequest("A", decl_cgst="90.01", decl_sgst="90.01"),
            Reason.DECLARATION_EXCEEDS_TAX,
            "decl_cgst",
        ),
        (ActionRequest("A", decl_igst="1"), Reason.DECLARATION_EXCEEDS_TAX, "decl_igst"),  # no IGST on the CN
        (ActionRequest("A", decl_cess="0.01"), Reason.DECLARATION_EXCEEDS_TAX, "decl_cess"),
        (ActionRequest("A", decl_cgst="-1", decl_sgst="-1"), Reason.DECLARATION_INVALID, "decl_cgst"),
        (
            ActionRequest("A", decl_cgst="40", decl_sgst="50"),
            Reason.DECLARATION_CGST_SGST_DIFFER,
            "decl_sgst",
        ),
        (ActionRequest("A", decl_cgst="40"), Reason.DECLARATION_CGST_SGST_DIFFER, "decl_sgst"),
        (
            ActionRequest("A", itc_red_req="N", decl_cgst="10", decl_sgst="10"),
            Reason.DECLARATION_INCONSISTENT,
            "itc_red_req",
        ),
        (
            ActionRequest("A", itc_red_req="Y", decl_cgst="0", decl_sgst="0"),
            Reason.DECLARATION_INCONSISTENT,
            "itc_red_req",
        ),
        (ActionRequest("A", itc_red_req="maybe"), Reason.DECLARATION_INVALID, "itc_red_req"),
        (ActionRequest("A", decl_cgst="ten", decl_sgst="ten"), Reason.DECLARATION_INVALID, "decl_cgst"),
        (ActionRequest("A", decl_cgst="10.005", decl_sgst="10.005"), Reason.DECLARATION_INVALID, "decl_cgst"),
        (
            ActionRequest("A", decl_cgst=10.5, decl_sgst=10.5),
            Reason.DECLARATION_INVALID,
            "decl_cgst",
        ),  # float
    ],
)
def test_invalid_declaration_is_refused_with_a_field_error(request_, code, field):
    decision = evaluate(request_, facts("b2bcn"), TODAY)
    assert (decision.allowed, decision.code, decision.field) == (False, code, field)
    assert decision.message


def test_exceeding_message_names_the_head_and_both_amounts():
    decision = evaluate(ActionRequest("A", decl_cgst="95", decl_sgst="95"), facts("b2bcn"), TODAY)
    assert "CGST" in decision.message
    assert "95.00" in decision.message
    assert "90.00" in decision.message


def test_normalise_declaration_raises_for_callers_outside_evaluate():
    with pytest.raises(DeclarationError) as caught:
        normalise_declaration("Y", {"igst": Decimal("500")}, INTER)
    assert caught.value.code == Reason.DECLARATION_EXCEEDS_TAX
    assert normalise_declaration(None, None, INTER) is None


# --- the portal's block flag ---------------------------------------------------------------------------------


def test_blocked_declaration_refuses_a_change():
    record = facts("b2bcn", itc_red_blocked=True, current_itc_red_req="Y")
    decision = evaluate(ActionRequest("A", itc_red_req="N"), record, TODAY)
    assert (decision.allowed, decision.code) == (False, Reason.DECLARATION_BLOCKED)


def test_blocked_declaration_allows_repeating_the_same_declaration_and_accepting_without_one():
    partial = TaxHeads(cgst=Decimal("10.00"), sgst=Decimal("10.00"))
    record = facts("b2bcn", itc_red_blocked=True, current_itc_red_req="Y", current_decl=partial)
    same = evaluate(ActionRequest("A", itc_red_req="Y", decl_cgst="10", decl_sgst="10"), record, TODAY)
    assert same.allowed
    assert same.declaration.kind == DeclarationKind.PARTIAL
    assert evaluate(ActionRequest("A"), record, TODAY).allowed
    full_as_values = facts("b2bcn", itc_red_blocked=True, current_itc_red_req="Y", current_decl=INTRA)
    assert evaluate(
        FULL, full_as_values, TODAY
    ).allowed  # "Y" + the document's tax is the same full declaration


# --- remarks for partial / nil: UNVERIFIED, a switch in rule_data ------------------------------------------------

PARTIAL = ActionRequest("A", decl_cgst="10", decl_sgst="10")
NIL = ActionRequest("A", itc_red_req="N")
REQUIRED = dataclasses.replace(DEFAULT_RULES, remarks_required_for_partial_or_nil=True)


@pytest.mark.parametrize("request_", [PARTIAL, NIL, FULL])
def test_remarks_not_required_by_default(request_):
    assert DEFAULT_RULES.remarks_required_for_partial_or_nil is False
    assert evaluate(request_, facts("b2bcn"), TODAY).allowed


@pytest.mark.parametrize("request_", [PARTIAL, NIL])
def test_when_switched_on_partial_and_nil_need_remarks(request_):
    context = on(TODAY.today, rules=REQUIRED)
    refused = evaluate(request_, facts("b2bcn"), context)
    assert (refused.allowed, refused.code, refused.field) == (False, Reason.REMARKS_REQUIRED, "remarks")
    with_remarks = dataclasses.replace(request_, remarks="ITC was never availed on this note")
    assert evaluate(with_remarks, facts("b2bcn"), context).allowed


def test_when_switched_on_full_reduction_needs_no_remarks():
    assert evaluate(FULL, facts("b2bcn"), on(TODAY.today, rules=REQUIRED)).allowed


# --- property: a valid declaration never exceeds the document's tax and always has CGST = SGST ------------------

money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
maybe_money = st.one_of(st.none(), money, money.map(str), st.decimals(-100, 100, places=2).map(str))


@st.composite
def documents(draw):
    """Intra-state (CGST = SGST) or inter-state documents with optional cess."""
    half = draw(money)
    if draw(st.booleans()):
        return TaxHeads(cgst=half, sgst=half, cess=draw(money))
    return TaxHeads(igst=draw(money), cess=draw(money))


@given(
    tax=documents(),
    flag=st.sampled_from([None, "Y", "N"]),
    igst=maybe_money,
    cgst=maybe_money,
    sgst=maybe_money,
    cess=maybe_money,
    copy_cgst=st.booleans(),
)
def test_any_allowed_declaration_stays_within_the_document_tax_with_cgst_equal_to_sgst(
    tax, flag, igst, cgst, sgst, cess, copy_cgst
):
    if copy_cgst:
        sgst = cgst
    request = ActionRequest(
        "A", itc_red_req=flag, decl_igst=igst, decl_cgst=cgst, decl_sgst=sgst, decl_cess=cess
    )
    decision = evaluate(request, facts("b2bcn", tax=tax), TODAY)
    if not decision.allowed or decision.declaration is None:
        return
    reduced = decision.declaration.reduction
    for head in ("igst", "cgst", "sgst", "cess"):
        assert Decimal(0) <= getattr(reduced, head) <= getattr(tax, head)
    assert reduced.cgst == reduced.sgst
    assert (decision.declaration.itc_red_req == "Y") == (reduced.total > 0)


def test_evaluate_many_decides_each_record_on_its_own_amounts():
    small = TaxHeads(cgst=Decimal("5.00"), sgst=Decimal("5.00"))
    records = [
        facts("b2bcn", tax=INTRA),
        facts("b2bcn", tax=small),
        facts("b2bcn", tax=INTRA, itc_red_blocked=True),
    ]
    request = ActionRequest("A", decl_cgst="10", decl_sgst="10")
    decisions = evaluate_many(request, records, TODAY)
    assert decisions == [evaluate(request, r, TODAY) for r in records]
    assert [d.code for d in decisions] == [
        Reason.OK,
        Reason.DECLARATION_EXCEEDS_TAX,
        Reason.DECLARATION_BLOCKED,
    ]

"""The answer to "Whether ITC needs to be reduced?" since December 2025 (docs/rules/ims-actions.md §4.4): mandatory on
an Accept of a specified record, a default answer for a whole batch, a missing answer on a downloaded accepted record
read as full, and the suggestion from the books. Pure: no database."""

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
    DeclarationKind,
    NoticeCode,
    Reason,
    Source,
    TaxHeads,
    evaluate,
    evaluate_many,
    portal_declaration,
    requires_declaration,
    suggest_declaration,
)

from .helpers import INTER, INTRA, SEP_2025, D, facts, on

TODAY = on(D(2025, 11, 20))
YES = ActionRequest("A", itc_red_default="Y")
NO = ActionRequest("A", itc_red_default="N")
UP, DOWN = Direction.UP, Direction.DOWN
M = Decimal


def test_the_portals_default_answer_is_yes():
    assert DEFAULT_RULES.itc_red_default == "Y"


def test_default_yes_declares_a_full_reduction_on_a_credit_note():
    decision = evaluate(YES, facts("b2bcn"), TODAY)
    assert decision.allowed, decision.message
    assert decision.declaration == Declaration(DeclarationKind.FULL, INTRA)
    assert decision.declaration.itc_red_req == "Y"


def test_default_no_declares_nothing_to_reduce():
    decision = evaluate(NO, facts("b2bcn"), TODAY)
    assert decision.declaration == Declaration(DeclarationKind.NIL, TaxHeads())
    assert decision.declaration.itc_red_req == "N"


@pytest.mark.parametrize(
    ("section", "direction"),
    [("b2b", None), ("b2bdn", None), ("b2ba", UP), ("b2bcna", DOWN), ("ecoma", DOWN)],
)
def test_the_batch_answer_passes_over_records_that_carry_no_declaration(section, direction):
    decision = evaluate(YES, facts(section, amendment_direction=direction), TODAY)
    assert decision.allowed, decision.message
    assert decision.declaration is None


@pytest.mark.parametrize(("section", "direction"), [("b2b", None), ("b2ba", UP), ("b2bcna", DOWN)])
def test_an_accept_of_a_record_that_carries_no_declaration_needs_no_answer(section, direction):
    decision = evaluate(ActionRequest("A"), facts(section, amendment_direction=direction), TODAY)
    assert decision.allowed, decision.message


@pytest.mark.parametrize(
    ("section", "direction"), [("b2bcn", None), ("b2bcna", UP), ("b2ba", DOWN), ("b2bdna", DOWN)]
)
def test_every_specified_record_needs_the_answer_on_accept(section, direction):
    decision = evaluate(ActionRequest("A"), facts(section, amendment_direction=direction), TODAY)
    assert decision.code == Reason.DECLARATION_REQUIRED


def test_a_credit_note_of_a_period_before_the_cut_over_takes_no_answer():
    decision = evaluate(YES, facts("b2bcn", twob_period=SEP_2025), TODAY)
    assert decision.allowed
    assert decision.declaration is None


def test_a_credit_note_before_the_cut_over_is_accepted_without_an_answer():
    assert evaluate(ActionRequest("A"), facts("b2bcn", twob_period=SEP_2025), TODAY).allowed


@pytest.mark.parametrize("action", ["R", "P", "N"])
def test_the_batch_answer_does_not_touch_other_actions(action):
    decision = evaluate(ActionRequest(action, itc_red_default="Y"), facts("b2bcn"), TODAY)
    assert decision.allowed, decision.message
    assert decision.declaration is None


def test_an_amendment_whose_original_is_unknown_takes_the_answer_and_says_it_assumed():
    decision = evaluate(YES, facts("b2ba", amendment_direction=None), TODAY)
    assert decision.declaration.kind == DeclarationKind.FULL
    assert [a.code for a in decision.assumptions] == [NoticeCode.ASSUMED_SPECIFIED]


def test_an_explicit_declaration_wins_over_the_batch_answer():
    request = ActionRequest("A", itc_red_req="Y", decl_cgst="10", decl_sgst="10", itc_red_default="N")
    decision = evaluate(request, facts("b2bcn"), TODAY)
    assert decision.declaration.kind == DeclarationKind.PARTIAL


def test_a_batch_answer_other_than_y_or_n_is_refused():
    decision = evaluate(ActionRequest("A", itc_red_default="maybe"), facts("b2bcn"), TODAY)
    assert decision.code == Reason.DECLARATION_INVALID


def test_a_locked_answer_keeps_what_the_portal_has():
    partial = TaxHeads(cgst=M("10.00"), sgst=M("10.00"))
    record = facts("b2bcn", itc_red_blocked=True, current_itc_red_req="Y", current_decl=partial)
    decision = evaluate(NO, record, TODAY)
    assert decision.declaration == Declaration(DeclarationKind.PARTIAL, partial)


def test_a_locked_record_accepted_without_an_answer_keeps_the_full_reduction_the_portal_reads():
    record = facts("b2bcn", itc_red_blocked=True, current_action="A")
    decision = evaluate(NO, record, TODAY)
    assert decision.declaration == Declaration(DeclarationKind.FULL, INTRA)


def test_an_explicit_full_answer_on_a_locked_record_accepted_without_one_is_no_change():
    record = facts("b2bcn", itc_red_blocked=True, current_action="A")
    assert evaluate(ActionRequest("A", itc_red_req="Y"), record, TODAY).allowed


def test_the_batch_answer_is_decided_on_each_records_own_tax():
    small = TaxHeads(cgst=M("5.00"), sgst=M("5.00"))
    decisions = evaluate_many(YES, [facts("b2bcn", tax=INTRA), facts("b2bcn", tax=small)], TODAY)
    assert [d.declaration.reduction for d in decisions] == [INTRA, small]


def test_with_remarks_required_a_nil_batch_answer_needs_remarks():
    context = on(
        TODAY.today, rules=dataclasses.replace(DEFAULT_RULES, remarks_required_for_partial_or_nil=True)
    )
    assert evaluate(NO, facts("b2bcn"), context).code == Reason.REMARKS_REQUIRED


# --- a downloaded record --------------------------------------------------------------------------------------


def test_an_accepted_record_without_an_answer_reads_as_a_full_reduction():
    assert portal_declaration("A", "", None, INTRA) == Declaration(DeclarationKind.FULL, INTRA)


@pytest.mark.parametrize("action", ["N", "P", "R"])
def test_a_record_not_accepted_without_an_answer_has_no_declaration(action):
    assert portal_declaration(action, "", None, INTRA) is None


def test_a_downloaded_answer_is_read_as_it_is():
    partial = TaxHeads(igst=M("20.00"))
    assert portal_declaration("A", "Y", partial, INTER) == Declaration(DeclarationKind.PARTIAL, partial)


def test_a_downloaded_no_is_nil():
    assert portal_declaration("A", "N", None, INTRA).kind == DeclarationKind.NIL


# --- which Accepts must carry the answer to the portal --------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "direction", "period", "needed"),
    [
        ("b2bcn", None, D(2025, 10, 1), True),
        ("b2bcn", None, None, True),  # 2B period not known yet: the answer goes along
        ("b2bcn", None, SEP_2025, False),
        ("b2bcna", UP, D(2026, 3, 1), True),
        ("b2bcna", DOWN, D(2026, 3, 1), False),
        ("b2ba", DOWN, D(2026, 3, 1), True),
        ("b2ba", None, D(2026, 3, 1), True),  # original unknown: treated as specified
        ("b2ba", UP, D(2026, 3, 1), False),
        ("b2bdna", DOWN, D(2026, 3, 1), True),
        ("b2b", None, D(2026, 3, 1), False),
        ("ecoma", DOWN, D(2026, 3, 1), False),
    ],
)
def test_requires_declaration(section, direction, period, needed):
    assert requires_declaration(facts(section, amendment_direction=direction, twob_period=period)) is needed


# --- the suggestion from the books ------------------------------------------------------------------------------


def test_a_book_value_within_one_rupee_takes_the_suppliers_value():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("179.20"), cess=M("12.90")))
    assert suggestion.amounts == INTER
    assert dict(suggestion.sources)["igst"] == Source.SUPPLIER


def test_a_book_value_exactly_one_rupee_off_still_takes_the_suppliers_value():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("179.00"), cess=M("12.00")))
    assert suggestion.amounts.igst == M("180.00")


def test_agreeing_books_suggest_a_full_reduction():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("180.40"), cess=M("12.00")))
    assert suggestion.declaration.kind == DeclarationKind.FULL
    assert suggestion.request == {"itc_red_req": "Y"}


def test_a_lower_book_value_is_used():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("100.00"), cess=M("12.00")))
    assert suggestion.amounts.igst == M("100.00")
    assert dict(suggestion.sources)["igst"] == Source.BOOKS
    assert suggestion.declaration.kind == DeclarationKind.PARTIAL


def test_a_partial_suggestion_applies_as_head_wise_amounts():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("100.00"), cess=M("12.00")))
    assert suggestion.request == {
        "itc_red_req": "Y",
        "decl_igst": "100.00",
        "decl_cgst": "0.00",
        "decl_sgst": "0.00",
        "decl_cess": "12.00",
    }


def test_a_higher_book_value_is_capped_at_the_documents_tax():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("500.00"), cess=M("12.00")))
    assert suggestion.amounts.igst == M("180.00")
    assert dict(suggestion.sources)["igst"] == Source.CAPPED


def test_sgst_mirrors_cgst():
    suggestion = suggest_declaration(tax=INTRA, books=TaxHeads(cgst=M("40.00"), sgst=M("70.00")))
    assert suggestion.amounts.sgst == M("40.00")
    assert dict(suggestion.sources)["sgst"] == Source.MIRRORS_CGST


def test_books_with_nothing_to_reduce_suggest_nil():
    suggestion = suggest_declaration(tax=INTRA, books=TaxHeads())
    assert suggestion.declaration.kind == DeclarationKind.NIL
    assert suggestion.request == {"itc_red_req": "N"}


def test_a_purchase_return_booked_negative_counts_by_its_size():
    suggestion = suggest_declaration(tax=INTER, books=TaxHeads(igst=M("-100.00")))
    assert suggestion.amounts.igst == M("100.00")


money = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
positive = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)


@given(half=positive, igst=positive, cess=positive, b_igst=money, b_cgst=money, b_sgst=money, b_cess=money)
def test_a_suggestion_stays_within_the_documents_tax_with_cgst_equal_to_sgst(
    half, igst, cess, b_igst, b_cgst, b_sgst, b_cess
):
    tax = TaxHeads(igst=igst, cgst=half, sgst=half, cess=cess)
    suggestion = suggest_declaration(tax=tax, books=TaxHeads(b_igst, b_cgst, b_sgst, b_cess))
    for head in ("igst", "cgst", "sgst", "cess"):
        assert M(0) <= getattr(suggestion.amounts, head) <= getattr(tax, head)
    assert suggestion.amounts.cgst == suggestion.amounts.sgst

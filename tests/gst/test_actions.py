"""Actions, remarks, the end of a record's life in IMS and the warnings (docs/rules/ims-actions.md §1, §5, §6; docs/rules/gstr3b.md §3).
Pure: no database."""

from __future__ import annotations

import dataclasses

import pytest

from gst.rule_data import DEFAULT_RULES
from gst.rules import ActionRequest, NoticeCode, Reason, evaluate

from .helpers import OCT_2025, D, facts, on

TODAY = on(D(2025, 11, 20))


@pytest.mark.parametrize("action", ["A", "R", "P", "N", "a", " r "])
def test_the_four_actions_are_allowed_on_an_open_invoice(action):
    decision = evaluate(ActionRequest(action), facts("b2b"), TODAY)
    assert decision.allowed
    assert decision.code == Reason.OK
    assert decision.action == action.strip().upper()


@pytest.mark.parametrize("action", ["X", "", "accept", "RESET"])
def test_unknown_action_is_a_field_error(action):
    decision = evaluate(ActionRequest(action), facts("b2b"), TODAY)
    assert (decision.allowed, decision.code, decision.field) == (False, Reason.INVALID_ACTION, "action")
    assert "A (accept)" in decision.message


# --- the record leaves IMS when its GSTR-3B is filed (§2.1) -----------------------------------------------------


@pytest.mark.parametrize("current", ["A", "R", "N"])
@pytest.mark.parametrize("action", ["A", "R", "P", "N"])
def test_no_change_once_the_3b_of_the_2b_period_is_filed(current, action):
    record = facts("b2b", gstr3b_filed=True, current_action=current)
    decision = evaluate(ActionRequest(action), record, TODAY)
    assert (decision.allowed, decision.code) == (False, Reason.LEFT_IMS)
    assert "GSTR-3B for Oct 2025 has been filed" in decision.message


def test_a_record_kept_pending_when_the_3b_was_filed_stays_in_ims_and_can_be_acted_on():
    record = facts("b2b", gstr3b_filed=True, current_action="P")
    assert evaluate(ActionRequest("A"), record, TODAY).allowed


def test_left_ims_message_names_the_quarter_for_qrmp():
    record = facts("b2b", gstr3b_filed=True, frequency="Q", twob_period=OCT_2025)
    assert "Oct-Dec 2025" in evaluate(ActionRequest("A"), record, TODAY).message


# --- remarks (§2.4) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["A", "R", "P"])
def test_remarks_are_kept_stripped_with_accept_reject_and_pending(action):
    decision = evaluate(ActionRequest(action, remarks="  Rate differs from PO  "), facts("b2b"), TODAY)
    assert decision.allowed
    assert decision.remarks == "Rate differs from PO"


def test_remarks_cannot_go_with_a_reset():
    decision = evaluate(ActionRequest("N", remarks="undo"), facts("b2b"), TODAY)
    assert (decision.allowed, decision.code, decision.field) == (False, Reason.REMARKS_WITH_RESET, "remarks")


def test_remarks_blocked_by_the_portal_are_refused_unless_unchanged():
    record = facts("b2b", remarks_blocked=True, current_remarks="Short supply")
    refused = evaluate(ActionRequest("R", remarks="Damaged goods"), record, TODAY)
    assert (refused.allowed, refused.code, refused.field) == (False, Reason.REMARKS_BLOCKED, "remarks")
    assert "isRemarksBlocked" in refused.message
    assert evaluate(ActionRequest("R", remarks="Short supply"), record, TODAY).allowed
    assert evaluate(ActionRequest("R"), record, TODAY).allowed


def test_remarks_length_limit_defaults_to_500_and_is_configurable():
    assert evaluate(ActionRequest("R", remarks="x" * 500), facts("b2b"), TODAY).allowed
    too_long = evaluate(ActionRequest("R", remarks="x" * 501), facts("b2b"), TODAY)
    assert (too_long.code, too_long.field) == (Reason.REMARKS_TOO_LONG, "remarks")
    assert "500" in too_long.message
    assert "501" in too_long.message
    short = on(TODAY.today, rules=dataclasses.replace(DEFAULT_RULES, remarks_max_length=100))
    assert (
        evaluate(ActionRequest("R", remarks="x" * 101), facts("b2b"), short).code == Reason.REMARKS_TOO_LONG
    )


# --- warnings (not refusals) ---------------------------------------------------------------------------------


def codes(decision):
    return [w.code for w in decision.warnings]


def test_accepting_a_record_the_supplier_has_not_filed_warns():
    decision = evaluate(ActionRequest("A"), facts("b2b", supplier_filed=False), TODAY)
    assert decision.allowed
    assert codes(decision) == [NoticeCode.SUPPLIER_NOT_FILED]
    assert codes(evaluate(ActionRequest("A"), facts("b2b"), TODAY)) == []


@pytest.mark.parametrize("section", ["b2bcn", "b2bcna"])
def test_rejecting_a_credit_note_warns_it_raises_the_suppliers_liability(section):
    decision = evaluate(ActionRequest("R"), facts(section), TODAY)
    assert decision.allowed
    assert codes(decision) == [
        NoticeCode.CN_REJECT_RAISES_SUPPLIER_LIABILITY,
        NoticeCode.REJECT_UNDONE_ONLY_VIA_SUPPLIER,
    ]


@pytest.mark.parametrize("section", ["b2b", "b2bdn", "b2ba", "ecom"])
def test_rejecting_warns_that_after_3b_only_the_supplier_can_undo_it(section):
    decision = evaluate(ActionRequest("R"), facts(section), TODAY)
    assert codes(decision) == [NoticeCode.REJECT_UNDONE_ONLY_VIA_SUPPLIER]
    assert "GSTR-1A" in decision.warnings[0].message


def test_pending_an_invoice_near_its_section_16_4_limit_warns():
    record = facts("b2b", itc_document_date=D(2024, 6, 10))  # FY 2024-25 → 30-11-2025
    assert codes(evaluate(ActionRequest("P"), record, on(D(2025, 10, 1)))) == [NoticeCode.ITC_TIME_LIMIT_NEAR]
    assert "30-11-2025" in evaluate(ActionRequest("P"), record, on(D(2025, 10, 1))).warnings[0].message
    assert codes(evaluate(ActionRequest("P"), record, on(D(2025, 9, 30)))) == []

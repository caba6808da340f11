"""When Pending is allowed (docs/rules/ims-actions.md §2): the five restricted record kinds, the October-2025 cut-over keyed on
the GSTR-2B period, the one-period limit and its deadline, the portal's ispendactblocked flag. Pure: no database."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from gst.duedates import twob_period_of_filing
from gst.rule_data import DEFAULT_RULES, Direction
from gst.rules import (
    ActionRequest,
    NoticeCode,
    Reason,
    amendment_direction,
    deemed_action,
    evaluate,
    evaluate_many,
    match_record,
    pending_deadline,
)

from .helpers import OCT_2025, SEP_2025, D, facts, on

PENDING = ActionRequest("P")
UP, DOWN, SAME = Direction.UP, Direction.DOWN, Direction.UNCHANGED

# §2.2 "Before the October-2025 tax period", one case per row (and the cases just outside each row):
# (section, direction, original action, original's 3B filed, restricted?, table row code)
TABLE_2_2 = [
    # 1. original credit notes
    ("b2bcn", None, None, None, True, "cn"),
    # 2. upward amendments of credit notes, whatever the action on the original
    ("b2bcna", UP, "A", False, True, "cna_up"),
    ("b2bcna", UP, "R", True, True, "cna_up"),
    ("b2bcna", UP, "P", False, True, "cna_up"),
    ("b2bcna", UP, "N", False, True, "cna_up"),
    # 3. downward amendments of credit notes whose original was rejected
    ("b2bcna", DOWN, "R", False, True, "cna_down_original_rejected"),
    ("b2bcna", DOWN, "R", True, True, "cna_down_original_rejected"),
    ("b2bcna", DOWN, "A", True, False, None),
    ("b2bcna", DOWN, "P", False, False, None),
    # 4. downward amendments of invoices / debit notes whose original was accepted and whose 3B was filed
    ("b2ba", DOWN, "A", True, True, "inv_dn_down_original_accepted_3b_filed"),
    ("b2bdna", DOWN, "A", True, True, "inv_dn_down_original_accepted_3b_filed"),
    ("b2ba", DOWN, "N", True, True, "inv_dn_down_original_accepted_3b_filed"),  # deemed accepted at filing
    ("b2ba", DOWN, "A", False, False, None),
    ("b2bdna", DOWN, "R", True, False, None),
    ("b2ba", UP, "A", True, False, None),
    ("b2bdna", UP, "A", True, False, None),
    # 5. ECO-document downward amendments likewise
    ("ecoma", DOWN, "A", True, True, "eco_down_original_accepted_3b_filed"),
    ("ecoma", DOWN, "A", False, False, None),
    ("ecoma", UP, "A", True, False, None),
    # everything else may stay pending (until the section 16(4) limit)
    ("b2b", None, None, None, False, None),
    ("b2bdn", None, None, None, False, None),
    ("ecom", None, None, None, False, None),
    ("b2bcna", SAME, "R", True, False, None),
    ("b2ba", SAME, "A", True, False, None),
]


def _record(section, direction, original_action, original_3b_filed, **kw):
    return facts(
        section,
        amendment_direction=direction,
        original_action=original_action,
        original_3b_filed=original_3b_filed,
        **kw,
    )


@pytest.mark.parametrize(("section", "direction", "original", "filed", "restricted", "row"), TABLE_2_2)
def test_table_2_2_row_matching(section, direction, original, filed, restricted, row):
    matched, assumed = match_record(
        _record(section, direction, original, filed), DEFAULT_RULES.pending_restricted
    )
    assert (matched.code if matched else None) == row
    assert assumed is False


@pytest.mark.parametrize(("section", "direction", "original", "filed", "restricted", "row"), TABLE_2_2)
def test_before_oct_2025_pending_refused_only_for_the_five_restricted_kinds(
    section, direction, original, filed, restricted, row
):
    decision = evaluate(
        PENDING, _record(section, direction, original, filed, twob_period=SEP_2025), on(D(2025, 10, 5))
    )
    if restricted:
        assert not decision.allowed
        assert decision.code == Reason.PENDING_NOT_ALLOWED
        assert decision.field == "action"
        assert "before Oct 2025" in decision.message
        assert "Sep 2025" in decision.message
    else:
        assert decision.allowed, decision.message
        assert decision.pending_deadline is None


@pytest.mark.parametrize(("section", "direction", "original", "filed", "restricted", "row"), TABLE_2_2)
def test_from_oct_2025_restricted_kinds_may_be_pending_until_the_next_periods_3b_due_date(
    section, direction, original, filed, restricted, row
):
    record = _record(section, direction, original, filed, twob_period=OCT_2025)
    on_deadline = evaluate(PENDING, record, on(D(2025, 12, 20)))
    day_after = evaluate(PENDING, record, on(D(2025, 12, 21)))
    assert on_deadline.allowed, on_deadline.message
    if restricted:
        assert on_deadline.pending_deadline == D(2025, 12, 20)
        assert [w.code for w in on_deadline.warnings] == [NoticeCode.PENDING_UNTIL]
        assert "20-12-2025" in on_deadline.warnings[0].message
        assert not day_after.allowed
        assert day_after.code == Reason.PENDING_DEADLINE_PASSED
        assert "20-12-2025" in day_after.message
        assert "deemed accepted" in day_after.message
    else:
        assert on_deadline.pending_deadline is None
        assert day_after.allowed
        assert evaluate(PENDING, record, on(D(2026, 9, 1))).allowed


# --- the worked examples of §2.2 -----------------------------------------------------------------------------


def test_sept_2025_cn_in_sept_gstr1_filed_11_oct_2025_cannot_be_pending():
    twob = twob_period_of_filing(D(2025, 10, 11))
    assert twob == SEP_2025
    decision = evaluate(PENDING, facts("b2bcn", twob_period=twob), on(D(2025, 10, 12)))
    assert (decision.allowed, decision.code) == (False, Reason.PENDING_NOT_ALLOWED)


def test_mar_2025_cn_reported_in_oct_2025_gstr1_may_be_pending_because_the_2b_period_counts():
    twob = twob_period_of_filing(D(2025, 11, 11))
    assert twob == OCT_2025
    record = facts("b2bcn", twob_period=twob, itc_document_date=D(2025, 3, 15))
    decision = evaluate(PENDING, record, on(D(2025, 11, 20)))
    assert decision.allowed
    assert decision.pending_deadline == D(2025, 12, 20)


def test_sept_2025_cn_in_sept_gstr1a_filed_14_oct_2025_lands_in_oct_2b_and_may_be_pending():
    twob = twob_period_of_filing(D(2025, 10, 14))
    assert twob == OCT_2025
    decision = evaluate(PENDING, facts("b2bcn", twob_period=twob), on(D(2025, 10, 20)))
    assert decision.allowed
    assert decision.pending_deadline == D(2025, 12, 20)


def test_cn_in_oct_2025_gstr1_filed_10_nov_2025_can_be_pending_until_20_dec_2025():
    twob = twob_period_of_filing(D(2025, 11, 10))
    record = facts("b2bcn", twob_period=twob)
    assert pending_deadline(twob) == D(2025, 12, 20)
    assert evaluate(PENDING, record, on(D(2025, 12, 20))).allowed
    refused = evaluate(PENDING, record, on(D(2025, 12, 21)))
    assert refused.code == Reason.PENDING_DEADLINE_PASSED
    assert "GSTR-3B due date for Nov 2025" in refused.message


# --- monthly vs QRMP deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("twob", "frequency", "state", "deadline"),
    [
        (D(2025, 10, 1), "M", "27", D(2025, 12, 20)),
        (D(2025, 11, 1), "M", "07", D(2026, 1, 20)),
        (D(2026, 3, 1), "M", "27", D(2026, 5, 20)),
        # QRMP: the 2B is the quarter; one quarter later; 22nd or 24th of the month after that quarter
        (D(2025, 10, 1), "Q", "27", D(2026, 4, 22)),  # Maharashtra: 22nd group
        (D(2025, 12, 1), "Q", "07", D(2026, 4, 24)),  # Delhi: 24th group
        (D(2026, 1, 1), "Q", "29", D(2026, 7, 22)),  # Jan-Mar 2026 → Apr-Jun 2026 → 22-07-2026
        (D(2026, 3, 1), "Q", "09", D(2026, 7, 24)),
    ],
)
def test_pending_deadline_is_3b_due_date_of_the_next_return_period(twob, frequency, state, deadline):
    assert pending_deadline(twob, frequency, state) == deadline


@pytest.mark.parametrize(("state", "last_day"), [("24", D(2026, 4, 22)), ("19", D(2026, 4, 24))])
def test_qrmp_recipient_may_keep_a_cn_pending_for_one_quarter_to_the_day(state, last_day):
    record = facts("b2bcn", twob_period=D(2025, 11, 1), frequency="Q", state_code=state)
    assert evaluate(PENDING, record, on(last_day)).pending_deadline == last_day
    assert evaluate(PENDING, record, on(last_day)).allowed
    assert evaluate(PENDING, record, on(D.fromordinal(last_day.toordinal() + 1))).code == (
        Reason.PENDING_DEADLINE_PASSED
    )


def test_qrmp_quarter_jul_sep_2025_is_before_the_cutover_and_oct_dec_is_after():
    q = dict(frequency="Q", state_code="27")
    assert evaluate(PENDING, facts("b2bcn", twob_period=D(2025, 9, 1), **q), on(D(2025, 10, 20))).code == (
        Reason.PENDING_NOT_ALLOWED
    )
    assert evaluate(PENDING, facts("b2bcn", twob_period=D(2025, 10, 1), **q), on(D(2026, 1, 5))).allowed


def test_qrmp_recipient_in_no_state_group_gets_the_earlier_day_and_is_told():
    record = facts("b2bcn", twob_period=OCT_2025, frequency="Q", state_code="97")
    decision = evaluate(PENDING, record, on(D(2026, 1, 5)))
    assert decision.pending_deadline == D(2026, 4, 22)
    assert NoticeCode.ASSUMED_QRMP_DUE_DAY in [a.code for a in decision.assumptions]


def test_one_period_limit_and_cutover_come_from_rule_data():
    two_periods = dataclasses.replace(DEFAULT_RULES, pending_limit_periods=2)
    assert pending_deadline(OCT_2025, rules=two_periods) == D(2026, 1, 20)
    later_cutover = dataclasses.replace(DEFAULT_RULES, pending_one_period_from=D(2025, 11, 1))
    refused = evaluate(PENDING, facts("b2bcn"), on(D(2025, 11, 1), rules=later_cutover))
    assert refused.code == Reason.PENDING_NOT_ALLOWED
    assert "before Nov 2025" in refused.message


# --- the portal's flag, unknown originals, unknown 2B periods ---------------------------------------------------


def test_portal_ispendactblocked_refuses_pending_even_for_an_invoice():
    decision = evaluate(PENDING, facts("b2b", pending_blocked=True), on(D(2025, 11, 1)))
    assert (decision.allowed, decision.code) == (False, Reason.PENDING_BLOCKED_BY_PORTAL)
    assert "ispendactblocked" in decision.message


def test_portal_flag_does_not_block_accept_or_reject():
    record = facts("b2b", pending_blocked=True)
    assert evaluate(ActionRequest("A"), record, on(D(2025, 11, 1))).allowed
    assert evaluate(ActionRequest("R"), record, on(D(2025, 11, 1))).allowed


@pytest.mark.parametrize(
    ("section", "direction", "original", "filed"),
    [
        ("b2bcna", None, "A", False),  # direction unknown: may be an upward CN amendment
        ("b2bcna", DOWN, None, None),  # original's action unknown: may have been rejected
        ("b2ba", DOWN, None, True),
        ("b2bdna", DOWN, "A", None),  # original's 3B status unknown
        ("ecoma", None, None, None),
    ],
)
def test_unknown_original_is_treated_conservatively_as_restricted_and_the_decision_says_so(
    section, direction, original, filed
):
    record = _record(section, direction, original, filed, twob_period=SEP_2025)
    decision = evaluate(PENDING, record, on(D(2025, 10, 5)))
    assert decision.code == Reason.PENDING_NOT_ALLOWED
    assert [a.code for a in decision.assumptions] == [NoticeCode.ASSUMED_SPECIFIED]
    assert "not fully known" in decision.assumptions[0].message


def test_known_original_that_fits_no_row_leaves_pending_free_without_assumptions():
    record = _record("b2ba", UP, None, None, twob_period=SEP_2025)
    decision = evaluate(PENDING, record, on(D(2025, 10, 5)))
    assert decision.allowed
    assert decision.assumptions == ()


def test_unknown_2b_period_is_taken_from_the_supplier_filing_date_and_noted():
    record = facts("b2bcn", twob_period=None, supplier_filing_date=D(2025, 10, 13))
    decision = evaluate(PENDING, record, on(D(2025, 10, 15)))
    assert (
        decision.code == Reason.PENDING_NOT_ALLOWED
    )  # 13-Oct is within the latest cut-off: Sep 2025 at best
    assert [a.code for a in decision.assumptions] == [NoticeCode.ASSUMED_TWOB_PERIOD]


def test_unsaved_2b_period_of_a_record_not_filed_assumes_the_earliest_open_period():
    record = facts("b2bcn", twob_period=None, supplier_filed=False)
    assert evaluate(PENDING, record, on(D(2025, 10, 13))).code == Reason.PENDING_NOT_ALLOWED
    later = evaluate(PENDING, record, on(D(2025, 10, 14)))
    assert later.allowed
    assert later.pending_deadline == D(2025, 12, 20)
    assert "Oct 2025" in later.assumptions[0].message


# --- deemed acceptance, batch ------------------------------------------------------------------------------------


def test_no_action_is_deemed_accepted_and_reset_says_so():
    record = facts("b2b")
    assert deemed_action(record, on(D(2025, 11, 1))) == "A"
    reset = evaluate(ActionRequest("N"), facts("b2b", current_action="R"), on(D(2025, 11, 1)))
    assert reset.allowed
    assert [w.code for w in reset.warnings] == [NoticeCode.NO_ACTION_DEEMED_ACCEPTED]


def test_specified_record_left_pending_past_its_deadline_is_deemed_accepted():
    record = facts("b2bcn", current_action="P", pending_blocked=True)
    assert deemed_action(record, on(D(2025, 12, 20))) == "P"
    assert deemed_action(record, on(D(2025, 12, 21))) == "A"
    assert deemed_action(facts("b2b", current_action="P"), on(D(2027, 1, 1))) == "P"
    assert deemed_action(facts("b2b", current_action="R"), on(D(2025, 11, 1))) == "R"


def test_evaluate_many_gives_the_same_decisions_as_evaluate_one_by_one():
    records = [_record(*row[:4], twob_period=period) for row in TABLE_2_2 for period in (SEP_2025, OCT_2025)]
    records += [facts("b2bcn", twob_period=D(2025, 11, 1), frequency="Q", state_code="07")]
    context = on(D(2025, 12, 21))
    assert evaluate_many(PENDING, records, context) == [evaluate(PENDING, r, context) for r in records]


@pytest.mark.parametrize(
    ("amended_tax", "original_tax", "amended_taxable", "original_taxable", "direction"),
    [
        ("180", "90", None, None, UP),
        ("90", "180", None, None, DOWN),
        ("0", "0", "1200", "1000", UP),  # zero-rated: the taxable value decides
        ("0", "0", "800", "1000", DOWN),
        ("90", "90", "500", "500", SAME),
        ("90", None, None, None, None),  # original unknown
    ],
)
def test_amendment_direction_compares_tax_then_taxable_value(
    amended_tax, original_tax, amended_taxable, original_taxable, direction
):
    def dec(value):
        return None if value is None else Decimal(value)

    assert (
        amendment_direction(
            amended_tax=dec(amended_tax),
            original_tax=dec(original_tax),
            amended_taxable=dec(amended_taxable),
            original_taxable=dec(original_taxable),
        )
        == direction
    )

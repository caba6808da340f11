"""GSTR-3B due dates, GSTR-2B cut-offs and the section 16(4) limit as data (docs/rules/gstr2b.md §2; docs/rules/gstr3b.md §1, §3; docs/rules/documents.md §4).
Pure: no database."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gst.duedates import (
    Frequency,
    gstr3b_due_date,
    next_return_period,
    open_twob_period,
    qrmp_due_day,
    return_period,
    section_16_4_last_date,
    twob_period_of_filing,
)
from gst.gstin import LEGACY_STATE_CODES, STATE_CODES
from gst.periods import add_months, month_start
from gst.rule_data import DEFAULT_RULES, QRMP_GROUP_22, QRMP_GROUP_24, DueDateExtension

from .helpers import D


@pytest.mark.parametrize(
    ("period", "due"),
    [
        (D(2025, 10, 1), D(2025, 11, 20)),
        (D(2025, 10, 31), D(2025, 11, 20)),
        (D(2025, 12, 1), D(2026, 1, 20)),
        (D(2026, 2, 1), D(2026, 3, 20)),
    ],
)
def test_monthly_3b_is_due_on_the_20th_of_the_next_month(period, due):
    assert gstr3b_due_date(period, "M") == due


@pytest.mark.parametrize(
    ("period", "state", "due"),
    [
        (D(2025, 10, 1), "27", D(2026, 1, 22)),  # Maharashtra
        (D(2025, 12, 1), "33", D(2026, 1, 22)),  # Tamil Nadu
        (D(2025, 11, 1), "07", D(2026, 1, 24)),  # Delhi
        (D(2026, 1, 1), "38", D(2026, 4, 24)),  # Ladakh
        (D(2026, 3, 1), "26", D(2026, 4, 22)),  # Dadra and Nagar Haveli and Daman and Diu
        (D(2025, 7, 1), "01", D(2025, 10, 24)),  # Jammu and Kashmir
    ],
)
def test_qrmp_3b_is_due_on_the_22nd_or_24th_after_the_quarter_by_state(period, state, due):
    assert gstr3b_due_date(period, Frequency.QRMP, state) == due


@pytest.mark.parametrize(
    ("state", "day"),
    [(s, 22) for s in ("22", "23", "24", "27", "29", "30", "31", "32", "33", "34", "35", "36", "37")]
    + [
        (s, 24)
        for s in (
            "01",
            "02",
            "03",
            "04",
            "05",
            "06",
            "07",
            "08",
            "09",
            "10",
            "11",
            "12",
            "13",
            "14",
            "15",
            "16",
            "17",
            "18",
            "19",
            "20",
            "21",
            "38",
        )
    ],
)
def test_qrmp_state_groups(state, day):
    assert qrmp_due_day(state) == day


def test_every_registrable_state_is_in_exactly_one_qrmp_group_except_other_territory():
    assert not QRMP_GROUP_22 & QRMP_GROUP_24
    grouped = QRMP_GROUP_22 | QRMP_GROUP_24
    assert set(STATE_CODES) - grouped == {"97"}
    assert grouped <= set(STATE_CODES) | set(LEGACY_STATE_CODES)
    assert qrmp_due_day("97") is None
    assert gstr3b_due_date(D(2025, 12, 1), "Q", "97") == D(2026, 1, 22)  # the earlier day when unknown


def test_notified_extension_moves_a_due_date():
    extended = dataclasses.replace(
        DEFAULT_RULES,
        gstr3b_extensions=(
            DueDateExtension(D(2025, 11, 1), "M", D(2025, 12, 27)),
            DueDateExtension(D(2025, 12, 1), "Q", D(2026, 1, 31), frozenset({"27"})),
        ),
    )
    assert gstr3b_due_date(D(2025, 11, 1), "M", rules=extended) == D(2025, 12, 27)
    assert gstr3b_due_date(D(2025, 10, 1), "M", rules=extended) == D(2025, 11, 20)
    assert gstr3b_due_date(D(2025, 10, 1), "Q", "27", rules=extended) == D(2026, 1, 31)
    assert gstr3b_due_date(D(2025, 10, 1), "Q", "24", rules=extended) == D(2026, 1, 22)


def test_unknown_frequency_is_refused():
    with pytest.raises(ValueError):
        gstr3b_due_date(D(2025, 10, 1), "Y")


@pytest.mark.parametrize(
    ("period", "frequency", "own", "next_"),
    [
        (D(2025, 10, 15), "M", D(2025, 10, 1), D(2025, 11, 1)),
        (D(2025, 12, 1), "M", D(2025, 12, 1), D(2026, 1, 1)),
        (D(2025, 10, 1), "Q", D(2025, 12, 1), D(2026, 3, 1)),
        (D(2026, 2, 1), "Q", D(2026, 3, 1), D(2026, 6, 1)),
    ],
)
def test_return_periods_are_months_or_quarters(period, frequency, own, next_):
    assert return_period(period, frequency) == own
    assert next_return_period(period, frequency) == next_


# --- GSTR-2B cut-offs (§4.1) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filed", "iff", "period"),
    [
        (D(2025, 10, 11), False, D(2025, 9, 1)),  # up to 23:59 on the 11th of M+1 → M
        (D(2025, 10, 12), False, D(2025, 10, 1)),  # from the 12th → the next 2B
        (D(2025, 10, 13), True, D(2025, 9, 1)),  # IFF / quarterly GSTR-1: up to the 13th
        (D(2025, 10, 14), True, D(2025, 10, 1)),
        (D(2026, 1, 5), False, D(2025, 12, 1)),
    ],
)
def test_a_document_lands_in_the_2b_of_its_filing_cutoff(filed, iff, period):
    assert twob_period_of_filing(filed, iff=iff) == period


@given(st.dates(min_value=D(2017, 8, 1), max_value=D(2099, 12, 31)))
def test_open_2b_period_is_this_or_the_previous_month(today):
    period = open_twob_period(today)
    assert period in (month_start(today), add_months(month_start(today), -1))
    assert period <= twob_period_of_filing(today)


# --- section 16(4) (§7.1) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document_date", "last"),
    [
        (D(2025, 4, 1), D(2026, 11, 30)),
        (D(2026, 3, 31), D(2026, 11, 30)),
        (D(2026, 4, 1), D(2027, 11, 30)),
        (D(2021, 5, 1), D(2022, 11, 30)),  # FY 2021-22: the first year of the 30-November limit
        (D(2020, 5, 1), D(2021, 10, 20)),  # before: the due date of September's return
    ],
)
def test_section_16_4_is_30_november_after_the_end_of_the_documents_fy(document_date, last):
    assert section_16_4_last_date(document_date) == last


def test_debit_note_counts_its_own_fy_not_its_invoices():
    invoice_date, debit_note_date = D(2024, 12, 1), D(2025, 5, 1)
    assert section_16_4_last_date(debit_note_date) == D(2026, 11, 30)
    assert section_16_4_last_date(invoice_date) == D(2025, 11, 30)


def test_annual_return_filed_earlier_ends_the_limit():
    assert section_16_4_last_date(D(2025, 6, 1), annual_return_filed_on=D(2026, 10, 15)) == D(2026, 10, 15)
    assert section_16_4_last_date(D(2025, 6, 1), annual_return_filed_on=D(2026, 12, 31)) == D(2026, 11, 30)

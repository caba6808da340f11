"""Tax periods, portal dates, financial years and QRMP quarters (docs/rules/documents.md §4). Pure: no database."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gst.periods import (
    FIRST_PERIOD,
    PeriodError,
    add_months,
    format_period,
    format_portal_date,
    fy_first_period,
    fy_label,
    fy_label_of,
    fy_last_period,
    fy_periods,
    fy_start_year,
    is_quarter_end,
    month_start,
    parse_fy,
    parse_period,
    parse_portal_date,
    period_label,
    periods_between,
    quarter_first_period,
    quarter_label,
    quarter_last_period,
    quarter_of,
    quarter_periods,
)

D = dt.date
periods = st.dates(min_value=FIRST_PERIOD, max_value=D(2999, 12, 31)).map(month_start)
days = st.dates(min_value=D(1, 4, 1), max_value=D(9998, 12, 31))


# --- MMYYYY -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("102025", D(2025, 10, 1)),
        ("012026", D(2026, 1, 1)),
        ("122025", D(2025, 12, 1)),
        ("072017", D(2017, 7, 1)),
        (" 032026 ", D(2026, 3, 1)),
    ],
)
def test_parse_period_reads_mmyyyy(text, period):
    assert parse_period(text) == period


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "must be MMYYYY"),
        (None, "must be MMYYYY"),
        ("2025-10", "must be MMYYYY"),
        ("202510", "month 20 must be 01-12"),
        ("10205", "must be MMYYYY"),
        ("1020255", "must be MMYYYY"),
        ("002025", "month 00 must be 01-12"),
        ("132025", "month 13 must be 01-12"),
        ("062017", "before GST began"),
        ("010000", "before GST began"),
        ("١٠٢٠٢٥", "must be MMYYYY"),  # Arabic-Indic digits are not MMYYYY
        ("102025\n1", "must be MMYYYY"),
    ],
)
def test_parse_period_refuses_bad_input_with_a_clear_period_error(text, words):
    with pytest.raises(PeriodError, match=words):
        parse_period(text)


def test_period_error_is_a_value_error_for_callers_that_catch_those():
    assert issubclass(PeriodError, ValueError)


def test_format_period_writes_mmyyyy_for_any_day_of_the_month():
    assert format_period(D(2025, 10, 1)) == "102025"
    assert format_period(D(2026, 1, 31)) == "012026"


@given(periods)
def test_period_text_round_trips(period):
    assert parse_period(format_period(period)) == period


@pytest.mark.parametrize(
    ("period", "label"),
    [(D(2025, 10, 1), "Oct 2025"), (D(2026, 1, 1), "Jan 2026"), (D(2025, 3, 15), "Mar 2025")],
)
def test_period_label_is_short_month_and_year(period, label):
    assert period_label(period) == label


# --- month arithmetic ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "months", "result"),
    [
        (D(2025, 12, 1), 1, D(2026, 1, 1)),
        (D(2026, 1, 1), -1, D(2025, 12, 1)),
        (D(2025, 3, 1), 1, D(2025, 4, 1)),
        (D(2025, 4, 1), -1, D(2025, 3, 1)),
        (D(2025, 10, 31), 0, D(2025, 10, 1)),
        (D(2025, 1, 31), 1, D(2025, 2, 1)),
        (D(2025, 10, 1), 27, D(2028, 1, 1)),
        (D(2025, 10, 1), -22, D(2023, 12, 1)),
    ],
)
def test_add_months_crosses_year_and_fy_boundaries(period, months, result):
    assert add_months(period, months) == result


@given(periods, st.integers(min_value=-1000, max_value=1000))
def test_add_months_is_undone_by_its_negative(period, n):
    assert add_months(add_months(period, n), -n) == period


def test_month_start_gives_the_period_of_a_day():
    assert month_start(D(2025, 2, 28)) == D(2025, 2, 1)
    assert month_start(dt.datetime(2025, 2, 28, 23, 59, tzinfo=dt.UTC)) == D(2025, 2, 1)


def test_periods_between_is_inclusive_and_crosses_the_year_end():
    assert periods_between(D(2025, 11, 1), D(2026, 2, 1)) == [
        D(2025, 11, 1),
        D(2025, 12, 1),
        D(2026, 1, 1),
        D(2026, 2, 1),
    ]


def test_periods_between_one_period_and_an_empty_range():
    assert periods_between(D(2025, 10, 1), D(2025, 10, 20)) == [D(2025, 10, 1)]
    assert periods_between(D(2025, 10, 1), D(2025, 9, 1)) == []


@given(periods, periods)
def test_periods_between_are_consecutive_months_from_first_to_last(a, b):
    result = periods_between(a, b)
    if b < a:
        assert result == []
        return
    assert result[0] == a
    assert result[-1] == b
    assert all(add_months(x, 1) == y for x, y in zip(result, result[1:], strict=False))


# --- DD-MM-YYYY ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("05-10-2025", D(2025, 10, 5)),
        ("31-12-2025", D(2025, 12, 31)),
        ("01-01-2026", D(2026, 1, 1)),
        ("29-02-2024", D(2024, 2, 29)),
        (" 31-03-2026 ", D(2026, 3, 31)),
    ],
)
def test_parse_portal_date_reads_dd_mm_yyyy(text, day):
    assert parse_portal_date(text) == day


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2025-10-05", "must be DD-MM-YYYY"),
        ("5-10-2025", "must be DD-MM-YYYY"),
        ("05/10/2025", "must be DD-MM-YYYY"),
        ("05-10-25", "must be DD-MM-YYYY"),
        ("", "must be DD-MM-YYYY"),
        (None, "must be DD-MM-YYYY"),
        ("31-02-2025", "not a calendar date"),
        ("29-02-2025", "not a calendar date"),
        ("00-10-2025", "not a calendar date"),
        ("05-13-2025", "not a calendar date"),
        ("05-10-0000", "not a calendar date"),
    ],
)
def test_parse_portal_date_refuses_bad_input_with_a_clear_period_error(text, words):
    with pytest.raises(PeriodError, match=words):
        parse_portal_date(text)


def test_format_portal_date_pads_day_month_and_year():
    assert format_portal_date(D(2025, 10, 5)) == "05-10-2025"
    assert format_portal_date(D(987, 1, 2)) == "02-01-0987"


@given(st.dates())
def test_portal_date_text_round_trips(day):
    assert parse_portal_date(format_portal_date(day)) == day


# --- financial years -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "label"),
    [
        (D(2025, 3, 31), 2024, "2024-25"),
        (D(2025, 4, 1), 2025, "2025-26"),
        (D(2025, 12, 31), 2025, "2025-26"),
        (D(2026, 1, 1), 2025, "2025-26"),
        (D(2026, 3, 1), 2025, "2025-26"),
        (D(2026, 4, 1), 2026, "2026-27"),
        (D(2099, 6, 1), 2099, "2099-00"),
    ],
)
def test_financial_year_runs_april_to_march(day, start, label):
    assert fy_start_year(day) == start
    assert fy_label(start) == label
    assert fy_label_of(day) == label


@pytest.mark.parametrize(
    ("text", "start"), [("2025-26", 2025), ("2025-2026", 2025), ("2025/26", 2025), ("1999-00", 1999)]
)
def test_parse_fy_reads_the_portal_label_and_long_forms(text, start):
    assert parse_fy(text) == start


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2025-27", "year after 2025"),
        ("2025-2025", "year after 2025"),
        ("2025", "must be YYYY-YY"),
        ("25-26", "must be YYYY-YY"),
        ("", "must be YYYY-YY"),
        ("2025-6", "must be YYYY-YY"),
    ],
)
def test_parse_fy_refuses_bad_labels(text, words):
    with pytest.raises(PeriodError, match=words):
        parse_fy(text)


@given(st.integers(min_value=1, max_value=9997))
def test_fy_label_round_trips(start):
    assert parse_fy(fy_label(start)) == start


def test_fy_periods_are_april_to_march():
    months = fy_periods(2025)
    assert len(months) == 12
    assert months[0] == fy_first_period(2025) == D(2025, 4, 1)
    assert months[-1] == fy_last_period(2025) == D(2026, 3, 1)
    assert {fy_start_year(p) for p in months} == {2025}


@given(days)
def test_every_day_lies_in_its_financial_year(day):
    start = fy_start_year(day)
    assert D(start, 4, 1) <= day <= D(start + 1, 3, 31)
    assert month_start(day) in fy_periods(start)


# --- QRMP quarters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "quarter", "first", "last", "label"),
    [
        (D(2025, 4, 1), 1, D(2025, 4, 1), D(2025, 6, 1), "Apr-Jun 2025"),
        (D(2025, 6, 1), 1, D(2025, 4, 1), D(2025, 6, 1), "Apr-Jun 2025"),
        (D(2025, 7, 1), 2, D(2025, 7, 1), D(2025, 9, 1), "Jul-Sep 2025"),
        (D(2025, 9, 1), 2, D(2025, 7, 1), D(2025, 9, 1), "Jul-Sep 2025"),
        (D(2025, 10, 1), 3, D(2025, 10, 1), D(2025, 12, 1), "Oct-Dec 2025"),
        (D(2025, 12, 1), 3, D(2025, 10, 1), D(2025, 12, 1), "Oct-Dec 2025"),
        (D(2026, 1, 1), 4, D(2026, 1, 1), D(2026, 3, 1), "Jan-Mar 2026"),
        (D(2026, 2, 1), 4, D(2026, 1, 1), D(2026, 3, 1), "Jan-Mar 2026"),
        (D(2026, 3, 1), 4, D(2026, 1, 1), D(2026, 3, 1), "Jan-Mar 2026"),
    ],
)
def test_quarters_are_apr_jun_jul_sep_oct_dec_jan_mar(period, quarter, first, last, label):
    assert quarter_of(period) == quarter
    assert quarter_first_period(period) == first
    assert quarter_last_period(period) == last
    assert quarter_periods(period) == [first, add_months(first, 1), last]
    assert quarter_label(period) == label


@pytest.mark.parametrize(("month", "end"), [(m, m in (3, 6, 9, 12)) for m in range(1, 13)])
def test_is_quarter_end_only_for_june_september_december_march(month, end):
    assert is_quarter_end(D(2025, month, 1)) is end


def test_a_day_inside_a_month_belongs_to_that_months_quarter():
    assert quarter_first_period(D(2026, 3, 31)) == D(2026, 1, 1)
    assert quarter_periods(D(2025, 12, 31)) == [D(2025, 10, 1), D(2025, 11, 1), D(2025, 12, 1)]


@given(periods)
def test_each_period_is_in_exactly_one_quarter_of_its_financial_year(period):
    quarter = quarter_periods(period)
    assert period in quarter
    assert len(quarter) == 3
    assert is_quarter_end(quarter[-1])
    assert not any(is_quarter_end(p) for p in quarter[:2])
    assert {fy_start_year(p) for p in quarter} == {fy_start_year(period)}
    assert fy_periods(fy_start_year(period))[3 * (quarter_of(period) - 1) : 3 * quarter_of(period)] == quarter

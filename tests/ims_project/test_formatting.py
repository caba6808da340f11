"""Indian money and date display (ims_project/formatting.py). Pure: no database."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims_project.formatting import format_date, format_inr


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12345678.90"), "₹1,23,45,678.90"),
        (Decimal("0"), "₹0.00"),
        (0, "₹0.00"),
        (Decimal("5"), "₹5.00"),
        (Decimal("999.99"), "₹999.99"),
        (Decimal("1000"), "₹1,000.00"),
        (Decimal("12345"), "₹12,345.00"),
        (Decimal("100000"), "₹1,00,000.00"),  # one lakh
        (Decimal("9999999.99"), "₹99,99,999.99"),
        (Decimal("10000000"), "₹1,00,00,000.00"),  # one crore
        (Decimal("1234567890123.45"), "₹12,34,56,78,90,123.45"),  # crore-scale
        ("2500.5", "₹2,500.50"),
        (" 2500.5 ", "₹2,500.50"),
        (1500, "₹1,500.00"),
    ],
)
def test_format_inr_uses_indian_grouping(value, text):
    assert format_inr(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("-1000"), "-₹1,000.00"),
        ("-12345678.9", "-₹1,23,45,678.90"),
        (Decimal("-0.50"), "-₹0.50"),
        (Decimal("-0.004"), "₹0.00"),  # rounds to zero: no "-₹0.00"
    ],
)
def test_format_inr_puts_the_minus_before_the_rupee_sign(value, text):
    assert format_inr(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0.005", "₹0.01"),
        ("0.015", "₹0.02"),
        ("0.025", "₹0.03"),  # half up, not banker's rounding
        ("2.675", "₹2.68"),
        ("-2.675", "-₹2.68"),
        ("0.0049", "₹0.00"),
        ("99999.995", "₹1,00,000.00"),  # rounding carries into a new group
    ],
)
def test_format_inr_rounds_half_up(value, text):
    assert format_inr(value) == text


def test_format_inr_without_symbol_or_decimals():
    assert format_inr(Decimal("12345678.5"), decimals=0) == "₹1,23,45,679"
    assert format_inr(Decimal("12345678.49"), symbol=False) == "1,23,45,678.49"
    assert format_inr(Decimal("-1234.5"), symbol=False, decimals=0) == "-1,235"


@pytest.mark.parametrize("value", [None, "", "abc", "1,000", "NaN", "Infinity", "-Infinity", True, object()])
def test_format_inr_is_blank_for_anything_that_is_not_a_finite_amount(value):
    assert format_inr(value) == ""


def test_format_inr_float_input_uses_its_shortest_repr():
    assert format_inr(0.1 + 0.2) == "₹0.30"


@given(
    st.decimals(
        min_value=Decimal("-1e15"), max_value=Decimal("1e15"), allow_nan=False, allow_infinity=False, places=4
    )
)
def test_format_inr_shows_the_amount_rounded_half_up_and_grouped_indian_style(amount):
    text = format_inr(amount)
    assert re.fullmatch(r"-?₹(\d{1,2}(,\d{2})*,\d{3}|\d{1,3})\.\d{2}", text), text
    assert Decimal(text.replace("₹", "").replace(",", "")) == amount.quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert format_inr(str(amount)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.date(2025, 10, 5), "05-10-2025"),
        (dt.date(2026, 1, 1), "01-01-2026"),
        (dt.date(987, 1, 2), "02-01-0987"),
        (dt.datetime(2025, 10, 5, 23, 59), "05-10-2025"),  # noqa: DTZ001 - the point: a naive one is shown as is
        (dt.datetime(2025, 10, 31, 20, 0, tzinfo=dt.UTC), "01-11-2025"),  # 01:30 next day in Asia/Kolkata
        (dt.datetime(2025, 10, 31, 18, 29, tzinfo=dt.UTC), "31-10-2025"),  # 23:59 in Asia/Kolkata
        ("2025-10-05", "05-10-2025"),
        ("2025-10-31T20:00:00+00:00", "01-11-2025"),
        ("not a date", "not a date"),
        (None, ""),
        ("", ""),
    ],
)
def test_format_date_is_dd_mm_yyyy_in_india(value, text):
    assert format_date(value) == text


@given(st.dates())
def test_format_date_writes_every_date_as_dd_mm_yyyy(day):
    text = format_date(day)
    assert re.fullmatch(r"\d{2}-\d{2}-\d{4}", text)
    assert tuple(int(part) for part in text.split("-")) == (day.day, day.month, day.year)

"""How people type document numbers (gst.number_forms): the financial year in every form, look-alike characters.
Pure: no database."""

from __future__ import annotations

import pytest

from gst.number_forms import confusable, confusable_key, look_alike_key, loose_number
from gst.numbers import normalise_doc_number

FY_2023 = [
    "2324",
    "202324",
    "20232024",
    "2023-24",
    "2023/24",
    "23-24",
    "23/24",
    "2023-2024",
    "FY24",
    "FY2024",
    "FY23-24",
    "FY 2023-24",
    "F.Y.2023-24",
]


@pytest.mark.parametrize("token", FY_2023)
@pytest.mark.parametrize("shape", ["INV/{fy}/42", "INV-{fy}-0042", "{fy}/INV/42", "INV/42/{fy}"])
def test_every_form_of_the_financial_year_is_removed(token, shape):
    assert loose_number(shape.format(fy=token), 2023) == "INV42"


def test_a_number_that_is_only_a_year_like_serial_keeps_it_and_other_years_stay():
    assert loose_number("INV/2324", 2023) == "INV2324"  # nothing else to number it by: the serial
    assert loose_number("INV/2425/42", 2023) == "INV242542"  # another year's token is not this FY's
    assert loose_number("INV/123245", 2023) == "INV123245"  # inside a longer run of digits


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("INVO42", "INV042"),
        ("SO12", "5012"),
        ("INVl7", "INV17"),
        ("B8", "88"),
        ("Z2A", "22A"),
        ("IN1", "INI"),
    ],
)
def test_look_alike_characters_make_numbers_confusable(a, b):
    a, b = normalise_doc_number(a), normalise_doc_number(b)
    assert confusable(a, b)
    assert confusable_key(a) == confusable_key(b)


def test_equal_or_really_different_numbers_are_not_confusable():
    assert not confusable("INV42", "INV42")
    assert not confusable("INV42", "INV43")
    assert not confusable("INV42", "INV420")


def test_look_alikes_are_read_alike_before_the_number_is_normalised():
    assert look_alike_key("INV/2O25-26/00040", 2025) == look_alike_key("INV/2025-26/40", 2025) == "1NV40"
    assert look_alike_key("MH/25/I005", 2025) == look_alike_key("MH/25/1005", 2025)
    assert look_alike_key("INV/42", 2025) != look_alike_key("INV/43", 2025)

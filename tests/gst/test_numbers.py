"""Invoice-number normalisation (docs/rules/documents.md §3) and the GST number format (docs/rules/documents.md §1). Pure: no database."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gst.numbers import DocNumberCheck, is_valid_doc_number, normalise_doc_number

FY_FORMS = ["2025-2026", "2025/2026", "2025-26", "2025/26", "25-26", "25/26"]
ASCII_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

parts = st.lists(st.text(alphabet=ASCII_ALNUM, min_size=1, max_size=5), min_size=1, max_size=4)
separators = st.text(alphabet="/-_. \\", min_size=1, max_size=2)
fy_starts = st.integers(min_value=2017, max_value=2099)


def spell(items: list[str], seps: list[str]) -> str:
    out = items[0]
    for i, item in enumerate(items[1:]):
        out += seps[i % len(seps)] + item
    return out


def fy_tokens(start: int) -> list[str]:
    y1, y2 = str(start), str(start + 1)
    return (
        [f"{y1}{s}{y2}" for s in "-/"]
        + [f"{y1}{s}{y2[2:]}" for s in "-/"]
        + [f"{y1[2:]}{s}{y2[2:]}" for s in "-/"]
    )


# --- examples -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", FY_FORMS)
def test_every_fy_token_of_the_documents_year_is_dropped(token):
    assert normalise_doc_number(f"INV/{token}/0042", 2025) == "INV42"
    assert normalise_doc_number(f"{token}-INV-42", 2025) == "INV42"
    assert normalise_doc_number(f"INV{token}/42", 2025) == "INV42"


def test_doc_docstring_example_inv_2025_26_0042_and_inv_42_share_a_key():
    assert normalise_doc_number("INV/2025-26/0042", 2025) == normalise_doc_number("inv-42", 2025) == "INV42"


def test_fy_token_of_another_year_is_kept():
    assert normalise_doc_number("INV/2024-25/42", 2025) == "INV20242542"


def test_fy_token_is_kept_when_no_fy_is_given():
    assert normalise_doc_number("INV/2025-26/42") == "INV20252642"


def test_fy_token_inside_a_longer_run_of_digits_is_not_a_token():
    assert normalise_doc_number("125-2600", 2025) == "1252600"
    assert normalise_doc_number("INV/2025-261", 2025) == "INV2025261"


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("A/B-C_D.E\\F G", "ABCDEFG"),
        ("inv 0042", "INV42"),
        ("INV0042", "INV42"),
        ("0042", "42"),
        ("100", "100"),
        ("1/05", "15"),
        ("0/42", "42"),
        ("000", "0"),
        ("0-0", "0"),
        ("", ""),
        (None, ""),
        (" / - ", ""),
        ("SI/25-26/0001", "SI25261"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRST"),
    ],
)
def test_normalisation_examples(number, key):
    assert normalise_doc_number(number) == key


# --- properties ---------------------------------------------------------------------------------------------


@given(st.text(max_size=40), st.none() | fy_starts)
def test_normalisation_is_idempotent_and_at_most_20_characters(text, fy):
    key = normalise_doc_number(text, fy)
    assert len(key) <= 20
    assert normalise_doc_number(key, fy) == key
    assert normalise_doc_number(key) == key


@given(parts, separators, st.none() | fy_starts)
def test_normalisation_is_blind_to_case(items, seps, fy):
    text = spell(items, [seps])
    assert (
        normalise_doc_number(text.lower(), fy)
        == normalise_doc_number(text.upper(), fy)
        == normalise_doc_number(text, fy)
    )


@given(parts, st.lists(separators, min_size=1, max_size=3), st.lists(separators, min_size=1, max_size=3))
def test_normalisation_is_blind_to_which_separators_are_used(items, seps_a, seps_b):
    assert normalise_doc_number(spell(items, seps_a)) == normalise_doc_number(spell(items, seps_b))


@given(parts, separators)
def test_normalisation_is_blind_to_separators_between_parts_without_leading_zeros(items, sep):
    assume(not any(p.startswith("0") for p in items[1:]))
    assert normalise_doc_number(sep.join(items)) == normalise_doc_number("".join(items))


@given(parts, separators, st.lists(st.integers(min_value=0, max_value=3), min_size=4, max_size=4))
def test_normalisation_is_blind_to_zero_padding_of_each_part(items, sep, pads):
    padded = ["0" * pads[i] + item for i, item in enumerate(items)]
    assert normalise_doc_number(sep.join(padded)) == normalise_doc_number(sep.join(items))


@given(parts, separators, fy_starts, st.data())
def test_normalisation_is_blind_to_the_documents_fy_token(items, sep, fy, data):
    token = data.draw(st.sampled_from(fy_tokens(fy)))
    where = data.draw(st.integers(min_value=0, max_value=len(items)))
    with_token = [*items[:where], token, *items[where:]]
    assert normalise_doc_number(sep.join(with_token), fy) == normalise_doc_number(sep.join(items), fy)


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=16),
    st.text(alphabet="0123456789", min_size=1, max_size=16),
)
def test_plain_numeric_numbers_share_a_key_only_when_they_are_the_same_number(a, b):
    assert (normalise_doc_number(a) == normalise_doc_number(b)) == (int(a) == int(b))
    assert normalise_doc_number(a) == str(int(a))


# --- GST document-number format (docs/rules/documents.md §1) -------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["INV/2025-26/0042", "A", "7", "inv-1", "ABCDEFGHIJKLMNOP", "1/2-3"])
def test_valid_document_numbers_pass(number):
    check = is_valid_doc_number(number)
    assert check
    assert check.valid
    assert check.message == ""


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("", "required"),
        (None, "required"),
        ("ABCDEFGHIJKLMNOPQ", "at most 16 characters, got 17"),
        ("-INV1", "must start with a letter or digit, not '-'"),
        ("/1", "must start with a letter or digit, not '/'"),
        (" INV1", "must start with a letter or digit, not ' '"),
        ("١INV", "must start with a letter or digit"),
        ("INV 1", "character 4 (' ') is not allowed"),
        ("INV_1", "character 4 ('_') is not allowed"),
        ("INV.1", "character 4 ('.') is not allowed"),
        ("INV#1", "character 4 ('#') is not allowed"),
        ("INVé1", "character 4 ('é') is not allowed"),
        ("INV\\1", "character 4 ('\\\\') is not allowed"),
    ],
)
def test_invalid_document_numbers_are_falsy_with_a_message_naming_the_problem(number, words):
    check = is_valid_doc_number(number)
    assert not check
    assert isinstance(check, DocNumberCheck)
    assert not check.valid
    assert check.message.startswith("document number")
    assert words in check.message


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9/-]{0,15}", fullmatch=True))
def test_every_number_of_the_gst_pattern_is_valid(number):
    assert is_valid_doc_number(number)


@given(st.text(max_size=20) | st.text(alphabet=ASCII_ALNUM + "/- _", max_size=20))
def test_validity_agrees_with_the_gst_pattern_for_any_text(text):
    check = is_valid_doc_number(text)
    assert bool(check) == bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9/-]{0,15}", text, flags=re.ASCII))
    assert check.valid or check.message

"""GSTIN and PAN checks (docs/rules/gstin.md). Pure: no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gst.gstin import (
    ALPHABET,
    LEGACY_STATE_CODES,
    STATE_CODES,
    check_character,
    is_valid_gstin,
    make_gstin,
    pan_holder_type,
    pan_of,
    state_name,
    validate_gstin,
    validate_pan,
)

CHECK_CODES = {"length", "format", "state", "pan", "entity", "default", "checksum"}


def reference_contributions(first14: str) -> list[int]:
    """docs/rules/gstin.md §3 step by step, written independently of the module (which uses python-stdnum)."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for position, char in enumerate(first14, start=1):
        product = alphabet.index(char) * (2 if position % 2 == 0 else 1)
        out.append(product // 36 + product % 36)
    return out


def reference_check_character(first14: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return alphabet[(36 - sum(reference_contributions(first14)) % 36) % 36]


states = st.sampled_from(sorted(STATE_CODES))
LETTERS, DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
pans = st.tuples(
    st.text(LETTERS, min_size=5, max_size=5),
    st.text(DIGITS, min_size=4, max_size=4),
    st.sampled_from(LETTERS),
).map("".join)
entities = st.sampled_from("123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
valid_gstins = st.builds(make_gstin, states, pans, entities)


# --- the worked example and known GSTINs ---------------------------------------------------------------


def test_worked_example_contributions_sum_and_check_character_match_domain_doc():
    contributions = reference_contributions("27AAPFU0939F1Z")
    assert contributions == [2, 14, 10, 20, 25, 30, 30, 0, 9, 6, 9, 30, 1, 35]
    assert sum(contributions) == 221
    assert reference_check_character("27AAPFU0939F1Z") == "V"
    assert check_character("27AAPFU0939F1Z") == "V"


@pytest.mark.parametrize(
    "gstin",
    [
        "27AAPFU0939F1ZV",  # docs/rules/gstin.md §3.1 worked example
        "33GSPTN0791G1Z5",  # GSTN sandbox, Tamil Nadu
        "27GSPMH0992G1ZF",  # GSTN sandbox, Maharashtra
        # the sample payloads (tests/portal_files/fixtures)
        "27AAICZ1234Q1ZQ",
        "27AAFCX5678M1ZF",
        "29AAJFY9012N1ZE",
        "24AAKCV7788R1Z1",
        "07AAGCW3456P1ZN",
    ],
)
def test_known_valid_gstins_pass_every_check(gstin):
    result = validate_gstin(gstin)
    assert result.valid, result.message
    assert result.errors == []
    assert result.message == ""
    assert result.code == ""
    assert result.gstin == gstin
    assert is_valid_gstin(gstin)
    assert reference_check_character(gstin[:14]) == gstin[14]


@pytest.mark.parametrize(
    ("gstin", "expected"),
    [("01AABCE2207R1Z5", "V"), ("24MAYAS0100J1JD", reference_check_character("24MAYAS0100J1J"))],
)
def test_gstn_fixtures_with_a_wrong_check_character_fail_naming_the_expected_one(gstin, expected):
    result = validate_gstin(gstin)
    assert not result.valid
    assert result.code == "checksum"
    assert f"is {gstin[14]!r} but should be {expected!r}" in result.message
    assert not is_valid_gstin(gstin)


def test_expected_check_character_for_the_failing_fixture_is_v_per_domain_doc():
    assert check_character("01AABCE2207R1Z") == "V"


@pytest.mark.parametrize(
    "typed",
    ["27aapfu0939f1zv", " 27AAPFU0939F1ZV ", "27 AAPFU 0939F 1ZV", "27-AAPFU-0939F-1ZV", "27aapfu0939F1Zv\n"],
)
def test_lower_case_spaces_and_dashes_are_normalised_before_checking(typed):
    result = validate_gstin(typed)
    assert result.valid, result.message
    assert result.gstin == "27AAPFU0939F1ZV"


# --- each check, with a message that names it ------------------------------------------------------------


@pytest.mark.parametrize(
    ("gstin", "code", "words"),
    [
        ("", "length", "15 characters, got 0"),
        ("27AAPFU0939F1Z", "length", "15 characters, got 14"),
        ("27AAPFU0939F1ZVV", "length", "15 characters, got 16"),
        ("27AAPFU0939F1Z#", "format", "character 15 ('#')"),
        ("27AAPFU0939F1Zé", "format", "character 15 ('é')"),
        ("２7AAPFU0939F1ZV", "format", "character 1"),
        ("00AAPFU0939F1ZV", "state", "state code '00'"),
        ("40AAPFU0939F1ZV", "state", "state code '40'"),
        ("AAAAPFU0939F1ZV", "state", "state code 'AA'"),
        ("27AAP1U0939F1ZV", "pan", "characters 1-5 must be letters"),
        ("27AAPFUO939F1ZV", "pan", "characters 6-9 must be digits"),
        ("27AAPFU093911ZV", "pan", "character 10 must be a letter"),
        ("27AAPFU0939F0ZV", "entity", "13th character"),
        ("27AAPFU0939F1CV", "default", "14th character 'C'"),
        ("27AAPFU0939F10V", "default", "14th character '0'"),
        ("27AAPFU0939F1ZW", "checksum", "should be 'V'"),
    ],
)
def test_each_failed_check_is_reported_with_its_code_and_a_message_naming_it(gstin, code, words):
    result = validate_gstin(gstin)
    assert not result.valid
    assert result.code == code
    assert words in result.message
    assert result.message.startswith("GSTIN")


@pytest.mark.parametrize(("code", "name"), sorted(LEGACY_STATE_CODES.items()))
def test_legacy_state_codes_are_refused_for_a_registration_with_their_meaning(code, name):
    gstin = make_gstin(code, "AAPFU0939F")
    result = validate_gstin(gstin)
    assert result.code == "state"
    assert f"'{code}'" in result.message
    assert name in result.message


def test_checks_stop_at_the_first_failure():
    # wrong state code AND wrong check character: the state is reported
    result = validate_gstin("00AAPFU0939F1ZW")
    assert result.code == "state"
    assert len(result.errors) == 1


@pytest.mark.parametrize("allowed", list("123456789ABDEFGHIJZ"))
def test_fourteenth_character_accepts_the_india_compliance_set(allowed):
    first14 = f"27AAPFU0939F1{allowed}"
    assert validate_gstin(first14 + check_character(first14)).valid


@pytest.mark.parametrize("refused", list("0CKLMNOPQRSTUVWXY"))
def test_fourteenth_character_outside_the_set_is_refused_even_with_a_right_check_character(refused):
    first14 = f"27AAPFU0939F1{refused}"
    assert validate_gstin(first14 + check_character(first14)).code == "default"


def test_state_codes_are_exactly_the_domain_doc_list():
    assert sorted(STATE_CODES) == [f"{n:02d}" for n in range(1, 39) if n not in (25, 28)] + ["97"]
    assert sorted(LEGACY_STATE_CODES) == ["25", "28", "96", "99"]
    assert STATE_CODES["27"] == "Maharashtra"
    assert STATE_CODES["38"] == "Ladakh"
    assert STATE_CODES["37"] == "Andhra Pradesh"


def test_state_name_knows_current_and_legacy_codes():
    assert state_name("33") == "Tamil Nadu"
    assert state_name("25").startswith("Daman and Diu")
    assert state_name("96") == "Other Countries"
    assert state_name("00") == "Unknown"


# --- PAN ------------------------------------------------------------------------------------------------


def test_pan_of_a_gstin_is_characters_3_to_12():
    assert pan_of("27aapfu0939f1zv") == "AAPFU0939F"


@pytest.mark.parametrize("pan", ["AAPFU0939F", "aapfu0939f", " GSPTN0791G "])
def test_valid_pans_pass(pan):
    assert validate_pan(pan).valid


@pytest.mark.parametrize(
    ("pan", "code", "words"),
    [
        ("AAPFU0939", "length", "10 characters, got 9"),
        ("AAPF10939F", "format", "characters 1-5 must be letters"),
        ("AAPFUX939F", "format", "characters 6-9 must be digits"),
        ("AAPFU09391", "format", "character 10 must be a letter"),
    ],
)
def test_invalid_pans_name_the_wrong_part(pan, code, words):
    result = validate_pan(pan)
    assert not result.valid
    assert result.code == code
    assert words in result.message


@pytest.mark.parametrize(
    ("pan", "holder"),
    [
        ("AAPFU0939F", "Firm / LLP"),
        ("AAICZ1234Q", "Company"),
        ("ABCPK1234L", "Individual"),
        ("GSPMH0992G", "Other"),
    ],
)
def test_pan_holder_type_reads_the_fourth_character(pan, holder):
    assert pan_holder_type(pan) == holder


# --- properties -----------------------------------------------------------------------------------------


@given(states, pans, entities)
def test_make_gstin_always_builds_a_valid_gstin(state, pan, entity):
    gstin = make_gstin(state, pan, entity)
    result = validate_gstin(gstin)
    assert result.valid, result.message
    assert gstin[:2] == state
    assert pan_of(gstin) == pan
    assert gstin[12] == entity
    assert gstin[13] == "Z"


def test_make_gstin_upper_cases_its_input():
    assert make_gstin("27", "aapfu0939f") == "27AAPFU0939F1ZV"


@given(st.text(alphabet=ALPHABET, min_size=14, max_size=14))
def test_check_character_agrees_with_an_independent_implementation_of_the_doc(first14):
    assert check_character(first14) == reference_check_character(first14)


@given(valid_gstins, st.integers(min_value=0, max_value=14), st.sampled_from(ALPHABET))
def test_any_single_character_substitution_of_a_valid_gstin_is_caught(gstin, position, replacement):
    if gstin[position] == replacement:
        replacement = ALPHABET[(ALPHABET.index(replacement) + 1) % 36]
    typo = gstin[:position] + replacement + gstin[position + 1 :]
    result = validate_gstin(typo)
    assert not result.valid
    assert result.code in CHECK_CODES


@given(st.text(max_size=30))
def test_any_input_gets_a_verdict_and_never_an_exception(text):
    result = validate_gstin(text)
    assert result.valid or (result.code in CHECK_CODES and result.message)
    pan = validate_pan(text)
    assert pan.valid or pan.message

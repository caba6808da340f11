"""The IMS section table is exactly docs/rules/sections.md §2; actions are docs/rules/ims-actions.md §1.1. Pure: no database."""

from __future__ import annotations

import pytest

from gst.sections import (
    ACTION_CHOICES,
    API_CODE_TO_SECTION,
    DOC_KIND_CHOICES,
    SECTION_CHOICES,
    SECTIONS,
    Action,
    DocKind,
    Section,
    UnknownSection,
    section_info,
)

# docs/rules/sections.md §2, transcribed: key, GETINV code, number field, date field, original number, original date,
# document kind, amended section, GSTR-2B list (india-compliance mapping; ECO documents land in ecom/ecoma).
DOMAIN_TABLE = [
    ("b2b", "B2B", "inum", "idt", None, None, "invoice", None, "b2b"),
    ("b2ba", "B2BA", "inum", "idt", "oinum", "oidt", "invoice", "b2b", "b2ba"),
    ("b2bdn", "DN", "nt_num", "nt_dt", None, None, "debit_note", None, "cdnr"),
    ("b2bdna", "DNA", "nt_num", "nt_dt", "ont_num", "ont_dt", "debit_note", "b2bdn", "cdnra"),
    ("b2bcn", "CN", "nt_num", "nt_dt", None, None, "credit_note", None, "cdnr"),
    ("b2bcna", "CNA", "nt_num", "nt_dt", "ont_num", "ont_dt", "credit_note", "b2bcn", "cdnra"),
    ("ecom", "ECOM", "inum", "idt", None, None, "invoice", None, "ecom"),
    ("ecoma", "ECOMA", "inum", "idt", "oinum", "oidt", "invoice", "ecom", "ecoma"),
    # docs/rules/sections.md §4: Import of Goods and ISD (record shapes our reading)
    ("impg", "IMPG", "boenum", "boedt", None, None, "invoice", None, "impg"),
    ("impga", "IMPGA", "boenum", "boedt", "oboenum", "oboedt", "invoice", "impg", "impga"),
    ("impgsez", "IMPGSEZ", "boenum", "boedt", None, None, "invoice", None, "impgsez"),
    ("impgseza", "IMPGSEZA", "boenum", "boedt", "oboenum", "oboedt", "invoice", "impgsez", "impgasez"),
    ("isd", "ISD", "docnum", "docdt", None, None, "invoice", None, "isd"),
    ("isda", "ISDA", "docnum", "docdt", "odocnum", "odocdt", "invoice", "isd", "isda"),
    ("isdcn", "ISDCN", "docnum", "docdt", None, None, "credit_note", None, "isd"),
    ("isdcna", "ISDCNA", "docnum", "docdt", "odocnum", "odocdt", "credit_note", "isdcn", "isda"),
]
# goods type (dashboard tab) and 2B itcsumm group of each section
TABS = {
    "b2b": ("ALL_OTH", "nonrevsup"),
    "b2ba": ("ALL_OTH", "nonrevsup"),
    "b2bdn": ("ALL_OTH", "nonrevsup"),
    "b2bdna": ("ALL_OTH", "nonrevsup"),
    "b2bcn": ("ALL_OTH", "othersup"),
    "b2bcna": ("ALL_OTH", "othersup"),
    "ecom": ("ALL_OTH", "nonrevsup"),
    "ecoma": ("ALL_OTH", "nonrevsup"),
    "impg": ("IMP_GDS", "imports"),
    "impga": ("IMP_GDS", "imports"),
    "impgsez": ("IMP_GDS", "imports"),
    "impgseza": ("IMP_GDS", "imports"),
    "isd": ("INV_SUPP_ISD", "isdsup"),
    "isda": ("INV_SUPP_ISD", "isdsup"),
    "isdcn": ("INV_SUPP_ISD", "othersup"),
    "isdcna": ("INV_SUPP_ISD", "othersup"),
}


def test_every_section_has_its_tab_and_2b_group():
    assert {s.value: (SECTIONS[s].goods_typ.value, SECTIONS[s].twob_group) for s in Section} == TABS


def test_a_bill_of_entry_cannot_be_rejected_and_one_from_overseas_names_no_supplier():
    for s in Section:
        info = SECTIONS[s]
        assert ("R" in info.actions) is (not info.is_bill_of_entry)
        assert info.has_supplier is (s not in (Section.IMPG, Section.IMPGA))


def test_section_keys_are_exactly_those_of_the_domain_table():
    assert {s.value for s in Section} == {row[0] for row in DOMAIN_TABLE}
    assert set(SECTIONS) == set(Section)


@pytest.mark.parametrize("row", DOMAIN_TABLE, ids=[row[0] for row in DOMAIN_TABLE])
def test_section_row_matches_the_domain_table(row):
    key, code, number, date, orig_number, orig_date, kind, original, twob = row
    info = SECTIONS[Section(key)]
    assert info.key == key
    assert info.api_code == code
    assert (info.number_field, info.date_field) == (number, date)
    assert (info.orig_number_field, info.orig_date_field) == (orig_number, orig_date)
    assert info.kind == DocKind(kind)
    assert info.amendment is (original is not None)
    assert info.original_section == (Section(original) if original else None)
    assert info.twob_section == twob
    assert info.label


def test_getinv_codes_map_back_to_their_sections():
    assert {row[1]: Section(row[0]) for row in DOMAIN_TABLE} == API_CODE_TO_SECTION


@pytest.mark.parametrize("row", DOMAIN_TABLE, ids=[row[0] for row in DOMAIN_TABLE])
@pytest.mark.parametrize("spelling", [str.lower, str.upper, lambda s: f"  {s} "])
def test_section_info_finds_a_section_by_key_or_getinv_code_in_any_case(row, spelling):
    key, code = row[0], row[1]
    assert section_info(spelling(key)).key == key
    assert section_info(spelling(code)).key == key


def test_section_info_accepts_the_enum_member():
    assert section_info(Section.B2BCNA).api_code == "CNA"


@pytest.mark.parametrize("bad", ["", None, "b2c", "CDNR", "impgx", "isdd", "B2"])
def test_unknown_section_is_a_clear_value_error_listing_the_valid_ones(bad):
    with pytest.raises(UnknownSection) as caught:
        section_info(bad)
    message = str(caught.value)
    assert message.startswith(f"unknown IMS section {bad!r}")
    assert "b2bcna" in message
    assert "CNA" in message
    assert isinstance(caught.value, ValueError)


def test_amendments_point_at_a_section_of_the_same_kind():
    for info in SECTIONS.values():
        if info.amendment:
            original = SECTIONS[info.original_section]
            assert not original.amendment
            assert original.kind == info.kind
            assert original.number_field == info.number_field


def test_choices_cover_every_section_kind_and_action():
    assert [value for value, _ in SECTION_CHOICES] == [s.value for s in Section]
    assert [value for value, _ in DOC_KIND_CHOICES] == ["invoice", "credit_note", "debit_note"]
    assert dict(ACTION_CHOICES) == {"A": "Accepted", "R": "Rejected", "P": "Pending", "N": "No action"}


def test_action_codes_are_the_api_codes_of_domain_2_1():
    assert {a.name: a.value for a in Action} == {
        "ACCEPTED": "A",
        "REJECTED": "R",
        "PENDING": "P",
        "NO_ACTION": "N",
    }

"""The spellings of today's portal (docs/rules/portal-api.md §2.1): block flags as booleans or "Y"/"N" under both
names, ``ItcAvailabilityCheck`` stored as received, ``srcfilstatus`` "F". Pure: no database."""

import hashlib

import pytest

from gst.ims_record import PORTAL_FIELDS, RecordError, content_hash_of, parse_line, parse_record
from gst.sections import section_info
from tests.factories import document_record, gstin_for

SUPPLIER = gstin_for(3, "29")
FLAGS = [
    ("ispendactblocked", "pending_blocked"),
    ("ispendactnallwd", "pending_blocked"),
    ("isRemarksBlocked", "remarks_blocked"),
    ("isItcRedReqBlocked", "itc_red_blocked"),
    ("itcRedReqBlocked", "itc_red_blocked"),
]
SPELLINGS = [
    (True, True),
    (False, False),
    ("Y", True),
    ("N", False),
    ("y", True),
    ("true", True),
    ("false", False),
]


def record(**extra):
    rec = document_record(supplier_gstin=SUPPLIER, section="b2bcn", number="CN/7", hash="ab" * 32, **extra)
    if "ispendactnallwd" in extra:
        del rec["ispendactblocked"]
    return rec


@pytest.mark.parametrize(("key", "field"), FLAGS)
@pytest.mark.parametrize(("value", "expected"), SPELLINGS)
def test_block_flags_are_read_as_booleans_or_y_n_under_every_name(key, field, value, expected):
    assert parse_record("b2bcn", record(**{key: value}))[field] is expected


@pytest.mark.parametrize(("key", "field"), FLAGS)
def test_a_flag_as_a_boolean_and_as_y_hashes_alike(key, field):
    as_bool = parse_record("b2bcn", record(**{key: True}))
    as_text = parse_record("b2bcn", record(**{key: "Y"}))
    assert as_bool["content_hash"] == as_text["content_hash"]


def test_the_newer_flag_name_wins_over_the_fixtures_spelling():
    fields = parse_record("b2bcn", record(isItcRedReqBlocked=False, itcRedReqBlocked="Y"))
    assert fields["itc_red_blocked"] is False


def test_a_flag_that_is_neither_boolean_nor_y_n_is_refused_with_its_name():
    with pytest.raises(RecordError, match="isItcRedReqBlocked 'blocked' must be Y or N"):
        parse_record("b2bcn", record(isItcRedReqBlocked="blocked"))


@pytest.mark.parametrize("status", ["F", "f", " F "])
def test_srcfilstatus_f_reads_as_filed(status):
    assert parse_record("b2bcn", record(srcfilstatus=status))["supplier_filing_status"] == "filed"


@pytest.mark.parametrize(
    ("value", "stored"), [(True, "Y"), (False, "N"), ("Y", "Y"), ("n", "N"), ("PARTIAL", "PARTIAL")]
)
def test_itc_availability_check_is_stored_as_received(value, stored):
    assert parse_record("b2bcn", record(ItcAvailabilityCheck=value))["itc_availability_check"] == stored


def test_a_record_without_itc_availability_check_stores_none():
    assert parse_record("b2bcn", record())["itc_availability_check"] is None


def test_itc_availability_check_is_a_portal_field_of_the_hash():
    without = parse_record("b2bcn", record())
    assert parse_record("b2bcn", record(ItcAvailabilityCheck="Y"))["content_hash"] != without["content_hash"]


def test_content_hash_of_agrees_with_the_parser_with_and_without_the_availability_check():
    for rec in (record(), record(ItcAvailabilityCheck=True)):
        fields = parse_record("b2bcn", rec)
        assert content_hash_of(fields) == fields["content_hash"]


def test_a_record_without_the_availability_check_hashes_as_before_the_field_existed():
    """Documents stored before the field (and the bill-of-entry and ISD fields after it) keep their hash (the next
    sync does not rewrite them)."""
    fields = parse_record("b2bcn", record())
    line, _key = parse_line(section_info("b2bcn"), record())
    earlier_fields = line.split("\t")[: PORTAL_FIELDS.index("itc_availability_check")]
    assert fields["content_hash"] == hashlib.md5("\t".join(earlier_fields).encode()).hexdigest()  # noqa: S324


def test_an_overlong_availability_check_is_refused():
    with pytest.raises(RecordError, match="ItcAvailabilityCheck"):
        parse_record("b2bcn", record(ItcAvailabilityCheck="X" * 21))


@pytest.mark.parametrize("value", [True, "Y"])
def test_the_availability_check_parses_the_same_before_and_after_values_are_memorised(value):
    rec = record(ItcAvailabilityCheck=value, isRemarksBlocked=True, srcfilstatus="F")
    assert parse_line(section_info("b2bcn"), rec) == parse_line(section_info("b2bcn"), dict(rec))


IRN = "ab12" * 16


@pytest.mark.parametrize("hash_", ["", "a\\b"])  # a backslash in the hash takes the careful path
def test_the_irn_and_its_date_are_read_in_either_form_and_in_both_parser_paths(hash_):
    for generated, day in (
        ("06-10-2025", "2025-10-06"),
        ("06-10-2025 14:03:11", "2025-10-06"),
        ("2025-10-07", "2025-10-07"),
    ):
        fields = parse_record("b2bcn", {**record(irn=f" {IRN} ", irngendate=generated), "hash": hash_})
        assert (fields["irn"], fields["irn_date"].isoformat()) == (IRN, day)
        assert content_hash_of(fields) == fields["content_hash"]
    only_irn = parse_record("b2bcn", {**record(irn=IRN), "hash": hash_})
    assert (only_irn["irn"], only_irn["irn_date"]) == (IRN, None)
    none = parse_record("b2bcn", {**record(irn="", irngendate=""), "hash": hash_})
    assert (none["irn"], none["irn_date"]) == (None, None)
    assert none["content_hash"] == parse_record("b2bcn", {**record(), "hash": hash_})["content_hash"]


@pytest.mark.parametrize(
    ("key", "value"), [("irngendate", "31-02-2025"), ("irngendate", "soon"), ("irn", "x" * 65)]
)
def test_an_unreadable_irn_or_irn_date_is_refused_naming_the_field(key, value):
    with pytest.raises(RecordError, match=key):
        parse_record("b2bcn", record(**{key: value}))

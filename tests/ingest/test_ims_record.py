"""The GETINV record parser (pure): field mapping, spellings the portal uses, canonical hashing, clear errors."""

import datetime as dt
from decimal import Decimal

import pytest

from gst.ims_record import RecordError, content_hash_of, parse_record
from tests.factories import document_record, gstin_for

SUPPLIER = gstin_for(1, "29")


def test_b2b_record_becomes_typed_document_fields():
    rec = document_record(
        supplier_gstin=SUPPLIER, number="KA-7781", date=dt.date(2025, 10, 15), taxable=Decimal("50000")
    )
    fields = parse_record("B2B", rec)
    assert fields["section"] == "b2b"
    assert fields["doc_kind"] == "invoice"
    assert fields["doc_number"] == "KA-7781"
    assert fields["doc_number_norm"] == "KA7781"
    assert fields["doc_date"] == dt.date(2025, 10, 15)
    assert fields["fy"] == 2025
    assert fields["supplier_period"] == dt.date(2025, 10, 1)
    assert fields["supplier_filing_status"] == "filed"
    assert fields["taxable_value"] == Decimal("50000.00")
    assert fields["igst"] == Decimal("9000.00")
    assert fields["supplier_gstin_valid"] is True
    assert fields["is_amendment"] is False


def test_amounts_as_numbers_or_strings_hash_the_same():
    rec = document_record(supplier_gstin=SUPPLIER, number="A-1")
    as_numbers = {**rec, "val": 11800, "txval": 10000.0, "iamt": 1800}
    as_strings = {**rec, "val": "11800.00", "txval": "10000", "iamt": "1800.0"}
    assert parse_record("b2b", as_numbers)["content_hash"] == parse_record("b2b", as_strings)["content_hash"]
    assert parse_record("b2b", as_numbers)["doc_value"] == Decimal("11800.00")


def test_any_portal_field_change_changes_the_hash_and_content_hash_of_agrees():
    rec = document_record(supplier_gstin=SUPPLIER, number="A-1")
    base = parse_record("b2b", rec)
    assert content_hash_of(base) == base["content_hash"]
    assert parse_record("b2b", {**rec, "action": "A"})["content_hash"] != base["content_hash"]
    assert parse_record("b2b", {**rec, "txval": "10000.01"})["content_hash"] != base["content_hash"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Filed", "filed"),
        ("FILED", "filed"),
        ("Not Filed", "not_filed"),
        ("SAVED", "not_filed"),
        ("not filed", "not_filed"),
    ],
)
def test_filing_status_spellings_are_compared_case_insensitively(status, expected):
    rec = document_record(supplier_gstin=SUPPLIER, srcfilstatus=status)
    assert parse_record("b2b", rec)["supplier_filing_status"] == expected


@pytest.mark.parametrize("inv_typ", ["SEWP", "SEWOP", "SEZWP", "SEZWOP", "DE", "CBW", "R"])
def test_supply_types_in_both_sez_spellings_are_accepted(inv_typ):
    rec = document_record(supplier_gstin=SUPPLIER, inv_typ=inv_typ)
    assert parse_record("b2b", rec)["inv_type"] == inv_typ


def test_credit_note_amendment_uses_note_fields_and_points_to_its_original():
    rec = document_record(
        supplier_gstin=SUPPLIER,
        section="b2bcna",
        number="CN/7",
        date=dt.date(2025, 10, 2),
        orig_number="CN/3",
        orig_date=dt.date(2025, 3, 20),
    )
    fields = parse_record("CNA", rec)
    assert (fields["doc_kind"], fields["is_amendment"]) == ("credit_note", True)
    assert (fields["orig_doc_number"], fields["orig_doc_date"]) == ("CN/3", dt.date(2025, 3, 20))
    assert (fields["orig_section"], fields["orig_fy"]) == ("b2bcn", 2024)


def test_ecom_record_may_use_note_shaped_number_fields():
    rec = {**document_record(supplier_gstin=SUPPLIER, section="ecom", number="E-1")}
    rec["nt_num"], rec["nt_dt"] = rec.pop("inum"), rec.pop("idt")
    assert parse_record("ecom", rec)["doc_number"] == "E-1"


def test_block_flags_accept_legacy_and_alternative_names():
    rec = document_record(
        supplier_gstin=SUPPLIER,
        section="b2bcn",
        itcRedReq="Y",
        itcRedReqBlocked="Y",
        isRemarksBlocked="Y",
        remarks="Short supply",
    )
    del rec["ispendactblocked"]
    rec["ispendactnallwd"] = "Y"
    fields = parse_record("b2bcn", rec)
    assert fields["pending_blocked"] is True
    assert fields["itc_red_blocked"] is True
    assert fields["remarks_blocked"] is True
    assert (fields["portal_itc_red_req"], fields["portal_remarks"]) == ("Y", "Short supply")
    assert fields["portal_decl_igst"] is None


def test_declared_itc_reduction_amounts_are_decimals():
    rec = document_record(
        supplier_gstin=SUPPLIER,
        section="b2bcn",
        itcRedReq="Y",
        declIgst="0",
        declCgst="450.5",
        declSgst="450.5",
        declCess=0,
        isItcRedReqBlocked="N",
    )
    fields = parse_record("b2bcn", rec)
    assert fields["portal_decl_cgst"] == Decimal("450.50")
    assert fields["portal_decl_cess"] == Decimal("0.00")
    assert fields["itc_red_blocked"] is False


def test_bad_checksum_gstin_is_kept_and_flagged():
    bad = SUPPLIER[:14] + ("A" if SUPPLIER[14] != "A" else "B")
    fields = parse_record("b2b", document_record(supplier_gstin=bad))
    assert fields["supplier_gstin"] == bad
    assert fields["supplier_gstin_valid"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"idt": "31-02-2025"}, "b2b record 17: idt '31-02-2025' is not a date DD-MM-YYYY"),
        ({"val": "12,000"}, "b2b record 17: val '12,000' is not an amount"),
        ({"stin": "27ABC"}, "b2b record 17: stin '27ABC' is not a 15-character GSTIN"),
        ({"rtnprd": "132025"}, "b2b record 17: rtnprd '132025' is not a tax period MMYYYY"),
        ({"action": "X"}, "b2b record 17: action 'X' is not an IMS action (A, R, P or N)"),
        ({"srcfilstatus": "Maybe"}, "b2b record 17: srcfilstatus 'Maybe' is not a filing status"),
        ({"inum": ""}, "b2b record 17: inum '' is missing"),
        ({"pos": "XX"}, "b2b record 17: pos 'XX' is not a 2-digit state code"),
    ],
)
def test_bad_record_error_names_section_position_field_and_value(change, message):
    rec = {**document_record(supplier_gstin=SUPPLIER), **change}
    with pytest.raises(RecordError) as exc:
        parse_record("b2b", rec, index=17)
    assert str(exc.value).startswith(message)


def test_amendment_without_original_number_is_an_error():
    rec = document_record(supplier_gstin=SUPPLIER, section="b2ba", number="A-2")
    del rec["oinum"]
    with pytest.raises(RecordError, match="oinum None is missing"):
        parse_record("b2ba", rec)


@pytest.mark.parametrize("number", ["MIX\\t\\N", "A\\\\nB", "TAB\tEND", "BACK\\"])
def test_numbers_with_backslashes_and_control_characters_read_back_exactly(number):
    rec = document_record(
        supplier_gstin=SUPPLIER,
        section="b2ba",
        number="AMD-1",
        orig_number=number,
        orig_date=dt.date(2025, 9, 1),
    )
    fields = parse_record("b2ba", {**rec, "inum": number})
    assert (fields["doc_number"], fields["orig_doc_number"]) == (number, number)

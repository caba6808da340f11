"""The fast paths of ingest: parsing with memos agrees with the careful parser, and amendments are linked however
and whenever their originals arrive, with the statistics of an empty table."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from audit.services import Actor
from gst.ims_record import RecordError, content_hash_of, parse_line, parse_record
from gst.numbers import normalise_doc_number
from gst.sections import section_info
from ims_project import rls
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy.scoping import tenant_scope
from tests.factories import document_record, gstin_for

ACTOR = Actor.system("tests")
SUPPLIER = gstin_for(21, "27")
B2B = section_info("b2b")


def test_a_record_parses_the_same_before_and_after_its_values_are_memorised():
    rec = document_record(
        supplier_gstin=SUPPLIER,
        number="FP/1",
        remarks="Short\tsupplied",
        itcRedReq="y",
        isRemarksBlocked=True,
        ispendactnallwd="Y",
        declCgst="12.5",
    )
    del rec["iamt"], rec["ispendactblocked"]
    first = parse_line(B2B, rec)
    second = parse_line(B2B, dict(rec))
    assert first == second
    fields = parse_record("b2b", rec)
    assert (fields["portal_remarks"], fields["portal_itc_red_req"]) == ("Short\tsupplied", "Y")
    assert (fields["remarks_blocked"], fields["pending_blocked"]) == (True, True)
    assert (fields["igst"], fields["portal_decl_cgst"], fields["portal_decl_igst"]) == (
        Decimal("0.00"),
        Decimal("12.50"),
        None,
    )


@pytest.mark.parametrize("value", [1, 1.0])
def test_a_memorised_flag_spelling_does_not_accept_a_number_that_equals_it(value):
    parse_line(B2B, document_record(supplier_gstin=SUPPLIER, isRemarksBlocked=True))
    with pytest.raises(RecordError, match=f"isRemarksBlocked {value!r} must be Y or N"):
        parse_line(B2B, document_record(supplier_gstin=SUPPLIER, isRemarksBlocked=value))


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ({"val": Decimal("118.00"), "txval": Decimal("100.00")}, ("118.00", "100.00")),
        ({"val": "118", "txval": "100.5"}, ("118.00", "100.50")),
        ({"val": 118, "txval": 100.25}, ("118.00", "100.25")),
    ],
)
def test_amounts_in_any_shape_become_two_decimal_values(amounts, expected):
    fields = parse_record("b2b", {**document_record(supplier_gstin=SUPPLIER), **amounts})
    assert (str(fields["doc_value"]), str(fields["taxable_value"])) == expected


TWO_DECIMALS = {
    "val": "11800.00",
    "txval": "10000.00",
    "iamt": "0.00",
    "camt": "900.50",
    "samt": "900.50",
    "cess": "0.00",
}


@pytest.mark.parametrize(
    "amounts",
    [
        # as load_json decodes JSON numbers: 11800.0 and 900.5 as Decimal, 0 as int
        {
            "val": Decimal("11800.0"),
            "txval": 10000,
            "iamt": 0,
            "camt": Decimal("900.5"),
            "samt": Decimal("900.50"),
        },
        {"val": 11800.0, "txval": 10000.0, "iamt": 0.0, "camt": 900.5, "samt": 900.5, "cess": 0.0},
        {"val": "11800", "txval": "10000.0", "iamt": "0", "camt": "900.5", "samt": "900.50", "cess": "0.0"},
        {"val": Decimal("1.18E+4"), "txval": "010000", "camt": " 900.5", "samt": Decimal("900.499")},
    ],
    ids=["decoded", "floats", "text", "other spellings"],
)
def test_amounts_with_fewer_decimals_give_the_line_of_their_two_decimal_text(amounts):
    rec = document_record(supplier_gstin=SUPPLIER, number="AM/1", pos="27", iamt="0", cess="0")
    assert parse_line(B2B, {**rec, **amounts}) == parse_line(B2B, {**rec, **TWO_DECIMALS})


@pytest.mark.parametrize("value", [Decimal("99999999999999.0"), 99999999999999, "99999999999999.5"])
def test_an_amount_of_14_digits_is_refused_however_it_is_spelt(value):
    with pytest.raises(RecordError, match="^val .* is not an amount of at most 13 digits"):
        parse_line(B2B, {**document_record(supplier_gstin=SUPPLIER), "val": value})


def test_an_irn_dated_as_its_document_reads_as_the_careful_parser_reads_it():
    irn = "cd34" * 16
    rec = document_record(supplier_gstin=SUPPLIER, number="IRN/1", irn=f" {irn} ", irngendate="05-10-2025")
    fields = parse_record("b2b", rec)
    careful = parse_record("b2b", {**rec, "hash": "a\\b"})  # a backslash in the hash takes the careful path
    assert (
        (fields["irn"], fields["irn_date"])
        == (careful["irn"], careful["irn_date"])
        == (irn, dt.date(2025, 10, 5))
    )
    assert content_hash_of(fields) == fields["content_hash"]


def test_an_amount_with_a_tab_is_an_error_not_a_shifted_column():
    rec = {**document_record(supplier_gstin=SUPPLIER), "val": "1.00\t2.00"}
    with pytest.raises(RecordError, match="val '1.00\\\\t2.00' is not an amount"):
        parse_line(B2B, rec)


def test_a_bad_record_reports_its_first_bad_field_even_when_others_were_memorised():
    good = document_record(supplier_gstin=SUPPLIER)
    parse_line(B2B, good)
    with pytest.raises(RecordError, match="^srcfilstatus 'Maybe'"):
        parse_line(B2B, {**good, "srcfilstatus": "Maybe", "rtnprd": "132025"})


def test_numbers_of_only_zeros_and_fy_tokens_normalise_as_before():
    assert normalise_doc_number("2025-26/000", 2025) == "0"
    assert normalise_doc_number("2025-26", 2025) == ""
    assert normalise_doc_number("00-01/0007", 2000) == "7"
    assert normalise_doc_number("INV 10/05", None) == "INV105"


# --- amendment linking ---------------------------------------------------------------------------------------


def ingest(tenant, reg, records):
    return ingest_documents(tenant=tenant, registration=reg, records=records, actor=ACTOR, source="portal")


def by_number(tenant):
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.all()}


def stale_statistics():
    """Statistics of an empty documents table, as a fresh database with autovacuum off has."""
    with connection.cursor() as cur:
        rls.analyze(cur, "invoices_supplierdocument")  # a plain ANALYZE by the application role is skipped


@pytest.mark.django_db
def test_amendments_link_to_originals_of_earlier_batches_the_same_batch_and_later_batches(tenant_a, reg_a1):
    stale_statistics()
    earlier = document_record(supplier_gstin=SUPPLIER, number="E-1", date=dt.date(2025, 4, 2))
    assert ingest(tenant_a, reg_a1, {"b2b": [earlier]}).linked == 0

    same = document_record(supplier_gstin=SUPPLIER, number="S-1", date=dt.date(2025, 5, 2))
    amendments = [
        document_record(
            supplier_gstin=SUPPLIER,
            section="b2ba",
            number="E-1A",
            orig_number="E-1",
            orig_date=dt.date(2025, 4, 2),
        ),
        document_record(
            supplier_gstin=SUPPLIER,
            section="b2ba",
            number="S-1A",
            orig_number="S-1",
            orig_date=dt.date(2025, 5, 2),
        ),
        document_record(
            supplier_gstin=SUPPLIER,
            section="b2ba",
            number="L-1A",
            orig_number="L-1",
            orig_date=dt.date(2025, 6, 2),
        ),
    ]
    assert ingest(tenant_a, reg_a1, {"b2b": [same], "b2ba": amendments}).linked == 2

    later = document_record(supplier_gstin=SUPPLIER, number="L-1", date=dt.date(2025, 6, 2))
    assert ingest(tenant_a, reg_a1, {"b2b": [later]}).linked == 1

    docs = by_number(tenant_a)
    assert {n: docs[n].original_id for n in ("E-1A", "S-1A", "L-1A")} == {
        "E-1A": docs["E-1"].pk,
        "S-1A": docs["S-1"].pk,
        "L-1A": docs["L-1"].pk,
    }


@pytest.mark.django_db
def test_an_amendment_pointed_at_another_original_is_relinked(tenant_a, reg_a1):
    first, second = (
        document_record(supplier_gstin=SUPPLIER, number=n, date=dt.date(2025, 4, 2)) for n in "XY"
    )
    amendment = document_record(
        supplier_gstin=SUPPLIER, section="b2ba", number="A-1", orig_number="X", orig_date=dt.date(2025, 4, 2)
    )
    ingest(tenant_a, reg_a1, {"b2b": [first, second], "b2ba": [amendment]})

    result = ingest(tenant_a, reg_a1, {"b2ba": [{**amendment, "oinum": "Y"}]})

    assert (result.changed, result.linked) == (1, 1)
    docs = by_number(tenant_a)
    assert docs["A-1"].original_id == docs["Y"].pk


@pytest.mark.django_db
def test_an_amendment_whose_original_never_came_stays_waiting(tenant_a, reg_a1):
    amendment = document_record(
        supplier_gstin=SUPPLIER,
        section="b2bcna",
        number="CN-9A",
        orig_number="CN-9",
        orig_date=dt.date(2025, 4, 2),
    )
    ingest(tenant_a, reg_a1, {"b2bcna": [amendment]})
    other = document_record(supplier_gstin=SUPPLIER, section="b2b", number="CN-9", date=dt.date(2025, 4, 2))

    result = ingest(tenant_a, reg_a1, {"b2b": [other]})  # same number, but an invoice, not the credit note

    assert result.linked == 0
    assert by_number(tenant_a)["CN-9A"].original_id is None

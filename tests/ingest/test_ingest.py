"""Bulk ingest of GETINV records: counts, idempotent reruns, versions, vanishing, amendments, bad batches,
tenant isolation. Asserted through the service, the stored documents and the audit ledger."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from invoices.models import DocumentVersion, Supplier, SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy.scoping import tenant_scope
from tests.factories import document_record, gstin_for
from tools.generator import generate

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")
SUPPLIER = gstin_for(11, "27")
OTHER_SUPPLIER = gstin_for(12, "29")


def ingest(tenant, reg, records, **kw):
    kw.setdefault("source", "portal")
    return ingest_documents(tenant=tenant, registration=reg, records=records, actor=ACTOR, **kw)


def last_seq(tenant):
    with tenant_scope(tenant):
        return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()


def docs(tenant, **filters):
    with tenant_scope(tenant):
        return list(SupplierDocument.objects.filter(**filters).order_by("id"))


def row_versions(reg):
    """Physical row versions (xmin, xmax): any write or row lock changes them."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, xmin::text, xmax::text FROM invoices_supplierdocument WHERE registration_id = %s ORDER BY id",
            [reg.pk],
        )
        return cur.fetchall()


@pytest.fixture
def batch(reg_a1):
    return generate(
        seed=7,
        recipient_gstin=reg_a1.gstin,
        periods=["082025", "092025", "102025"],
        n_docs=400,
        n_suppliers=25,
    )


def test_first_load_creates_every_document_with_one_audit_event_each(tenant_a, reg_a1, batch):
    before = last_seq(tenant_a)
    result = ingest(tenant_a, reg_a1, batch.records, supplier_names=batch.supplier_names)

    assert result.errors == []
    assert (result.created, result.changed, result.unchanged) == (400, 0, 0)
    assert len(docs(tenant_a, registration=reg_a1)) == 400
    with tenant_scope(tenant_a):
        events = AuditEvent.objects.filter(seq__gt=before)
        assert events.filter(action="document.created").count() == 400
        summary = events.get(action="documents.ingested")
        assert summary.metadata["created"] == 400
        assert summary.metadata["source"] == "portal"
        suppliers = Supplier.objects.filter(tenant=tenant_a)
        assert suppliers.count() == result.suppliers_created == 25
        assert all(s.trade_name == batch.supplier_names[s.gstin] for s in suppliers)
    assert {d.section for d in docs(tenant_a)} == {
        "b2b",
        "b2ba",
        "b2bcn",
        "b2bcna",
        "b2bdn",
        "b2bdna",
        "ecom",
        "ecoma",
    }


def test_rerun_with_nothing_new_writes_nothing(tenant_a, reg_a1, batch):
    ingest(tenant_a, reg_a1, batch.records)
    seq, rows = last_seq(tenant_a), row_versions(reg_a1)

    again = ingest(tenant_a, reg_a1, batch.records, complete_sections=list(batch.records))

    assert (again.created, again.changed, again.vanished, again.reappeared, again.unchanged) == (
        0,
        0,
        0,
        0,
        400,
    )
    assert last_seq(tenant_a) == seq
    assert row_versions(reg_a1) == rows
    with tenant_scope(tenant_a):
        assert DocumentVersion.objects.count() == 0
        assert set(SupplierDocument.objects.values_list("version", flat=True)) == {1}


@pytest.mark.parametrize("inline_max", [0, 100_000], ids=["temporary table", "one statement"])
def test_a_rerun_finds_every_stored_document_whichever_way_it_looks_them_up(
    tenant_a, reg_a1, batch, monkeypatch, inline_max
):
    # A small batch is looked up in one statement, a large one through a temporary table (invoices/services/
    # ingest.py); both find numbers that COPY escapes (a backslash, a tab).
    from invoices.services import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "_LOOKUP_INLINE_MAX", inline_max)
    odd = [document_record(supplier_gstin=SUPPLIER, number=n) for n in ("INV\\7", "A\tB")]
    records = {**batch.records, "b2b": [*batch.records["b2b"], *odd]}
    ingest(tenant_a, reg_a1, records)

    again = ingest(tenant_a, reg_a1, records, complete_sections=list(records))

    assert (again.created, again.changed, again.vanished, again.unchanged) == (0, 0, 0, 402)


def test_supplier_edit_becomes_a_version_with_exactly_the_changed_fields(tenant_a, reg_a1):
    rec = document_record(supplier_gstin=SUPPLIER, number="INV/1", taxable=Decimal("10000"), pos="27")
    ingest(tenant_a, reg_a1, {"b2b": [rec]})
    (doc,) = docs(tenant_a)
    edited = {**rec, "txval": "12000.00", "val": "14160.00", "camt": "1080.00", "samt": "1080.00"}

    result = ingest(tenant_a, reg_a1, {"b2b": [edited]})

    assert (result.created, result.changed, result.unchanged) == (0, 1, 0)
    (doc,) = docs(tenant_a)
    assert doc.version == 2
    assert doc.taxable_value == Decimal("12000.00")
    assert doc.needs_review is False
    with tenant_scope(tenant_a):
        (version,) = DocumentVersion.objects.filter(document=doc)
        event = AuditEvent.objects.get(action="document.changed")
    expected = {
        "taxable_value": ["10000.00", "12000.00"],
        "doc_value": ["11800.00", "14160.00"],
        "cgst": ["900.00", "1080.00"],
        "sgst": ["900.00", "1080.00"],
    }
    assert version.version == 2
    assert version.changes == expected
    assert event.object_id == str(doc.pk)
    assert event.changes == expected


def test_change_to_a_document_with_a_local_action_flags_it_for_review(tenant_a, reg_a1):
    rec = document_record(supplier_gstin=SUPPLIER, number="INV/2")
    ingest(tenant_a, reg_a1, {"b2b": [rec]})
    with tenant_scope(tenant_a):
        SupplierDocument.objects.update(local_action="A")

    ingest(tenant_a, reg_a1, {"b2b": [{**rec, "txval": "9999.00"}]})

    (doc,) = docs(tenant_a)
    assert doc.needs_review is True
    assert doc.local_action == "A"


def test_portal_action_catching_up_with_the_local_action_is_recorded_without_review(tenant_a, reg_a1):
    rec = document_record(supplier_gstin=SUPPLIER, number="INV/3", action="N")
    ingest(tenant_a, reg_a1, {"b2b": [rec]})
    with tenant_scope(tenant_a):
        SupplierDocument.objects.update(local_action="A")

    result = ingest(tenant_a, reg_a1, {"b2b": [{**rec, "action": "A"}]})

    (doc,) = docs(tenant_a)
    assert result.changed == 1
    assert (doc.portal_action, doc.needs_review) == ("A", False)


def test_vanished_document_is_kept_and_marked_then_reappears(tenant_a, reg_a1):
    keep = document_record(supplier_gstin=SUPPLIER, number="K-1")
    gone = document_record(supplier_gstin=SUPPLIER, number="G-1")
    note = document_record(supplier_gstin=SUPPLIER, number="CN-1", section="b2bcn")
    ingest(tenant_a, reg_a1, {"b2b": [keep, gone], "b2bcn": [note]})

    result = ingest(tenant_a, reg_a1, {"b2b": [keep]}, complete_sections=["b2b"])

    assert (result.vanished, result.unchanged) == (1, 1)
    by_number = {d.doc_number: d for d in docs(tenant_a)}
    assert by_number["G-1"].vanished_at is not None
    assert by_number["K-1"].vanished_at is None
    assert by_number["CN-1"].vanished_at is None  # its section was not declared complete
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.get(action="document.vanished").object_id == str(by_number["G-1"].pk)

    back = ingest(tenant_a, reg_a1, {"b2b": [keep, gone]}, complete_sections=["B2B"])

    assert (back.reappeared, back.changed, back.created) == (1, 0, 0)
    by_number = {d.doc_number: d for d in docs(tenant_a)}
    assert by_number["G-1"].vanished_at is None
    assert by_number["G-1"].version == 1
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="document.reappeared").count() == 1


def test_bad_checksum_supplier_gstin_is_stored_and_flagged(tenant_a, reg_a1):
    bad = SUPPLIER[:14] + ("A" if SUPPLIER[14] != "A" else "B")
    result = ingest(tenant_a, reg_a1, {"b2b": [document_record(supplier_gstin=bad, number="X-1")]})

    assert (result.created, result.errors) == (1, [])
    (doc,) = docs(tenant_a)
    assert (doc.supplier_gstin, doc.supplier_gstin_valid) == (bad, False)
    with tenant_scope(tenant_a):
        assert Supplier.objects.get(gstin=bad).gstin_valid is False


def test_amendment_is_linked_to_its_original_in_the_same_batch(tenant_a, reg_a1):
    original = document_record(supplier_gstin=SUPPLIER, number="INV/9", date=dt.date(2025, 3, 28))
    amendment = document_record(
        supplier_gstin=SUPPLIER,
        section="b2ba",
        number="INV/9",
        date=dt.date(2025, 3, 28),
        orig_number="INV/9",
        orig_date=dt.date(2025, 3, 28),
        supplier_period="052025",
    )
    other_supplier = document_record(
        supplier_gstin=OTHER_SUPPLIER,
        section="b2ba",
        number="INV/9",
        orig_number="INV/9",
        orig_date=dt.date(2025, 3, 28),
    )

    result = ingest(tenant_a, reg_a1, {"b2b": [original], "b2ba": [amendment, other_supplier]})

    assert result.linked == 1
    by_key = {(d.supplier_gstin, d.section): d for d in docs(tenant_a)}
    assert by_key[(SUPPLIER, "b2ba")].original_id == by_key[(SUPPLIER, "b2b")].pk
    assert by_key[(OTHER_SUPPLIER, "b2ba")].original_id is None


def test_amendment_arriving_before_its_original_is_linked_when_the_original_comes(tenant_a, reg_a1):
    amendment = document_record(
        supplier_gstin=SUPPLIER,
        section="b2bcna",
        number="CN/5",
        orig_number="CN/4",
        orig_date=dt.date(2025, 9, 30),
    )
    ingest(tenant_a, reg_a1, {"CNA": [amendment]})
    original = document_record(
        supplier_gstin=SUPPLIER, section="b2bcn", number="CN/4", date=dt.date(2025, 9, 30)
    )

    ingest(tenant_a, reg_a1, {"CN": [original]})

    by_section = {d.section: d for d in docs(tenant_a)}
    assert by_section["b2bcna"].original_id == by_section["b2bcn"].pk


def test_batch_with_bad_records_writes_nothing_and_reports_every_bad_record(tenant_a, reg_a1):
    good = document_record(supplier_gstin=SUPPLIER, number="OK-1")
    bad_date = document_record(supplier_gstin=SUPPLIER, number="B-1", date=dt.date(2025, 2, 1))
    bad_date["idt"] = "31-02-2025"
    bad_amount = document_record(supplier_gstin=SUPPLIER, number="B-2", section="b2bcn", val="abc")
    seq = last_seq(tenant_a)

    result = ingest(tenant_a, reg_a1, {"b2b": [good, bad_date], "b2bcn": [bad_amount], "b2bxx": []})

    assert result.errors[:2] == [
        "b2b record 2: idt '31-02-2025' is not a date DD-MM-YYYY",
        "b2bcn record 1: val 'abc' is not an amount",
    ]
    assert result.errors[2].startswith("unknown IMS section 'b2bxx'")
    assert len(result.errors) == 3
    assert result.created == 0
    assert docs(tenant_a) == []
    assert last_seq(tenant_a) == seq
    with tenant_scope(tenant_a):
        assert not Supplier.objects.exists()


def test_failure_inside_the_transaction_leaves_the_data_as_it_was(tenant_a, reg_a1, reg_b1):
    seq = last_seq(tenant_a)
    with pytest.raises(ValueError, match="does not belong"):
        ingest(tenant_a, reg_b1, {"b2b": [document_record(supplier_gstin=SUPPLIER)]})
    assert docs(tenant_a) == []
    assert last_seq(tenant_a) == seq


def test_repeated_natural_key_in_one_batch_keeps_the_last_record(tenant_a, reg_a1):
    first = document_record(supplier_gstin=SUPPLIER, number="D-1", taxable=Decimal("100"))
    last = document_record(supplier_gstin=SUPPLIER, number="D-1", taxable=Decimal("200"))

    result = ingest(tenant_a, reg_a1, {"b2b": [first, last]})

    assert (result.created, result.duplicates) == (1, 1)
    assert docs(tenant_a)[0].taxable_value == Decimal("200.00")


def test_two_tenants_with_the_same_natural_key_stay_independent(tenant_a, reg_a1, tenant_b, reg_b1):
    rec = document_record(supplier_gstin=SUPPLIER, number="SAME-1", taxable=Decimal("1000"))
    ingest(tenant_a, reg_a1, {"b2b": [rec]})

    result_b = ingest(tenant_b, reg_b1, {"b2b": [rec]})
    changed_b = ingest(tenant_b, reg_b1, {"b2b": [{**rec, "txval": "5000.00"}]}, complete_sections=["b2b"])

    assert (result_b.created, changed_b.changed) == (1, 1)
    (doc_a,) = docs(tenant_a)
    (doc_b,) = docs(tenant_b)
    assert doc_a.pk != doc_b.pk
    assert (doc_a.taxable_value, doc_a.version) == (Decimal("1000.00"), 1)
    assert (doc_b.taxable_value, doc_b.version) == (Decimal("5000.00"), 2)
    with tenant_scope(tenant_a):
        assert not DocumentVersion.objects.exists()
        assert AuditEvent.objects.filter(action="document.changed").count() == 0

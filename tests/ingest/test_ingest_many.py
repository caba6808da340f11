"""The pipelined bulk path (``ingest_many``: the next batch parsed in a thread while the database writes) stores
exactly what batch-by-batch ``ingest_documents`` stores; new documents COPYed straight into the table keep their
natural keys exact whatever characters their numbers hold."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import Actor
from invoices.models import DocumentVersion, SupplierDocument
from invoices.services.ingest import ingest_documents, ingest_many
from tenancy.scoping import tenant_scope
from tests.factories import document_record, gstin_for
from tools.generator import batches

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")
SUPPLIER = gstin_for(31, "27")
PERIODS = ["072025", "082025", "092025", "102025"]


def stored(tenant):
    """Each document's natural key, content hash, version, vanished flag and its original's key."""
    with tenant_scope(tenant):
        docs = list(SupplierDocument.objects.select_related("original"))
    return sorted(
        (
            d.supplier_gstin,
            d.section,
            d.doc_number,
            d.fy,
            d.content_hash,
            d.version,
            d.vanished_at is None,
            (d.original.section, d.original.doc_number) if d.original else None,
        )
        for d in docs
    )


def ledger(tenant):
    """The per-document events, in order."""
    with tenant_scope(tenant):
        return list(
            AuditEvent.objects.filter(action__startswith="document.")
            .order_by("seq")
            .values_list("action", "object_repr")
        )


def generated(recipient_gstin, n_docs=1500, batch_size=400):
    return list(
        batches(
            seed=11,
            recipient_gstin=recipient_gstin,
            periods=PERIODS,
            n_docs=n_docs,
            n_suppliers=40,
            batch_size=batch_size,
        )
    )


def test_pipelined_batches_store_what_one_call_per_batch_stores(tenant_a, reg_a1, tenant_b, reg_b1):
    records = generated(reg_a1.gstin)

    piped = list(
        ingest_many(tenant=tenant_a, registration=reg_a1, batches=iter(records), actor=ACTOR, source="portal")
    )
    single = [
        ingest_documents(tenant=tenant_b, registration=reg_b1, records=batch, actor=ACTOR, source="portal")
        for batch in records
    ]

    assert [r.counts() for r in piped] == [r.counts() for r in single]
    assert sum(r.created for r in piped) == 1500
    assert sum(r.linked for r in piped) > 0  # amendments of originals from earlier batches and the same batch
    assert stored(tenant_a) == stored(tenant_b)
    assert len(ledger(tenant_a)) == 1500
    assert ledger(tenant_a) == ledger(tenant_b)


def test_a_rerun_through_the_pipeline_writes_nothing(tenant_a, reg_a1):
    records = generated(reg_a1.gstin, n_docs=800)
    list(ingest_many(tenant=tenant_a, registration=reg_a1, batches=records, actor=ACTOR, source="portal"))
    before = (stored(tenant_a), len(ledger(tenant_a)))

    again = list(
        ingest_many(tenant=tenant_a, registration=reg_a1, batches=records, actor=ACTOR, source="portal")
    )

    assert [(r.created, r.changed, r.unchanged) for r in again] == [(0, 0, 400), (0, 0, 400)]
    assert (stored(tenant_a), len(ledger(tenant_a))) == before


def test_a_bad_batch_in_the_pipeline_writes_nothing_and_the_others_are_stored(tenant_a, reg_a1):
    good_1 = {"b2b": [document_record(supplier_gstin=SUPPLIER, number="G-1")]}
    bad = {
        "b2b": [
            document_record(supplier_gstin=SUPPLIER, number="B-1"),
            document_record(supplier_gstin=SUPPLIER, number="B-2", pos="ZZ"),
        ]
    }
    good_2 = {"b2b": [document_record(supplier_gstin=SUPPLIER, number="G-2")]}

    results = list(
        ingest_many(
            tenant=tenant_a, registration=reg_a1, batches=[good_1, bad, good_2], actor=ACTOR, source="portal"
        )
    )

    assert [r.created for r in results] == [1, 0, 1]
    assert results[1].errors == ["b2b record 2: pos 'ZZ' is not a 2-digit state code"]
    assert [key[2] for key in stored(tenant_a)] == ["G-1", "G-2"]


def test_the_next_batch_is_taken_once_the_copy_of_this_one_has_begun(tenant_a, reg_a1):
    """Before its COPY the writer makes small round trips; with the next batch parsed beside them each would wait
    for the parsing thread to let go of the GIL (docs/performance.md §2.1)."""
    records = generated(reg_a1.gstin, n_docs=800)
    asked: list[list[str]] = []  # the statements run when each batch was asked for

    with CaptureQueriesContext(connections["default"]) as ran:  # this thread's connection, not a proxy

        def feed():
            for batch in records:
                asked.append([query["sql"] for query in ran.captured_queries])
                yield batch

        results = list(
            ingest_many(tenant=tenant_a, registration=reg_a1, batches=feed(), actor=ACTOR, source="portal")
        )

    ids = "nextval('invoices_supplierdocument_id_seq')"
    assert [r.created for r in results] == [400, 400]
    assert not any(ids in sql for sql in asked[0])
    assert sum(ids in sql for sql in asked[1]) == 1  # the first batch's ids taken, its COPY begun


def test_the_pipeline_refuses_a_registration_of_another_tenant(tenant_a, reg_b1):
    with pytest.raises(ValueError, match="does not belong"):
        list(ingest_many(tenant=tenant_a, registration=reg_b1, batches=[], actor=ACTOR, source="portal"))


@pytest.mark.parametrize("number", ["A\\B/1", "TAB\tNO-1", "LINE\nNO-1", "CR\rNO-1", "MIX\\t\\N"])
def test_numbers_with_copy_special_characters_keep_their_natural_key(tenant_a, reg_a1, number):
    original = document_record(
        supplier_gstin=SUPPLIER, number=number, date=dt.date(2025, 9, 1), taxable=Decimal("500")
    )
    amendment = document_record(
        supplier_gstin=SUPPLIER,
        section="b2ba",
        number=f"{number[:15]}-A",
        orig_number=number,
        orig_date=dt.date(2025, 9, 1),
    )
    ingest = lambda records: ingest_documents(  # noqa: E731
        tenant=tenant_a, registration=reg_a1, records=records, actor=ACTOR, source="portal"
    )

    first = ingest({"b2b": [original], "b2ba": [amendment]})
    rerun = ingest({"b2b": [original], "b2ba": [amendment]})
    changed = ingest({"b2b": [{**original, "txval": "600.00"}]})

    assert (first.created, first.linked) == (2, 1)
    assert (rerun.created, rerun.changed, rerun.unchanged) == (0, 0, 2)
    assert (changed.created, changed.changed) == (0, 1)
    with tenant_scope(tenant_a):
        doc = SupplierDocument.objects.get(section="b2b")
        amended = SupplierDocument.objects.get(section="b2ba")
        assert (doc.doc_number, doc.taxable_value, doc.version) == (number, Decimal("600.00"), 2)
        assert amended.original_id == doc.pk
        assert DocumentVersion.objects.get(document=doc).changes["taxable_value"] == ["500.00", "600.00"]
        created = AuditEvent.objects.filter(action="document.created", object_id=str(doc.pk)).get()
        assert created.object_repr == f"{SUPPLIER} b2b {number}"

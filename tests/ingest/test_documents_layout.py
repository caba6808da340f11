"""The documents table's layout for bulk ingest (invoices migration 0013, docs/decisions/0011-documents-layout.md):
the registration of each document is checked once per statement instead of by two row-by-row foreign keys, and
must stay what it was (a document's tenant is its GSTIN's, a GSTIN with documents cannot go); the number index's
pending list is merged at the end of each ingest batch; a pipelined ingest upserts each supplier once."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from audit.services import Actor
from ims_project import rls
from invoices.models import Supplier, SupplierDocument
from invoices.services.ingest import ingest_documents, ingest_many
from tenancy.scoping import tenant_scope
from tests.factories import document_record, gstin_for

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def _ingest(tenant, reg, records) -> list[int]:
    result = ingest_documents(
        tenant=tenant, registration=reg, records={"b2b": records}, actor=ACTOR, source="t"
    )
    assert result.ok, result.errors
    with tenant_scope(tenant):
        return list(
            SupplierDocument.objects.filter(registration=reg).order_by("id").values_list("id", flat=True)
        )


def _insert_copy(doc_id: int, *, tenant_id: int, registration_id: int, number: str) -> None:
    """INSERT a copy of a stored document under another natural key, naming the given tenant and registration."""
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE _doc_copy ON COMMIT DROP AS SELECT * FROM invoices_supplierdocument WHERE id = %s",
            [doc_id],
        )
        cur.execute(
            "UPDATE _doc_copy SET id = nextval('invoices_supplierdocument_id_seq'), tenant_id = %s, "
            "registration_id = %s, doc_number = %s",
            [tenant_id, registration_id, number],
        )
        cur.execute("INSERT INTO invoices_supplierdocument SELECT * FROM _doc_copy")


def test_a_document_must_name_a_registration_of_its_own_tenant(tenant_a, reg_a1, tenant_b, reg_b1):
    (doc_id,) = _ingest(tenant_a, reg_a1, [document_record()])
    for tenant_id, registration_id in ((tenant_b.pk, reg_a1.pk), (tenant_a.pk, reg_b1.pk), (tenant_a.pk, 0)):
        with pytest.raises(IntegrityError, match="registration check"), transaction.atomic():
            _insert_copy(doc_id, tenant_id=tenant_id, registration_id=registration_id, number="COPY-1")
    with (
        transaction.atomic()
    ):  # the same statement with the document's own tenant and registration is accepted
        _insert_copy(doc_id, tenant_id=tenant_a.pk, registration_id=reg_a1.pk, number="COPY-1")
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.filter(registration=reg_a1).count() == 2


def test_a_document_cannot_be_moved_to_a_registration_of_another_tenant(tenant_a, reg_a1, reg_a2, reg_b1):
    (doc_id,) = _ingest(tenant_a, reg_a1, [document_record()])
    with tenant_scope(tenant_a):
        docs = SupplierDocument.objects.filter(pk=doc_id)
        with pytest.raises(IntegrityError, match="registration check"), transaction.atomic():
            docs.update(registration_id=reg_b1.pk)
        docs.update(registration_id=reg_a2.pk)  # a GSTIN of the same tenant: allowed
        assert docs.get().registration_id == reg_a2.pk


def _execute(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def test_a_registration_that_documents_name_cannot_be_deleted_or_moved(tenant_a, reg_a1, tenant_b):
    _ingest(tenant_a, reg_a1, [document_record()])
    with pytest.raises(IntegrityError, match="still referenced"), transaction.atomic():
        _execute("DELETE FROM tenancy_registration WHERE id = %s", [reg_a1.pk])
    with pytest.raises(IntegrityError, match="still referenced"), transaction.atomic():
        _execute("UPDATE tenancy_registration SET tenant_id = %s WHERE id = %s", [tenant_b.pk, reg_a1.pk])
    reg_a1.legal_name = "Renamed Pvt Ltd"
    reg_a1.save()  # saving the registration (every column in the UPDATE, the same tenant) is allowed
    reg_a1.refresh_from_db()
    assert reg_a1.legal_name == "Renamed Pvt Ltd"


def test_an_ingest_batch_leaves_no_numbers_pending_in_the_search_index(tenant_a, reg_a1):
    _ingest(tenant_a, reg_a1, [document_record(number=f"INV/2025-26/{n:05d}") for n in range(300)])
    with rls.as_owner(), connection.cursor() as cur:  # only the index's owner may ask
        cur.execute("SELECT gin_clean_pending_list('doc_number_trgm_idx'::regclass)")
        assert cur.fetchone()[0] == 0  # pages still pending after the batch's commit: none
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.filter(doc_number__icontains="/00042").count() == 1


def test_a_pipelined_ingest_creates_and_names_suppliers_first_seen_in_a_later_batch(tenant_a, reg_a1):
    first, later = gstin_for(41, "27"), gstin_for(42, "29")
    names = {first: "First Supplier", later: "Later Supplier"}
    batches = [
        {"b2b": [document_record(supplier_gstin=first)]},
        {"b2b": [document_record(supplier_gstin=first), document_record(supplier_gstin=later)]},
    ]
    results = list(
        ingest_many(
            tenant=tenant_a,
            registration=reg_a1,
            batches=batches,
            actor=ACTOR,
            source="t",
            supplier_names=names,
        )
    )
    assert [r.suppliers_created for r in results] == [1, 1]
    with tenant_scope(tenant_a):
        assert dict(Supplier.objects.values_list("gstin", "trade_name")) == names


def test_a_large_batch_presumed_new_that_holds_stored_documents_is_stored_exactly(tenant_a, reg_a1):
    """A batch of at least 2,000 records whose sampled keys are all new is COPYed without looking its keys up; when
    it holds stored documents after all (here at positions the sample skips), the unique natural key refuses the
    COPY and the batch is looked up in full: the result is what the usual path gives."""
    presumed_new_batch_holding_stored_documents(tenant_a, reg_a1)


def presumed_new_batch_holding_stored_documents(tenant_a, reg_a1) -> None:
    """The case above (also run by tests/tenancy/test_application_login.py as a login that owns nothing)."""
    supplier = gstin_for(43, "27")
    stored_records = [document_record(supplier_gstin=supplier, number=f"OLD/{n:04d}") for n in range(10)]
    _ingest(tenant_a, reg_a1, stored_records)
    changed = dict(stored_records[0], txval="1.00", val="1.18", camt="0.09", samt="0.09")
    new_records = [document_record(supplier_gstin=supplier, number=f"NEW/{n:05d}") for n in range(2_500)]
    batch = [new_records[0], changed, *stored_records[1:], *new_records[1:]]  # stored ones at positions 1-10
    result = ingest_documents(
        tenant=tenant_a, registration=reg_a1, records={"b2b": batch}, actor=ACTOR, source="t"
    )
    assert result.ok, result.errors
    assert (result.created, result.changed, result.unchanged) == (2_500, 1, 9)
    with tenant_scope(tenant_a):
        docs = SupplierDocument.objects.filter(registration=reg_a1)
        assert docs.count() == 2_510
        assert docs.get(doc_number="OLD/0000").taxable_value == Decimal("1.00")
        assert docs.get(doc_number="OLD/0000").version == 2

"""The supplier's IRN on portal documents (issue #12 §2 "IRN first"): stored from GETINV records and IMS JSON files
(the GSTR-2B's where the IMS record has none), shown on the document and pair pages and in the documents export,
and read by the engine so that a document pairs with the register line of its IRN whatever the numbers say."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl

from audit.services import Actor
from gst_sync.files.imports import import_ims_files
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy.scoping import tenant_scope
from tests.reconciliation.test_matching_as_typed import MATCHES, SUPPLIER, line, reconcile, upsert

IRN = "3f1c6a9e" * 8  # 64 hexadecimal characters
OTHER_IRN = "7b2d0c4f" * 8


def record(number: str, **extra) -> dict:
    """A GETINV B2B record of SUPPLIER dated 05-10-2025 (taxable 10,000, IGST 1,800: the register helper's amounts)."""
    return {
        "stin": SUPPLIER,
        "inum": number,
        "idt": "05-10-2025",
        "inv_typ": "R",
        "srcform": "R1",
        "rtnprd": "102025",
        "srcfilstatus": "Filed",
        "val": "11800",
        "pos": "27",
        "txval": "10000",
        "iamt": "1800",
        "action": "N",
        **extra,
    }


def ingest(tenant, reg, records: list[dict]):
    with tenant_scope(tenant):
        result = ingest_documents(
            tenant=tenant,
            registration=reg,
            records={"b2b": records},
            actor=Actor.system("tests"),
            source="api",
        )
    assert result.ok, result.errors
    return result


def documents(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.all()}


def test_a_document_pairs_with_the_line_of_its_irn_whatever_the_numbers_and_shows_why(
    tenant_a, reg_a1, alice, client_for
):
    ingest(
        tenant_a,
        reg_a1,
        [
            record("INV/2025/0042", irn=IRN, irngendate="05-10-2025"),
            record(
                "INV/77", irn=OTHER_IRN, irngendate="05-10-2025"
            ),  # same number as a line of another e-invoice
        ],
    )
    upsert(
        tenant_a,
        alice,
        [
            # The books typed another number but kept the IRN (in capitals): the IRN says which document it is.
            line(reg_a1, "BK-9913", "L1", irn=IRN.upper()),
            line(reg_a1, "INV/77", "L2", irn="c0ffee00" * 8),
        ],
    )
    run = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    rows = c.get(MATCHES, {"run": run.pk, "page_size": 500}).json()["results"]
    by_number = {r["document"]["doc_number"]: r for r in rows if r["document"]}
    paired = by_number["INV/2025/0042"]
    # Certain by the IRN; the numbers differ, so it is a mismatch naming the IRN and the number.
    assert (paired["outcome"], paired["purchase"]["erp_ref"]) == ("mismatch", "L1")
    reasons = {r["code"]: r["text"] for r in paired["reasons"]}
    assert "same IRN" in reasons["irn"]
    assert "number_fuzzy" in reasons
    # Same number, different IRNs: different e-invoices, never paired (not even by the SQL pass on the key).
    assert by_number["INV/77"]["outcome"] == "missing_in_register"
    assert by_number["INV/77"]["purchase"] is None
    assert {r["purchase"]["erp_ref"] for r in rows if r["purchase"] and not r["document"]} == {"L2"}

    page = c.get(f"/t/acme/reconciliation/matches/{paired['id']}/").content.decode()
    assert 'id="pair-irn"' in page
    assert IRN in page
    assert IRN.upper() in page
    assert "same IRN" in page


def test_equal_keys_with_the_same_irn_pair_exact_in_the_sql_pass(tenant_a, reg_a1, alice, client_for):
    ingest(tenant_a, reg_a1, [record("INV/5", irn=IRN)])
    upsert(tenant_a, alice, [line(reg_a1, "INV-5", "L1", irn=IRN)])
    run = reconcile(tenant_a, alice, [reg_a1])
    rows = client_for(alice).get(MATCHES, {"run": run.pk}).json()["results"]
    assert [(r["outcome"], r["purchase"]["erp_ref"]) for r in rows] == [("exact", "L1")]


def test_the_document_page_api_and_export_show_the_irn_and_a_record_without_one_keeps_it(
    tenant_a, reg_a1, alice, client_for
):
    ingest(tenant_a, reg_a1, [record("INV/8", irn=IRN, irngendate="06-10-2025 11:20:00")])
    doc = documents(tenant_a)["INV/8"]
    assert (doc.irn, doc.irn_date) == (IRN, dt.date(2025, 10, 6))
    c = client_for(alice)
    page = c.get(f"/t/acme/documents/{doc.pk}/").content.decode()
    assert f'<span class="mono small text-break" id="document-irn">{IRN}</span>' in page
    assert "generated 06-10-2025" in page
    detail = c.get(f"/api/v1/t/acme/documents/{doc.pk}/").json()
    assert (detail["irn"], detail["irn_date"]) == (IRN, "2025-10-06")

    r = c.get("/t/acme/documents/export/")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(r.streaming_content))).active
    header = [cell.value for cell in sheet[1]]
    row = [cell.value for cell in sheet[2]]
    assert row[header.index("IRN")] == IRN
    assert row[header.index("IRN date")].date() == dt.date(2025, 10, 6)

    # The supplier edits the invoice and the next record carries no IRN: the IRN stays, the edit is a version.
    result = ingest(tenant_a, reg_a1, [record("INV/8", txval="10001", val="11801")])
    assert result.changed == 1
    doc = documents(tenant_a)["INV/8"]
    assert (doc.irn, doc.irn_date, doc.taxable_value) == (IRN, dt.date(2025, 10, 6), 10001)
    with tenant_scope(tenant_a):
        assert doc.versions.get(version=2).changes == {
            "doc_value": ["11800.00", "11801.00"],
            "taxable_value": ["10000.00", "10001.00"],
        }


def test_a_document_stored_before_the_irn_keeps_its_content_hash(tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, [record("INV/9")])
    assert documents(tenant_a)["INV/9"].irn is None
    assert ingest(tenant_a, reg_a1, [record("INV/9")]).unchanged == 1
    assert ingest(tenant_a, reg_a1, [record("INV/9", irn=IRN)]).changed == 1  # the IRN arriving is a change


def test_an_ims_json_file_stores_the_irn_and_a_gstr2b_file_fills_it_where_the_ims_record_had_none(
    tenant_a, reg_a1
):
    from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: PLC0415

    from gst_sync.files.imports import import_gstr2b_files  # noqa: PLC0415

    def upload(body: dict):
        import json  # noqa: PLC0415

        return SimpleUploadedFile("f.json", json.dumps(body).encode(), content_type="application/json")

    ims = {"b2b": [record("INV/1", irn=IRN, irngendate="05-10-2025"), record("INV/2"), record("INV/3")]}
    with tenant_scope(tenant_a):
        import_ims_files(
            tenant=tenant_a, actor=Actor.system("tests"), registration=reg_a1, files=[upload(ims)]
        )
    docs = documents(tenant_a)
    assert (docs["INV/1"].irn, docs["INV/1"].irn_date) == (IRN, dt.date(2025, 10, 5))
    assert docs["INV/2"].irn is None

    def twob_invoice(number: str, **extra) -> dict:
        return {"inum": number, "typ": "R", "dt": "05-10-2025", "val": 11800, "pos": "27", "rev": "N",
                "itcavl": "Y", "txval": 10000, "igst": 1800, "cgst": 0, "sgst": 0, "cess": 0, **extra}  # fmt: skip

    twob = {
        "data": {
            "gstin": reg_a1.gstin,
            "rtnprd": "102025",
            "gendt": "14-11-2025",
            "docdata": {
                "b2b": [
                    {
                        "ctin": SUPPLIER,
                        "supprd": "102025",
                        "inv": [
                            twob_invoice("INV/1", irn=OTHER_IRN, irngendate="01-10-2025"),  # IMS's IRN stays
                            twob_invoice("INV/2", srctyp="e-Invoice", irn=OTHER_IRN, irngendate="2025-10-04"),
                            twob_invoice("INV/3"),  # no IRN in either file
                        ],
                    }
                ]
            },
        }
    }
    with tenant_scope(tenant_a):
        import_gstr2b_files(
            tenant=tenant_a, actor=Actor.system("tests"), registration=reg_a1, files=[upload(twob)]
        )
    docs = documents(tenant_a)
    assert (docs["INV/1"].irn, docs["INV/1"].irn_date) == (IRN, dt.date(2025, 10, 5))
    assert (docs["INV/2"].irn, docs["INV/2"].irn_date) == (OTHER_IRN, dt.date(2025, 10, 4))
    assert docs["INV/3"].irn is None


def test_a_line_whose_irn_is_on_another_document_pairs_with_that_one_not_with_its_number(
    tenant_a, reg_a1, alice, client_for
):
    # The books carry INV/5's number but the IRN of INV/6 (the supplier's e-invoice): the IRN decides, and INV/5
    # (no IRN) is left for what it is.
    ingest(tenant_a, reg_a1, [record("INV/5"), record("INV/6", irn=IRN)])
    upsert(tenant_a, alice, [line(reg_a1, "INV/5", "L1", irn=IRN)])
    run = reconcile(tenant_a, alice, [reg_a1])
    rows = client_for(alice).get(MATCHES, {"run": run.pk}).json()["results"]
    by_number = {r["document"]["doc_number"]: r for r in rows if r["document"]}
    assert (by_number["INV/6"]["outcome"], by_number["INV/6"]["purchase"]["erp_ref"]) == ("mismatch", "L1")
    assert by_number["INV/5"]["purchase"] is None

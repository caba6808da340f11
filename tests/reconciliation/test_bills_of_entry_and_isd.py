"""Bills of entry pair by their number, date and port code without a supplier GSTIN; ISD invoices never pair with ISD
credit notes (issue #12 §2). Through the REST upsert and the upload page, a run, the results API and the why-not
page."""

import datetime as dt

from reconciliation.models import PurchaseLine
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.factories import gstin_for
from tests.reconciliation.test_matching_as_typed import by_document, reconcile, results, upsert
from tests.reconciliation.test_register_books import csv_bytes, post_upload, run_job

SEZ_UNIT = gstin_for(7401, "27")
ISD = gstin_for(7402, "29")
SUPPLIER = gstin_for(7403, "29")
WHY_NOT = "/t/acme/reconciliation/why-not/"


def bill_of_entry(reg, number, port, day, **kw):
    return make_doc(
        reg,
        section=kw.pop("section", "impg"),
        supplier_gstin=kw.pop("supplier_gstin", ""),
        doc_number=number,
        doc_date=day,
        port_code=port,
        ref_date=day,
        pos="",
        taxable_value="50000.00",
        **kw,
    )


def boe_line(reg, number, port, day, ref, **kw):
    return {
        "recipient_gstin": reg.gstin,
        "supplier_gstin": "",
        "kind": "",
        "doc_number": "",
        "doc_date": "",
        "taxable": "50000",
        "igst": "9000",
        "supply_type": "Import of goods",
        "boe_number": number,
        "boe_date": day,
        "port_code": port,
        "erp_ref": ref,
        **kw,
    }


def codes(row) -> list[str]:
    return [r["code"] for r in row["reasons"]]


def test_bills_of_entry_pair_by_number_date_and_port_code_without_a_supplier_gstin(
    tenant_a, reg_a1, alice, client_for
):
    bill_of_entry(reg_a1, "1234567", "INMAA1", dt.date(2025, 10, 3))
    bill_of_entry(reg_a1, "2345678", "INNSA1", dt.date(2025, 10, 4))
    bill_of_entry(
        reg_a1, "3456789", "INBLR4", dt.date(2025, 10, 6), section="impgsez", supplier_gstin=SEZ_UNIT
    )
    bill_of_entry(reg_a1, "4567890", "INMAA1", dt.date(2025, 10, 8))
    # A supplier's invoice with a bill's number is not the bill.
    make_doc(reg_a1, doc_number="1234567", supplier_gstin=SUPPLIER, doc_date=dt.date(2025, 10, 3))
    upsert(
        tenant_a,
        alice,
        [
            # The foreign supplier's invoice number and date booked too: the bill's number and date pair.
            boe_line(
                reg_a1,
                "1234567",
                "inmaa1",
                "03-10-2025",
                "B1",
                doc_number="EXP/889",
                doc_date="20-09-2025",
            ),
            boe_line(reg_a1, "02345678", "INNSA1", "06-10-2025", "B2"),  # a leading zero, two days later
            boe_line(reg_a1, "3456789", "", "06-10-2025", "B3"),  # from an SEZ unit, booked without its GSTIN
            boe_line(reg_a1, "4567890", "INNSA1", "08-10-2025", "B4"),  # another port: another bill
        ],
    )
    c = client_for(alice)
    run = reconcile(tenant_a, alice, [reg_a1])
    rows = results(c, run)
    boe = {
        r["document"]["doc_number"]: r for r in rows if r["document"] and r["document"]["section"] != "b2b"
    }
    assert {n: (r["outcome"], (r["purchase"] or {}).get("erp_ref")) for n, r in boe.items()} == {
        "1234567": ("exact", "B1"),
        "2345678": ("tolerance", "B2"),
        "3456789": ("exact", "B3"),
        "4567890": ("missing_in_register", None),
    }
    assert "bill_of_entry" in codes(boe["1234567"])
    assert {"bill_of_entry", "date"} <= set(codes(boe["2345678"]))
    assert boe["2345678"]["differing_fields"] == ["doc_date"]
    invoice = next(r for r in rows if r["document"] and r["document"]["section"] == "b2b")
    assert invoice["outcome"] in ("missing_in_register", "outside_scope")
    alone = [r["purchase"]["erp_ref"] for r in rows if r["outcome"] == "missing_in_supplier"]
    assert alone == ["B4"]
    # Why didn't the last one match: the port codes.
    with tenant_scope(tenant_a):
        line = PurchaseLine.objects.get(erp_ref="B4")
    doc_id = boe["4567890"]["document"]["id"]
    page = c.get(WHY_NOT, {"purchase": line.pk, "document": doc_id}).content.decode()
    assert "port codes differ (INNSA1 vs INMAA1)" in page
    # The line's candidates include the bill of entry of its number, with the reason it is blocked.
    page = c.get(WHY_NOT, {"line": line.pk}).content.decode()
    assert "4567890" in page
    assert "port codes differ" in page


def test_isd_invoices_never_pair_with_isd_credit_notes(tenant_a, reg_a1, alice, client_for):
    isd = {"supplier_gstin": ISD, "taxable_value": "0", "igst": "900.00"}
    make_doc(reg_a1, section="isd", doc_number="ISD/1", **isd)
    make_doc(reg_a1, section="isdcn", doc_number="ISDCN/7", **isd)
    make_doc(reg_a1, section="isdcn", doc_number="ISD/2", **isd)
    make_doc(reg_a1, section="isdcn", doc_number="ISD/3", **isd)
    # An ordinary supplier's credit note booked as a negative purchase still pairs (as before).
    make_doc(reg_a1, section="b2bcn", doc_number="CN/5", supplier_gstin=SUPPLIER)

    def isd_line(number, ref, kind="Invoice", igst="900", **kw):
        return {
            "recipient_gstin": reg_a1.gstin,
            "supplier_gstin": ISD,
            "kind": kind,
            "doc_number": number,
            "doc_date": "05-10-2025",
            "taxable": "0",
            "igst": igst,
            "supply_type": "ISD",
            "erp_ref": ref,
            **kw,
        }

    upsert(
        tenant_a,
        alice,
        [
            isd_line("ISD/1", "I1"),
            isd_line("ISDCN/7", "I2", igst="-900", supply_type=""),  # credit note as a negative invoice
            isd_line("ISD/2", "I3"),  # an ISD invoice with the credit note's number
            isd_line("ISD/3", "I4", kind="Credit note"),
            {
                "recipient_gstin": reg_a1.gstin,
                "supplier_gstin": SUPPLIER,
                "kind": "Invoice",
                "doc_number": "CN/5",
                "doc_date": "05-10-2025",
                "taxable": "-10000",
                "igst": "-1800",
                "erp_ref": "C5",
            },
        ],
    )
    rows = results(client_for(alice), reconcile(tenant_a, alice, [reg_a1]))
    docs = by_document(rows)
    assert {n: (r["outcome"], (r["purchase"] or {}).get("erp_ref")) for n, r in docs.items()} == {
        "ISD/1": ("exact", "I1"),
        "ISDCN/7": ("missing_in_register", None),
        "ISD/2": ("missing_in_register", None),
        "ISD/3": ("exact", "I4"),
        "CN/5": ("probable", "C5"),
    }
    # An ISD document has no taxable value of its own: its tax is not "over the rate".
    assert docs["ISD/1"]["purchase"]["flags"] == {}
    assert sorted(r["purchase"]["erp_ref"] for r in rows if r["outcome"] == "missing_in_supplier") == [
        "I2",
        "I3",
    ]


def test_a_register_uploaded_on_the_page_pairs_its_bills_of_entry(tenant_a, reg_a1, alice, client_for):
    bill_of_entry(reg_a1, "7654321", "INMAA1", dt.date(2025, 10, 3))
    bill_of_entry(reg_a1, "7654322", "INMAA1", dt.date(2025, 10, 3))
    head = [
        "Party GSTIN",
        "Voucher Type",
        "Supplier Invoice No.",
        "Supplier Invoice Date",
        "Taxable Value",
        "IGST Amt",
        "Supply type",
        "BOE No",
        "BOE Date",
        "Port Code",
    ]
    rows = [
        [
            "",
            "Purchase",
            "CN-INV-77",
            "28-09-2025",
            "50000",
            "9000",
            "Imports",
            "7654321",
            "03-10-2025",
            "INMAA1",
        ],
        ["", "Purchase", "", "", "50000", "9000", "Import of goods", "7654322", "03-10-2025", "INMAA2"],
    ]
    job = run_job(post_upload(client_for(alice), "imports.csv", csv_bytes(head, rows)))
    assert (job.created, job.error_count) == (2, 0), job.errors
    docs = by_document(results(client_for(alice), reconcile(tenant_a, alice, [reg_a1])))
    assert docs["7654321"]["outcome"] == "exact"
    assert docs["7654321"]["purchase"]["doc_number"] == "CN-INV-77"
    assert docs["7654322"]["outcome"] == "missing_in_register"  # booked at another port

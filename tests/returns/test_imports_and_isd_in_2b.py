"""Bills of entry and ISD documents in the GSTR-2B preview and GSTR-3B Table 4 (docs/rules/gstr3b.md §2): imports in
4(A)(1), ISD invoices less ISD credit notes in 4(A)(4), an ISD document whose ITC the ISD marked ineligible in
4(D)(2), never mixed into 4(A)(5); each figure drills down to its documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from invoices.services.ingest import ingest_documents
from returns import selectors, services
from tenancy.scoping import tenant_scope
from tests import factories

OCT = dt.date(2025, 10, 1)
ISD = factories.gstin_for(4400, "27")
SEZ = factories.gstin_for(4401, "29")
KA = "29AAJFY9012N1ZE"
D = Decimal


def boe(number: str, igst: str, **extra) -> dict:
    return {
        "boenum": number,
        "boedt": "06-10-2025",
        "refdt": "08-10-2025",
        "portcode": "INNSA1",
        "txval": "100000",
        "iamt": igst,
        "cess": "0",
        "action": "N",
        **extra,
    }


def isd(number: str, cgst: str, **extra) -> dict:
    return {
        "stin": ISD,
        "docnum": number,
        "docdt": "07-10-2025",
        "rtnprd": "102025",
        "srcfilstatus": "Filed",
        "itcelg": "Y",
        "camt": cgst,
        "samt": cgst,
        "iamt": "0",
        "cess": "0",
        "action": "N",
        **extra,
    }


@pytest.fixture
def preview(tenant_a, reg_a1):
    records = {
        "b2b": [factories.document_record(supplier_gstin=KA, number="I-1", taxable=D("1000.00"))],  # 180 IGST
        "impg": [boe("1111111", "18000"), boe("2222222", "500", action="P")],
        "impgsez": [boe("3333333", "1200", stin=SEZ)],
        "isd": [isd("ISD-1", "900"), isd("ISD-2", "50", itcelg="N")],
        "isdcn": [isd("ISDCN-1", "100")],
    }
    with tenant_scope(tenant_a):
        result = ingest_documents(
            tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="demo"
        )
        assert not result.errors
        snap = services.build_preview(
            tenant=tenant_a, actor=factories.SYSTEM, registration=reg_a1, period=OCT
        )
    return snap


def test_bills_of_entry_fill_4a1_and_isd_documents_net_in_4a4(tenant_a, preview):
    with tenant_scope(tenant_a):
        rows = {r.code: r for r in selectors.table4(preview=preview)}
    # 18,000 + 1,200; the pending bill of entry is left out
    assert rows["4A1"].amounts["igst"] == D("19200.00")
    assert rows["4A4-gross"].amounts["cgst"] == D("900.00")  # the ineligible ISD invoice is not here
    assert rows["4A4-cn"].amounts["cgst"] == D("100.00")
    assert rows["4A4"].amounts["cgst"] == D("800.00")
    assert rows["4A4"].amounts["sgst"] == D("800.00")
    assert rows["4A5"].amounts == {"igst": D("180.00"), "cgst": D("0"), "sgst": D("0"), "cess": D("0")}
    assert rows["4D2"].amounts["cgst"] == D("50.00")  # the ISD said this ITC is not eligible


def test_the_2b_summary_has_the_imports_and_isd_groups(tenant_a, preview):
    itcavl = preview.summary["itcsumm"]["itcavl"]
    assert D(str(itcavl["imports"]["impg"]["igst"])) == D("18000.00")
    assert D(str(itcavl["imports"]["impgsez"]["igst"])) == D("1200.00")
    assert D(str(itcavl["isdsup"]["isd"]["cgst"])) == D("900.00")
    assert D(str(itcavl["othersup"]["isd"]["cgst"])) == D("100.00")


def test_each_table4_figure_drills_down_to_its_documents(client_for, alice, tenant_a, reg_a1, preview):
    with tenant_scope(tenant_a):
        rows = {r.code: r for r in selectors.table4(preview=preview)}
    url = reverse("twob-documents", args=[tenant_a.slug, reg_a1.pk, "102025"])
    imports = client_for(alice).get(url, {"bucket": rows["4A1"].drill}).content.decode()
    assert "1111111" in imports
    assert "3333333" in imports
    assert "2222222" not in imports  # pending: not in this 2B
    assert "ISD-1" not in imports
    isd_page = client_for(alice).get(url, {"bucket": rows["4A4"].drill}).content.decode()
    assert "ISD-1" in isd_page
    assert "ISDCN-1" in isd_page
    assert "I-1" not in isd_page
    other = client_for(alice).get(url, {"bucket": rows["4A5"].drill}).content.decode()
    assert "I-1" in other
    assert "ISDCN-1" not in other


def test_the_preview_page_shows_the_import_and_isd_rows(client_for, alice, tenant_a, reg_a1, preview):
    page = client_for(alice).get(reverse("twob-preview", args=[tenant_a.slug, reg_a1.pk, "102025"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "4(A)(1) Import of goods" in text
    assert "4(A)(4) Inward supplies from ISD" in text


def test_the_json_lists_bills_of_entry_and_isd_documents_in_the_portals_shapes(
    client_for, alice, tenant_a, reg_a1, preview
):
    data = client_for(alice).get(reverse("twob-json", args=[tenant_a.slug, reg_a1.pk, "102025"])).json()
    docdata = data.get("data", data)["docdata"]
    assert [r["boenum"] for r in docdata["impg"]] == [
        "1111111"
    ]  # flat records, no supplier; the pending one out
    assert docdata["impg"][0]["portcode"] == "INNSA1"
    (sez,) = docdata["impgsez"]
    assert (sez["ctin"], [b["boenum"] for b in sez["boe"]]) == (SEZ, ["3333333"])
    (isd_supplier,) = docdata["isd"]
    kinds = {d["docnum"]: (d["doctyp"], d["itcelg"]) for d in isd_supplier["doclist"]}
    assert kinds == {"ISD-1": ("ISDI", "Y"), "ISD-2": ("ISDI", "N"), "ISDCN-1": ("ISDC", "Y")}


def test_the_excel_lists_them_with_their_numbers(client_for, alice, tenant_a, reg_a1, preview):
    import io

    import openpyxl

    response = client_for(alice).get(reverse("twob-excel", args=[tenant_a.slug, reg_a1.pk, "102025"]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    rows = list(openpyxl.load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True))
    numbers = {r[4]: r for r in rows[1:] if r and r[4]}
    assert {"1111111", "3333333", "ISD-1", "ISD-2", "ISDCN-1", "I-1"} <= set(numbers)
    assert numbers["ISD-2"][17] == "No"

"""The samples of the 2026 portal (tests/gst_sync/fixtures/samples_2026, README there): bills of entry, ISD documents,
boolean flags, an accepted credit note without its answer, a supplier that missed a GSTR-3B (Rule 37A, its return
tracking served by the sandbox over HTTP) give exactly their stated 2B totals; IMSSAV0054 reads as its message."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import time_machine

from gst_sync.client.base import RequestStatus
from gst_sync.client.errors import record_message
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import selectors, services
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories

from .conftest import RECIPIENT

SAMPLES = Path(__file__).parent / "fixtures" / "samples_2026"
OCT = dt.date(2025, 10, 1)
D = Decimal


def load(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_the_2026_sample_gives_its_stated_2b_totals(tenant_a, sandbox, adapter):
    for entry in load("rettrack_supplier_2024_25.json")["EFiledlist"]:
        sandbox.post("filings", {"gstin": "29AAJFY9012N1ZE", **entry})
    with (
        time_machine.travel(dt.datetime(2025, 11, 5, 6, 0, tzinfo=dt.UTC), tick=False),
        tenant_scope(tenant_a),
    ):
        reg = tenancy_services.add_registration(
            tenant=tenant_a, actor=factories.SYSTEM, gstin=RECIPIENT, legal_name="Zenith Industries"
        )
        result = ingest_documents(
            tenant=tenant_a,
            registration=reg,
            records=load("ims_getinv_2026.json"),
            actor=factories.SYSTEM,
            source="portal",
        )
        assert not result.errors
        services.refresh_supplier_filings(tenant=tenant_a, actor=factories.SYSTEM, adapter=adapter)
        snap = services.build_preview(tenant=tenant_a, actor=factories.SYSTEM, registration=reg, period=OCT)
        rows = {r.code: r.amounts for r in selectors.table4(preview=snap)}
        cn = SupplierDocument.objects.get(doc_number="KA-CN-88")
    assert rows["4A1"]["igst"] == D("54000.00")
    assert (rows["4A4"]["cgst"], rows["4A4"]["sgst"]) == (D("3500.00"), D("3500.00"))
    assert rows["4A5"]["igst"] == D("16200.00")
    assert (rows["4D2"]["cgst"], rows["4D2"]["sgst"]) == (D("500.00"), D("500.00"))
    assert rows["4B2-rule37a"]["igst"] == D(
        "9000.00"
    )  # KA-3301 of March 2025: its supplier never filed that 3B
    assert snap.summary["counts"]["pending"] == 1
    # the flags as booleans, the availability check, "F" as filed
    assert (cn.pending_blocked, cn.itc_red_blocked, cn.remarks_blocked) == (True, True, False)
    assert cn.itc_availability_check == "Y"
    assert cn.supplier_filing_status == "filed"


def test_imssav0054_reads_as_the_missing_answer_on_the_document():
    status = RequestStatus.parse("ref-1", load("reqsts_imssav0054.json"))
    assert status.status == "PE"
    (error,) = status.errors
    assert (error.section, error.stin, error.error_cd) == ("b2bcn", "29AAJFY9012N1ZE", "IMSSAV0054")
    message = record_message(error.error_cd, error.error_msg)
    assert "whether ITC needs to be reduced" in message
    assert "Please enter value for the column itcRedReq" in message  # the portal's own words kept

"""Every workbook the product writes, opened as an accountant would (openpyxl): an "About" sheet first saying what
was exported, for which organisation, by whom and when (IST); readable sheet names; the heading row frozen on every
sheet; amounts in Indian grouping; dates as date cells. Through the pages that make them."""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportJob
from exports.tasks import run_export_task
from invoices.services.ingest import ingest_documents
from returns import services as returns_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.reconciliation.test_import_register import REGISTER, csv_data, row, upload_and_run

pytestmark = pytest.mark.django_db

INDIAN = "#,##,##0.00"
KA = "29AAJFY9012N1ZE"  # a supplier in Karnataka


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def docs(tenant_a, reg_a1):
    records = {
        "b2b": [factories.document_record(supplier_gstin=KA, number="INV/25-26/001", action="A")],
        "b2bcn": [
            factories.document_record(
                supplier_gstin=KA, section="b2bcn", number="CN/25-26/007", action="A", itcRedReq="N"
            )
        ],
    }
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="demo"
        ).errors
    return reg_a1


def workbook(response) -> openpyxl.Workbook:
    assert response.status_code == 200, response.content[:500]
    return openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def about(wb) -> dict:
    rows = list(wb["About"].iter_rows(values_only=True))
    assert rows[0][0] == "About this file"
    return {label: value for label, value in rows[1:]}


def check_common(wb, *, sheet: str, user, rows: int) -> dict:
    """The parts every workbook shares; returns the About sheet as a dict."""
    assert wb.sheetnames == ["About", sheet]
    assert wb.active.title == sheet  # it opens on the data
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws["A1"].font.b, ws.title
    info = about(wb)
    assert info["Organisation"] == "Acme Traders"
    assert info["Exported by"] == user.get_username()
    assert info["Rows"] == rows
    made = info["Exported on (IST)"]
    assert isinstance(made, dt.datetime)
    now_ist = timezone.localtime().replace(tzinfo=None)
    assert abs((now_ist - made).total_seconds()) < 120  # IST wall clock, not UTC
    return info


def columns(ws) -> dict[str, int]:
    return {h: i for i, h in enumerate(next(ws.iter_rows(max_row=1, values_only=True)))}


def test_the_2b_preview_excel_speaks_the_portals_words(client_for, alice, tenant_a, docs):
    with tenant_scope(tenant_a):
        returns_services.build_preview(
            tenant=tenant_a, actor=factories.SYSTEM, registration=docs, period=dt.date(2025, 10, 1)
        )
    wb = workbook(client_for(alice).get(reverse("twob-excel", args=[tenant_a.slug, docs.pk, "102025"])))
    info = check_common(wb, sheet="GSTR-2B preview", user=alice, rows=2)
    assert info["What"] == f"GSTR-2B preview ({docs.gstin}, return period 10-2025)"
    ws = wb["GSTR-2B preview"]
    col = columns(ws)
    by_number = {r[col["Invoice number"]].value: r for r in ws.iter_rows(min_row=2)}
    inv, cn = by_number["INV/25-26/001"], by_number["CN/25-26/007"]
    assert inv[col["GSTR-2B heading"]].value == (
        "ITC Available – Part A – Supplies other than reverse charge – B2B invoices"
    )
    assert inv[col["Section"]].value == "B2B invoices"
    assert (
        cn[col["GSTR-2B heading"]].value
        == "ITC Available – Part B – Others (credit notes) – B2B credit notes"
    )
    assert cn[col["Invoice type"]].value == "Credit note"
    assert inv[col["Invoice type"]].value == "Regular"
    assert inv[col["Place of supply"]].value == "27 – Maharashtra"
    assert inv[col["Supply attract reverse charge"]].value == "No"
    assert inv[col["Invoice date"]].value == dt.datetime(2025, 10, 5)  # noqa: DTZ001 - a date cell, not "05-10-2025"
    assert inv[col["Invoice date"]].number_format == "dd\\-mm\\-yyyy"
    assert inv[col["GSTR-1/IFF/GSTR-5 Period"]].value == "10-2025"
    for head in ("Invoice value", "Taxable value", "Integrated Tax", "Central Tax", "State/UT tax", "Cess"):
        assert inv[col[head]].number_format == INDIAN, head
    assert inv[col["Taxable value"]].value == 10000
    text = " ".join(str(c.value) for r in ws.iter_rows() for c in r if c.value is not None)
    assert not re.search(r"\b(itcavl|nonrevsup|othersup|b2bcn|cdnr)\b", text)


def test_the_document_list_export_has_section_names_states_and_date_cells(client_for, alice, docs):
    wb = workbook(client_for(alice).get("/t/acme/documents/export/"))
    info = check_common(wb, sheet="Inward documents", user=alice, rows=2)
    assert info["What"].startswith("Inward documents")
    ws = wb["Inward documents"]
    col = columns(ws)
    rows = {r[col["Document number"]].value: r for r in ws.iter_rows(min_row=2)}
    cn = rows["CN/25-26/007"]
    assert cn[col["Section"]].value == "B2B – Credit notes"
    assert cn[col["Place of supply"]].value == "27 – Maharashtra"
    assert isinstance(cn[col["Document date"]].value, dt.datetime)
    assert isinstance(cn[col["First seen (IST)"]].value, dt.datetime)
    assert cn[col["Taxable value"]].number_format == INDIAN


def test_the_audit_trail_export_states_its_filters_in_words(client_for, alice, tenant_a, docs):
    response = client_for(alice).post("/t/acme/audit/export/?action=document.created&date_from=01-01-2025")
    wb = workbook(response)
    info = check_common(wb, sheet="Audit trail", user=alice, rows=2)
    assert info["What happened"] == "received from the GST portal"
    assert info["From"] == "01-01-2025"
    ws = wb["Audit trail"]
    col = columns(ws)
    sentences = sorted(r[col["What happened"]] for r in ws.iter_rows(min_row=2, values_only=True))
    assert sentences[0].startswith("The system (tests) received CN/25-26/007 of ")
    assert "(B2B – Credit notes) from the GST portal" in sentences[0]
    assert all(
        isinstance(r[col["Time (IST)"]], dt.datetime) for r in ws.iter_rows(min_row=2, values_only=True)
    )


def test_a_large_export_built_by_the_worker_has_the_same_about_sheet(
    client_for, alice, tenant_a, docs, settings
):
    settings.EXPORT_SYNC_MAX_ROWS = 1
    response = client_for(alice).get("/t/acme/documents/export/")
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        job = ExportJob.objects.get()
    run_export_task(job.pk)
    wb = workbook(client_for(alice).get(f"/t/acme/exports/{job.pk}/download/"))
    check_common(wb, sheet="Inward documents", user=alice, rows=2)


def test_the_register_error_report_is_a_workbook_with_an_about_sheet(client_for, alice, tenant_a, reg_a1):
    c = client_for(alice)
    job = upload_and_run(c, "register.csv", csv_data([row(reg_a1, "PV-1", taxable="lots")]))
    wb = workbook(c.get(f"{REGISTER}imports/{job.pk}/errors/"))
    info = check_common(wb, sheet="Import problems", user=alice, rows=1)
    assert info["What"] == "Problems found importing the purchase register file register.csv"
    problem = list(wb["Import problems"].iter_rows(min_row=2, values_only=True))[0]
    assert problem[0] == 2  # the file's row number as a number
    assert problem[4] == "not imported"

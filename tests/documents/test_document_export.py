"""'Export to Excel' exports every matching document, not just the page, and only the GSTINs the user may see."""

import io

import pytest
from openpyxl import load_workbook

from exports.models import ExportJob
from exports.services import run_export
from invoices.exports import HEADERS
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_2, make_doc

pytestmark = pytest.mark.django_db

EXPORT = "/t/acme/documents/export/"


def sheet_rows(content: bytes):
    ws = load_workbook(io.BytesIO(content), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_export_downloads_every_matching_row_with_twenty_seven_columns(client_for, alice, docs):
    response = client_for(alice).get(EXPORT, {"supplier": SUPPLIER_2, "cursor": "ignored"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    header, rows = sheet_rows(b"".join(response.streaming_content))
    assert list(header) == HEADERS
    assert len(HEADERS) == 27  # with the bill-of-entry, ISD, ITC claim period and IRN columns
    assert sorted(r[4] for r in rows) == sorted(docs[k].doc_number for k in ("cn", "dn", "not_filed"))
    cn = next(r for r in rows if r[4] == docs["cn"].doc_number)
    assert cn[2] == "Karnataka Steel Works Ltd"
    assert cn[3] == "B2B – Credit notes"
    assert cn[6] == "2025-26"
    assert cn[7] == "10-2025"
    assert cn[16] == "Rejected"
    assert cn[12] == 1800


def test_export_is_not_limited_to_one_page(client_for, alice, reg_a1):
    for i in range(120):
        make_doc(reg_a1, doc_number=f"BULK/{i:04d}")
    response = client_for(alice).get(EXPORT, {"number": "BULK"})
    _, rows = sheet_rows(b"".join(response.streaming_content))
    assert len(rows) == 120
    assert len({r[4] for r in rows}) == 120


def test_export_of_a_preparer_holds_only_granted_gstins(client_for, pat, docs, reg_a2):
    response = client_for(pat).get(EXPORT)
    _, rows = sheet_rows(b"".join(response.streaming_content))
    assert rows
    assert {r[0] for r in rows} == {docs["oct_b2b"].registration.gstin}
    assert docs["a2"].doc_number not in {r[4] for r in rows}


def test_big_export_becomes_a_job_that_writes_every_row(client_for, alice, docs, settings, tmp_path):
    settings.EXPORT_SYNC_MAX_ROWS = 3
    settings.EXPORT_DIR = tmp_path
    response = client_for(alice).get(EXPORT, {"section": "b2b"})
    assert response.status_code == 302
    with tenant_scope(docs["a2"].tenant_id):
        job = ExportJob.objects.get()
    assert response["Location"] == f"/t/acme/exports/{job.pk}/"
    job = run_export(job.pk)
    assert job.status == "done", job.error
    _, rows = sheet_rows((tmp_path / job.file_name).read_bytes())
    assert len(rows) == 9  # every b2b document of tenant A, vanished included


def test_export_with_bad_filters_goes_back_to_the_list_with_a_message(client_for, alice, docs):
    response = client_for(alice).get(EXPORT, {"period": "oops"}, follow=True)
    assert response.redirect_chain[0][0].startswith("/t/acme/documents/?period=oops")
    assert "Fix the filters before exporting" in response.content.decode()

"""A register workbook with more rows than the register takes is refused on the upload page, from the sheet's
dimension (or its row tags), before anything is kept or queued (issue #13: a 1,048,577-row workbook was accepted and
refused by the worker only after 14 s and ~700 MB); a request body over MAX_REQUEST_BYTES is refused with 413
before it is read."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from reconciliation import register_file, services
from reconciliation.models import RegisterImport
from tenancy.scoping import tenant_scope
from tests.reconciliation.test_import_register import REGISTER, lines, row, upload, xlsx_data

pytestmark = pytest.mark.django_db
EXCEL_ROWS = 1_048_577  # one more than Excel's own limit: what the probe uploaded

_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="Register" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def workbook(rows: int, *, dimension: bool) -> bytes:
    """A minimal .xlsx whose first sheet has ``rows`` rows (a heading, then empty rows), stored uncompressed (so it
    is no zip bomb), with or without the ``<dimension>`` that Excel writes."""
    head = '<row r="1"><c r="A1" t="inlineStr"><is><t>Supplier GSTIN</t></is></c></row>'
    dim = f'<dimension ref="A1:A{rows}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        f'2006/main">{dim}<sheetData>{head}' + "<row/>" * (rows - 1) + "</sheetData></worksheet>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return buf.getvalue()


def nothing_kept(tenant) -> bool:
    with tenant_scope(tenant):
        queued = RegisterImport.objects.count()
    return queued == 0 and not any(services.import_dir().iterdir())


@pytest.mark.parametrize("dimension", [True, False], ids=["with dimension", "without dimension"])
def test_a_workbook_of_1048577_rows_is_refused_on_the_page_with_nothing_kept(
    tenant_a, reg_a1, alice, client_for, media, dimension
):
    data = workbook(EXCEL_ROWS, dimension=dimension)
    assert register_file.xlsx_row_count(data) == EXCEL_ROWS
    r = upload(client_for(alice), "register.xlsx", data)
    assert r.status_code == 400
    assert "1,048,576 rows under its headings" in r.content.decode()
    assert "at most 1,000,000" in r.content.decode()
    assert nothing_kept(tenant_a)


def test_the_row_limit_is_checked_at_upload_for_a_real_workbook(
    tenant_a, reg_a1, alice, client_for, settings, media
):
    settings.RECON_REGISTER_MAX_ROWS = 2
    c = client_for(alice)
    r = upload(c, "r.xlsx", xlsx_data([row(reg_a1, f"PV-{n}") for n in range(3)]))
    assert r.status_code == 400
    assert "3 rows under its headings; a register may have at most 2" in r.content.decode()
    assert nothing_kept(tenant_a)
    r = upload(c, "r.xlsx", xlsx_data([row(reg_a1, f"PV-{n}") for n in range(2)]))
    assert r.status_code == 302  # at the limit: queued
    services.run_import(import_id=int(r.url.rstrip("/").rsplit("/", 1)[-1]))
    assert set(lines(tenant_a)) == {"PV-0", "PV-1"}


def test_a_request_body_over_the_limit_is_refused_with_413_before_it_is_read(
    tenant_a, alice, client_for, media
):
    c = client_for(alice)
    with override_settings(MAX_REQUEST_BYTES=10_000):
        r = c.post(REGISTER, {"file": SimpleUploadedFile("r.csv", b"a,b\n" + b"1,2\n" * 5000)})
        assert r.status_code == 413
        assert "the limit is 10,000 bytes" in r.content.decode()
        api = c.post(
            "/api/v1/t/acme/purchase-register/", "[" + "1," * 6000 + "1]", content_type="application/json"
        )
        assert api.status_code == 413
        assert "limit" in api.json()["detail"]
    assert nothing_kept(tenant_a)

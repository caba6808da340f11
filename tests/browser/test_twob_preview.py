"""In a real browser: open a period's GSTR-2B preview, rebuild it on demand, download the Excel. There is no worker
in tests: the test process runs what the worker would (the ``rebuild_preview`` task for each queued rebuild) while
the page polls its progress (htmx) and reloads itself when the rebuild is done."""

from __future__ import annotations

import re

import openpyxl
import pytest
from playwright.sync_api import expect

from invoices.services.ingest import ingest_documents
from returns.models import PreviewRebuild, RebuildStatus
from returns.tasks import rebuild_preview
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def org(transactional_db):
    tenant = factories.make_tenant("Preview Traders", "preview")
    reg = factories.make_registration(tenant, state="27", n=21)
    user = factories.make_user("ravi")
    factories.make_member(tenant, user, "owner")
    supplier = factories.gstin_for(8201, "29")
    with tenant_scope(tenant):
        records = {
            "b2b": [
                factories.document_record(
                    supplier_gstin=supplier, number=f"PV/{i:03d}", action="R" if i == 0 else "N"
                )
                for i in range(4)
            ]
        }
        assert not ingest_documents(
            tenant=tenant, registration=reg, records=records, actor=factories.SYSTEM, source="demo"
        ).errors
    return {"tenant": tenant, "reg": reg}


def run_queued_rebuilds(tenant) -> int:
    """What the Celery worker does with the queued rebuild tasks."""
    with tenant_scope(tenant):
        ids = list(PreviewRebuild.objects.filter(status=RebuildStatus.QUEUED).values_list("id", flat=True))
    return sum(rebuild_preview(i) == "done" for i in ids)


def test_open_a_period_rebuild_it_and_download_the_excel(org, log_in, tmp_path):
    page = log_in("ravi", factories.PASSWORD)
    page.get_by_role("link", name="GSTR-2B").click()
    page.wait_for_url(re.compile(r"/t/preview/returns/"))
    page.goto(f"/t/preview/returns/2b/{org['reg'].pk}/102025/")
    assert page.locator("#no-preview").is_visible()
    with page.expect_navigation():
        page.click("#rebuild")
    assert "Rebuild queued" in page.locator("#flash").inner_text()
    expect(page.locator("#rebuild-status")).to_contain_text("Queued")
    expect(page.locator("#rebuild")).to_be_disabled()
    assert run_queued_rebuilds(org["tenant"]) == 1
    expect(page.locator("#itcsumm")).to_be_visible()  # htmx saw it done and reloaded the page
    expect(page.locator("#rebuild-status")).to_contain_text("Done")
    assert page.locator("#itcsumm tbody tr").count() >= 2
    with page.expect_download() as info:
        page.click("#download-excel")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    rows = list(openpyxl.load_workbook(target).active.values)
    assert sorted(r[4] for r in rows[1:]) == ["PV/000", "PV/001", "PV/002", "PV/003"]
    assert [r[0] for r in rows[1:]].count(
        "ITC Rejected (in IMS) – Part A – Supplies other than reverse charge – B2B invoices"
    ) == 1

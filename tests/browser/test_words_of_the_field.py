"""In a real browser, as an accountant and an auditor would: the GSTR-2B preview and Table 4 in the portal's words,
its Excel opened and checked (Indian grouping, real dates, the About sheet), and the audit trail read in sentences,
filtered with its dropdowns and its chain verified with the button. Screenshots (words-*.png) go to the folder
named by SCREENSHOT_DIR, else to the test's temporary folder, for a person to look at."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from actions import services as actions_services
from audit.services import Actor
from invoices.models import Supplier, SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import services as returns_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.browser
SUPPLIER = factories.gstin_for(8301, "24")  # a supplier in Gujarat


@pytest.fixture
def shots(tmp_path) -> Path:
    return Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)


@pytest.fixture
def org(transactional_db):
    tenant = factories.make_tenant("Words Traders", "words")
    reg = factories.make_registration(tenant, state="27", n=31)
    user = factories.make_user("meera")
    factories.make_member(tenant, user, "owner")
    with tenant_scope(tenant):
        records = {
            "b2b": [
                factories.document_record(supplier_gstin=SUPPLIER, number=f"INV/25-26/{i:03d}", action="A")
                for i in range(1, 4)
            ],
            "b2bcn": [
                factories.document_record(
                    supplier_gstin=SUPPLIER, section="b2bcn", number="CN/25-26/001", action="R"
                )
            ],
        }
        assert not ingest_documents(
            tenant=tenant, registration=reg, records=records, actor=factories.SYSTEM, source="demo"
        ).errors
        Supplier.objects.update_or_create(
            tenant=tenant, gstin=SUPPLIER, defaults={"trade_name": "Patel Plastics", "legal_name": ""}
        )
        actions_services.set_action(
            tenant=tenant,
            actor=Actor.user(user),
            membership=Membership.objects.get(tenant=tenant, user=user),
            document=SupplierDocument.objects.get(tenant=tenant, doc_number="INV/25-26/002"),
            action="R",
        )
        returns_services.build_preview(
            tenant=tenant, actor=factories.SYSTEM, registration=reg, period=dt.date(2025, 10, 1)
        )
    return {"tenant": tenant, "reg": reg}


def test_the_2b_preview_and_table_4_read_in_words_and_the_excel_checks_out(org, log_in, tmp_path, shots):
    page = log_in("meera", factories.PASSWORD)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"/t/words/returns/2b/{org['reg'].pk}/102025/")
    summary = page.locator("#itcsumm")
    expect(summary).to_contain_text("ITC Available")
    expect(summary).to_contain_text("Part A – Supplies other than reverse charge")
    expect(summary).to_contain_text("B2B invoices")
    expect(summary).to_contain_text("ITC Rejected (in IMS)")
    expect(summary).to_contain_text("Part B – Others (credit notes)")
    body = page.locator("main, body").first.inner_text()
    for code in ("itcavl", "nonrevsup", "itcsumm", "cpsumm", "GET2B", "GEN2B", " ms "):
        assert code not in body, code
    expect(page.locator("#table4")).to_contain_text("4(A)(5) All other ITC")
    expect(page.locator("#table4-notes")).to_contain_text("our reading of the portal")
    page.screenshot(path=shots / "words-preview.png")
    page.locator("#table4").scroll_into_view_if_needed()
    page.screenshot(path=shots / "words-table4.png")

    with page.expect_download() as info:
        page.click("#download-excel")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["About", "GSTR-2B preview"]
    about = {r[0]: r[1] for r in wb["About"].iter_rows(min_row=2, values_only=True)}
    assert about["Exported by"] == "meera"
    assert isinstance(about["Exported on (IST)"], dt.datetime)
    ws = wb["GSTR-2B preview"]
    assert ws.freeze_panes == "A2"
    head = [c.value for c in ws[1]]
    first = {h: c for h, c in zip(head, ws[2], strict=True)}
    assert first["Invoice date"].is_date
    assert first["Invoice date"].number_format == "dd\\-mm\\-yyyy"
    assert first["Taxable value"].number_format == "#,##,##0.00"  # shown 10,000.00; 12,34,567.00 for lakhs
    assert first["Place of supply"].value == "27 – Maharashtra"
    assert first["Taxable value"].value == 10000


def test_the_audit_trail_reads_as_sentences_filters_by_dropdown_and_verifies_its_chain(org, log_in, shots):
    page = log_in("meera", factories.PASSWORD)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.click("#nav-more")
    page.get_by_role("link", name="Audit trail").click()
    page.wait_for_url(re.compile(r"/t/words/audit/"))
    events = page.locator("#audit-events")
    rejected = events.locator("tbody tr", has_text="INV/25-26/002 of")
    expect(rejected.first).to_contain_text("meera rejected INV/25-26/002 of Patel Plastics (B2B – Invoices)")
    expect(rejected.first).to_contain_text("Action: Rejected")
    expect(events).to_contain_text("received CN/25-26/001 of Patel Plastics")
    expect(events).to_contain_text("(B2B – Credit notes) from the GST portal")

    page.select_option("#id_action", "document.created")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert "action=document.created" in page.url
    assert page.locator("#audit-events tbody tr").count() == 4
    expect(page.locator("#id_action")).to_have_value("document.created")

    with page.expect_navigation():
        page.click("#audit-verify")
    result = page.locator("#verify-result")
    expect(result).to_contain_text("The chain is intact.")
    expect(result).to_contain_text("none has been changed, removed or inserted")
    assert page.locator("#audit-events tbody tr").count() == 4  # the filter kept
    page.screenshot(path=shots / "words-audit.png", full_page=True)

"""A demo-like user in a real browser: log in, open the inward documents, filter, export to Excel."""

from __future__ import annotations

import re

import openpyxl
import pytest
from playwright.sync_api import expect

from invoices.services.ingest import ingest_documents
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.browser
SUPPLIER = factories.gstin_for(8101, "27")


@pytest.fixture
def demo(transactional_db):
    """Like seed_demo, small: an organisation with two GSTINs, documents from two suppliers, and its owner."""
    tenant = factories.make_tenant("Demo Traders", "demo")
    main = factories.make_registration(tenant, state="27", n=11)
    branch = factories.make_registration(tenant, state="29", n=12, frequency="Q")
    user = factories.make_user("asha")
    factories.make_member(tenant, user, "owner")
    other = factories.gstin_for(8102, "29")
    with tenant_scope(tenant):
        for reg, count in ((main, 9), (branch, 5)):
            records = [
                factories.document_record(
                    supplier_gstin=SUPPLIER if i % 3 else other,
                    number=f"DT/{reg.pk}/{i:03d}",
                    pos=reg.state_code,
                )
                for i in range(count)
            ]
            result = ingest_documents(
                tenant=tenant,
                registration=reg,
                records={"b2b": records},
                actor=factories.SYSTEM,
                source="demo",
            )
            assert not result.errors
    return {
        "tenant": tenant,
        "main": main,
        "branch": branch,
        "user": user,
        "counts": {main.gstin: 9, branch.gstin: 5},
    }


def test_login_with_the_right_password_opens_the_organisation(demo, log_in):
    page = log_in("asha", factories.PASSWORD)
    assert "/t/demo/" in page.url
    assert page.locator("nav").get_by_text("asha").is_visible()


def test_login_with_a_wrong_password_stays_on_the_login_page_with_an_error(demo, log_in):
    page = log_in("asha", "not the password")
    assert "/accounts/login/" in page.url
    assert page.locator(".alert-danger, .invalid-feedback, .errorlist").first.is_visible()
    assert not page.locator("nav").get_by_text("Inward documents").count()


def test_filtered_inward_list_exports_exactly_the_filtered_documents(demo, log_in, tmp_path):
    page = log_in("asha", factories.PASSWORD)
    page.get_by_role("link", name="Inward documents").click()
    page.wait_for_url(re.compile(r"/t/demo/documents/"))
    assert page.locator("#documents tbody tr").count() == 14

    branch = demo["branch"].gstin
    page.select_option("#document-filters select[name=registration]", branch)
    with page.expect_navigation():
        page.locator("#document-filters").get_by_role("button", name="Apply").click()
    assert f"registration={branch}" in page.url
    expected = demo["counts"][branch]
    # A locator assertion, not wait_for_function: the Content-Security-Policy forbids evaluating strings as script.
    expect(page.locator("#doc-count")).not_to_contain_text("counting")
    assert page.inner_text("#doc-count").strip() == f"{expected} documents"
    assert page.locator("#documents tbody tr").count() == expected

    with page.expect_download() as info:
        page.click("#export-xlsx")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    sheet = openpyxl.load_workbook(path, read_only=True)["Inward documents"]  # after the About sheet
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Recipient GSTIN"
    assert len(rows) - 1 == expected
    assert {row[0] for row in rows[1:]} == {branch}

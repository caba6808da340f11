"""A preparer reviewing one by one in a real browser: open a document from a filtered list, move with j/k and the
arrow keys, save and go to the next; the bulk bar shows remarks and the ITC-reduction answer only where they
apply, and errors come back on the list with the selection kept; the sort control applies on change."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("IMS_SCREENSHOTS") or Path(tempfile.gettempdir()) / "ims-screenshots")
OCT = dt.date(2025, 10, 1)


@pytest.fixture
def desk(transactional_db):
    tenant = factories.make_tenant("Review Traders", "review")
    reg = factories.make_registration(tenant, state="27", n=31)
    user = factories.make_user("meera")
    factories.make_member(tenant, user, "preparer", gstins=[reg])
    mine = [
        make_doc(reg, doc_date=dt.date(2025, 10, day), doc_number=f"RV/25-26/{day:05d}", twob_period=OCT)
        for day in range(1, 6)
    ]
    note = make_doc(
        reg,
        section="b2bcn",
        doc_date=dt.date(2025, 10, 7),
        doc_number="CN/25-26/00007",
        supplier_gstin=SUPPLIER_2,
        twob_period=OCT,
    )
    make_doc(reg, doc_date=dt.date(2025, 10, 8), supplier_gstin=SUPPLIER_2, twob_period=OCT)
    return {"tenant": tenant, "reg": reg, "mine": mine, "note": note}


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _doc_id(page) -> int:
    return int(re.search(r"/documents/(\d+)/", page.url)[1])


def test_review_one_by_one_with_keys_and_save_and_next(desk, log_in):
    mine = desk["mine"]
    page = log_in("meera", factories.PASSWORD)
    page.goto(f"/t/review/documents/?supplier={SUPPLIER_1}&sort=date")
    assert page.locator("#documents tbody tr").count() == 5
    with page.expect_navigation():
        page.get_by_role("link", name=mine[0].doc_number).click()
    assert _doc_id(page) == mine[0].pk
    page.wait_for_selector("#review-place")
    assert page.locator("#review-place").inner_text().startswith("1 of")
    expect(page.locator("#review-place")).to_contain_text("of 5")  # the count arrives by htmx
    _shot(page, "review-detail-first")

    with page.expect_navigation():
        page.keyboard.press("j")
    assert _doc_id(page) == mine[1].pk
    with page.expect_navigation():
        page.keyboard.press("ArrowRight")
    assert _doc_id(page) == mine[2].pk
    with page.expect_navigation():
        page.keyboard.press("k")
    assert _doc_id(page) == mine[1].pk
    with page.expect_navigation():
        page.keyboard.press("ArrowLeft")
    assert _doc_id(page) == mine[0].pk
    # The same with the Previous / Next buttons; at the ends they are greyed out.
    expect(page.locator("span.disabled", has_text="Previous")).to_be_visible()
    with page.expect_navigation():
        page.click("#next-doc")
    assert _doc_id(page) == mine[1].pk
    with page.expect_navigation():
        page.click("#prev-doc")
    assert _doc_id(page) == mine[0].pk

    # The box starts at the document's action (none yet): no remarks with "no action"; a plain invoice is
    # asked no ITC-reduction answer.
    assert page.locator("#document-action-form select[name=action]").input_value() == "N"
    assert page.locator("#document-action-form [name=remarks]").is_hidden()
    assert page.locator("#document-action-form select[name=declaration]").count() == 0
    page.select_option("#document-action-form select[name=action]", "R")
    # Typing j and k in the form does not move between documents.
    page.click("#document-action-form [name=remarks]")
    page.keyboard.type("jk")
    assert _doc_id(page) == mine[0].pk
    page.fill("#document-action-form [name=remarks]", "Goods not received")
    with page.expect_navigation():
        page.click("#save-and-next")
    assert _doc_id(page) == mine[1].pk
    assert "Action saved" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.keyboard.press("k")
    # The box shows the action just saved, and saving it again changes nothing.
    assert page.locator("#document-action-form select[name=action]").input_value() == "R"
    assert page.locator("#document-action-form [name=remarks]").input_value() == "Goods not received"
    _shot(page, "review-detail-saved")
    with page.expect_navigation():
        page.click("#save-action")
    assert "Nothing changed" in page.locator("main").inner_text()
    with tenant_scope(desk["tenant"]):
        assert SupplierDocument.objects.get(pk=mine[0].pk).local_action == "R"

    # Back to the list: the page that starts at this document, numbered.
    with page.expect_navigation():
        page.click("#back-to-list")
    expect(page.locator("#page-range")).to_contain_text("of 5")
    assert page.locator("#page-range").inner_text().startswith("1–5 of 5")


def test_credit_note_asks_the_itc_answer_only_with_accept(desk, log_in):
    page = log_in("meera", factories.PASSWORD)
    page.goto(f"/t/review/documents/{desk['note'].pk}/")
    answer = page.locator("#document-action-form select[name=declaration]")
    page.select_option("#document-action-form select[name=action]", "A")
    assert answer.is_visible()
    assert page.locator("#document-action-form [name=decl_igst]").is_hidden()
    page.select_option("#document-action-form select[name=declaration]", "partial")
    assert page.locator("#document-action-form [name=decl_igst]").is_visible()
    _shot(page, "review-credit-note-partial")
    page.select_option("#document-action-form select[name=action]", "R")
    assert answer.is_hidden()
    assert page.locator("#document-action-form [name=decl_igst]").is_hidden()


def test_bulk_bar_fields_follow_the_action_and_selection_and_errors_keep_the_selection(desk, log_in):
    note, first = desk["note"], desk["mine"][0]
    page = log_in("meera", factories.PASSWORD)
    page.goto("/t/review/documents/?sort=date")
    bar = page.locator("#bulk-action-form")
    remarks, answer = bar.locator("[name=remarks]"), bar.locator("select[name=declaration]")

    page.check(f"input[name=ids][value='{first.pk}']")
    page.select_option("#bulk-action-form select[name=action]", "A")
    assert remarks.is_visible()
    assert answer.is_hidden()  # no credit note selected: no answer to give
    page.check(f"input[name=ids][value='{note.pk}']")
    assert answer.is_visible()
    assert bar.get_by_text("Whether ITC needs to be reduced?").is_visible()
    page.select_option("#bulk-action-form select[name=action]", "N")
    assert remarks.is_hidden()
    assert answer.is_hidden()
    page.select_option("#bulk-action-form select[name=action]", "A")
    page.select_option("#bulk-action-form select[name=declaration]", "partial")
    assert bar.locator("[name=decl_cgst]").is_visible()
    _shot(page, "bulk-bar-partial")

    # A partial reduction without amounts: the error comes back here, the two documents still ticked.
    with page.expect_navigation():
        page.click("#bulk-action-submit")
    assert re.search(r"/t/review/documents/\?sort=date$", page.url)
    assert "Give the amounts" in page.locator("#bulk-errors").inner_text()
    assert page.is_checked(f"input[name=ids][value='{first.pk}']")
    assert page.is_checked(f"input[name=ids][value='{note.pk}']")
    assert bar.locator("select[name=action]").input_value() == "A"
    assert answer.is_visible()
    assert answer.input_value() == "partial"
    _shot(page, "bulk-errors-on-list")

    # Fixed: Yes in full goes through to the confirmation, whose impact shows every head.
    page.select_option("#bulk-action-form select[name=declaration]", "full")
    with page.expect_navigation():
        page.click("#bulk-action-submit")
    assert page.locator("#preview-summary").is_visible()
    heads = page.locator("#impact-periods thead").inner_text()
    for head in ("IGST", "CGST", "SGST/UTGST", "Cess"):
        assert head in heads
    _shot(page, "bulk-confirm-impact")
    with page.expect_navigation():
        page.click("#apply-form button[type=submit]:not(#update-preview)")
    page.wait_for_selector("#run-status")
    assert page.locator("#back-to-list").get_attribute("href").endswith("/t/review/documents/?sort=date")
    _shot(page, "bulk-result")


def test_sort_applies_on_change(desk, log_in):
    page = log_in("meera", factories.PASSWORD)
    page.goto("/t/review/documents/")
    with page.expect_navigation():
        page.select_option("#document-filters select[name=sort]", "value")
    assert "sort=value" in page.url
    assert page.locator("#document-filters select[name=sort]").input_value() == "value"


def test_save_a_view_and_open_it_from_the_menu(desk, log_in):
    page = log_in("meera", factories.PASSWORD)
    page.goto(f"/t/review/documents/?supplier={SUPPLIER_2}&sort=date")
    assert page.locator("#documents tbody tr").count() == 2
    page.click("#save-view-toggle")
    page.fill("#save-view-name", "Karnataka supplier")
    page.check("#save-view-shared")
    with page.expect_navigation():
        page.click("#save-view-form button[type=submit]")
    assert "Saved the view “Karnataka supplier” for the team" in page.locator("main").inner_text()

    page.goto("/t/review/")
    page.click("#nav-saved-views")
    link = page.locator("#saved-views-menu a.saved-view-link", has_text="Karnataka supplier")
    link.wait_for()
    _shot(page, "saved-views-menu")
    with page.expect_navigation():
        link.click()
    assert page.locator("#documents tbody tr").count() == 2
    assert page.locator("#document-filters input[name=supplier]").input_value() == SUPPLIER_2

"""An owner deactivates a GSTIN added by mistake from the GSTINs page (after a confirmation), sees it marked there,
no longer sees its documents nor finds it in the GSTIN filter, then reactivates it. Screenshots go to
/tmp/desk-deactivate-*.png."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.documents.helpers import make_doc

pytestmark = pytest.mark.browser
SHOT = str(Path(tempfile.gettempdir()) / "desk-deactivate-{}.png")


@pytest.fixture
def office(transactional_db):
    tenant = factories.make_tenant("Mistake Traders", "mistake")
    kept = factories.make_registration(tenant, state="27", n=61)
    wrong = factories.make_registration(tenant, state="29", n=62)
    make_doc(kept, doc_number="KEEP/1")
    make_doc(wrong, doc_number="WRONG/1")
    factories.make_member(tenant, factories.make_user("meera"), "owner")
    return kept, wrong


def test_owner_deactivates_then_reactivates_a_gstin(office, log_in):
    kept, wrong = office
    page = log_in("meera", factories.PASSWORD)
    page.set_viewport_size({"width": 1300, "height": 800})
    page.goto("/t/mistake/registrations/")
    row = page.locator(f"#registration-{wrong.gstin}")
    questions: list[str] = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    with page.expect_navigation():
        row.get_by_role("button", name="Deactivate").click()
    assert questions
    assert questions[0].startswith(f"Deactivate {wrong.gstin}?")
    expect(page.locator(".alert-success")).to_contain_text(f"Deactivated {wrong.gstin}")
    expect(row).to_contain_text("Deactivated")
    expect(row.get_by_role("button", name="Reactivate")).to_be_visible()
    page.screenshot(path=SHOT.format("1-page"), full_page=True)

    page.goto("/t/mistake/documents/")
    expect(page.locator("#documents tbody tr")).to_have_count(1)
    expect(page.locator("#documents")).to_contain_text("KEEP/1")
    gstin_filter = page.locator("#document-filters select[name=registration] option")
    expect(gstin_filter.filter(has_text=wrong.gstin)).to_have_count(0)
    expect(gstin_filter.filter(has_text=kept.gstin)).to_have_count(1)
    page.screenshot(path=SHOT.format("2-documents"), full_page=True)

    page.goto("/t/mistake/registrations/")
    with page.expect_navigation():
        row.get_by_role("button", name="Reactivate").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Reactivated {wrong.gstin}")
    expect(row.get_by_role("button", name="Deactivate")).to_be_visible()
    page.goto("/t/mistake/documents/")
    expect(page.locator("#documents tbody tr")).to_have_count(2)

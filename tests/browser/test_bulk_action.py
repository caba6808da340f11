"""A preparer in a real browser: select every document matching a filter, choose an action, review the
confirmation (counts, ITC effect, refusals with reasons), apply it, and see the result."""

from __future__ import annotations

import re

import pytest

from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def office(transactional_db):
    tenant = factories.make_tenant("Bulk Traders", "bulk")
    reg = factories.make_registration(tenant, state="27", n=21)
    other = factories.make_registration(tenant, state="29", n=22)
    user = factories.make_user("priya")
    factories.make_member(tenant, user, "preparer", gstins=[reg])
    supplier = factories.gstin_for(8201, "27")
    with tenant_scope(tenant):
        for r in (reg, other):
            invoices = [
                factories.document_record(supplier_gstin=supplier, number=f"BK/{r.pk}/{i}", pos="27")
                for i in range(6)
            ]
            notes = [
                factories.document_record(
                    supplier_gstin=supplier,
                    section="b2bcn",
                    number=f"CN/{r.pk}/{i}",
                    pos="27",
                    ispendactblocked="Y",
                )
                for i in range(2)
            ]
            assert not ingest_documents(
                tenant=tenant,
                registration=r,
                records={"b2b": invoices, "b2bcn": notes},
                actor=factories.SYSTEM,
                source="demo",
            ).errors
    return tenant, reg, other


def test_bulk_pending_on_all_matching_goes_through_confirmation_and_lists_refusals(office, log_in):
    tenant, reg, other = office
    page = log_in("priya", factories.PASSWORD)
    page.get_by_role("link", name="Inward documents").click()
    page.wait_for_url(re.compile(r"/t/bulk/documents/"))
    assert page.locator("#documents tbody tr").count() == 8  # only the granted GSTIN

    page.check("#all-matching")
    page.select_option("#bulk-action-form select[name=action]", "P")
    page.fill("#bulk-action-form [name=remarks]", "Awaiting goods receipt")
    with page.expect_navigation():
        page.click("#bulk-action-submit")
    summary = page.locator("#preview-summary").inner_text()
    assert "6" in summary
    assert "2" in summary
    assert "Pending" in page.locator("#preview-refusals").inner_text()
    with page.expect_navigation():
        page.click("#apply-form button[type=submit]")
    page.wait_for_selector("#run-status")
    assert "6" in page.locator("#run-counts").inner_text()
    assert "CN/" in page.locator("#run-refused").inner_text()

    with tenant_scope(tenant):
        mine = dict(
            SupplierDocument.objects.filter(registration=reg).values_list("doc_number", "local_action")
        )
        theirs = set(
            SupplierDocument.objects.filter(registration=other).values_list("local_action", flat=True)
        )
    assert {n: a for n, a in mine.items() if n.startswith("BK/")} == {
        f"BK/{reg.pk}/{i}": "P" for i in range(6)
    }
    assert {a for n, a in mine.items() if n.startswith("CN/")} == {
        None
    }  # refused: Pending blocked by the portal
    assert theirs == {None}  # a GSTIN not granted is never touched

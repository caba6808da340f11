"""Bills of entry (Import of Goods) and ISD documents in IMS (docs/rules/sections.md §4): pulled from the sandbox
portal over HTTP with their goods type, stored with their own fields, acted on under their own rules (a bill of
entry takes Accept or Pending only), listed and filtered, and pushed back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from audit.services import Actor
from gst_sync import push, services
from gst_sync.client import errors as client_errors
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories

from .conftest import RECIPIENT, connect_gstin, save_body

ACTOR = Actor.system("tests")
BOE_SECTIONS = ("impg", "impga", "impgsez", "impgseza")
ISD_SECTIONS = ("isd", "isda", "isdcn")


@pytest.fixture
def synced(db, portal, sandbox):
    """A connected GSTIN whose every section was synced from the sandbox's generated documents (40: one of each
    bill-of-entry and ISD kind, and their amendments)."""
    tenant = factories.make_tenant("Acme Imports", "acme-imports")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
        connect_gstin(tenant, reg, portal, ACTOR)
        runs = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg)
    for run in runs:
        services.run_sync(run.pk, adapter=portal)
    return tenant, reg


def stored(tenant, section: str) -> list[SupplierDocument]:
    with tenant_scope(tenant):
        return list(SupplierDocument.objects.filter(section=section).order_by("id"))


def test_every_tab_is_pulled_with_its_goods_type_and_stored_with_its_own_fields(synced, portal):
    tenant, _reg = synced
    for section in (*BOE_SECTIONS, *ISD_SECTIONS):
        assert stored(tenant, section), section
    (impg,) = stored(tenant, "impg")
    on_portal = portal.get_ims_documents(gstin=RECIPIENT, section="impg")[0]
    assert impg.supplier_gstin == ""  # an import from overseas names no supplier
    assert impg.doc_number == on_portal["boenum"]
    assert impg.port_code == on_portal["portcode"]
    day, month, year = on_portal["refdt"].split("-")
    assert impg.ref_date == dt.date(int(year), int(month), int(day))
    assert impg.igst == Decimal(str(on_portal["iamt"]))
    assert impg.doc_value == impg.taxable_value + impg.igst + impg.cess  # the portal sends no value
    assert impg.supplier_period == impg.ref_date.replace(day=1)
    assert impg.supplier_filing_status == "filed"
    (sez,) = stored(tenant, "impgsez")
    assert len(sez.supplier_gstin) == 15
    (moved,) = stored(tenant, "impgseza")
    assert moved.prev_gstin == RECIPIENT  # a GSTIN amendment away from this GSTIN
    (amended,) = stored(tenant, "impga")
    assert amended.is_amendment
    assert amended.original_id == impg.pk
    isd = stored(tenant, "isd")[0]
    assert isd.doc_kind == "invoice"
    assert isd.itc_eligible == "Y"
    assert stored(tenant, "isdcn")[0].doc_kind == "credit_note"


def test_getinv_of_a_section_under_another_goods_type_is_refused_by_the_sandbox(authed):
    with pytest.raises(client_errors.PortalError) as caught:
        authed._section_records(
            RECIPIENT, authed.config.ims_path, "GETINV", {"section": "IMPG", "goods_typ": "ALL_OTH"}, "impg"
        )
    assert caught.value.code == "GEN5001"


def test_a_bill_of_entry_cannot_be_rejected_here(synced, client_for):
    tenant, _reg = synced
    owner = factories.make_user("boe-owner")
    factories.make_member(tenant, owner, "owner")
    (impg,) = stored(tenant, "impg")
    response = client_for(owner).post(
        f"/api/v1/t/{tenant.slug}/documents/{impg.pk}/action/",
        {"action": "R"},
        content_type="application/json",
    )
    assert response.status_code in (400, 409, 422)
    assert response.json()["code"] == "action_not_allowed"
    assert "cannot be rejected" in response.json()["message"]
    impg.refresh_from_db()
    assert impg.local_action is None
    for action in ("A", "P"):
        ok = client_for(owner).post(
            f"/api/v1/t/{tenant.slug}/documents/{impg.pk}/action/",
            {"action": action},
            content_type="application/json",
        )
        assert ok.status_code == 200, ok.content


def test_the_sandbox_refuses_a_rejected_bill_of_entry_as_the_portal_would(authed):
    (record,) = authed.get_ims_documents(gstin=RECIPIENT, section="impg")
    reference = authed.save_actions(gstin=RECIPIENT, invdata={"impg": [save_body(record, "R")]})
    status = authed.wait_for_request(gstin=RECIPIENT, reference_id=reference)
    assert status.status == "PE"
    assert status.errors[0].error_cd == "SBX-IMPGREJ"
    assert authed.get_ims_documents(gstin=RECIPIENT, section="impg")[0]["action"] == "N"


def test_accepted_bills_of_entry_and_pending_isd_documents_are_pushed_and_the_portal_takes_them(
    synced, portal
):
    tenant, reg = synced
    (impg,) = stored(tenant, "impg")
    (sez,) = stored(tenant, "impgsez")
    isd = stored(tenant, "isd")[0]
    with tenant_scope(tenant):
        SupplierDocument.objects.filter(pk=impg.pk).update(local_action="A")
        SupplierDocument.objects.filter(pk=sez.pk).update(local_action="P")
        SupplierDocument.objects.filter(pk=isd.pk).update(local_action="P")
        batches = push.queue_push(tenant=tenant, actor=ACTOR, registration=reg)
    for batch in batches:
        push.run_push(batch.pk, adapter=portal)
    assert portal.get_ims_documents(gstin=RECIPIENT, section="impg")[0]["action"] == "A"
    assert portal.get_ims_documents(gstin=RECIPIENT, section="impgsez")[0]["action"] == "P"
    isd_on_portal = {
        r["docnum"]: r["action"] for r in portal.get_ims_documents(gstin=RECIPIENT, section="isd")
    }
    assert isd_on_portal[isd.doc_number] == "P"
    for doc in (impg, sez, isd):
        doc.refresh_from_db()
        assert doc.local_action is None, doc
    assert (impg.portal_action, sez.portal_action, isd.portal_action) == ("A", "P", "P")


def test_the_documents_list_filters_by_tab_and_section(synced, client_for):
    tenant, _reg = synced
    owner = factories.make_user("boe-lister")
    factories.make_member(tenant, owner, "owner")
    (impg,) = stored(tenant, "impg")
    page = client_for(owner).get(f"/t/{tenant.slug}/documents/", {"section": "impg"})
    assert page.status_code == 200
    assert impg.doc_number in page.content.decode()
    assert impg.port_code in page.content.decode()
    api = client_for(owner).get(f"/api/v1/t/{tenant.slug}/documents/", {"section": "isd"}).json()
    assert {r["section"] for r in api["results"]} == {"isd"}

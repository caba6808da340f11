"""A CA firm's batch: sync all → reconcile all → GSTR-2B preview → recommended actions, with progress per GSTIN,
against the sandbox portal over HTTP; the jobs the batch queues are run here one by one, as workers would."""

from __future__ import annotations

import pytest

from audit.services import Actor
from gst_sync import services as sync_services
from invoices.models import SupplierDocument
from pipeline import batches
from pipeline.models import ClientBatchItem, Stage
from reconciliation import engine
from reconciliation import services as recon_services
from returns import services as returns_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync.conftest import RECIPIENT, connect_gstin

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")
SECOND = "29AAJFY9012N1ZE"


@pytest.fixture
def firm(sandbox, portal):
    sandbox.post("seed", {"gstin": SECOND, "docs": 30, "seed": 3})
    tenant = factories.make_tenant("Sharma & Co", "sharma-co")
    from tenancy import services as tenancy_services

    regs = []
    with tenant_scope(tenant):
        for gstin in (RECIPIENT, SECOND):
            regs.append(
                tenancy_services.add_registration(tenant=tenant, actor=ACTOR, gstin=gstin, legal_name=gstin)
            )
            connect_gstin(tenant, regs[-1], portal, ACTOR)
    unconnected = factories.make_registration(tenant, n=990)
    owner = factories.make_user("ca-owner")
    membership = factories.make_member(tenant, owner, "owner")
    return tenant, regs, unconnected, owner, membership


def items(batch):
    with tenant_scope(batch.tenant):
        return {i.registration_id: i for i in ClientBatchItem.objects.filter(batch=batch)}


def test_a_batch_takes_each_client_gstin_from_sync_to_recommended_actions(
    firm, portal, django_capture_on_commit_callbacks
):
    tenant, regs, unconnected, owner, membership = firm
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        batch = batches.start_batch(tenant=tenant, actor=Actor.user(owner), user=owner, membership=membership)
    got = items(batch)
    assert set(got) == {r.pk for r in regs}  # the connected GSTINs only
    assert all(i.stage == Stage.SYNCING and i.sync_run_ids for i in got.values())

    # The first GSTIN's sync ends first: it moves on alone.
    for run_id in got[regs[0].pk].sync_run_ids:
        sync_services.run_sync(run_id, adapter=portal)
    with django_capture_on_commit_callbacks(execute=True):
        batches.advance(batch.pk)
    got = items(batch)
    assert got[regs[0].pk].stage == Stage.RECONCILING
    assert got[regs[0].pk].documents > 0
    assert got[regs[1].pk].stage == Stage.SYNCING
    with tenant_scope(tenant):
        assert batches.progress(batch)["stages"][Stage.SYNCING] == 1

    for run_id in got[regs[1].pk].sync_run_ids:
        sync_services.run_sync(run_id, adapter=portal)
    book_one_invoice(tenant, owner, membership, regs[0])
    with django_capture_on_commit_callbacks(execute=True):
        batches.advance(batch.pk)
    for item in items(batch).values():
        engine.execute_run(run_id=item.recon_run_id)
    with django_capture_on_commit_callbacks(execute=True):
        batches.advance(batch.pk)
    got = items(batch)
    assert {i.stage for i in got.values()} == {Stage.PREVIEWING}
    for item in got.values():
        returns_services.run_rebuild(item.rebuild_id)
    with django_capture_on_commit_callbacks(execute=True):
        batch = batches.advance(batch.pk)
    assert batch.status == "done"
    with tenant_scope(tenant):
        summary = batches.progress(batch)
    assert summary["stages"][Stage.DONE] == 2
    assert summary["percent"] == 100
    assert summary["documents"] == sum(i.documents for i in items(batch).values())
    # The booked invoice matches exactly: its recommended action is Accept; the other documents of that period
    # are missing in the register: Pending.
    assert summary["recommended"]["A"] == 1
    assert summary["recommended"].get("P", 0) >= 1
    assert items(batch)[regs[0].pk].recommended["A"] == 1


def book_one_invoice(tenant, owner, membership, reg) -> None:
    """The firm's books for ``reg``: one of its supplier invoices, as booked."""
    with tenant_scope(tenant):
        document = SupplierDocument.objects.filter(
            registration=reg, doc_kind="invoice", section="b2b"
        ).first()
        status, body = recon_services.upsert_lines(
            tenant=tenant,
            actor=Actor.user(owner),
            user=owner,
            membership=membership,
            lines=[
                {
                    "recipient_gstin": reg.gstin,
                    "supplier_gstin": document.supplier_gstin,
                    "kind": "Invoice",
                    "doc_number": document.doc_number,
                    "doc_date": document.doc_date.strftime("%d-%m-%Y"),
                    "taxable": str(document.taxable_value),
                    "igst": str(document.igst),
                    "cgst": str(document.cgst),
                    "sgst": str(document.sgst),
                    "erp_ref": "ERP-1",
                }
            ],
        )
    assert status == 200, body


def test_a_failed_sync_stops_that_gstin_only(firm, portal, sandbox, django_capture_on_commit_callbacks):
    tenant, regs, _, owner, membership = firm
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        batch = batches.start_batch(tenant=tenant, actor=Actor.user(owner), user=owner, membership=membership)
    got = items(batch)
    sandbox.faults(expire_sessions_now=True)  # the first GSTIN's session is gone: its sync fails
    for run_id in got[regs[0].pk].sync_run_ids:
        sync_services.run_sync(run_id, adapter=portal)
    with django_capture_on_commit_callbacks(execute=True):
        batches.advance(batch.pk)
    got = items(batch)
    assert got[regs[0].pk].stage == Stage.FAILED
    assert "OTP" in got[regs[0].pk].error
    assert got[regs[1].pk].stage == Stage.SYNCING


def test_a_viewer_cannot_start_a_batch(firm):
    tenant, *_ = firm
    viewer = factories.make_user("ca-viewer")
    membership = factories.make_member(tenant, viewer, "viewer")
    with tenant_scope(tenant), pytest.raises(batches.BatchError):
        batches.start_batch(tenant=tenant, actor=Actor.user(viewer), user=viewer, membership=membership)

"""Sync from the sandbox portal and pushes of local actions keep the dashboard's maintained summary equal to a
full scan of the documents (docs/decisions/0010-maintained-document-summary.md)."""

from __future__ import annotations

from audit.services import Actor
from gst_sync import push
from gst_sync import services as sync_services
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.summary_check import assert_summary_is_a_scan

from .conftest import RECIPIENT, connect_gstin, doc
from .test_push_queue import bulk, by_number, one

SYSTEM = Actor.system("tests")


def sync(tenant, reg, portal, *sections):
    for section in sections:
        with tenant_scope(tenant):
            (run,) = sync_services.queue_sync(
                tenant=tenant, actor=SYSTEM, registration=reg, sections=[section]
            )
        sync_services.run_sync(run.pk, adapter=portal)


def test_sync_resync_and_push_keep_the_summary(db, portal, sandbox):
    tenant = factories.make_tenant("Acme Summary", "acme-summary")
    owner = factories.make_user("summary-owner")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=SYSTEM, gstin=RECIPIENT, legal_name="Acme"
        )
        tenancy_services.add_member(tenant=tenant, actor=SYSTEM, user=owner, role="owner")
        connect_gstin(tenant, reg, portal, SYSTEM)
    sandbox.seed(
        b2b=[doc("B-1"), doc("B-2"), doc("B-3", action="A"), doc("B-4")],
        b2bcn=[doc("C-1", section="b2bcn")],
    )
    sync(tenant, reg, portal, "b2b", "b2bcn")
    assert_summary_is_a_scan(tenant)

    docs = by_number(tenant)
    bulk(tenant, owner, [docs["B-1"], docs["B-2"]], "A")
    one(tenant, owner, docs["C-1"], "R", remarks="goods not received")
    assert_summary_is_a_scan(tenant)
    with tenant_scope(tenant):
        batches = push.queue_push(tenant=tenant, actor=Actor.user(owner), registration=reg)
    assert_summary_is_a_scan(tenant)  # in flight: still local actions
    for batch in batches:
        push.run_push(batch.pk, adapter=portal)
    assert by_number(tenant)["B-1"].local_action is None  # saved on the portal: the portal's action now
    assert_summary_is_a_scan(tenant)

    sync(tenant, reg, portal, "b2b", "b2bcn")  # a re-sync after the push
    assert_summary_is_a_scan(tenant)

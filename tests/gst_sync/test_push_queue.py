"""The push queue (``gst_sync_pushqueue``, kept by triggers on the documents table) stays right whoever writes the
documents: single and bulk actions (in-request and worker), resets, approvals, push results, ingest (new,
vanished, reappeared, portal action changed), deletes. Every reader agrees: push selection, the portal page's
count, the Offline Tool export and its counts, the push API."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from actions import services as actions
from actions.tasks import run_bulk_action_task
from approvals import services as approvals
from approvals.models import ApprovalRequest
from audit.services import Actor
from gst_sync import push
from gst_sync import services as sync_services
from gst_sync.files import imports
from gst_sync.models import PushQueueEntry
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import make_doc
from tests.factories import document_record, gstin_for
from tests.tokens import api_token

from .conftest import RECIPIENT, connect_gstin, doc

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
SUPPLIER = gstin_for(31, "27")


def member(tenant, user):
    with tenant_scope(tenant):
        return Membership.objects.get(tenant=tenant, user=user)


def bulk(tenant, user, docs, action, **kw):
    with tenant_scope(tenant):
        return actions.bulk_set_action(
            tenant=tenant,
            actor=Actor.user(user),
            user=user,
            membership=member(tenant, user),
            ids=[d.pk for d in docs],
            action=action,
            **kw,
        )


def one(tenant, user, document, action, **kw):
    with tenant_scope(tenant):
        return actions.set_action(
            tenant=tenant,
            actor=Actor.user(user),
            membership=member(tenant, user),
            document=document,
            action=action,
            **kw,
        )


def to_push(tenant, reg, kind=None) -> set[int]:
    with tenant_scope(tenant):
        return set(push.pending_push(tenant=tenant, registration=reg, kind=kind).values_list("pk", flat=True))


def upload_counts(tenant, reg) -> dict[str, int]:
    with tenant_scope(tenant):
        return imports.pending_upload_counts(tenant=tenant, registrations=[reg])[reg.pk]


def assert_queue_is_the_documents_with_a_local_action(tenant):
    """The table holds exactly the documents with a local action that are not vanished, with their actions."""
    with tenant_scope(tenant):
        want = set(
            SupplierDocument.objects.filter(
                tenant=tenant, local_action__isnull=False, vanished_at__isnull=True
            ).values_list("pk", "registration_id", "local_action", "portal_action")
        )
        have = set(
            PushQueueEntry.objects.filter(tenant=tenant).values_list(
                "document_id", "registration_id", "local_action", "portal_action"
            )
        )
    assert have == want


def test_single_actions_enter_the_queue_change_it_and_a_reset_takes_them_out(tenant_a, reg_a1, alice):
    a, b = make_doc(reg_a1), make_doc(reg_a1, portal_action="A")
    one(tenant_a, alice, a, "A")
    one(tenant_a, alice, b, "R", remarks="wrong rate")
    assert to_push(tenant_a, reg_a1) == {a.pk, b.pk} == to_push(tenant_a, reg_a1, "save")
    one(tenant_a, alice, b, "N")  # back to no action over a portal Accept: a RESETIMS now
    assert to_push(tenant_a, reg_a1, "reset") == {b.pk}
    assert to_push(tenant_a, reg_a1, "save") == {a.pk}
    assert upload_counts(tenant_a, reg_a1) == {"save": 1, "reset": 1}
    one(tenant_a, alice, a, "N")  # the portal says No action already: nothing left to push
    assert to_push(tenant_a, reg_a1) == {b.pk}
    assert_queue_is_the_documents_with_a_local_action(tenant_a)


def test_bulk_actions_in_request_and_by_the_worker_keep_the_queue(tenant_a, reg_a1, alice, settings):
    docs = [make_doc(reg_a1) for _ in range(5)]
    bulk(tenant_a, alice, docs[:2], "A")
    assert to_push(tenant_a, reg_a1) == {docs[0].pk, docs[1].pk}
    settings.IMS_BULK_ACTION_SYNC_MAX, settings.IMS_BULK_ACTION_CHUNK = 2, 2
    queued = bulk(tenant_a, alice, docs, "R", remarks="not received")
    assert queued.status == "queued"
    assert to_push(tenant_a, reg_a1) == {docs[0].pk, docs[1].pk}  # not applied yet
    assert run_bulk_action_task(queued.run_id) == "done"
    assert to_push(tenant_a, reg_a1, "save") == {d.pk for d in docs}
    assert upload_counts(tenant_a, reg_a1) == {"save": 5, "reset": 0}
    settings.IMS_BULK_ACTION_SYNC_MAX = 100
    bulk(tenant_a, alice, docs[1:], "N")
    assert to_push(tenant_a, reg_a1) == {docs[0].pk}
    assert_queue_is_the_documents_with_a_local_action(tenant_a)


def test_each_gstin_and_tenant_sees_only_its_own_queue(
    tenant_a, tenant_b, reg_a1, reg_a2, reg_b1, alice, charlie
):
    mine, other_gstin, foreign = make_doc(reg_a1), make_doc(reg_a2), make_doc(reg_b1)
    bulk(tenant_a, alice, [mine, other_gstin], "A")
    one(tenant_b, charlie, foreign, "A")
    assert to_push(tenant_a, reg_a1) == {mine.pk}
    assert to_push(tenant_a, reg_a2) == {other_gstin.pk}
    assert to_push(tenant_b, reg_b1) == {foreign.pk}
    with tenant_scope(tenant_a):
        counts = imports.pending_upload_counts(tenant=tenant_a, registrations=[reg_a1, reg_a2, reg_b1])
    assert counts[reg_a1.pk]["save"] == 1
    assert counts[reg_a2.pk]["save"] == 1
    assert counts[reg_b1.pk]["save"] == 0
    assert_queue_is_the_documents_with_a_local_action(tenant_a)
    assert_queue_is_the_documents_with_a_local_action(tenant_b)


def test_actions_held_for_approval_wait_outside_the_queue_until_approved_and_return_restores(
    tenant_a, reg_a1, alice, pat
):
    with tenant_scope(tenant_a):
        approvals.save_policy(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=member(tenant_a, alice),
            name="big rejects",
            action="R",
            min_value=Decimal("100000"),
        )
    large, other, small = (
        make_doc(reg_a1, taxable_value="200000.00"),
        make_doc(reg_a1, taxable_value="300000.00", local_action="A"),
        make_doc(reg_a1, taxable_value="100.00"),
    )
    assert to_push(tenant_a, reg_a1) == {other.pk}  # inserted with a local action: queued
    bulk(tenant_a, pat, [large, other, small], "R", remarks="wrong rate")
    assert to_push(tenant_a, reg_a1) == {small.pk}
    assert upload_counts(tenant_a, reg_a1) == {"save": 1, "reset": 0}
    with tenant_scope(tenant_a):
        approval = ApprovalRequest.objects.get(tenant=tenant_a)
        approvals.return_request(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=member(tenant_a, alice),
            approval=approval,
            comment="no",
        )
    # Returned: the held documents go back to their state before (the Accept stays queued, the fresh one leaves).
    assert to_push(tenant_a, reg_a1) == {other.pk, small.pk}
    bulk(tenant_a, pat, [large], "R", remarks="again")
    with tenant_scope(tenant_a):
        approval = ApprovalRequest.objects.filter(tenant=tenant_a).order_by("-id").first()
        approvals.approve(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=member(tenant_a, alice),
            approval=approval,
        )
    assert to_push(tenant_a, reg_a1) == {other.pk, small.pk, large.pk}
    assert_queue_is_the_documents_with_a_local_action(tenant_a)


def ingest(tenant, reg, records, **kw):
    with tenant_scope(tenant):
        return ingest_documents(
            tenant=tenant, registration=reg, records=records, actor=SYSTEM, source="portal", **kw
        )


def by_number(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.filter(tenant=tenant)}


def test_ingest_vanishing_reappearing_and_portal_changes_move_documents_in_and_out(tenant_a, reg_a1, alice):
    keep = document_record(supplier_gstin=SUPPLIER, number="K-1")
    gone = document_record(supplier_gstin=SUPPLIER, number="G-1")
    ingest(tenant_a, reg_a1, {"b2b": [keep, gone]})
    docs = by_number(tenant_a)
    bulk(tenant_a, alice, [docs["K-1"], docs["G-1"]], "A")
    assert to_push(tenant_a, reg_a1) == {docs["K-1"].pk, docs["G-1"].pk}

    ingest(tenant_a, reg_a1, {"b2b": [keep]}, complete_sections=["b2b"])  # G-1 no longer on the portal
    assert to_push(tenant_a, reg_a1) == {docs["K-1"].pk}
    ingest(tenant_a, reg_a1, {"b2b": [keep, gone]}, complete_sections=["b2b"])  # back again, action kept
    assert to_push(tenant_a, reg_a1) == {docs["K-1"].pk, docs["G-1"].pk}

    one(tenant_a, alice, by_number(tenant_a)["K-1"], "N")
    assert to_push(tenant_a, reg_a1) == {docs["G-1"].pk}
    # Someone accepts K-1 on the portal itself: a reset is now wanted there.
    ingest(tenant_a, reg_a1, {"b2b": [document_record(supplier_gstin=SUPPLIER, number="K-1", action="A")]})
    assert (
        by_number(tenant_a)["K-1"].local_action is None
    )  # local N was cleared when it equalled the portal's
    one(tenant_a, alice, by_number(tenant_a)["K-1"], "N")
    assert to_push(tenant_a, reg_a1, "reset") == {docs["K-1"].pk}
    assert_queue_is_the_documents_with_a_local_action(tenant_a)


def test_a_deleted_document_leaves_the_queue(tenant_a, reg_a1):
    d = make_doc(reg_a1, local_action="R")
    assert to_push(tenant_a, reg_a1) == {d.pk}
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(pk=d.pk).delete()
        assert not PushQueueEntry.objects.filter(tenant=tenant_a).exists()


# --- pushing through the sandbox portal ------------------------------------------------------------------------


@pytest.fixture
def synced(db, portal, sandbox):
    tenant = factories.make_tenant("Acme Queue", "acme-queue")
    owner = factories.make_user("queue-owner")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=SYSTEM, gstin=RECIPIENT, legal_name="Acme"
        )
        tenancy_services.add_member(tenant=tenant, actor=SYSTEM, user=owner, role="owner")
        connect_gstin(tenant, reg, portal, SYSTEM)
    sandbox.seed(
        b2b=[doc("B-1"), doc("B-2"), doc("B-3", action="A"), doc("B-4")],
        b2bcn=[doc("C-1", section="b2bcn", blocked="Y")],
    )
    for section in ("b2b", "b2bcn"):
        with tenant_scope(tenant):
            (run,) = sync_services.queue_sync(
                tenant=tenant, actor=SYSTEM, registration=reg, sections=[section]
            )
        sync_services.run_sync(run.pk, adapter=portal)
    return tenant, reg, owner


def test_pushing_takes_saved_documents_out_keeps_refused_ones_and_hides_batches_in_flight(
    synced, portal, sandbox, client
):
    tenant, reg, owner = synced
    docs = by_number(tenant)
    bulk(tenant, owner, [docs["B-1"], docs["B-2"], docs["B-4"]], "A")
    one(tenant, owner, docs["B-3"], "N")
    everything = {docs[n].pk for n in ("B-1", "B-2", "B-3", "B-4")}
    assert to_push(tenant, reg) == everything
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("portal-home", args=[tenant.slug]))
    assert b"Push 4 actions" in page.content

    with tenant_scope(tenant):
        batches = push.queue_push(tenant=tenant, actor=Actor.user(owner), registration=reg)
    assert sorted(b.item_count for b in batches) == [1, 3]
    assert to_push(tenant, reg) == set()  # in flight: not queued twice
    assert upload_counts(tenant, reg) == {"save": 3, "reset": 1}  # the Offline Tool file still lists them
    assert not re.search(rb"Push \d+ action", client.get(reverse("portal-home", args=[tenant.slug])).content)
    with tenant_scope(tenant):
        assert push.queue_push(tenant=tenant, actor=Actor.user(owner), registration=reg) == []

    sandbox.faults(
        supplier_edit={"gstin": RECIPIENT, "section": "b2b", "number": "B-4"}
    )  # IMSSAV0010 for B-4
    for batch in batches:
        push.run_push(batch.pk, adapter=portal)
    assert to_push(tenant, reg) == {docs["B-4"].pk}  # refused (re-downloaded, flagged): still waiting
    assert upload_counts(tenant, reg) == {"save": 1, "reset": 0}
    assert_queue_is_the_documents_with_a_local_action(tenant)

    token = api_token(owner)
    response = client.post(
        f"/api/v1/t/{tenant.slug}/registrations/{reg.pk}/push/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 202
    assert [b["documents"] for b in response.json()["batches"]] == [1]

"""Pushing local actions to the sandbox portal over real HTTP: save, status, refusals, IMSSAV0010, crashes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from gst_sync import push, services
from gst_sync.models import ConnectionStatus, PortalConnection, PushBatch, PushItem, PushStatus
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories

from .conftest import RECIPIENT, connect_gstin, doc

ACTOR = Actor.system("tests")


@pytest.fixture
def synced(db, portal, sandbox):
    """A connected GSTIN whose b2b and credit notes were synced from the sandbox."""
    tenant = factories.make_tenant("Acme Push", "acme-push")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
        connect_gstin(tenant, reg, portal, ACTOR)
    sandbox.seed(
        b2b=[doc("B-1"), doc("B-2"), doc("B-3", action="R"), doc("B-4"), doc("B-5")],
        b2bcn=[doc("C-1", section="b2bcn", blocked="Y")],
    )
    for section in ("b2b", "b2bcn"):
        with tenant_scope(tenant):
            (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=[section])
        services.run_sync(run.pk, adapter=portal)
    return tenant, reg


def want(tenant, number: str, action: str, **local):
    with tenant_scope(tenant):
        SupplierDocument.objects.filter(doc_number=number).update(local_action=action, **local)


def docs(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.all()}


def portal_actions(portal, section="b2b") -> dict[str, str]:
    number = "nt_num" if section == "b2bcn" else "inum"
    return {r[number]: r["action"] for r in portal.get_ims_documents(gstin=RECIPIENT, section=section)}


def queue(tenant, reg):
    with tenant_scope(tenant):
        return push.queue_push(tenant=tenant, actor=ACTOR, registration=reg)


def test_save_then_status_puts_the_actions_on_the_portal(synced, portal):
    tenant, reg = synced
    want(tenant, "B-1", "A")
    want(tenant, "B-2", "R", local_remarks="Goods not received")
    want(tenant, "B-3", "N")  # back to no action: a RESETIMS
    batches = queue(tenant, reg)
    assert sorted(b.kind for b in batches) == ["reset", "save"]
    for b in batches:
        push.run_push(b.pk, adapter=portal)
    on_portal = portal_actions(portal)
    assert on_portal["B-1"] == "A"
    assert on_portal["B-2"] == "R"
    assert on_portal["B-3"] == "N"
    d = docs(tenant)
    assert (d["B-1"].portal_action, d["B-1"].local_action) == ("A", None)
    assert (d["B-2"].portal_action, d["B-2"].portal_remarks, d["B-2"].local_action) == (
        "R",
        "Goods not received",
        None,
    )
    assert (d["B-3"].portal_action, d["B-3"].local_action) == ("N", None)
    with tenant_scope(tenant):
        assert {b.status for b in PushBatch.objects.all()} == {PushStatus.DONE}
        assert AuditEvent.objects.filter(action="ims.action_pushed").count() == 3
    assert queue(tenant, reg) == []  # the queue is empty now


def test_portal_refusal_is_recorded_and_the_local_action_kept(synced, portal):
    tenant, reg = synced
    want(tenant, "C-1", "P")  # Pending is blocked for this credit note on the portal
    want(tenant, "B-4", "A")
    (batch,) = queue(tenant, reg)
    push.run_push(batch.pk, adapter=portal)
    d = docs(tenant)
    assert d["C-1"].local_action == "P"
    assert d["C-1"].portal_action == "N"
    assert d["B-4"].portal_action == "A"
    with tenant_scope(tenant):
        item = PushItem.objects.get(document=d["C-1"])
        batch.refresh_from_db()
    assert item.result == "failed"
    assert item.error_code
    assert "Pending" in item.error_message
    assert (batch.saved_count, batch.failed_count) == (1, 1)


def test_imssav0010_refreshes_the_document_flags_it_and_keeps_the_local_action(synced, portal, sandbox):
    tenant, reg = synced
    want(tenant, "B-5", "A")
    (batch,) = queue(tenant, reg)
    sandbox.faults(supplier_edit={"gstin": RECIPIENT, "section": "b2b", "number": "B-5"})
    push.run_push(batch.pk, adapter=portal)
    edited = docs(tenant)["B-5"]
    assert edited.local_action == "A"
    assert edited.needs_review
    assert edited.version == 2  # refreshed from the portal: the supplier's edit is a new version
    with tenant_scope(tenant):
        assert PushItem.objects.get(document=edited).result == "conflict"
    # After review the user pushes again with the fresh prev_status: it goes through.
    (again,) = queue(tenant, reg)
    push.run_push(again.pk, adapter=portal)
    assert docs(tenant)["B-5"].portal_action == "A"
    assert portal_actions(portal)["B-5"] == "A"


def test_batches_respect_the_size_limit(synced, portal, settings):
    settings.IMS_PUSH_BATCH_SIZE = 2
    tenant, reg = synced
    for n in ("B-1", "B-2", "B-4", "B-5"):
        want(tenant, n, "A")
    batches = queue(tenant, reg)
    assert [b.item_count for b in batches] == [2, 2]
    assert queue(tenant, reg) == []  # documents already in flight are not batched twice


def test_a_worker_killed_after_sending_resumes_without_sending_twice(synced, portal, sandbox):
    tenant, reg = synced
    want(tenant, "B-1", "A")
    want(tenant, "B-2", "A")
    (batch,) = queue(tenant, reg)

    class DiesAfterSending:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def save_actions(self, **kwargs):
            self.real.save_actions(**kwargs)
            raise KeyboardInterrupt("worker killed")

    with pytest.raises(KeyboardInterrupt):
        push.run_push(batch.pk, adapter=DiesAfterSending(portal))
    saves = sandbox.stats()["by_action"].get("SAVE", 0)
    stale = timezone.now() - dt.timedelta(hours=1)
    with connection.cursor() as cur:
        cur.execute("UPDATE gst_sync_pushbatch SET heartbeat_at = %s WHERE id = %s", [stale, batch.pk])
    push.run_push(batch.pk, adapter=portal)
    assert sandbox.stats()["by_action"].get("SAVE", 0) == saves  # nothing sent again
    d = docs(tenant)
    assert d["B-1"].portal_action == "A"
    assert d["B-1"].local_action is None
    with tenant_scope(tenant):
        batch.refresh_from_db()
        assert batch.status == PushStatus.DONE
        assert batch.saved_count == 2
        assert AuditEvent.objects.filter(action="ims.action_pushed").count() == 2


def test_a_second_delivery_of_a_live_batch_is_a_no_op(synced, portal, sandbox):
    tenant, reg = synced
    want(tenant, "B-1", "A")
    (batch,) = queue(tenant, reg)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE gst_sync_pushbatch SET status='sending', heartbeat_at=now() WHERE id=%s", [batch.pk]
        )
    assert push.run_push(batch.pk, adapter=portal) is None
    assert sandbox.stats()["by_action"].get("SAVE", 0) == 0


def test_expired_session_fails_the_batch_and_the_actions_wait_for_a_retry(synced, portal, sandbox):
    tenant, reg = synced
    want(tenant, "B-1", "A")
    (batch,) = queue(tenant, reg)
    sandbox.faults(expire_sessions_now=True)
    push.run_push(batch.pk, adapter=portal)
    with tenant_scope(tenant):
        batch.refresh_from_db()
        assert batch.status == PushStatus.FAILED
        assert "new OTP" in batch.error_message
        assert PortalConnection.objects.get(registration=reg).status == ConnectionStatus.EXPIRED
    assert docs(tenant)["B-1"].local_action == "A"
    with tenant_scope(tenant), pytest.raises(push.PushError, match="not connected"):
        push.queue_push(tenant=tenant, actor=ACTOR, registration=reg)


def test_user_pushes_from_the_portal_page_and_sees_each_result(
    client, synced, portal, settings, sandbox, django_capture_on_commit_callbacks
):
    from gst_sync.tasks import push_batch
    from tests.tokens import api_token

    from .conftest import CLIENT_ID, CLIENT_SECRET

    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    tenant, reg = synced
    owner = factories.make_user("owner-push")
    factories.make_member(tenant, owner, "owner")
    want(tenant, "B-1", "A")
    want(tenant, "C-1", "P")
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    assert "Push 2 actions" in client.get("/t/acme-push/portal/").content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        r = client.post(f"/t/acme-push/portal/{reg.pk}/push/", follow=True)
    assert "Pushing 2 action(s)" in r.content.decode()
    assert len(callbacks) == 1
    with tenant_scope(tenant):
        batch = PushBatch.objects.get()
    push_batch(batch.pk)  # what the worker does
    page = client.get(f"/t/acme-push/portal/pushes/{batch.pk}/").content.decode()
    assert "Saved" in page
    assert "Refused" in page
    assert "Pending" in page

    want(tenant, "B-2", "R")
    token = api_token(owner)
    r = client.post(
        f"/api/v1/t/acme-push/registrations/{reg.pk}/push/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert r.status_code == 202
    assert r.json()["batches"][0]["documents"] == 2  # B-2 and the refused C-1 again
    charlie = factories.make_user("charlie-push")
    other = factories.make_tenant("Other", "other-push")
    factories.make_member(other, charlie, "owner")
    client.force_login(charlie, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(f"/t/acme-push/portal/pushes/{batch.pk}/").status_code == 404
    assert client.get(f"/t/other-push/portal/pushes/{batch.pk}/").status_code == 404
    assert client.post(f"/t/other-push/portal/{reg.pk}/push/").status_code == 404


def test_refusals_notify_whoever_asked_and_show_on_the_document(client, synced, portal):
    from notifications.models import Notification

    tenant, reg = synced
    asker = factories.make_user("asker-push")
    factories.make_member(tenant, asker, "owner")
    want(tenant, "C-1", "P")  # Pending is blocked on the portal for this credit note
    with tenant_scope(tenant):
        (batch,) = push.queue_push(tenant=tenant, actor=Actor.user(asker), registration=reg)
    push.run_push(batch.pk, adapter=portal)
    with tenant_scope(tenant):
        note = Notification.objects.get(user=asker)
    assert note.kind == "push_failed"
    assert "refused 1" in note.text
    client.force_login(asker, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(f"/t/acme-push/documents/{docs(tenant)['C-1'].pk}/").content.decode()
    assert "Pushes to the portal" in page
    assert "Refused by the portal" in page
    assert f"#{batch.pk}" in page

"""A GSTIN added by mistake is deactivated (owners and admins only): hidden from lists, pickers, the dashboard and
every sync, its documents and history kept, audited; reactivated, everything is back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from gst_sync import push
from gst_sync import services as sync_services
from gst_sync.client import GstnAdapter
from gst_sync.models import ConnectionStatus, PortalConnection, SyncRun
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.models import Registration
from tenancy.scoping import tenant_scope
from tenancy.selectors import member_grants
from tests import factories
from tests.documents.helpers import make_doc
from tests.gst_sync import conftest as sandbox_fixtures
from tests.gst_sync.conftest import make_config

# The sandbox portal, as the gst_sync tests run it.
sandbox_url = sandbox_fixtures.sandbox_url
sandbox = sandbox_fixtures.sandbox

pytestmark = pytest.mark.django_db


def _toggle(client, tenant, reg, active: str):
    return client.post(
        reverse("tenant-registration-active", args=[tenant.slug, reg.pk]), {"active": active}, follow=True
    )


def _connect(tenant, reg):
    """A live portal session, as after an OTP (the daily sync queues only these)."""
    with tenant_scope(tenant):
        PortalConnection.objects.create(
            tenant=tenant,
            registration=reg,
            username="u",
            status=ConnectionStatus.CONNECTED,
            session_blob="sealed",
            expires_at=timezone.now() + dt.timedelta(hours=5),
        )


def test_owner_deactivates_a_gstin_and_it_disappears_everywhere_but_its_history_stays(
    client_for, alice, pat, tenant_a, reg_a1, reg_a2
):
    make_doc(reg_a2, doc_number="KEEP-1")
    gone = make_doc(reg_a1, doc_number="GONE-1")
    owner = client_for(alice)
    r = _toggle(owner, tenant_a, reg_a1, "0")
    assert "Deactivated " + reg_a1.gstin in r.content.decode()
    with tenant_scope(tenant_a):
        assert Registration.objects.get(pk=reg_a1.pk).active is False
        # The documents are kept, and so is the ledger, with the deactivation in it.
        assert SupplierDocument.objects.filter(pk=gone.pk).exists()
        event = AuditEvent.objects.get(action="registration.deactivated")
        assert event.object_id == str(reg_a1.pk)
        assert event.changes == {"active": [True, False]}
        assert event.actor_id == alice.pk

    # Still on the registrations page (to reactivate), marked; gone from the documents list, its GSTIN filter and
    # the dashboard.
    page = owner.get(reverse("tenant-registrations", args=[tenant_a.slug])).content.decode()
    assert "Deactivated</span>" in page
    assert "Reactivate" in page
    docs = owner.get(reverse("document-list", args=[tenant_a.slug])).content.decode()
    assert "KEEP-1" in docs
    assert "GONE-1" not in docs
    assert reg_a2.gstin in docs  # in the GSTIN picker of the filters
    assert reg_a1.gstin not in docs
    assert owner.get(f"/t/{tenant_a.slug}/documents/{gone.pk}/").status_code == 404
    home = owner.get(reverse("tenant-home", args=[tenant_a.slug])).content.decode()
    assert reg_a2.gstin in home
    assert reg_a1.gstin not in home
    portal = owner.get(reverse("portal-home", args=[tenant_a.slug])).content.decode()
    assert reg_a1.gstin not in portal

    # A preparer granted that GSTIN sees nothing of it either.
    preparer = Client()
    preparer.force_login(pat, backend="django.contrib.auth.backends.ModelBackend")
    assert "GONE-1" not in preparer.get(reverse("document-list", args=[tenant_a.slug])).content.decode()

    # Reactivated: back everywhere, audited; the preparer's grant was kept.
    r = _toggle(owner, tenant_a, reg_a1, "1")
    assert "Reactivated " + reg_a1.gstin in r.content.decode()
    assert "GONE-1" in owner.get(reverse("document-list", args=[tenant_a.slug])).content.decode()
    assert "GONE-1" in preparer.get(reverse("document-list", args=[tenant_a.slug])).content.decode()
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="registration.reactivated").count() == 1


def test_only_owners_and_admins_may_deactivate(client_for, pat, bob, tenant_a, reg_a1):
    for user in (pat, bob):
        r = client_for(user).post(
            reverse("tenant-registration-active", args=[tenant_a.slug, reg_a1.pk]), {"active": "0"}
        )
        assert r.status_code == 403
    with tenant_scope(tenant_a):
        assert Registration.objects.get(pk=reg_a1.pk).active is True
        assert not AuditEvent.objects.filter(action="registration.deactivated").exists()


def test_another_tenants_gstin_cannot_be_deactivated(client_for, alice, tenant_a, reg_b1):
    r = client_for(alice).post(
        reverse("tenant-registration-active", args=[tenant_a.slug, reg_b1.pk]), {"active": "0"}
    )
    assert r.status_code == 404


def test_grants_saved_while_deactivated_keep_the_grant_on_it(
    client_for, alice, pat, tenant_a, reg_a1, reg_a2
):
    owner = client_for(alice)
    _toggle(owner, tenant_a, reg_a1, "0")
    with tenant_scope(tenant_a):
        member = tenant_a.memberships.get(user=pat)
    r = owner.post(
        reverse("tenant-member-grants", args=[tenant_a.slug, member.pk]), {"registrations": [reg_a2.pk]}
    )
    assert r.status_code in (200, 302)
    _toggle(owner, tenant_a, reg_a1, "1")
    with tenant_scope(tenant_a):
        assert set(member_grants(tenant=tenant_a, user=pat)) == {reg_a1, reg_a2}


def test_a_deactivated_gstin_is_not_synced_nor_pushed(tenant_a, reg_a1, reg_a2):
    _connect(tenant_a, reg_a1)
    _connect(tenant_a, reg_a2)
    with tenant_scope(tenant_a):
        tenancy_services.set_registration_active(
            tenant=tenant_a, actor=factories.SYSTEM, registration=reg_a1, active=False
        )
        reg_a1.refresh_from_db()
    queued = sync_services.queue_daily_syncs()
    with tenant_scope(tenant_a):
        assert queued > 0
        assert not SyncRun.objects.filter(registration=reg_a1).exists()
        assert SyncRun.objects.filter(registration=reg_a2).exists()
        with pytest.raises(sync_services.SyncError, match="deactivated"):
            sync_services.queue_sync(tenant=tenant_a, actor=Actor.system("t"), registration=reg_a1)
        with pytest.raises(push.PushError, match="deactivated"):
            push.queue_push(tenant=tenant_a, actor=Actor.system("t"), registration=reg_a1)


def test_adding_a_deactivated_gstin_again_says_to_reactivate_it(client_for, alice, tenant_a, reg_a1):
    owner = client_for(alice)
    _toggle(owner, tenant_a, reg_a1, "0")
    r = owner.post(
        reverse("tenant-registrations", args=[tenant_a.slug]),
        {"gstin": reg_a1.gstin, "legal_name": "Again", "filing_frequency": "M"},
    )
    assert "was deactivated: reactivate it" in r.content.decode()


def test_a_sync_queued_before_the_deactivation_fetches_nothing(tenant_a, reg_a1, sandbox):
    _connect(tenant_a, reg_a1)
    with tenant_scope(tenant_a):
        (run, *_) = sync_services.queue_sync(
            tenant=tenant_a, actor=Actor.system("t"), registration=reg_a1, sections=["b2b"]
        )
        tenancy_services.set_registration_active(
            tenant=tenant_a, actor=factories.SYSTEM, registration=reg_a1, active=False
        )
    before = sandbox.stats()["total"]
    with GstnAdapter(make_config(sandbox)) as adapter:
        sync_services.run_sync(run.pk, adapter=adapter)
    with tenant_scope(tenant_a):
        run.refresh_from_db()
    assert (run.status, run.error_code) == ("failed", "INACTIVE")
    assert "was deactivated before this sync ran" in run.error_message
    assert sandbox.stats()["total"] == before  # the portal was not asked anything

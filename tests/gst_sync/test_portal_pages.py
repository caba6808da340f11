"""The portal pages and API as a user: connect with an OTP, sync now, watch the run, see its diff."""

from __future__ import annotations

import pytest

from audit.services import Actor
from gst_sync import services
from gst_sync.models import ConnectionStatus, PortalConnection, RunStatus, SyncRun
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.tokens import api_token

from .conftest import CLIENT_ID, CLIENT_SECRET, OTP, RECIPIENT, USERNAME, doc

ACTOR = Actor.system("tests")


@pytest.fixture
def portal_settings(settings, sandbox):
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    return settings


@pytest.fixture
def acme(db):
    tenant = factories.make_tenant("Acme Portal", "acme-portal")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
    other = factories.make_registration(tenant, state="29", n=41)
    owner = factories.make_user("owner-p")
    factories.make_member(tenant, owner, "owner")
    return tenant, reg, other, owner


def test_user_connects_a_gstin_with_an_otp_and_syncs_it(
    client, acme, sandbox, portal_settings, django_capture_on_commit_callbacks
):
    tenant, reg, _, owner = acme
    sandbox.seed(b2b=[doc("P-1"), doc("P-2")])
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/t/acme-portal/portal/")
    assert page.status_code == 200
    assert RECIPIENT in page.content.decode()

    r = client.post(f"/t/acme-portal/portal/{reg.pk}/otp/request/", {"username": USERNAME}, follow=True)
    assert "sent an OTP" in r.content.decode()
    r = client.post(f"/t/acme-portal/portal/{reg.pk}/otp/", {"otp": OTP}, follow=True)
    assert "is connected" in r.content.decode()
    with tenant_scope(tenant):
        assert PortalConnection.objects.get(registration=reg).status == ConnectionStatus.CONNECTED

    with django_capture_on_commit_callbacks() as callbacks:
        r = client.post(f"/t/acme-portal/portal/{reg.pk}/sync/", {"sections": ["b2b"]}, follow=True)
    assert "queued" in r.content.decode()
    assert len(callbacks) == 1
    with tenant_scope(tenant):
        run = SyncRun.objects.get(registration=reg)
    services.run_sync(run.pk)  # what the worker does with the queued task

    detail = client.get(f"/t/acme-portal/portal/runs/{run.pk}/").content.decode()
    assert "Succeeded" in detail
    assert "P-1" in detail
    assert "P-2" in detail
    export = client.get(f"/t/acme-portal/portal/runs/{run.pk}/export/")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")


def test_bad_otp_input_gets_a_clear_message(client, acme):
    tenant, reg, _, owner = acme
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    r = client.post(f"/t/acme-portal/portal/{reg.pk}/otp/", {"otp": "12ab"}, follow=True)
    assert r.status_code == 200
    assert "6-digit" in r.content.decode()


def test_viewer_sees_the_page_but_cannot_sync(client, acme):
    tenant, reg, _, _ = acme
    viewer = factories.make_user("viewer-p")
    factories.make_member(tenant, viewer, "viewer", gstins=[reg])
    client.force_login(viewer, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/t/acme-portal/portal/").status_code == 200
    assert client.post(f"/t/acme-portal/portal/{reg.pk}/sync/").status_code == 403
    assert client.post(f"/t/acme-portal/portal/{reg.pk}/otp/request/", {"username": "x"}).status_code == 403


def test_preparer_cannot_touch_a_gstin_not_granted(client, acme):
    tenant, reg, other, _ = acme
    prep = factories.make_user("prep-p")
    factories.make_member(tenant, prep, "preparer", gstins=[reg])
    client.force_login(prep, backend="django.contrib.auth.backends.ModelBackend")
    assert other.gstin not in client.get("/t/acme-portal/portal/").content.decode()
    assert client.post(f"/t/acme-portal/portal/{other.pk}/sync/").status_code == 404


def test_another_tenants_run_is_404(client, acme, charlie):
    tenant, reg, _, _ = acme
    with tenant_scope(tenant):
        run = SyncRun.objects.create(
            tenant=tenant, registration=reg, section="b2b", status=RunStatus.SUCCEEDED
        )
    client.force_login(charlie, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(f"/t/bharat/portal/runs/{run.pk}/").status_code == 404
    assert client.get(f"/t/acme-portal/portal/runs/{run.pk}/").status_code == 404


def test_api_queues_a_sync_and_lists_runs(client, acme, sandbox, portal_settings):
    tenant, reg, other, owner = acme
    token = api_token(owner)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    r = client.post(
        f"/api/v1/t/acme-portal/registrations/{reg.pk}/sync/",
        {"sections": ["b2b"]},
        content_type="application/json",
        **auth,
    )
    assert r.status_code == 400
    assert "not connected" in r.json()["detail"]

    with tenant_scope(tenant):
        PortalConnection.objects.create(
            tenant=tenant,
            registration=reg,
            username=USERNAME,
            status=ConnectionStatus.CONNECTED,
            session_blob="sealed",
        )
    r = client.post(
        f"/api/v1/t/acme-portal/registrations/{reg.pk}/sync/",
        {"sections": ["b2b", "b2bcn"]},
        content_type="application/json",
        **auth,
    )
    assert r.status_code == 202
    assert sorted(x["section"] for x in r.json()) == ["b2b", "b2bcn"]
    again = client.post(
        f"/api/v1/t/acme-portal/registrations/{reg.pk}/sync/",
        {"sections": ["b2b"]},
        content_type="application/json",
        **auth,
    )
    assert again.status_code == 202
    assert again.json() == []
    runs = client.get("/api/v1/t/acme-portal/sync-runs/", **auth).json()
    assert {x["section"] for x in runs["results"]} == {"b2b", "b2bcn"}
    bad = client.post(
        f"/api/v1/t/acme-portal/registrations/{reg.pk}/sync/",
        {"sections": ["xyz"]},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400
    assert "sections" in bad.json()


def test_api_sync_of_another_tenants_gstin_is_404(client, acme, charlie):
    tenant, reg, _, _ = acme
    token = api_token(charlie)
    r = client.post(
        f"/api/v1/t/bharat/registrations/{reg.pk}/sync/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/t/acme-portal/registrations/{reg.pk}/sync/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert r.status_code == 404


def test_api_reads_one_run_and_hides_runs_of_gstins_not_granted(client, acme):
    tenant, reg, other, _ = acme
    prep = factories.make_user("prep-api")
    factories.make_member(tenant, prep, "preparer", gstins=[reg])
    with tenant_scope(tenant):
        mine = SyncRun.objects.create(tenant=tenant, registration=reg, section="b2b")
        hidden = SyncRun.objects.create(tenant=tenant, registration=other, section="b2b")
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(prep).key}"}
    one = client.get(f"/api/v1/t/acme-portal/sync-runs/{mine.pk}/", **auth)
    assert one.status_code == 200
    assert one.json()["id"] == mine.pk
    assert one.json()["gstin"] == RECIPIENT
    assert client.get(f"/api/v1/t/acme-portal/sync-runs/{hidden.pk}/", **auth).status_code == 404

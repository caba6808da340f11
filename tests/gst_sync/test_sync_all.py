"""The portal page's "Sync all" and "Push all": they act only on the GSTINs the member may sync (a preparer's granted
ones; a viewer none), say on each GSTIN's row what they could not do, and the rows show the last sync, its age, what
a running sync is doing (which part of the portal's file) and the last errors."""

from __future__ import annotations

import datetime as dt
import threading
import time
from html import unescape

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor
from gst_sync import services
from gst_sync.models import (
    ConnectionStatus,
    PortalConnection,
    PushBatch,
    RunStatus,
    SyncRun,
)
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import make_doc

from .conftest import CLIENT_ID, CLIENT_SECRET, RECIPIENT, connect_gstin, doc

ACTOR = Actor.system("tests")


def _connected(tenant, reg):
    """A live session row, as after an OTP (queueing a sync or a push needs no more)."""
    with tenant_scope(tenant):
        PortalConnection.objects.create(
            tenant=tenant,
            registration=reg,
            username="u",
            status=ConnectionStatus.CONNECTED,
            session_blob="sealed",
            expires_at=timezone.now() + dt.timedelta(hours=5),
        )


def _url(tenant, name="portal-home"):
    return reverse(name, args=[tenant.slug])


def _runs(tenant, reg) -> int:
    with tenant_scope(tenant):
        return SyncRun.objects.filter(registration=reg).count()


def _row_status(html: str, gstin: str) -> str:
    """The text of the status line under a GSTIN's row."""
    start = html.index(f'id="status-{gstin}"')
    return unescape(html[start : html.index("</tr>", start)])


@pytest.mark.django_db
def test_sync_all_queues_every_connected_gstin_and_says_on_the_row_what_it_could_not(
    client_for, alice, tenant_a, reg_a1, reg_a2
):
    _connected(tenant_a, reg_a1)  # reg_a2 is not connected
    client = client_for(alice)
    page = client.get(_url(tenant_a)).content.decode()
    assert "Sync all (1 connected GSTIN)" in page
    r = client.post(_url(tenant_a, "portal-sync-all"), follow=True)
    html = r.content.decode()
    assert "Sync queued for 1 GSTIN; 1 not synced (see the row below)." in html
    assert _runs(tenant_a, reg_a1) > 0
    assert _runs(tenant_a, reg_a2) == 0
    assert "Not synced: connect it with an OTP first." in _row_status(html, reg_a2.gstin)
    # The queued sync shows on its own row: 0 of n sections done, all waiting for a worker.
    first = _row_status(html, reg_a1.gstin)
    assert f"Syncing: 0 of {_runs(tenant_a, reg_a1)} sections done." in first
    assert f"{_runs(tenant_a, reg_a1)} sections waiting for a worker" in first
    assert "Syncing…</button>" in html  # its own Sync now waits for the end
    # The htmx refreshes of the page keep saying it; the next page load no more.
    fragment = client.get(_url(tenant_a), HTTP_HX_REQUEST="true").content.decode()
    assert "Not synced: connect it with an OTP first." in _row_status(fragment, reg_a2.gstin)
    assert f'id="status-{reg_a2.gstin}"' not in client.get(_url(tenant_a)).content.decode()

    # A second click while it runs queues nothing twice.
    before = _runs(tenant_a, reg_a1)
    r = client.post(_url(tenant_a, "portal-sync-all"), follow=True)
    assert "1 already syncing" in r.content.decode()
    assert _runs(tenant_a, reg_a1) == before


@pytest.mark.django_db
def test_a_preparer_syncs_and_pushes_only_the_gstin_granted_to_them(
    client_for, pat, tenant_a, reg_a1, reg_a2
):
    _connected(tenant_a, reg_a1)
    _connected(tenant_a, reg_a2)
    make_doc(reg_a1, local_action="R", local_remarks="wrong rate")
    make_doc(reg_a2, local_action="R", local_remarks="wrong rate")
    client = client_for(pat)
    page = client.get(_url(tenant_a)).content.decode()
    assert reg_a2.gstin not in page
    assert "Push all (1 action)" in page
    client.post(_url(tenant_a, "portal-sync-all"))
    assert _runs(tenant_a, reg_a1) > 0
    assert _runs(tenant_a, reg_a2) == 0
    r = client.post(_url(tenant_a, "portal-push-all"), follow=True)
    assert "Pushing 1 action of 1 GSTIN." in r.content.decode()
    with tenant_scope(tenant_a):
        assert list(PushBatch.objects.values_list("registration_id", flat=True)) == [reg_a1.pk]
    assert "Pushing 1 action: waiting for a worker" in _row_status(r.content.decode(), reg_a1.gstin)


@pytest.mark.django_db
def test_push_all_says_which_gstin_could_not_push_for_want_of_a_session(
    client_for, alice, tenant_a, reg_a1, reg_a2
):
    _connected(tenant_a, reg_a1)  # reg_a2 has an action waiting but no session
    make_doc(reg_a1, local_action="R", local_remarks="wrong rate")
    make_doc(reg_a2, local_action="R", local_remarks="wrong rate")
    r = client_for(alice).post(_url(tenant_a, "portal-push-all"), follow=True)
    html = r.content.decode()
    assert "Pushing 1 action of 1 GSTIN." in html
    assert "Not pushed: connect it with an OTP first." in _row_status(html, reg_a2.gstin)
    with tenant_scope(tenant_a):
        assert list(PushBatch.objects.values_list("registration_id", flat=True)) == [reg_a1.pk]


@pytest.mark.django_db
def test_a_viewer_can_neither_sync_all_nor_push_all(client_for, bob, tenant_a, reg_a1):
    _connected(tenant_a, reg_a1)
    make_doc(reg_a1, local_action="R", local_remarks="wrong rate")
    client = client_for(bob)
    assert 'id="sync-all"' not in client.get(_url(tenant_a)).content.decode()
    assert client.post(_url(tenant_a, "portal-sync-all")).status_code == 403
    assert client.post(_url(tenant_a, "portal-push-all")).status_code == 403
    with tenant_scope(tenant_a):
        assert not SyncRun.objects.exists()
        assert not PushBatch.objects.exists()


@pytest.mark.django_db
def test_the_row_shows_the_last_sync_its_age_and_the_last_failure_of_each_section(
    client_for, alice, tenant_a, reg_a1
):
    _connected(tenant_a, reg_a1)
    now = timezone.now()
    with tenant_scope(tenant_a):
        SyncRun.objects.create(
            tenant=tenant_a,
            registration=reg_a1,
            section="b2b",
            status=RunStatus.SUCCEEDED,
            finished_at=now - dt.timedelta(hours=3, minutes=10),
        )
        SyncRun.objects.create(
            tenant=tenant_a,
            registration=reg_a1,
            section="b2bcn",
            status=RunStatus.FAILED,
            error_message="The portal is under maintenance.",
            finished_at=now - dt.timedelta(hours=3),
        )
    html = client_for(alice).get(_url(tenant_a)).content.decode()
    assert "3\xa0hours ago" in html
    assert "b2bcn: The portal is under maintenance." in _row_status(html, reg_a1.gstin)
    assert "b2b:" not in _row_status(html, reg_a1.gstin)  # b2b went well


@pytest.fixture
def portal_org(transactional_db, sandbox, settings):
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    tenant = factories.make_tenant("Progress Traders", "progress")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Progress Traders"
        )
    owner = factories.make_user("owner-progress")
    factories.make_member(tenant, owner, "owner")
    return tenant, reg, owner


def test_a_running_sync_says_which_part_of_the_portals_file_it_is_on(portal_org, sandbox, client):
    """A large section comes as files (token, FILEDET, parts): while the worker downloads them, the GSTIN's row
    says which part, and the run finishes with every document."""
    tenant, reg, owner = portal_org
    from gst_sync.client.factory import make_adapter

    with make_adapter() as adapter:
        connect_gstin(tenant, reg, adapter, ACTOR)
    sandbox.seed(b2b=[doc(f"BIG-{n}") for n in range(6)])
    sandbox.faults(large_threshold=2, records_per_file=2, file_latency_ms=700)
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])

    def worker():
        try:
            services.run_sync(run.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while thread.is_alive() and time.monotonic() < deadline:
        html = client.get(_url(tenant)).content.decode()
        if f'id="status-{reg.gstin}"' in html:
            status = _row_status(html, reg.gstin)
            for n in (1, 2, 3):
                if f"b2b: Downloading the portal's file, part {n} of 3" in status:
                    seen.add(f"part {n}")
        time.sleep(0.1)
    thread.join(timeout=30)
    assert seen, "the row never said which part of the file was downloading"
    assert seen <= {"part 1", "part 2", "part 3"}
    with tenant_scope(tenant):
        run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.counts["created"] == 6
    html = client.get(_url(tenant)).content.decode()
    assert f'id="status-{reg.gstin}"' not in html  # nothing running, nothing failed
    assert "just now" in html

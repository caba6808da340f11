"""Sync of IMS sections from the sandbox portal over real HTTP, through the sync services and task."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from gst.sections import Section
from gst_sync import services
from gst_sync.models import ConnectionStatus, PortalConnection, RunStatus, SyncRun
from gst_sync.tasks import sync_section
from invoices.models import DocumentVersion, SupplierDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories

from .conftest import CLIENT_ID, CLIENT_SECRET, RECIPIENT, USERNAME, connect_gstin, doc

pytestmark = pytest.mark.django_db(transaction=False)
ACTOR = Actor.system("tests")


@pytest.fixture
def recipient(db):
    tenant = factories.make_tenant("Acme Sync", "acme-sync")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
    return tenant, reg


@pytest.fixture
def connected(recipient, portal):
    tenant, reg = recipient
    with tenant_scope(tenant):
        connect_gstin(tenant, reg, portal, ACTOR)
    return tenant, reg


def sync(tenant, reg, portal, sections=("b2b",)) -> SyncRun:
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=list(sections))
    services.run_sync(run.pk, adapter=portal)
    with tenant_scope(tenant):
        run.refresh_from_db()
    return run


def doc_events(tenant) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action__startswith="document.").count()


def test_otp_connects_and_the_session_is_sealed_at_rest(connected):
    tenant, reg = connected
    with tenant_scope(tenant):
        conn = PortalConnection.objects.get(registration=reg)
    assert conn.status == ConnectionStatus.CONNECTED
    assert conn.expires_at > timezone.now()
    assert conn.username == USERNAME
    assert "auth_token" not in conn.session_blob
    assert len(conn.session_blob) > 100


def test_wrong_otp_is_refused_with_a_clear_message(recipient, portal):
    tenant, reg = recipient
    with tenant_scope(tenant):
        services.request_otp(tenant=tenant, actor=ACTOR, registration=reg, username=USERNAME, adapter=portal)
        with pytest.raises(services.SyncError, match="refused the OTP"):
            services.connect(tenant=tenant, actor=ACTOR, registration=reg, otp="111111", adapter=portal)
        assert PortalConnection.objects.get(registration=reg).status == ConnectionStatus.OTP_SENT


def test_sync_needs_a_connected_gstin(recipient):
    tenant, reg = recipient
    with tenant_scope(tenant), pytest.raises(services.SyncError, match="not connected"):
        services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg)


def test_first_sync_then_rerun_writes_nothing(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("A-1"), doc("A-2"), doc("A-3", action="R")])
    run = sync(tenant, reg, portal)
    assert run.status == RunStatus.SUCCEEDED
    assert run.counts["created"] == 3
    assert run.counts["downloaded"] == 3
    with tenant_scope(tenant):
        docs = {d.doc_number: d for d in SupplierDocument.objects.filter(registration=reg)}
    assert set(docs) == {"A-1", "A-2", "A-3"}
    assert docs["A-3"].portal_action == "R"
    assert docs["A-1"].igst == Decimal("9000.00")
    events = doc_events(tenant)
    assert events == 3

    again = sync(tenant, reg, portal)
    assert again.status == RunStatus.SUCCEEDED
    assert again.counts["created"] == 0
    assert again.counts["changed"] == 0
    assert again.counts["unchanged"] == 3
    assert doc_events(tenant) == events  # nothing written for documents
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 3


def test_supplier_edit_becomes_a_version_and_a_missing_document_is_kept_and_marked(
    connected, portal, sandbox
):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("E-1"), doc("E-2")])
    sync(tenant, reg, portal)
    sandbox.seed(b2b=[doc("E-1", tax=("9500", "0", "0"))])
    run = sync(tenant, reg, portal)
    assert run.counts["changed"] == 1
    assert run.counts["vanished"] == 1
    with tenant_scope(tenant):
        edited = SupplierDocument.objects.get(registration=reg, doc_number="E-1")
        gone = SupplierDocument.objects.get(registration=reg, doc_number="E-2")
        version = DocumentVersion.objects.get(document=edited)
    assert edited.version == 2
    assert edited.igst == Decimal("9500.00")
    assert version.changes["igst"] == ["9000.00", "9500.00"]
    assert gone.vanished_at is not None


def test_the_diff_of_a_run_is_its_ledger_events(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("D-1"), doc("D-2")])
    run = sync(tenant, reg, portal)
    with tenant_scope(tenant):
        kinds = sorted(AuditEvent.objects.filter(request_id=run.request_id).values_list("action", flat=True))
    assert kinds == ["document.created", "document.created", "documents.ingested", "sync.run_completed"]


def test_two_clicks_never_queue_the_same_sync_twice(connected):
    tenant, reg = connected
    with tenant_scope(tenant):
        first = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b", "b2bcn"])
        second = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b", "b2bcn"])
        assert len(first) == 2
        assert second == []
        assert SyncRun.objects.filter(registration=reg, status=RunStatus.QUEUED).count() == 2


def test_session_expiry_mid_sync_fails_the_run_and_leaves_the_data(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("S-1")])
    sync(tenant, reg, portal)
    sandbox.seed(b2b=[doc("S-1"), doc("S-2")])
    sandbox.faults(expire_sessions_now=True)
    run = sync(tenant, reg, portal)
    assert run.status == RunStatus.FAILED
    assert "enter a new OTP" in run.error_message
    with tenant_scope(tenant):
        assert PortalConnection.objects.get(registration=reg).status == ConnectionStatus.EXPIRED
        assert SupplierDocument.objects.filter(registration=reg).count() == 1
        with pytest.raises(services.SyncError, match="not connected"):
            services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg)


def test_5xx_answers_are_retried_and_the_sync_completes(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("R-1"), doc("R-2")])
    sandbox.faults(fail_next=2, error_status=503)
    run = sync(tenant, reg, portal)
    assert run.status == RunStatus.SUCCEEDED
    assert run.counts["created"] == 2


def test_large_result_token_path_is_synced_whole(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc(f"L-{i}") for i in range(25)])
    sandbox.faults(large_threshold=10, records_per_file=7)
    run = sync(tenant, reg, portal)
    assert run.status == RunStatus.SUCCEEDED
    assert run.counts["created"] == 25


def test_a_second_delivery_of_a_running_sync_is_a_no_op(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("K-1")])
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    with connection.cursor() as cur:  # another worker holds it under a live lease
        cur.execute("UPDATE gst_sync_syncrun SET status='running', heartbeat_at=now() WHERE id=%s", [run.pk])
    assert services.run_sync(run.pk, adapter=portal) is None
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 0


def test_a_run_whose_worker_died_is_reclaimed_and_completes_without_duplicates(connected, portal, sandbox):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("W-1"), doc("W-2")])
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    stale = timezone.now() - dt.timedelta(hours=2)
    with connection.cursor() as cur:  # the worker was killed after claiming it
        cur.execute(
            "UPDATE gst_sync_syncrun SET status='running', heartbeat_at=%s, attempts=1 WHERE id=%s",
            [stale, run.pk],
        )
    services.run_sync(run.pk, adapter=portal)
    services.run_sync(run.pk, adapter=portal)  # redelivered again: no-op
    with tenant_scope(tenant):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert run.attempts == 2
        assert SupplierDocument.objects.filter(registration=reg).count() == 2
    assert doc_events(tenant) == 2


def test_the_celery_task_syncs_with_the_configured_portal(connected, sandbox, settings):
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    tenant, reg = connected
    sandbox.seed(b2bcn=[doc("CN-1", section="b2bcn")])
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2bcn"])
    sync_section(run.pk)
    with tenant_scope(tenant):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error_message
        assert SupplierDocument.objects.get(registration=reg).doc_kind == "credit_note"


def test_daily_sync_queues_only_gstins_with_a_live_session(connected, recipient):
    tenant, reg = connected
    other = factories.make_registration(tenant, state="29", n=77)
    assert services.queue_daily_syncs() == len(Section)  # every section of every tab
    with tenant_scope(tenant):
        assert SyncRun.objects.filter(registration=reg, trigger="schedule").count() == len(Section)
        assert not SyncRun.objects.filter(registration=other).exists()
    assert services.queue_daily_syncs() == 0  # all still active: never twice

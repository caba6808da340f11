"""The lease guarantees of a section run (tests/gst_sync/test_sync_lease.py, docs/decisions/0007) hold for a small
GSTIN's job of all its sections: its heartbeat keeps it through a download longer than the lease while a second
delivery is refused, and a job whose session is terminated mid-save is handed back and then done once, the sections
saved before it not redone."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from gst.sections import Section
from gst_sync import services, tasks
from gst_sync.client import GstnAdapter
from gst_sync.models import RunStatus, SyncJob, SyncRun
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests.actions.test_bulk_atomicity import Session, blocked_backend, terminate
from tests.gst_sync.test_sync_lease import Portal
from tests.gst_sync.test_sync_service import ACTOR, connected, recipient  # noqa: F401 - fixtures

from .conftest import doc, make_config

pytestmark = pytest.mark.django_db(transaction=True)  # the two deliveries are two sessions


@pytest.fixture
def gstin(connected):  # noqa: F811
    return connected


def queue(tenant, reg) -> SyncJob:
    with tenant_scope(tenant):
        runs = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, trigger="schedule")
        return SyncJob.objects.get(pk=runs[0].job_id)


def completions(tenant) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action="sync.job_completed").count()


def test_a_download_longer_than_the_lease_keeps_its_job(gstin, portal, sandbox, settings, monkeypatch):
    monkeypatch.setattr(tasks.sync_job, "apply_async", lambda *a, **kw: None)
    settings.IMS_SYNC_LEASE_SECONDS = 1  # heartbeats every 0.2 s
    tenant, reg = gstin
    sandbox.seed(b2b=[doc("L-1"), doc("L-2")])
    job = queue(tenant, reg)
    downloading, finish = threading.Event(), threading.Event()

    def long_download():
        downloading.set()
        assert finish.wait(60)

    first = Portal(portal, during=long_download)
    worker = Session(tenant, lambda: services.run_job(job.pk, adapter=first))
    assert downloading.wait(60)
    time.sleep(2.5)  # the download outlives the lease (1 s) more than twice
    with GstnAdapter(make_config(sandbox)) as other:
        twin = Portal(other)
        assert (
            services.run_job(job.pk, adapter=twin) is None
        )  # the broker's second delivery: the lease is live
    assert twin.downloads == 0
    finish.set()
    done = worker.outcome()

    assert (done.status, done.attempts) == ("succeeded", 1)
    assert first.downloads == len(Section)
    assert completions(tenant) == 1
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 2


def test_a_job_whose_session_is_terminated_mid_save_is_handed_back_then_done_once(
    gstin, portal, sandbox, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr(tasks.sync_job, "apply_async", lambda args, kwargs=None, **kw: sent.append(args[0]))
    tenant, reg = gstin
    sandbox.seed(b2b=[doc("S-1"), doc("S-2")], b2bcn=[doc("S-3", section="b2bcn")])
    job = queue(tenant, reg)
    sent.clear()  # the delivery of the queued job
    with transaction.atomic():  # the save of b2b waits for the documents table, then loses its session
        with connection.cursor() as cur:
            cur.execute("LOCK TABLE invoices_supplierdocument IN ACCESS EXCLUSIVE MODE")
        worker = Session(tenant, lambda: services.run_job(job.pk, adapter=portal))
        terminate(blocked_backend(worker))
    late = worker.outcome()
    assert (late.status, late.attempts, late.finished_at) == ("queued", 1, None)
    assert sent == [job.pk]  # delivered again shortly
    assert services.requeue_stale_runs() == 1  # and swept if that message is lost (the job, not its sections)

    again = Portal(portal)
    done = services.run_job(job.pk, adapter=again)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert completions(tenant) == 1
    with tenant_scope(tenant):
        assert set(SyncRun.objects.filter(job=job).values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
        assert SupplierDocument.objects.filter(registration=reg).count() == 3
        assert AuditEvent.objects.filter(action="document.created").count() == 3

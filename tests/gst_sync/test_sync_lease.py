"""Issue #13 §1 "A lease shorter than a task runs it twice" (docs/reliability.md R6, docs/decisions/0007): the sync
heartbeat used to be written only at the claim, so a download longer than the lease let a second delivery take the
run while the first still worked (twice the portal calls, two completion events). A heartbeat thread now renews the
lease during every long step, and an attempt whose lease was taken over stops and writes nothing. And a run whose
database session is terminated ("Jobs stuck forever") is handed back on a fresh connection instead of staying
"running" until its lease expires."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from gst_sync import services, tasks
from gst_sync.client import GstnAdapter
from gst_sync.models import SyncRun
from invoices.models import SupplierDocument
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.actions.test_bulk_atomicity import Session, blocked_backend, terminate
from tests.gst_sync.test_sync_service import ACTOR, connected, recipient  # noqa: F401 - fixtures

from .conftest import doc, make_config

pytestmark = pytest.mark.django_db(transaction=True)  # the two deliveries are two sessions


class Portal:
    """The sandbox adapter, counting downloads; ``during`` runs inside the (first) download."""

    def __init__(self, real: GstnAdapter, during=None):
        self.real, self.during, self.downloads = real, during, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get_ims_documents(self, **kwargs):
        self.downloads += 1
        records = self.real.get_ims_documents(**kwargs)
        if self.during is not None:
            self.during()
        return records


def queue(tenant, reg) -> SyncRun:
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    return run


def completions(tenant, run) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action="sync.run_completed", object_id=str(run.pk)).count()


def test_a_download_longer_than_the_lease_keeps_its_run(connected, portal, sandbox, settings):  # noqa: F811
    settings.IMS_SYNC_LEASE_SECONDS = 1  # heartbeats every 0.2 s
    tenant, reg = connected
    sandbox.seed(b2b=[doc("L-1"), doc("L-2")])
    run = queue(tenant, reg)
    downloading, finish = threading.Event(), threading.Event()

    def long_download():
        downloading.set()
        assert finish.wait(60)

    first = Portal(portal, during=long_download)
    worker = Session(tenant, lambda: services.run_sync(run.pk, adapter=first))
    assert downloading.wait(60)
    time.sleep(2.5)  # the download outlives the lease (1 s) more than twice
    with GstnAdapter(make_config(sandbox)) as other:
        twin = Portal(other)
        assert (
            services.run_sync(run.pk, adapter=twin) is None
        )  # the broker's second delivery: the lease is live
    assert twin.downloads == 0
    finish.set()
    done = worker.outcome()

    assert (done.status, done.attempts) == ("succeeded", 1)
    assert first.downloads == 1
    assert completions(tenant, run) == 1
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 2


def test_an_attempt_whose_lease_was_taken_over_during_the_download_writes_nothing(
    connected,  # noqa: F811
    portal,
    sandbox,
):
    tenant, reg = connected
    sandbox.seed(b2b=[doc("T-1")])
    run = queue(tenant, reg)

    def taken_over():  # the lease expired during the download and another worker claimed the run
        with scopes_disabled():
            SyncRun.objects.filter(pk=run.pk).update(attempts=2)

    late = services.run_sync(run.pk, adapter=Portal(portal, during=taken_over))
    assert (late.status, late.attempts, late.finished_at, late.counts) == ("running", 2, None, {})
    assert completions(tenant, run) == 0
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 0


def test_a_sync_whose_session_is_terminated_during_the_ingest_is_handed_back_then_done_once(
    connected,  # noqa: F811
    portal,
    sandbox,
    monkeypatch,
):
    sent: list[int] = []
    monkeypatch.setattr(
        tasks.sync_section, "apply_async", lambda args, kwargs=None, **kw: sent.append(args[0])
    )
    tenant, reg = connected
    sandbox.seed(b2b=[doc("S-1"), doc("S-2")])
    run = queue(tenant, reg)
    sent.clear()  # the delivery of the queued run
    with transaction.atomic():  # the ingest waits for the documents table, then loses its session
        with connection.cursor() as cur:
            cur.execute("LOCK TABLE invoices_supplierdocument IN ACCESS EXCLUSIVE MODE")
        worker = Session(tenant, lambda: services.run_sync(run.pk, adapter=portal))
        terminate(blocked_backend(worker))
    late = worker.outcome()
    assert (late.status, late.attempts, late.finished_at) == ("queued", 1, None)
    assert sent == [run.pk]  # delivered again shortly
    assert services.requeue_stale_runs() == 1  # and swept if that message is lost

    done = services.run_sync(run.pk, adapter=portal)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert completions(tenant, run) == 1
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 2

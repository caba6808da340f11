"""Issue #13 §1 "Jobs stuck forever", for export jobs (docs/reliability.md R5, docs/decisions/0007): an export whose
database session is terminated (``pg_terminate_backend`` from another connection) used to stay "running" for good,
its failure handler writing on the dead connection; it is now handed back on a fresh connection and delivered
again, and ends done. A worker killed with SIGKILL mid-export leaves the job under a lease a twin delivery respects,
and the beat sweep sends it again once the lease is past; only the attempt holding the lease writes the file."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from exports import registry, services, tasks
from exports.models import ExportJob
from tenancy.models import Registration
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.actions.test_bulk_atomicity import Session, blocked_backend, terminate
from tests.reconciliation.test_job_leases import expire_lease, kill_midway

pytestmark = pytest.mark.django_db(transaction=True)


@registry.register("test-lease-registrations")
def registrations_export(*, tenant, user, params):
    qs = Registration.objects.filter(tenant=tenant).values_list("gstin", "legal_name")
    return "Our GSTINs", ["GSTIN", "Legal name"], qs.iterator(), qs.count()


# A worker process that claims the export and hangs while writing its rows, until killed.
_EXPORT_WORKER = """
import sys, time, django
django.setup()
from django.conf import settings
from exports import registry, services
settings.EXPORT_DIR = sys.argv[2]
def hanging(*, tenant, user, params):
    def rows():
        print("HANG", flush=True)
        time.sleep(600)
        yield ["never"]
    return "Hangs", ["n"], rows(), 1
registry.register("test-lease-registrations", hanging)
services.run_export(int(sys.argv[1]))
"""


@pytest.fixture
def sent(monkeypatch):
    """The broker: the job ids handed to the export task."""
    out: list[int] = []
    monkeypatch.setattr(tasks.run_export_task, "delay", lambda pk: out.append(pk))
    monkeypatch.setattr(tasks.run_export_task, "delay_on_commit", lambda pk: None)
    monkeypatch.setattr(tasks.run_export_task, "apply_async", lambda args, **kw: out.append(args[0]))
    return out


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


def start(tenant, user) -> ExportJob:
    with tenant_scope(tenant):
        return services.start_export(tenant=tenant, user=user, kind="test-lease-registrations", params={})


def job_of(pk: int) -> ExportJob:
    with scopes_disabled():
        return ExportJob.objects.get(pk=pk)


def test_an_export_whose_session_is_terminated_is_handed_back_not_left_running(
    tenant_a, reg_a1, alice, sent, export_dir
):
    job = start(tenant_a, alice)
    with transaction.atomic():  # the export's query waits for the registrations, then loses its session
        with connection.cursor() as cur:
            cur.execute("LOCK TABLE tenancy_registration IN ACCESS EXCLUSIVE MODE")
        session = Session(tenant_a, lambda: tasks.run_export_task(job.pk))
        terminate(blocked_backend(session, "SELECT"))
    assert session.outcome() == "queued"
    stuck = job_of(job.pk)
    assert (stuck.status, stuck.attempts, stuck.file_name) == ("queued", 1, "")
    assert sent == [job.pk]  # delivered again shortly
    assert not list(export_dir.rglob("*.part"))  # the attempt's part file is gone
    assert services.requeue_stale_jobs() == 1  # and swept if that message is lost too

    assert tasks.run_export_task(job.pk) == "done"
    done = job_of(job.pk)
    assert (done.status, done.attempts, done.rows_done, done.error) == ("done", 2, 1, "")
    assert services.job_file(done) is not None
    assert tasks.run_export_task(job.pk) == "done"  # a late twin does nothing
    assert job_of(job.pk).attempts == 2


def test_a_killed_export_worker_keeps_its_lease_until_it_expires_then_the_sweep_sends_it_again(
    tenant_a, reg_a1, alice, sent, export_dir
):
    job = start(tenant_a, alice)
    kill_midway(_EXPORT_WORKER, job.pk, export_dir)
    dead = job_of(job.pk)
    assert (dead.status, dead.attempts) == ("running", 1)

    assert tasks.run_export_task(job.pk) == "running"  # a twin under the live lease: nothing
    assert services.requeue_stale_jobs() == 0
    assert sent == []

    expire_lease(ExportJob, job.pk)
    assert services.requeue_stale_jobs() == 1
    assert sent == [job.pk]
    assert tasks.run_export_task(job.pk) == "done"
    done = job_of(job.pk)
    assert (done.status, done.attempts, done.rows_done) == ("done", 2, 1)
    assert services.job_file(done).name == f"{job.pk}-test-lease-registrations.xlsx"
    assert services.requeue_stale_jobs() == 0


def test_an_attempt_that_lost_its_lease_writes_no_file_and_does_not_finish_the_job(
    tenant_a, reg_a1, alice, sent, export_dir, monkeypatch
):
    job = start(tenant_a, alice)

    def taken_over(*, tenant, user, params):
        def rows():
            with scopes_disabled():  # meanwhile the lease expired and another worker claimed the job
                ExportJob.objects.filter(pk=job.pk).update(attempts=2)
            yield ["late"]

        return "Late", ["n"], rows(), 1

    monkeypatch.setitem(registry._REGISTRY, "test-lease-registrations", taken_over)
    assert tasks.run_export_task(job.pk) == "running"
    late = job_of(job.pk)
    assert (late.status, late.attempts, late.file_name, late.finished_at) == ("running", 2, "", None)
    assert not [p for p in export_dir.rglob("*") if p.is_file()]

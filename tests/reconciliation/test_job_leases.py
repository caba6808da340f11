"""Reconciliation runs and register imports are claimed with a lease (ims_project.leases): a worker killed mid-job
(a real SIGKILL of a process running the job) leaves it running; a redelivery while its lease is live does
nothing; after the lease expires a redelivery (or the sweep) takes it over and the end state equals a crash-free
run: the same results, no duplicate result rows, one completion audit event, one audit event per line."""

from __future__ import annotations

import datetime as dt
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from ims_project import rls
from reconciliation import services, tasks
from reconciliation.engine import execute_run, partition_name
from reconciliation.models import PurchaseLine, ReconMatch, ReconRun, RegisterImport
from tenancy.models import Membership
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.reconciliation.test_register_and_engine import as_alice
from tests.reconciliation.test_rerun import CSV_HEAD, row

pytestmark = pytest.mark.django_db(transaction=True)  # a second process works on the same (committed) data
# How long a worker process may take to reach its hang point before the test calls it stuck: a detector of a hang
# on a loaded CI machine (the suite's processes share two cores), never a timing of the job.
HANG_LIMIT = 300
OCT, OCT_END = dt.date(2025, 10, 1), dt.date(2025, 10, 31)

# A worker process that does the job until a chosen point inside a transaction, says so, and waits to be killed.
_RECON_WORKER = """
import sys, time, django
django.setup()
from reconciliation import engine
def hang(*args, **kwargs):  # inside pass 2's transaction: pass 1 has committed its pairs
    print("HANG", flush=True)
    time.sleep(600)
engine._write_results = hang
engine.execute_run(run_id=int(sys.argv[1]))
"""
_IMPORT_WORKER = """
import sys, time, django
django.setup()
from django.conf import settings
from reconciliation import imports, services
settings.MEDIA_ROOT = sys.argv[2]
imports.CHUNK = 2
real, calls = imports.write_chunk, []
def write_chunk(*args, **kwargs):  # the first chunk commits; the worker dies inside the second one
    calls.append(1)
    if len(calls) == 2:
        print("HANG", flush=True)
        time.sleep(600)
    return real(*args, **kwargs)
imports.write_chunk = write_chunk
services.run_import(import_id=int(sys.argv[1]))
"""


@pytest.fixture
def sent(monkeypatch):
    """The broker: the ids handed to the run and import tasks."""
    out: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks.run_recon_task, "delay", lambda pk: out.append(("run", pk)))
    monkeypatch.setattr(tasks.run_import_task, "delay", lambda pk: out.append(("import", pk)))
    monkeypatch.setattr(tasks.run_import_task, "delay_on_commit", lambda pk: None)
    monkeypatch.setattr(tasks.run_recon_task, "delay_on_commit", lambda pk: None)
    return out


def kill_midway(script: str, *args) -> None:
    """Run ``script`` in a worker process on the test database; SIGKILL it once it reaches its hang point."""
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ims_project.settings_test",
        "DATABASE_URL": urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"])),
    }
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script, *map(str, args)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + HANG_LIMIT
        line = ""
        while "HANG" not in line:
            ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
            assert ready, (
                f"the worker process never reached its hang point; the database's sessions: {sessions()}"
            )
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"the worker process ended: {proc.stderr.read()[-2000:]}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def sessions() -> list[tuple]:
    """What every other session of the test database is doing (for a failure's message)."""
    with rls.as_owner(), connection.cursor() as cur:
        cur.execute(
            "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid), left(query, 120) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cur.fetchall()


def expire_lease(model, pk: int) -> None:
    stale = dt.timedelta(seconds=settings.IMS_SYNC_LEASE_SECONDS + 5)
    with scopes_disabled():
        model.objects.filter(pk=pk).update(heartbeat_at=dt.datetime.now(dt.UTC) - stale)


def events(tenant, action: str, **kw) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(tenant=tenant, action=action, **kw))


def results(tenant, run_id: int) -> list[tuple]:
    with tenant_scope(tenant):
        return sorted(
            ReconMatch.objects.filter(run_id=run_id).values_list("outcome", "purchase_id", "document_id"),
            key=repr,
        )


def table_rows(name: str) -> int | None:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [name])
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT count(*) FROM {name}")
        return cur.fetchone()[0]


def new_run(tenant, alice, reg) -> ReconRun:
    with tenant_scope(tenant):
        return services.start_run(
            **as_alice(tenant, alice), registrations=[reg], date_from=OCT, date_to=OCT_END
        )


def test_a_twin_delivery_of_a_run_under_a_live_lease_does_nothing(sent, tenant_a, reg_a1, alice, reconciled):
    run = new_run(tenant_a, alice, reg_a1)
    with scopes_disabled():
        ReconRun.objects.filter(pk=run.pk).update(
            status="running", heartbeat_at=dt.datetime.now(dt.UTC), attempts=1
        )
    twin = execute_run(run_id=run.pk)
    assert (twin.status, twin.attempts, twin.counts) == ("running", 1, {})
    assert results(tenant_a, run.pk) == []
    assert table_rows(partition_name(run.pk)) is None
    assert events(tenant_a, "recon.run_completed", object_id=str(run.pk)) == []
    assert tasks.requeue_stale_jobs() == {"runs": 0, "imports": 0}
    assert sent == []  # live: not swept either


def test_a_run_whose_worker_was_killed_is_taken_over_after_its_lease_and_equals_a_crash_free_run(
    sent, tenant_a, reg_a1, alice, reconciled
):
    clean, _ = reconciled  # the crash-free run of the same scope and data
    expected = results(tenant_a, clean.pk)
    assert clean.status == "done"
    assert len(expected) == sum(clean.counts.values())
    run = new_run(tenant_a, alice, reg_a1)

    kill_midway(_RECON_WORKER, run.pk)
    with scopes_disabled():
        dead = ReconRun.objects.get(pk=run.pk)
    assert (dead.status, dead.attempts, dead.progress) == ("running", 1, 60)
    assert table_rows(partition_name(run.pk)) > 0  # the dead attempt's exact pairs, committed, not attached
    assert results(tenant_a, run.pk) == []

    assert execute_run(run_id=run.pk).status == "running"  # a redelivery while the lease is live: nothing
    assert tasks.requeue_stale_jobs()["runs"] == 0
    assert sent == []

    expire_lease(ReconRun, run.pk)
    assert tasks.requeue_stale_jobs() == {"runs": 1, "imports": 0}
    assert sent == [("run", run.pk)]
    tasks.run_recon_task(run.pk)  # the sweep's delivery takes the run over

    with scopes_disabled():
        done = ReconRun.objects.get(pk=run.pk)
    assert (done.status, done.attempts, done.counts) == ("done", 2, clean.counts)
    again = results(tenant_a, run.pk)
    assert again == expected
    assert len(set(again)) == len(again)  # the same pairs, no row twice
    assert len(events(tenant_a, "recon.run_completed", object_id=str(run.pk))) == 1
    assert execute_run(run_id=run.pk).attempts == 2  # a late twin of a finished run does nothing
    assert len(events(tenant_a, "recon.run_completed", object_id=str(run.pk))) == 1


def test_an_attempt_that_lost_its_lease_stops_without_touching_the_run(
    sent, tenant_a, reg_a1, alice, reconciled, monkeypatch
):
    from reconciliation import engine

    run = new_run(tenant_a, alice, reg_a1)
    real = engine._load

    def slow_worker(cur, run_, rules, p):  # while this worker loads, its lease expires and another takes over
        real(cur, run_, rules, p)
        with scopes_disabled():
            ReconRun.objects.filter(pk=run_.pk).update(
                attempts=run_.attempts + 1, heartbeat_at=dt.datetime.now(dt.UTC)
            )

    monkeypatch.setattr(engine, "_load", slow_worker)
    assert execute_run(run_id=run.pk) is None
    with scopes_disabled():
        taken = ReconRun.objects.get(pk=run.pk)
    assert (taken.status, taken.attempts, taken.progress) == ("running", 2, 0)  # left to the new owner
    assert table_rows(partition_name(run.pk)) == 0  # its results table is the new owner's to drop or reuse
    assert events(tenant_a, "recon.run_completed", object_id=str(run.pk)) == []
    with rls.as_owner(), connection.cursor() as cur:  # the owner's table
        cur.execute(f"DROP TABLE {partition_name(run.pk)}")


def test_an_import_whose_worker_was_killed_is_taken_over_and_writes_each_line_and_event_once(
    sent, tenant_a, reg_a1, alice, tmp_path
):
    lines = [row(reg_a1, f"K-{n}", f"PV-K{n}") for n in range(7)]
    bad = f"{reg_a1.gstin},NOT-A-GSTIN,Invoice,K-X,05-10-2025,10,1,0,0,0,PV-KX,29\n"
    with tenant_scope(tenant_a):
        membership = Membership.objects.get(tenant=tenant_a, user=alice)
        job = services.start_import(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=membership,
            name="register.csv",
            data=(CSV_HEAD + "".join(lines[:4]) + bad + "".join(lines[4:])).encode(),
        )

    kill_midway(_IMPORT_WORKER, job.pk, tmp_path)
    with scopes_disabled():
        dead = RegisterImport.objects.get(pk=job.pk)
        written = set(PurchaseLine.objects.filter(tenant=tenant_a).values_list("erp_ref", flat=True))
    assert (dead.status, dead.attempts, dead.created) == ("running", 1, 2)
    assert written == {"PV-K0", "PV-K1"}
    assert len(events(tenant_a, "register.line_created")) == 2

    assert services.run_import(import_id=job.pk).status == "running"  # the lease is live: nothing
    expire_lease(RegisterImport, job.pk)
    assert tasks.requeue_stale_jobs() == {"runs": 0, "imports": 1}
    assert sent == [("import", job.pk)]
    tasks.run_import_task(job.pk)

    with scopes_disabled():
        done = RegisterImport.objects.get(pk=job.pk)
        refs = list(PurchaseLine.objects.filter(tenant=tenant_a).values_list("erp_ref", flat=True))
    # What a crash-free import of this file says: 7 lines created, the bad row reported, nothing else.
    assert (
        done.status,
        done.attempts,
        done.total,
        done.created,
        done.updated,
        done.unchanged,
        done.error_count,
    ) == ("done", 2, 8, 7, 0, 0, 1)
    assert sorted(refs) == [f"PV-K{n}" for n in range(7)]
    created = events(tenant_a, "register.line_created")
    assert len(created) == 7
    assert len({e.object_id for e in created}) == 7
    assert len(events(tenant_a, "register.imported", object_id=str(job.pk))) == 1
    assert not Path(tmp_path, "recon-imports", job.stored_name).exists()  # the stored file is gone once done

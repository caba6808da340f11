"""Issue #13 §1 "Jobs stuck forever", for reconciliation runs and register imports (docs/reliability.md R5,
docs/decisions/0007): when the job's database session is terminated (``pg_terminate_backend`` from another
connection), its failure path used to write on the dead connection, so the job stayed "running" until its lease
expired and the sweep found it. It now writes on a fresh connection: the job is handed back as queued and delivered
again at once, and the next attempt ends as a crash-free run would."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit.services import Actor
from reconciliation import services, tasks
from reconciliation.models import PurchaseLine, ReconRun, RegisterImport
from tenancy.models import Membership
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.actions.test_bulk_atomicity import Session, blocked_backend, terminate
from tests.reconciliation.test_job_leases import events, new_run, results
from tests.reconciliation.test_rerun import CSV_HEAD, row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    """The broker: the ids handed to the run and import tasks."""
    out: list[tuple[str, int]] = []
    for name, task in (("run", tasks.run_recon_task), ("import", tasks.run_import_task)):
        monkeypatch.setattr(task, "delay", lambda pk, name=name: out.append((name, pk)))
        monkeypatch.setattr(task, "apply_async", lambda args, name=name, **kw: out.append((name, args[0])))
        monkeypatch.setattr(task, "delay_on_commit", lambda pk: None)
    return out


def terminated_while_reading(tenant, table: str, fn):
    """Run ``fn`` in a session of its own; terminate that session once it waits for ``table`` (held here)."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        session = Session(tenant, fn)
        terminate(blocked_backend(session))
    return session.outcome()


def test_a_run_whose_session_is_terminated_is_handed_back_and_then_equals_a_crash_free_run(
    sent, tenant_a, reg_a1, alice, reconciled
):
    clean, _ = reconciled
    run = new_run(tenant_a, alice, reg_a1)
    outcome = terminated_while_reading(
        tenant_a, "reconciliation_purchaseline", lambda: tasks.run_recon_task(run.pk)
    )
    assert outcome is None
    with scopes_disabled():
        stuck = ReconRun.objects.get(pk=run.pk)
    assert (stuck.status, stuck.attempts) == ("queued", 1)  # not left running on the dead connection
    assert sent == [("run", run.pk)]
    assert tasks.requeue_stale_jobs()["runs"] == 1  # the sweep finds it too if that message is lost

    tasks.run_recon_task(run.pk)
    with scopes_disabled():
        done = ReconRun.objects.get(pk=run.pk)
    assert (done.status, done.attempts, done.counts) == ("done", 2, clean.counts)
    assert results(tenant_a, run.pk) == results(tenant_a, clean.pk)
    assert len(events(tenant_a, "recon.run_completed", object_id=str(run.pk))) == 1


def test_an_import_whose_session_is_terminated_is_handed_back_and_then_writes_each_line_once(
    sent, tenant_a, reg_a1, alice
):
    lines = [row(reg_a1, f"S-{n}", f"PV-S{n}") for n in range(5)]
    with tenant_scope(tenant_a):
        job = services.start_import(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            name="register.csv",
            data=(CSV_HEAD + "".join(lines)).encode(),
        )
    terminated_while_reading(tenant_a, "reconciliation_purchaseline", lambda: tasks.run_import_task(job.pk))
    with scopes_disabled():
        stuck = RegisterImport.objects.get(pk=job.pk)
    assert (stuck.status, stuck.attempts) == ("queued", 1)
    assert sent == [("import", job.pk)]

    tasks.run_import_task(job.pk)
    with scopes_disabled():
        done = RegisterImport.objects.get(pk=job.pk)
        refs = sorted(PurchaseLine.objects.filter(tenant=tenant_a).values_list("erp_ref", flat=True))
    assert (done.status, done.attempts, done.created, done.error_count) == ("done", 2, 5, 0)
    assert refs == [f"PV-S{n}" for n in range(5)]
    assert len(events(tenant_a, "register.line_created")) == 5
    assert len(events(tenant_a, "register.imported", object_id=str(job.pk))) == 1

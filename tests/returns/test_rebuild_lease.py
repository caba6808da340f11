"""Issue #13 §1 "Jobs stuck forever", for on-demand 2B preview rebuilds (docs/reliability.md R5, docs/decisions/0007):
a rebuild whose database session is terminated used to stay "running" (its failure handler wrote on the dead
connection) and blocked every later request for the GSTIN and period; it is now handed back on a fresh connection
and delivered again. A rebuild whose worker died is swept after its lease; a twin under a live lease does nothing."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from returns import services, tasks
from returns.models import PreviewRebuild, TwobPreview
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.actions.test_bulk_atomicity import Session, blocked_backend, terminate
from tests.reconciliation.test_job_leases import expire_lease
from tests.returns.test_rebuild_task import reg, request  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    """The broker: the rebuild ids handed to the task."""
    out: list[int] = []
    monkeypatch.setattr(tasks.rebuild_preview, "delay", lambda pk: out.append(pk))
    monkeypatch.setattr(tasks.rebuild_preview, "delay_on_commit", lambda pk: None)
    monkeypatch.setattr(tasks.rebuild_preview, "apply_async", lambda args, **kw: out.append(args[0]))
    return out


def job_of(pk: int) -> PreviewRebuild:
    with scopes_disabled():
        return PreviewRebuild.objects.get(pk=pk)


def built(tenant) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action="twob.preview_built").count()


def test_a_rebuild_whose_session_is_terminated_is_handed_back_and_then_built_once(tenant_a, reg, sent):  # noqa: F811
    job, _ = request(tenant_a, reg)
    with transaction.atomic():  # the rebuild's reading of the documents waits, then loses its session
        with connection.cursor() as cur:
            cur.execute("LOCK TABLE invoices_supplierdocument IN ACCESS EXCLUSIVE MODE")
        session = Session(tenant_a, lambda: tasks.rebuild_preview(job.pk))
        terminate(blocked_backend(session))
    assert session.outcome() == "queued"
    stuck = job_of(job.pk)
    assert (stuck.status, stuck.attempts, stuck.preview_id) == ("queued", 1, None)
    assert sent == [job.pk]
    assert services.requeue_stale_rebuilds() == 1

    assert tasks.rebuild_preview(job.pk) == "done"
    assert tasks.rebuild_preview(job.pk) == "skipped"  # a late twin
    done = job_of(job.pk)
    assert (done.status, done.attempts) == ("done", 2)
    with tenant_scope(tenant_a):
        assert TwobPreview.objects.count() == 1
    assert built(tenant_a) == 1


def test_a_rebuild_whose_worker_died_waits_for_its_lease_then_the_sweep_sends_it(tenant_a, reg, sent):  # noqa: F811
    job, _ = request(tenant_a, reg)
    with scopes_disabled():  # a worker claimed it, then died
        assert services._claim_rebuild(job.pk) == 1
    assert tasks.rebuild_preview(job.pk) == "skipped"  # the twin under the live lease
    assert services.requeue_stale_rebuilds() == 0
    expire_lease(PreviewRebuild, job.pk)
    assert services.requeue_stale_rebuilds() == 1
    assert sent == [job.pk]
    assert tasks.rebuild_preview(job.pk) == "done"
    assert job_of(job.pk).attempts == 2
    assert built(tenant_a) == 1

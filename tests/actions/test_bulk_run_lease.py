"""Issue #13 §1 "Jobs stuck forever", for bulk-action runs (docs/reliability.md R5, docs/decisions/0007): the run is
claimed with the shared lease, so

* a worker whose database session is terminated mid-chunk (``pg_terminate_backend`` from another connection) hands
  the run back on a fresh connection instead of leaving it "queued" with no message left to deliver it; a retry
  with the same idempotency key resumes it (it used to return the stuck run), and it ends applied exactly once;
* a failed run is re-run by a retry with its key;
* a worker process killed with SIGKILL mid-chunk leaves the run running under a lease that a twin delivery
  respects; once the lease is past, the beat sweep delivers it again (it used to wait for the broker's visibility
  timeout, an hour) and the end state is that of a run that never crashed.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from actions import services, tasks
from actions.models import BulkActionRun
from audit.models import AuditEvent
from audit.services import Actor
from tenancy.models import Membership
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.actions.test_bulk_atomicity import (
    Session,
    blocked_backend,
    chain_ok,
    event_count,
    load,
    owner,
    states,
    terminate,
)
from tests.reconciliation.test_job_leases import expire_lease, kill_midway

pytestmark = pytest.mark.django_db(transaction=True)

N = 6_000

# A worker process that applies the first chunk, then hangs inside the second chunk's transaction until killed.
_BULK_WORKER = """
import sys, time, django
django.setup()
from django.conf import settings
from actions import services
settings.IMS_BULK_ACTION_CHUNK = 2_000
real, calls = services._apply, []
def _apply(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        print("HANG", flush=True)
        time.sleep(600)
    return real(*args, **kwargs)
services._apply = _apply
services.run_bulk_action(run_id=int(sys.argv[1]))
"""


@pytest.fixture
def sent(monkeypatch):
    """The broker: the run ids handed to the bulk-action task."""
    out: list[int] = []
    monkeypatch.setattr(tasks.run_bulk_action_task, "delay", lambda pk: out.append(pk))
    monkeypatch.setattr(tasks.run_bulk_action_task, "apply_async", lambda args, **kw: out.append(args[0]))
    return out


@pytest.fixture
def setup(tenant_a, reg_a1, settings):
    settings.IMS_BULK_ACTION_SYNC_MAX = 1_000
    settings.IMS_BULK_ACTION_CHUNK = 2_000
    alice = owner(tenant_a, "alice")
    load(reg_a1, N)
    return alice


def accept_all(tenant, user, key: str = "accept-all-1", ids=None):
    """Accept every document of the tenant (or the documents ``ids``) through the bulk service."""
    with tenant_scope(tenant):
        return services.bulk_set_action(
            tenant=tenant,
            actor=Actor.api(user),
            user=user,
            membership=Membership.objects.get(tenant=tenant, user=user),
            ids=ids,
            filters=None if ids else {},
            action="A",
            remarks="ok",
            idempotency_key=key,
        )


def run_of(run_id: int) -> BulkActionRun:
    with scopes_disabled():
        return BulkActionRun.objects.get(pk=run_id)


def terminated_mid_audit_copy(tenant, fn, at: int):
    """Run ``fn`` in a session of its own and terminate that session while it COPYs its ``at``-th audit event
    (the test holds an uncommitted event at that seq, so the COPY waits on the unique index). ``fn``'s outcome."""
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(seq), 0) FROM audit_auditevent WHERE tenant_id = %s", [tenant.pk])
        [tail] = cur.fetchone()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO audit_auditevent (tenant_id, seq, occurred_at, actor_type, actor_id, actor_label, action, "
                "object_type, object_id, object_repr, changes, metadata, request_id, prev_hash, hash) VALUES "
                "(%s, %s, now(), 'system', NULL, 'blocker', 'test.blocker', '', '', '', '{}', '{}', '', '', '')",
                [tenant.pk, tail + at],
            )
        session = Session(tenant, fn)
        terminate(blocked_backend(session, "COPY audit_auditevent"))
        transaction.set_rollback(True)
    return session.outcome()


def assert_applied_once(tenant, run: BulkActionRun) -> None:
    assert run.status == "done"
    assert run.applied > 0
    assert run.applied + run.already == run.total == N
    assert event_count(tenant, "ims.action_set") == run.applied  # one event per changed document, none twice
    with tenant_scope(tenant):
        ids = list(
            AuditEvent.objects.filter(tenant=tenant, action="ims.action_set").values_list(
                "object_id", flat=True
            )
        )
    assert len(set(ids)) == len(ids)
    assert event_count(tenant, "ims.bulk_action") == 1
    assert all((local or portal) == "A" for local, _r, portal, _t in states(tenant).values())
    assert chain_ok(tenant)


def test_a_run_whose_session_is_terminated_is_handed_back_and_the_retry_with_its_key_resumes_it(
    tenant_a, setup, sent
):
    alice = setup
    before = states(tenant_a)
    first = accept_all(tenant_a, alice)
    assert (first.status, sent) == ("queued", [first.run_id])
    sent.clear()
    events_before = event_count(tenant_a)

    # The worker's first chunk loses its session half-way through its audit events.
    outcome = terminated_mid_audit_copy(tenant_a, lambda: tasks.run_bulk_action_task(first.run_id), at=1_000)
    run = run_of(first.run_id)
    assert outcome == "queued"  # handed back on a fresh connection (the dead one cannot write)
    assert (run.status, run.attempts, run.processed, run.applied) == ("queued", 1, 0, 0)
    assert states(tenant_a) == before
    assert event_count(tenant_a) == events_before  # the chunk rolled back whole
    assert sent == [first.run_id]  # and it is delivered again shortly
    assert services.requeue_stale_runs() == 1  # if that message is lost too, the next sweep sends it
    assert services.requeue_stale_runs() == 0  # once per lease, not at every sweep
    sent.clear()

    # A retry with the same key does not just return the run: it sends it again, and it resumes.
    retry = accept_all(tenant_a, alice)
    assert (retry.run_id, retry.status) == (first.run_id, "queued")
    assert sent == [first.run_id]
    assert tasks.run_bulk_action_task(first.run_id) == "done"
    assert tasks.run_bulk_action_task(first.run_id) == "done"  # the twin of that delivery does nothing
    done = run_of(first.run_id)
    assert done.attempts == 2
    assert_applied_once(tenant_a, done)

    sent.clear()
    again = accept_all(tenant_a, alice)  # a retry of a finished run replays it and sends nothing
    assert (again.status, again.applied, sent) == ("done", done.applied, [])
    assert event_count(tenant_a, "ims.action_set") == done.applied


def test_a_failed_run_is_run_again_by_a_retry_with_its_key(tenant_a, setup, sent):
    alice = setup
    first = accept_all(tenant_a, alice)
    with tenant_scope(tenant_a):
        Membership.objects.filter(tenant=tenant_a, user=alice).update(role="viewer")
    assert tasks.run_bulk_action_task(first.run_id) == "failed"
    assert run_of(first.run_id).error == "The user may no longer act."
    with tenant_scope(tenant_a):
        Membership.objects.filter(tenant=tenant_a, user=alice).update(role="owner")
    sent.clear()

    retry = accept_all(tenant_a, alice)
    assert (retry.run_id, retry.status, sent) == (first.run_id, "queued", [first.run_id])
    assert tasks.run_bulk_action_task(first.run_id) == "done"
    assert_applied_once(tenant_a, run_of(first.run_id))


def test_a_killed_worker_keeps_its_lease_until_it_expires_then_the_sweep_resumes_the_run(
    tenant_a, setup, sent
):
    alice = setup
    first = accept_all(tenant_a, alice)
    sent.clear()

    kill_midway(_BULK_WORKER, first.run_id)  # SIGKILL inside the second chunk; the first one committed
    dead = run_of(first.run_id)
    assert (dead.status, dead.attempts, dead.processed) == ("running", 1, 2_000)
    assert dead.heartbeat_at is not None

    assert tasks.run_bulk_action_task(first.run_id) == "running"  # a redelivery under the live lease: nothing
    assert run_of(first.run_id).processed == 2_000
    assert services.requeue_stale_runs() == 0
    assert (accept_all(tenant_a, alice).status, sent) == ("running", [])  # a retry while it is held: as it is

    expire_lease(BulkActionRun, first.run_id)
    assert services.requeue_stale_runs() == 1
    assert sent == [first.run_id]
    assert tasks.run_bulk_action_task(first.run_id) == "done"  # the sweep's delivery takes it over
    done = run_of(first.run_id)
    assert done.attempts == 2
    assert_applied_once(tenant_a, done)
    assert services.requeue_stale_runs() == 0

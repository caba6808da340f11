"""docs/reliability.md R8, bulk action atomicity: the database session of a bulk action is terminated half-way; nothing
of it remains (no document changed, no orphan audit event, the chain verifies, the idempotency key free), and a
retry with the same key applies it exactly once. The worker path loses only the chunk that was running and resumes
to the same end state as a run that never crashed. And a person's action committed while a bulk action runs over
the same document is never overwritten unseen: the bulk re-reads it under a row lock and skips or re-decides it.

Real transactions and a second connection (a thread) are needed, hence ``transaction=True``. To hit the bulk
session at a chosen point, the test's own connection holds something the bulk path must wait for, terminates the
waiting backend with ``pg_terminate_backend`` (what a crashed worker, a killed web process or a failover does to a
session), then lets go.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import OperationalError, connection, connections, transaction

from actions import services
from actions.models import BulkActionRun, IdempotencyKey
from actions.tasks import run_bulk_action_task
from audit.models import AuditEvent
from audit.services import Actor
from audit.verify import verify_chain
from ims_project import rls
from invoices.models import SupplierDocument
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.actions.conftest import OCT
from tests.documents.helpers import make_doc
from tests.reconciliation.test_job_leases import sessions

pytestmark = pytest.mark.django_db(transaction=True)

N = 20_000
STATE = ("local_action", "local_remarks", "local_updated_at")
# How long a session may take to reach the point where it waits: a detector of a hang on a loaded CI machine (the
# suite's processes share two cores), never a timing of the bulk path.
HANG_LIMIT = 300


# --- helpers ---------------------------------------------------------------------------------------------------


def load(registration, n: int = N, analyze: bool = True) -> None:
    """``n`` documents of ``registration`` in one INSERT … SELECT (a second): clones of one made the ordinary way,
    every 10th already accepted on the portal, every 7th rejected locally (so the accept changes, skips and
    replaces states)."""
    template = make_doc(registration, twob_period=OCT)
    columns = [c.column for c in SupplierDocument._meta.concrete_fields if c.column != "id"]
    exprs = {
        "doc_number": "'BLK/' || lpad(g::text, 6, '0')",
        "doc_number_norm": "'BLK' || lpad(g::text, 6, '0')",
        "content_hash": "md5(g::text)",
        "portal_action": "CASE WHEN g %% 10 = 0 THEN 'A' ELSE portal_action END",
        "local_action": "CASE WHEN g %% 7 = 0 THEN 'R' END",
        "local_remarks": "CASE WHEN g %% 7 = 0 THEN 'wrong rate' ELSE '' END",
    }
    select = ", ".join(exprs.get(c, c) for c in columns)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO invoices_supplierdocument ({', '.join(columns)}) SELECT {select} "
            f"FROM invoices_supplierdocument, generate_series(1, %s) g WHERE id = %s",
            [n, template.pk],
        )
        cur.execute("DELETE FROM invoices_supplierdocument WHERE id = %s", [template.pk])
        if analyze:
            rls.analyze(
                cur, "invoices_supplierdocument"
            )  # a plain ANALYZE by the application role is skipped


def owner(tenant, name: str):
    user = factories.make_user(name)
    factories.make_member(tenant, user, "owner")
    return user


def states(tenant) -> dict[str, tuple]:
    with tenant_scope(tenant):
        return {
            number: rest
            for number, *rest in SupplierDocument.objects.filter(tenant=tenant).values_list(
                "doc_number", "local_action", "local_remarks", "portal_action", "local_updated_at"
            )
        }


def event_count(tenant, action: str | None = None) -> int:
    with tenant_scope(tenant):
        qs = AuditEvent.objects.filter(tenant=tenant)
        return (qs.filter(action=action) if action else qs).count()


def chain_ok(tenant) -> bool:
    with tenant_scope(tenant):
        report = verify_chain(tenant=tenant)
    assert report.ok, report
    return True


class Session(threading.Thread):
    """``fn`` in the tenant's scope on a connection of its own (Django connections are per thread)."""

    def __init__(self, tenant, fn):
        super().__init__(daemon=True)
        self.tenant, self.fn = tenant, fn
        self.result = self.error = None
        self.start()

    def run(self):
        try:
            with tenant_scope(self.tenant):
                self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc
        finally:
            connections.close_all()

    def outcome(self):
        self.join(HANG_LIMIT)
        assert not self.is_alive(), "the session did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def blocked_backend(session: Session, like: str = "", timeout: float = HANG_LIMIT) -> int:
    """The pid of ``session`` once it waits for a lock (its statement starting with ``like``)."""
    deadline = time.monotonic() + timeout
    with rls.as_owner(), connection.cursor() as cur:  # other sessions' statements: visible to a superuser
        while time.monotonic() < deadline:
            if not session.is_alive():
                session.outcome()
                raise AssertionError("the session ended without waiting")
            cur.execute(
                "SELECT pg_stat_clear_snapshot()"
            )  # in a transaction the view would stay as first read
            cur.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND cardinality(pg_blocking_pids(pid)) > 0"
            )
            rows = [pid for pid, query in cur.fetchall() if query.lstrip().startswith(like)]
            if rows:
                return rows[0]
            time.sleep(0.01)
    raise AssertionError(f"no session waiting in {like!r}; the database's sessions: {sessions()}")


def terminate(pid: int) -> None:
    with rls.as_owner(), connection.cursor() as cur:  # a superuser's session: only a superuser may end it
        cur.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # waits until the backend has gone
        assert cur.fetchone()[0]


def kill_mid_audit_copy(tenant, session_fn, at: int = N // 2) -> Exception:
    """Run ``session_fn`` and terminate it while it COPYs its audit events, at its ``at``-th event.

    The chain's next free seqs are known; the test inserts (and keeps uncommitted) an event at the seq of the
    bulk's ``at``-th event, so the bulk's COPY stops on the unique (tenant, seq) index, waiting to see
    whether that row commits. By then every document change of the bulk is written (uncommitted) and part of its
    events are copied: the latest and hardest point to lose the session at."""
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
        session = Session(tenant, session_fn)
        terminate(blocked_backend(session, "COPY audit_auditevent"))
        transaction.set_rollback(True)  # the blocker goes: it was never part of the chain
    with pytest.raises((OperationalError, psycopg.OperationalError)) as err:  # COPY: psycopg's own error
        session.outcome()
    return err.value


def kill_at_update(tenant, session_fn) -> Exception:
    """Run ``session_fn`` and terminate it in its UPDATE of the documents: the test holds SHARE on the table, which
    lets the bulk lock and read its rows (ROW SHARE) but makes its UPDATE (ROW EXCLUSIVE) wait. By then the
    idempotency key is claimed and the run recorded, in the session's transaction."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("LOCK TABLE invoices_supplierdocument IN SHARE MODE")
        session = Session(tenant, session_fn)
        terminate(blocked_backend(session, "UPDATE invoices_supplierdocument"))
    with pytest.raises(OperationalError) as err:
        session.outcome()
    return err.value


# --- in one request ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kill", [kill_at_update, kill_mid_audit_copy], ids=["at-update", "mid-audit-copy"])
def test_a_bulk_action_killed_half_way_leaves_nothing_and_the_retry_applies_once(
    tenant_a, reg_a1, kill, settings
):
    settings.IMS_BULK_ACTION_SYNC_MAX = N  # all N in the request, one transaction
    alice = owner(tenant_a, "alice")
    load(reg_a1)
    before, events_before = states(tenant_a), event_count(tenant_a)
    membership = Membership.objects.get(tenant=tenant_a, user=alice)

    def accept_all():
        return services.bulk_set_action(
            tenant=tenant_a,
            actor=Actor.api(alice),
            user=alice,
            membership=membership,
            filters={},
            action="A",
            remarks="ok",
            idempotency_key="accept-all-1",
        )

    error = kill(tenant_a, accept_all)
    assert "terminat" in str(error)

    # Nothing of the killed session remains.
    assert states(tenant_a) == before
    assert event_count(tenant_a) == events_before
    assert chain_ok(tenant_a)
    with tenant_scope(tenant_a):
        assert not IdempotencyKey.objects.filter(tenant=tenant_a).exists()  # free: the retry runs
        assert not BulkActionRun.objects.filter(tenant=tenant_a).exists()

    # The retry with the same key applies it, once.
    with tenant_scope(tenant_a):
        first = accept_all()
    after = states(tenant_a)
    assert first.status == "done"
    assert first.total == N
    assert first.refused_count == 0
    assert first.applied + first.already == N
    assert first.applied == sum(1 for n in before if after[n] != before[n]) > N // 2
    assert all((local or portal) == "A" for local, _r, portal, _t in after.values())
    assert event_count(tenant_a, "ims.action_set") == first.applied
    with tenant_scope(tenant_a):
        ids = list(
            AuditEvent.objects.filter(tenant=tenant_a, action="ims.action_set").values_list(
                "object_id", flat=True
            )
        )
    assert len(set(ids)) == len(ids) == first.applied  # one event per changed document
    assert event_count(tenant_a, "ims.bulk_action") == 1
    assert chain_ok(tenant_a)

    # A second retry replays the first result: nothing new.
    events_now = event_count(tenant_a)
    with tenant_scope(tenant_a):
        again = accept_all()
    assert again.as_json() == first.as_json()
    assert event_count(tenant_a) == events_now
    assert states(tenant_a) == after


# --- the worker path -------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_chunk_loses_only_that_chunk_and_resumes_to_the_crash_free_end(
    tenant_a, reg_a1, tenant_b, settings
):
    settings.IMS_BULK_ACTION_SYNC_MAX = 1_000
    settings.IMS_BULK_ACTION_CHUNK = 5_000
    reg_b = factories.make_registration(tenant_b, state=reg_a1.state_code, n=4)  # same rule inputs as reg_a1
    alice, carol = owner(tenant_a, "alice"), owner(tenant_b, "carol")
    load(reg_a1)
    load(reg_b)

    def queue(tenant, user):
        with tenant_scope(tenant):
            result = services.bulk_set_action(
                tenant=tenant,
                actor=Actor.user(user),
                user=user,
                membership=Membership.objects.get(tenant=tenant, user=user),
                filters={},
                action="A",
                remarks="ok",
            )
        assert result.status == "queued"
        assert result.total == N
        return result.run_id

    def run_of(tenant, run_id):
        with tenant_scope(tenant):
            return BulkActionRun.objects.get(pk=run_id)

    # Tenant A: one chunk goes through, the worker dies in the second.
    run_id = queue(tenant_a, alice)
    assert Session(tenant_a, lambda: services.advance_run(run_id=run_id)).outcome() is True
    after_one, events_one, run_one = states(tenant_a), event_count(tenant_a), run_of(tenant_a, run_id)
    assert (run_one.status, run_one.processed) == ("running", 5_000)
    kill_mid_audit_copy(tenant_a, lambda: services.advance_run(run_id=run_id), at=2_500)
    run_killed = run_of(tenant_a, run_id)
    assert states(tenant_a) == after_one
    assert event_count(tenant_a) == events_one  # the chunk rolled back
    assert (run_killed.status, run_killed.cursor, run_killed.processed, run_killed.applied) == (
        run_one.status,
        run_one.cursor,
        run_one.processed,
        run_one.applied,
    )
    assert chain_ok(tenant_a)

    # The next delivery of the task resumes and finishes.
    assert run_bulk_action_task(run_id) == "done"

    # Tenant B: the same documents and action, no crash.
    run_b = queue(tenant_b, carol)
    assert run_bulk_action_task(run_b) == "done"

    strip = lambda st: {n: s[:3] for n, s in st.items()}  # noqa: E731 - (local action, remarks, portal)
    assert strip(states(tenant_a)) == strip(states(tenant_b))
    a, b = run_of(tenant_a, run_id), run_of(tenant_b, run_b)
    assert (a.total, a.processed, a.applied, a.already, a.refused_count) == (
        b.total,
        b.processed,
        b.applied,
        b.already,
        b.refused_count,
    )
    assert a.applied > 0
    assert a.applied + a.already == N
    for action in ("ims.action_set", "ims.bulk_action"):
        assert event_count(tenant_a, action) == event_count(tenant_b, action)
    assert event_count(tenant_a, "ims.action_set") == a.applied
    assert chain_ok(tenant_a)
    assert chain_ok(tenant_b)


# --- a person's action during a bulk action --------------------------------------------------------------------


@pytest.mark.parametrize("path,target", [("worker", "filter"), ("worker", "ids"), ("inline", "ids")])
def test_a_persons_action_committed_while_a_bulk_action_runs_is_not_overwritten(
    tenant_a, reg_a1, settings, path, target
):
    """A person rejects one document and has not committed yet when the bulk accept reaches it; the bulk must wait
    and then decide on what the person committed. A filter on "no action yet" no longer matches the document:
    skipped. A bulk by ids re-decides it: accepted after the person's reject, the audit showing the reject as the
    state before (never a "before" the person's change had already replaced)."""
    settings.IMS_BULK_ACTION_SYNC_MAX = 5 if path == "worker" else 100
    settings.IMS_BULK_ACTION_CHUNK = 10
    alice, bob = owner(tenant_a, "alice"), owner(tenant_a, "bob")
    docs = [make_doc(reg_a1, twob_period=OCT) for _ in range(25)]
    target_doc = docs[13]  # in the second chunk of the worker
    members = {u: Membership.objects.get(tenant=tenant_a, user=u) for u in (alice, bob)}

    with tenant_scope(tenant_a):
        queued = None
        if path == "worker":
            queued = services.bulk_set_action(
                tenant=tenant_a,
                actor=Actor.user(alice),
                user=alice,
                membership=members[alice],
                action="A",
                remarks="ok",
                **({"filters": {"action": ["N"]}} if target == "filter" else {"ids": [d.pk for d in docs]}),
            )
            assert queued.status == "queued"
            assert services.advance_run(run_id=queued.run_id) is True  # first chunk: docs[:10]

    acted, release = threading.Event(), threading.Event()

    def person():
        with transaction.atomic():  # the person's request: its row lock held until it commits
            services.set_action(
                tenant=tenant_a,
                actor=Actor.user(bob),
                membership=members[bob],
                document=target_doc,
                action="R",
                remarks="wrong rate",
            )
            acted.set()
            assert release.wait(60)

    def bulk():
        if path == "worker":
            return services.advance_run(run_id=queued.run_id)
        return services.bulk_set_action(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=members[alice],
            ids=[d.pk for d in docs],
            action="A",
            remarks="ok",
        )

    p = Session(tenant_a, person)
    assert acted.wait(30)
    b = Session(tenant_a, bulk)
    blocked_backend(b)  # the bulk waits for the person's row
    release.set()
    p.outcome()
    b.outcome()
    if path == "worker":
        assert run_bulk_action_task(queued.run_id) == "done"

    with tenant_scope(tenant_a):
        target_doc.refresh_from_db()
        bulk_events = list(
            AuditEvent.objects.filter(
                tenant=tenant_a, action="ims.action_set", actor_id=alice.pk, object_id=str(target_doc.pk)
            )
        )
        person_events = list(
            AuditEvent.objects.filter(tenant=tenant_a, action="ims.action_set", actor_id=bob.pk)
        )
        others = set(
            SupplierDocument.objects.filter(tenant=tenant_a)
            .exclude(pk=target_doc.pk)
            .values_list("local_action", flat=True)
        )
    assert [e.object_id for e in person_events] == [str(target_doc.pk)]
    assert others == {"A"}
    if target == "filter":
        assert (target_doc.local_action, target_doc.local_remarks) == ("R", "wrong rate")
        assert bulk_events == []
    else:
        assert (target_doc.local_action, target_doc.local_remarks) == ("A", "ok")
        [event] = bulk_events
        assert event.changes == {"local_action": ["R", "A"], "local_remarks": ["wrong rate", "ok"]}
        assert event.seq > person_events[0].seq
    assert chain_ok(tenant_a)

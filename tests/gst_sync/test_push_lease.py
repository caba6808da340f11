"""Issue #13 §1 "Jobs stuck forever", for push batches (docs/reliability.md R5, docs/decisions/0007): a batch whose
database session is terminated after the portal took it used to stay "sending"/"polling" until its lease expired;
its failure path now writes on a fresh connection and hands it back, and the next attempt only asks the portal for
the result it already has a reference for: nothing is sent twice, every answer recorded once."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from gst_sync import push, tasks
from gst_sync.models import PushBatch
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.actions.test_bulk_atomicity import Session, blocked_backend, terminate
from tests.gst_sync.test_push import docs, queue, synced, want  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_whose_session_is_terminated_after_sending_is_handed_back_and_not_sent_twice(
    synced,  # noqa: F811
    portal,
    sandbox,
    monkeypatch,
):
    sent: list[int] = []
    monkeypatch.setattr(tasks.push_batch, "apply_async", lambda args, kwargs=None, **kw: sent.append(args[0]))
    tenant, reg = synced
    want(tenant, "B-1", "A")
    want(tenant, "B-2", "A")
    (batch,) = queue(tenant, reg)
    sent.clear()
    with (
        transaction.atomic()
    ):  # recording the portal's answers waits for the documents, then loses its session
        with connection.cursor() as cur:
            cur.execute("LOCK TABLE invoices_supplierdocument IN ACCESS EXCLUSIVE MODE")
        worker = Session(tenant, lambda: push.run_push(batch.pk, adapter=portal))
        terminate(blocked_backend(worker))
    late = worker.outcome()
    assert (late.status, late.attempts) == ("queued", 1)
    assert late.reference_id  # the portal took it
    assert sent == [batch.pk]
    saves = sandbox.stats()["by_action"].get("SAVE", 0)
    assert saves == 1

    push.run_push(batch.pk, adapter=portal)
    with scopes_disabled():
        done = PushBatch.objects.get(pk=batch.pk)
    assert (done.status, done.attempts, done.saved_count) == ("done", 2, 2)
    assert sandbox.stats()["by_action"].get("SAVE", 0) == saves  # nothing sent again
    d = docs(tenant)
    assert (d["B-1"].portal_action, d["B-1"].local_action) == ("A", None)
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(action="ims.action_pushed").count() == 2

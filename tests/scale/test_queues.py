"""Queues per kind of job, priorities and fairness between tenants, read back from the Redis broker the tasks are
sent through (ims_project/queues.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from celery import current_app
from django.utils import timezone
from kombu import Consumer, Exchange, Queue

from actions.tasks import run_bulk_action_task
from audit.services import Actor
from exports.tasks import run_export_task
from gst_sync import services as sync_services
from gst_sync.client.base import PortalSession, seal_session
from gst_sync.models import ConnectionStatus, PortalConnection
from gst_sync.tasks import daily_sync, push_batch, sync_job, sync_section
from ims_project import queues
from reconciliation.tasks import run_import_task, run_recon_task
from returns.tasks import (
    deadline_digest,
    rebuild_preview,
    rebuild_previews,
    refresh_claim_periods,
    refresh_supplier_filings,
)
from suppliers.tasks import deliver_webhook_task
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def drain(queue: str) -> list[dict]:
    """Every message waiting on ``queue``, in the order a worker would take them (highest priority first):
    [{"task", "args", "priority"}]."""
    out = []
    with current_app.connection_for_read() as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            args = json.loads(message.body)[0] if isinstance(message.body, (str, bytes)) else message.body[0]
            out.append(
                {
                    "task": message.headers["task"],
                    "args": args,
                    "priority": message.properties.get("priority"),
                }
            )
    return out


@pytest.fixture(autouse=True)
def empty_queues():
    for queue in queues.ALL:
        drain(queue)
    yield
    for queue in queues.ALL:
        drain(queue)


ROUTES = [
    (sync_section, (1,), queues.SYNC),
    (sync_job, (1,), queues.SYNC),
    (refresh_supplier_filings, (1, 2), queues.SYNC),
    (push_batch, (1,), queues.PUSH),
    (run_recon_task, (1,), queues.RECONCILE),
    (run_import_task, (1,), queues.RECONCILE),
    (rebuild_preview, (1,), queues.REBUILD),
    (rebuild_previews, (), queues.REBUILD),
    (refresh_claim_periods, (1,), queues.REBUILD),
    (run_export_task, (1,), queues.EXPORTS),
    (deliver_webhook_task, (1,), queues.NOTIFICATIONS),
    (deadline_digest, (), queues.NOTIFICATIONS),
    (daily_sync, (), queues.DEFAULT),
    (run_bulk_action_task, (1,), queues.DEFAULT),
]


@pytest.mark.parametrize(("task", "args", "queue"), ROUTES, ids=[t.name for t, _, _ in ROUTES])
def test_each_kind_of_job_goes_to_its_queue(task, args, queue):
    task.delay(*args)
    found = {q: drain(q) for q in queues.ALL}
    assert [m["task"] for m in found[queue]] == [task.name]
    assert all(not found[q] for q in queues.ALL if q != queue), found
    assert found[queue][0]["priority"] == queues.NORMAL  # no priority named: the normal step


def connected_gstins(tenant, count: int, start: int) -> list:
    regs = []
    session = PortalSession(
        gstin="x",
        username="u",
        auth_token="t",  # noqa: S106 - a sealed dummy session: queue_sync only checks one is stored
        sek=b"0" * 32,
        expires_at=timezone.now() + dt.timedelta(hours=6),
    )
    for n in range(count):
        reg = factories.make_registration(tenant, n=start + n)
        with tenant_scope(tenant):
            PortalConnection.objects.create(
                tenant=tenant,
                registration=reg,
                username="u",
                status=ConnectionStatus.CONNECTED,
                session_blob=seal_session(session),
                expires_at=session.expires_at,
            )
        regs.append(reg)
    return regs


def run_gstins(messages: list[dict]) -> list[int]:
    """The GSTIN (registration id) of each queued sync run or job (a small GSTIN's sections in one task), in the
    order a worker takes them, one per GSTIN."""
    from gst_sync.models import SyncJob, SyncRun
    from tenancy.scoping import scopes_disabled

    with scopes_disabled():
        reg_of = {
            sync_section.name: dict(SyncRun.objects.values_list("pk", "registration_id")),
            sync_job.name: dict(SyncJob.objects.values_list("pk", "registration_id")),
        }
    order: list[int] = []
    for m in messages:
        reg = reg_of[m["task"]][m["args"][0]]
        if reg not in order:
            order.append(reg)
    return order


def test_a_persons_sync_now_is_served_before_the_nightly_batch(django_capture_on_commit_callbacks):
    tenant = factories.make_tenant("Batchy", "batchy")
    nightly, mine = connected_gstins(tenant, 2, 500)
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        sync_services.queue_sync(
            tenant=tenant, actor=ACTOR, registration=nightly, sections=["b2b"], trigger="schedule"
        )
        sync_services.queue_sync(
            tenant=tenant, actor=ACTOR, registration=mine, sections=["b2b"], trigger="user"
        )
    messages = drain(queues.SYNC)
    assert [m["priority"] for m in messages] == [queues.INTERACTIVE, queues.BATCH]
    assert run_gstins(messages) == [mine.pk, nightly.pk]  # queued second, served first


def test_one_tenants_many_gstins_do_not_starve_anothers_one(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(queues, "FAIR_SHARE", 3)
    big = factories.make_tenant("Big CA", "big-ca")
    small = factories.make_tenant("Small", "small-co")
    big_regs = connected_gstins(big, 6, 600)  # queued first
    (small_reg,) = connected_gstins(small, 1, 700)
    with django_capture_on_commit_callbacks(execute=True):
        daily_sync.apply()  # the beat job, run here; its syncs go to the broker
    order = run_gstins(drain(queues.SYNC))
    # Round-robin: the small tenant's GSTIN comes second, not seventh; the big tenant's GSTINs beyond its fair
    # share wait at the tail step.
    assert order == [big_regs[0].pk, small_reg.pk, *[r.pk for r in big_regs[1:]]]


def test_a_tenants_batch_beyond_its_fair_share_yields_to_a_later_smaller_one(
    django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(queues, "FAIR_SHARE", 2)
    big = factories.make_tenant("Big CA", "big-ca")
    big_regs = connected_gstins(big, 4, 800)
    with django_capture_on_commit_callbacks(execute=True):
        daily_sync.apply()
    small = factories.make_tenant("Small", "small-co")
    (small_reg,) = connected_gstins(small, 1, 900)
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(small):
        sync_services.queue_sync(
            tenant=small,
            actor=ACTOR,
            registration=small_reg,
            trigger="schedule",
            priority=queues.batch_priority(0),
        )
    order = run_gstins(drain(queues.SYNC))
    assert order == [big_regs[0].pk, big_regs[1].pk, small_reg.pk, big_regs[2].pk, big_regs[3].pk]


def test_interleave_keeps_order_within_a_tenant():
    items = ["a1", "a2", "a3", "b1", "c1", "c2"]
    assert queues.interleave(items, key=lambda s: s[0]) == [
        ("a1", 0),
        ("b1", 0),
        ("c1", 0),
        ("a2", 1),
        ("c2", 1),
        ("a3", 2),
    ]


def test_a_worker_on_several_queues_serves_them_in_turn():
    """A worker consuming every queue (``-Q`` with queues.ALL) takes from each in turn at the same priority: a flood
    of bulk actions on ``default`` does not leave the exports behind it waiting (it did with kombu's "priority"
    queue order, which serves the queues in the order of -Q)."""
    for i in range(4):
        run_bulk_action_task.apply_async((i,), priority=queues.NORMAL)
    for i in range(4):
        run_export_task.apply_async((i,), priority=queues.NORMAL)
    served: list[str] = []
    with current_app.connection_for_read() as conn:
        consumer = Consumer(
            conn,
            queues=[Queue(q, Exchange(q), routing_key=q) for q in (queues.DEFAULT, queues.EXPORTS)],
            accept=["json"],
            callbacks=[lambda _body, message: (served.append(message.headers["task"]), message.ack())],
        )
        with consumer:
            while len(served) < 8:
                conn.drain_events(timeout=10)
    assert served[:4].count(run_export_task.name) == 2  # in turn, not all four bulk actions first
    assert sorted(served) == sorted([run_bulk_action_task.name] * 4 + [run_export_task.name] * 4)

"""A small GSTIN's sync is one task under one lease (issue #15 §1, docs/performance.md §3.11): sixteen section runs
were sixteen tasks of about fifty queries each, most of them the runs' bookkeeping. Its sections are now done by one
job — one claim, one heartbeat, one progress record, one completion event — while each section run still says how
its section went, and a section that fails keeps its data as it was and is retried alone. A large GSTIN keeps a task
per section."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from gst.sections import Section
from gst_sync import selectors, services, tasks
from gst_sync.client import PortalError
from gst_sync.models import RunStatus, SyncJob, SyncRun
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy.scoping import scopes_disabled, tenant_scope
from tests import factories
from tests.gst_sync.test_sync_service import ACTOR, connected, recipient  # noqa: F401 - fixtures
from tests.tokens import api_token

from .conftest import doc

pytestmark = pytest.mark.django_db(transaction=False)
ALL = len(Section)


class Portal:
    """The sandbox adapter, counting downloads per section; ``fail`` names sections whose download fails."""

    def __init__(self, real, fail: dict[str, PortalError] | None = None):
        self.real, self.fail, self.downloads = real, fail or {}, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get_ims_documents(self, *, gstin, section):
        self.downloads.append(section)
        if section in self.fail:
            raise self.fail[section]
        return self.real.get_ims_documents(gstin=gstin, section=section)


@pytest.fixture
def gstin(connected):  # noqa: F811
    """A GSTIN connected to the sandbox portal, never synced: (tenant, registration)."""
    return connected


@pytest.fixture
def sent(monkeypatch):
    """The tasks the services send, as (task name, id), instead of a broker."""
    out: list[tuple[str, int]] = []
    for task in (tasks.sync_section, tasks.sync_job):
        monkeypatch.setattr(
            task, "apply_async", lambda args, kwargs=None, name=task.name, **kw: out.append((name, args[0]))
        )
    return out


def deliver(sent, portal) -> None:
    """Run every task sent so far, as a worker would, with ``portal``."""
    while sent:
        name, pk = sent.pop(0)
        if name == tasks.sync_job.name:
            services.run_job(pk, adapter=portal)
        else:
            services.run_sync(pk, adapter=portal)


def daily(tenant, reg, capture) -> list[SyncRun]:
    with capture(execute=True), tenant_scope(tenant):
        return services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, trigger="schedule")


def seed(sandbox, per_section: int) -> None:
    sandbox.seed(
        b2b=[doc(f"B-{i}") for i in range(per_section)],
        b2bcn=[doc(f"C-{i}", section="b2bcn") for i in range(per_section)],
        b2ba=[doc(f"A-{i}", section="b2ba") for i in range(per_section)],
    )


def runs_of(tenant, reg) -> dict[str, SyncRun]:
    with tenant_scope(tenant):
        return {r.section: r for r in SyncRun.objects.filter(registration=reg).order_by("id")}


def test_a_small_gstins_sections_are_one_job_and_each_section_still_says_how_it_went(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks
):
    tenant, reg = gstin
    seed(sandbox, 2)
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)
    assert len(runs) == ALL
    (job_id,) = {r.job_id for r in runs}
    assert sent == [(tasks.sync_job.name, job_id)]  # one task for the GSTIN
    deliver(sent, portal)

    done = runs_of(tenant, reg)
    assert {r.status for r in done.values()} == {RunStatus.SUCCEEDED}
    assert (done["b2b"].counts["created"], done["b2b"].counts["downloaded"]) == (2, 2)
    assert (done["isd"].counts["created"], done["isd"].counts["downloaded"]) == (0, 0)
    with tenant_scope(tenant):
        job = SyncJob.objects.get(pk=job_id)
        assert (job.status, job.attempts) == (RunStatus.SUCCEEDED, 1)
        assert SupplierDocument.objects.filter(registration=reg).count() == 6
        completed = AuditEvent.objects.filter(action__in=["sync.run_completed", "sync.job_completed"])
        assert list(completed.values_list("action", "object_id")) == [("sync.job_completed", str(job_id))]
        # A section's diff is still its run's ledger events.
        diff = selectors.run_diff(tenant=tenant, run=done["b2bcn"])
        numbers = SupplierDocument.objects.filter(pk__in=[int(e.object_id) for e in diff])
        assert sorted(numbers.values_list("doc_number", flat=True)) == ["C-0", "C-1"]


def test_the_sync_run_api_names_each_runs_job_and_the_jobs_state(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks, client
):
    tenant, reg = gstin
    seed(sandbox, 1)
    owner = factories.make_user("job-owner")
    factories.make_member(tenant, owner, "owner")
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(owner, tenant).key}"}
    url = f"/api/v1/t/{tenant.slug}/sync-runs/"
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)
    job_id = runs[0].job_id
    listed = client.get(url, {"page_size": 100}, **auth).json()["results"]
    assert len(listed) == ALL
    assert {(r["job"]["id"], r["job"]["status"]) for r in listed} == {(job_id, "queued")}

    deliver(sent, portal)
    one = client.get(f"{url}{runs[0].pk}/", **auth).json()
    assert (one["status"], one["job"]["id"], one["job"]["status"], one["job"]["attempts"]) == (
        "succeeded",
        job_id,
        "succeeded",
        1,
    )

    # A run of its own (one section asked for) has no job.
    with tenant_scope(tenant):
        (alone,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    assert client.get(f"{url}{alone.pk}/", **auth).json()["job"] is None


def test_a_small_gstins_daily_sync_costs_the_same_queries_whatever_its_documents(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks
):
    """The queries of one daily sync, delivered as its worker would take it: the same for 3 documents a section as
    for 40, and far below the 800-odd of sixteen section tasks."""
    tenant, reg = gstin
    counts = []
    for per_section in (1, 40):
        seed(sandbox, per_section)
        daily(tenant, reg, django_capture_on_commit_callbacks)
        with CaptureQueriesContext(connection) as ctx:
            deliver(sent, portal)
        assert {r.status for r in runs_of(tenant, reg).values()} == {RunStatus.SUCCEEDED}
        counts.append(len(ctx.captured_queries))
        with (
            scopes_disabled()
        ):  # the next sync finds the same sections changed (new numbers, old ones vanish)
            assert SupplierDocument.objects.filter(registration=reg, vanished_at__isnull=True).count() == (
                3 * per_section
            )
    print(f"queries of one small GSTIN's daily sync (3 and 120 documents): {counts}")
    assert counts[1] <= counts[0] + 2
    assert max(counts) < 200


def test_a_failed_section_keeps_its_data_and_is_retried_alone(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks
):
    tenant, reg = gstin
    seed(sandbox, 1)
    daily(tenant, reg, django_capture_on_commit_callbacks)
    deliver(sent, portal)
    sandbox.seed(b2b=[doc("B-0"), doc("B-new")])  # every other section now empty on the portal
    daily(tenant, reg, django_capture_on_commit_callbacks)
    down = Portal(portal, fail={"b2bcn": PortalError("The portal is down for this section", code="RT-500")})
    deliver(sent, down)

    runs = runs_of(tenant, reg)
    failed = runs["b2bcn"]
    assert (failed.status, failed.error_code) == (RunStatus.FAILED, "RT-500")
    assert failed.error_message == "The portal is down for this section"
    assert runs["b2b"].status == runs["b2ba"].status == RunStatus.SUCCEEDED
    assert runs["b2ba"].counts["vanished"] == 1  # the others went on
    with tenant_scope(tenant):
        cn = SupplierDocument.objects.get(registration=reg, section="b2bcn")
    assert cn.vanished_at is None  # the failed section's data as it was
    with tenant_scope(tenant):
        states = selectors.sync_states(tenant=tenant, registrations=[reg])
    assert states[reg.pk].errors == ["b2bcn: The portal is down for this section"]

    # Retried alone: one run, its own task, the other sections not redone.
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        (retry,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2bcn"])
    assert retry.job_id is None
    assert sent == [(tasks.sync_section.name, retry.pk)]
    again = Portal(portal)
    deliver(sent, again)
    assert again.downloads == ["b2bcn"]
    with tenant_scope(tenant):
        retry.refresh_from_db()
        cn.refresh_from_db()
    assert (retry.status, retry.counts["vanished"]) == (RunStatus.SUCCEEDED, 1)
    assert cn.vanished_at is not None


def test_a_second_delivery_of_a_running_job_and_of_its_sections_is_a_no_op(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks
):
    tenant, reg = gstin
    seed(sandbox, 1)
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)
    job_id = runs[0].job_id
    with connection.cursor() as cur:  # another worker holds it under a live lease
        cur.execute(
            "UPDATE gst_sync_syncjob SET status='running', heartbeat_at=now(), attempts=1 WHERE id=%s",
            [job_id],
        )
    twin = Portal(portal)
    assert services.run_job(job_id, adapter=twin) is None
    assert (
        services.run_sync(runs[3].pk, adapter=twin) is None
    )  # a section's own delivery: the job's lease decides
    assert twin.downloads == []
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 0


def test_a_job_whose_worker_died_resumes_after_the_sections_it_finished(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks
):
    tenant, reg = gstin
    seed(sandbox, 2)
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)
    job_id = runs[0].job_id
    # The first worker finished b2b, then was killed: the job is running under a lease long expired.
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE gst_sync_syncjob SET status='running', attempts=1, heartbeat_at=now() - interval '2 hours' "
            "WHERE id=%s",
            [job_id],
        )
    first = Portal(portal)
    with tenant_scope(tenant):
        b2b = SyncRun.objects.get(job_id=job_id, section="b2b")
        ingest_documents(
            tenant=tenant,
            registration=reg,
            records={"b2b": portal.get_ims_documents(gstin=reg.gstin, section="b2b")},
            actor=ACTOR,
            source="portal",
            complete_sections=["b2b"],
            request_id=b2b.request_id,
        )
        SyncRun.objects.filter(pk=b2b.pk).update(status=RunStatus.SUCCEEDED, counts={"downloaded": 2})
    sent.clear()  # the first delivery
    assert services.requeue_stale_runs() == 1
    assert sent == [(tasks.sync_job.name, job_id)]  # the job's sweep, not its sections'
    deliver(sent, first)
    services.run_job(job_id, adapter=first)  # delivered again: a no-op

    assert sorted(first.downloads) == sorted(s.value for s in Section if s.value != "b2b")
    with tenant_scope(tenant):
        job = SyncJob.objects.get(pk=job_id)
        assert (job.status, job.attempts) == (RunStatus.SUCCEEDED, 2)
        assert SupplierDocument.objects.filter(registration=reg).count() == 6
        assert AuditEvent.objects.filter(action="document.created").count() == 6
        assert AuditEvent.objects.filter(action="sync.job_completed").count() == 1


def test_a_large_gstin_keeps_a_task_per_section(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks, settings
):
    settings.IMS_SYNC_SMALL_DOCUMENTS = 3
    tenant, reg = gstin
    seed(sandbox, 2)  # 6 documents: more than 3
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)
    # Never synced, so taken for small; the job finds more than 3 after two sections and hands the rest on.
    first = Portal(portal)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(sent[:1], first)
    handed = [pk for name, pk in sent[1:] if name == tasks.sync_section.name]
    assert len(first.downloads) == 2
    assert len(handed) == ALL - 2
    with tenant_scope(tenant):
        assert set(SyncRun.objects.filter(pk__in=handed).values_list("job_id", flat=True)) == {None}
    sent.clear()
    for pk in handed:
        services.run_sync(pk, adapter=portal)
    assert {r.status for r in runs_of(tenant, reg).values()} == {RunStatus.SUCCEEDED}
    assert len(runs) == ALL

    # Its next daily sync knows: a task per section.
    daily(tenant, reg, django_capture_on_commit_callbacks)
    assert [name for name, _ in sent] == [tasks.sync_section.name] * ALL
    with tenant_scope(tenant):
        assert not SyncRun.objects.filter(status=RunStatus.QUEUED).exclude(job=None).exists()


def test_the_portal_page_shows_the_jobs_step_and_its_sections_not_waiting_for_a_worker(
    gstin, sent, django_capture_on_commit_callbacks
):
    tenant, reg = gstin
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE gst_sync_syncjob SET status='running', heartbeat_at=now(), progress=%s WHERE id=%s",
            ['{"text": "Asking the portal for Credit note (3 of 16 sections)"}', runs[0].job_id],
        )
    with tenant_scope(tenant):
        state = selectors.sync_states(tenant=tenant, registrations=[reg])[reg.pk]
    assert state.steps == ["Asking the portal for Credit note (3 of 16 sections)"]
    assert (state.waiting, state.done, state.total) == (0, 0, ALL)


def test_a_job_that_breaks_fails_with_its_sections_not_done_and_says_so_safely(
    gstin, portal, sandbox, sent, django_capture_on_commit_callbacks, monkeypatch
):
    tenant, reg = gstin
    seed(sandbox, 1)
    runs = daily(tenant, reg, django_capture_on_commit_callbacks)

    def broken(**kwargs):
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(services, "ingest_documents", broken)
    deliver(sent, portal)
    with tenant_scope(tenant):
        job = SyncJob.objects.get(pk=runs[0].job_id)
        assert (job.status, job.attempts) == (RunStatus.FAILED, 1)
        assert SupplierDocument.objects.filter(registration=reg).count() == 0
    done = runs_of(tenant, reg)
    assert {r.status for r in done.values()} == {RunStatus.FAILED}  # b2b broke; none of the others was saved
    assert done["isd"].error_message == (
        f"The job failed because of an internal error (RuntimeError); it is logged as sync job {job.pk}."
    )

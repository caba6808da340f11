"""Portal connection and sync services: the only writers of PortalConnection and SyncRun.

Network calls never run inside a database transaction: a run downloads first, then ingests in one transaction
(``invoices.services.ingest``), so a failed download or a failed ingest leaves the documents as they were and
the run can simply be retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, record
from gst.periods import fy_label, fy_start_year
from gst.sections import GoodsType, Section, section_info
from ims_project import handoff, leases, queues
from ims_project.handoff import SyncFinished
from invoices.models import SupplierDocument
from invoices.services.ingest import IngestResult, ingest_documents
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import tasks
from .client import PortalAdapter, PortalError, Reauth, ReturnFiling
from .client.base import open_session, seal_session
from .client.factory import owns_adapter
from .models import (
    ACTIVE_STATUSES,
    SAVING,
    ConnectionStatus,
    OutwardDocument,
    PortalConnection,
    RunStatus,
    SyncJob,
    SyncRun,
)
from .outward import refresh_in_transaction, refresh_outward

log = logging.getLogger(__name__)
ALL_SECTIONS: tuple[str, ...] = tuple(s.value for s in Section)


class SyncError(ValueError):
    """A request the sync rules refuse; the message is safe to show."""


def connection_for(*, tenant: Tenant, registration: Registration) -> PortalConnection:
    conn, _ = PortalConnection.objects.get_or_create(tenant=tenant, registration=registration)
    return conn


def _save_session(conn: PortalConnection, session) -> None:
    conn.session_blob = seal_session(session, key=settings.IMS_SESSION_KEY)
    conn.expires_at = session.expires_at
    conn.status = ConnectionStatus.CONNECTED
    conn.last_error = ""
    conn.save(update_fields=["session_blob", "expires_at", "status", "last_error", "updated_at"])


@owns_adapter
def request_otp(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    username: str,
    adapter: PortalAdapter | None = None,
) -> PortalConnection:
    """Ask the portal to send an OTP to the taxpayer for ``username`` (API access must be enabled on the portal)."""
    username = (username or "").strip()
    if not username:
        raise SyncError("Enter the GST portal username of this GSTIN.")
    if not (username.isascii() and username.isprintable()) or " " in username or len(username) > 100:
        # It travels in the portal's HTTP headers (ASCII only): an accented letter was a 500.
        raise SyncError(
            "The portal username is letters, digits and symbols, without spaces or accented letters."
        )
    portal = adapter  # given, or built from settings by @owns_adapter
    try:
        portal.request_otp(gstin=registration.gstin, username=username)
    except PortalError as exc:
        raise SyncError(f"The portal refused the OTP request: {exc.message}") from exc
    with transaction.atomic():
        conn = connection_for(tenant=tenant, registration=registration)
        conn.username = username
        conn.status = ConnectionStatus.OTP_SENT
        conn.last_error = ""
        conn.save()
        record(
            tenant=tenant,
            actor=actor,
            action="portal.otp_requested",
            obj=registration,
            metadata={"username": username},
        )
    return conn


@owns_adapter
def connect(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    otp: str,
    adapter: PortalAdapter | None = None,
) -> PortalConnection:
    """Exchange the OTP for a session and keep it sealed at rest."""
    conn = connection_for(tenant=tenant, registration=registration)
    if not conn.username:
        raise SyncError("Request an OTP first.")
    otp = (otp or "").strip()
    if not (len(otp) == 6 and otp.isascii() and otp.isdigit()):
        raise SyncError("The OTP is the 6-digit number the portal sent.")
    portal = adapter  # given, or built from settings by @owns_adapter
    try:
        session = portal.authenticate(gstin=registration.gstin, username=conn.username, otp=otp)
    except PortalError as exc:
        raise SyncError(f"The portal refused the OTP: {exc.message}") from exc
    with transaction.atomic():
        _save_session(conn, session)
        record(
            tenant=tenant,
            actor=actor,
            action="portal.connected",
            obj=registration,
            metadata={"expires_at": session.expires_at.isoformat()},
        )
    return conn


def queue_sync(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    sections: Iterable[str] | None = None,
    trigger: str = "user",
    priority: int | None = None,
) -> list[SyncRun]:
    """Queue one run per section; a section that already has an active run is left alone (never twice).
    Returns the runs created. Tasks are enqueued when the transaction commits, on the ``sync`` queue at
    ``priority`` (default: by ``trigger``, a person's "Sync now" first; ims_project/queues.py): one task for all
    the runs of a small GSTIN (:func:`is_small`; a :class:`SyncJob`), else one per run."""
    wanted = [s for s in (sections or ALL_SECTIONS)]
    unknown = [s for s in wanted if s not in ALL_SECTIONS]
    if unknown:
        raise SyncError(f"Unknown IMS section(s): {', '.join(unknown)}")
    if not registration.active:
        raise SyncError(f"{registration.gstin} is deactivated: reactivate it to sync it.")
    conn = PortalConnection.objects.filter(tenant=tenant, registration=registration).first()
    if conn is None or conn.status != ConnectionStatus.CONNECTED or not conn.session_blob:
        raise SyncError(f"{registration.gstin} is not connected to the portal: enter an OTP first.")
    created: list[SyncRun] = []
    grouped = len(wanted) > 1 and is_small(tenant=tenant, registration=registration)
    with transaction.atomic():
        for section in wanted:
            try:
                with transaction.atomic():
                    created.append(
                        SyncRun.objects.create(
                            tenant=tenant,
                            registration=registration,
                            section=section,
                            trigger=trigger,
                            requested_by=actor.id,
                        )
                    )
            except IntegrityError:
                continue  # an active run exists for this section
        job = None
        if (
            grouped and len(created) > 1
        ):  # one task, one lease for the GSTIN's sections (docs/performance.md §3.11)
            job = SyncJob.objects.create(tenant=tenant, registration=registration, trigger=trigger)
            SyncRun.objects.filter(pk__in=[r.pk for r in created]).update(job=job)
            for r in created:
                r.job = job
        if created:
            record(
                tenant=tenant,
                actor=actor,
                action="sync.queued",
                obj=registration,
                metadata={
                    "runs": [r.pk for r in created],
                    "sections": [r.section for r in created],
                    "trigger": trigger,
                    **({"job": job.pk} if job else {}),
                },
            )

            ids = [r.pk for r in created]
            pri = queues.priority_for(trigger) if priority is None else priority
            if job is not None:
                job_id = job.pk
                transaction.on_commit(lambda: tasks.sync_job.apply_async((job_id,), priority=pri))
            else:
                transaction.on_commit(
                    lambda: [tasks.sync_section.apply_async((i,), priority=pri) for i in ids]
                )
    return created


def is_small(*, tenant: Tenant, registration: Registration) -> bool:
    """Whether the GSTIN is small enough for one task to sync all its sections: its sections' last good runs
    downloaded at most ``IMS_SYNC_SMALL_DOCUMENTS`` documents together (a section never synced counts as 0; a job
    that finds more hands its remaining sections to tasks of their own)."""
    limit = settings.IMS_SYNC_SMALL_DOCUMENTS
    if limit <= 0:
        return False
    last = (
        SyncRun.objects.filter(tenant=tenant, registration=registration, status=RunStatus.SUCCEEDED)
        .order_by("section", "-created_at", "-id")
        .distinct("section")
        .values_list("counts", flat=True)
    )
    return sum(int((c or {}).get("downloaded") or 0) for c in last) <= int(limit)


_RUNNING = (RunStatus.RUNNING,)  # the lease's running state (ims_project.leases)
RETRY_AFTER = 10  # seconds before a released run is delivered again


def _claim(run_id: int) -> int | None:
    """The lease of :mod:`ims_project.leases`: this attempt's number, None when not claimed."""
    return leases.claim_attempt(
        SyncRun, run_id, running=_RUNNING, new_status_sql="'running'", set_started=True
    )


def _progress_reporter(run_id: int, attempt: int) -> Callable[..., None]:
    """``step(text, done=None, total=None)``: the run's heartbeat with what it is doing now, for the portal page.
    Raises ``leases.LeaseLost`` when another worker took the run over."""

    def step(text: str, done: int | None = None, total: int | None = None) -> None:
        progress = {"text": text, "done": done, "total": total}
        leases.renew(SyncRun, run_id, attempt, running=_RUNNING, progress=progress)

    return step


def _finish(run: SyncRun, *, status: str, counts=None, code: str = "", message: str = "") -> None:
    """End ``run``, only while this attempt still holds its lease (``run.attempts``): in one transaction (or a
    savepoint of the caller's, whose other writes then go with it) that renews the lease first, so an attempt
    that lost its lease raises :class:`~ims_project.leases.LeaseLost` and writes nothing."""
    with transaction.atomic():
        leases.renew(SyncRun, run.pk, run.attempts, running=_RUNNING)
        run.status = status
        run.counts = counts or run.counts
        run.error_code = code
        run.error_message = message
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "counts", "error_code", "error_message", "finished_at"])


@owns_adapter
def run_sync(run_id: int, *, adapter: PortalAdapter | None = None) -> SyncRun | None:
    """Do one queued run: download the section, then ingest it in one transaction. Safe to deliver twice: a
    run that is not claimable (done, or running under a live lease) is left alone and None is returned.

    A heartbeat thread keeps the lease while the portal is asked (a long download or file wait never lets the
    sweep hand the run to a second worker); the ingest, the run's end and its completion event are written in
    transactions that renew the lease first, so an attempt that lost its lease stops and writes nothing more
    (docs/decisions/0007-shared-lease-helper.md). When the run's own database session dies, the failure path
    writes on a fresh connection and hands the run back as queued (delivered again, up to
    ``leases.MAX_ATTEMPTS`` times)."""
    with scopes_disabled():
        run = SyncRun.objects.select_related("registration", "tenant").filter(pk=run_id).first()
    if run is None:
        return None
    if run.job_id is not None:  # a section of a small GSTIN's job: done by the job, under the job's lease
        if run_job(run.job_id, adapter=adapter) is None:
            return None
        with tenant_scope(run.tenant):
            run.refresh_from_db()
        return run
    attempt = _claim(run_id)
    if attempt is None:
        return None
    with tenant_scope(run.tenant):
        run.refresh_from_db()
        done = _leased(
            SyncRun,
            run_id,
            attempt,
            lambda beat: _sync(run, cast("PortalAdapter", adapter), beat),  # @owns_adapter builds it
            adapter=adapter,
            task=tasks.sync_section,
            what=f"sync run {run_id}",
            on_failure=lambda message: {"error_code": "ERROR", "error_message": message},
        )
        if done is not None:
            return cast("SyncRun", done)
        leases.fresh_connection()
        run.refresh_from_db()
    return run


def _leased(
    model: Any,
    pk: int,
    attempt: int,
    body: Callable[[leases.Heartbeat], Any],
    *,
    adapter: Any,
    task: Any,
    what: str,
    on_failure: Callable[[str], dict[str, Any] | None],
) -> Any:
    """``body(beat)`` under the lease of attempt ``attempt`` of row ``pk`` (a sync run or job), kept by a heartbeat
    thread; it ends released or failed, never stuck: a lost lease stops it, a lost connection hands the row back
    as queued (``task`` delivers it again), any other error fails it with the fields ``on_failure(message)`` gives
    (written only while the row is still this attempt's; None writes nothing more). None unless the body
    returned."""
    try:
        with leases.heartbeat(model, pk, attempt, running=_RUNNING) as beat:
            try:
                return body(beat)
            finally:
                if adapter is not None:
                    adapter.progress = None
    except leases.LeaseLost:
        log.warning("%s: attempt %s lost its lease; stopped without writing", what, attempt)
    except Exception as exc:  # noqa: BLE001 - a job must end released or failed, never stuck
        log.exception("%s: attempt %s failed", what, attempt)
        fields = {} if leases.retryable(exc, attempt) else on_failure(leases.failure_message(exc, what)) or {}
        leases.end_failed(
            model,
            pk,
            attempt,
            exc,
            running=_RUNNING,
            task=task,
            countdown=RETRY_AFTER,
            status=RunStatus.FAILED,
            **fields,
        )
    return None


def _ingest_section(
    run: SyncRun, records: list[dict[str, Any]], actor: Actor, beat: leases.Heartbeat, text: str
) -> IngestResult:
    """All the documents of ``run``'s section as the portal sent them, under the run's request id (its diff); the
    save's progress is shown as ``text`` through the heartbeat. In the caller's transaction."""
    return ingest_documents(
        tenant=run.tenant,
        registration=run.registration,
        records={run.section: records},
        actor=actor,
        source="portal",
        complete_sections=[run.section],
        request_id=run.request_id,
        progress=lambda saved, total: beat.report(progress={"text": text, "done": saved, "total": total}),
    )


def _expired(conn: PortalConnection, exc: PortalError) -> None:
    """The portal refused the session: the GSTIN needs a new OTP."""
    conn.status = ConnectionStatus.EXPIRED
    conn.last_error = exc.message
    conn.save(update_fields=["status", "last_error", "updated_at"])


def _keep_session(portal: PortalAdapter, conn: PortalConnection) -> None:
    """Store the session again when the adapter refreshed its token."""
    session = portal.session(conn.registration.gstin)
    if session is not None and session.expires_at != conn.expires_at:
        _save_session(conn, session)


def _sync(run: SyncRun, portal: PortalAdapter, beat: leases.Heartbeat) -> SyncRun:
    """The body of :func:`run_sync`, under the lease ``beat`` keeps."""
    tenant, registration = run.tenant, run.registration
    actor = Actor.task("gst_sync.sync_section")
    if not registration.active:  # deactivated after the run was queued: nothing is fetched
        _finish(
            run,
            status=RunStatus.FAILED,
            code="INACTIVE",
            message=f"{registration.gstin} was deactivated before this sync ran.",
        )
        return run
    conn = PortalConnection.objects.get(tenant=tenant, registration=registration)
    step = _progress_reporter(run.pk, run.attempts)
    try:
        step(f"Asking the portal for {section_info(run.section).label}")
        portal.progress = step  # a large answer comes as files: the adapter says which part it is on
        portal.load_session(open_session(conn.session_blob, key=settings.IMS_SESSION_KEY))
        records = portal.get_ims_documents(gstin=registration.gstin, section=run.section)
        portal.progress = None
    except leases.LeaseLost:
        raise
    except Reauth as exc:
        beat.check()
        with transaction.atomic():
            _expired(conn, exc)
            _finish(
                run,
                status=RunStatus.FAILED,
                code=exc.code or "REAUTH",
                message=f"The portal session has expired: enter a new OTP. ({exc.message})",
            )
        return run
    except PortalError as exc:
        beat.check()
        if exc.http_status == 429 and run.attempts < TOO_MANY_ATTEMPTS:
            _later(run)  # the portal is busy: the run waits its turn again instead of failing
            return run
        _finish(run, status=RunStatus.FAILED, code=exc.code or "PORTAL", message=exc.message)
        return run
    except Exception as exc:  # noqa: BLE001 - a failed run must say why, and the data stays as it was
        log.exception("sync run %s failed", run.pk)
        _finish(run, status=RunStatus.FAILED, code="ERROR", message=str(exc)[:1000])
        return run
    beat.check()  # the download outlived the lease and another worker has the run: stop here
    step(SAVING, 0, len(records))
    with transaction.atomic():
        result = _ingest_section(run, records, actor, beat, SAVING)
        if result.errors:
            transaction.set_rollback(True)
        else:
            # The run is ours until commit: renewed last, so that the heartbeat thread could write the progress
            # on the run's row while the documents were being saved (a lease lost meanwhile rolls them back).
            leases.renew(SyncRun, run.pk, run.attempts, running=_RUNNING)
    if result.errors:
        _finish(
            run,
            status=RunStatus.FAILED,
            code="BADDATA",
            counts={"errors": len(result.errors)},
            message="The portal sent records we could not read; nothing was written:\n"
            + "\n".join(result.errors[:20]),
        )
        return run
    counts_extra: dict = {}
    beat.check()
    step("Reading buyers' actions on your own invoices")
    try:  # the seller's side: recipients' actions on this GSTIN's own outward documents
        outward = (
            portal.get_outward_actions(gstin=registration.gstin, section=run.section)
            if section_info(run.section).goods_typ == GoodsType.ALL_OTHER  # no seller's view of BoE / ISD
            else []
        )
    except PortalError as exc:
        counts_extra["outward_error"] = exc.message
    else:
        beat.check()
        res = refresh_in_transaction(
            tenant=tenant, registration=registration, section=run.section, records=outward, actor=actor
        )
        counts_extra.update(outward_received=res.received, outward_action_changed=res.action_changed)
    with transaction.atomic():
        _keep_session(portal, conn)
        counts = {**result.counts(), "downloaded": len(records), **counts_extra}
        _finish(run, status=RunStatus.SUCCEEDED, counts=counts)
        record(
            tenant=tenant,
            actor=actor,
            action="sync.run_completed",
            obj=run,
            request_id=run.request_id,
            metadata={"section": run.section, "gstin": registration.gstin, **counts},
        )
    changed = any(counts.get(k) for k in ("created", "changed", "vanished", "reappeared"))
    filings = _return_filings(portal, run) if _last_of_sync(run) else None
    handoff.announce(
        SyncFinished(
            tenant=tenant, registration=registration, run=run, changed=changed, return_filings=filings
        )
    )
    return run


TOO_MANY_ATTEMPTS = 5  # deliveries of a run the portal keeps answering "too many requests" before it fails
TOO_MANY_DELAY = 60  # seconds before the first new delivery; doubled each time


def _later(run: SyncRun) -> None:
    """Hand a run the portal refused with "too many requests" (after the client's own retries) back to the queue,
    delivered again after a growing delay at batch priority; it keeps its attempts, so it fails after
    :data:`TOO_MANY_ATTEMPTS`."""
    delay = TOO_MANY_DELAY * 2 ** max(run.attempts - 1, 0)
    with transaction.atomic():
        leases.renew(SyncRun, run.pk, run.attempts, running=_RUNNING)  # only while this attempt holds the run
        run.status = RunStatus.QUEUED
        run.error_code, run.error_message = (
            "HTTP429",
            "The portal is busy (too many requests): the run will retry.",
        )
        run.save(update_fields=["status", "error_code", "error_message"])
        transaction.on_commit(
            lambda: tasks.sync_section.apply_async((run.pk,), countdown=delay, priority=queues.BATCH)
        )


def _last_of_sync(run: SyncRun) -> bool:
    """No other run of the GSTIN is queued or running: this run ends the sync (runs record their end before
    asking, so of two runs ending together at least one sees the other ended)."""
    return (
        not SyncRun.objects.filter(
            tenant_id=run.tenant_id, registration_id=run.registration_id, status__in=ACTIVE_STATUSES
        )
        .exclude(pk=run.pk)
        .exists()
    )


def _return_filings(portal: PortalAdapter | None, run: SyncRun) -> list[ReturnFiling] | None:
    """The GSTIN's filed GSTR-3Bs of this and the previous financial year from the portal's return tracking
    (docs/rules/portal-api.md §7); None when the call fails (noted on the run: the sync itself succeeded)."""
    gstin, today = run.registration.gstin, timezone.localdate()
    start = fy_start_year(today)
    filings: list[ReturnFiling] = []
    if portal is None:
        return None
    try:
        for year in (start - 1, start):
            filings += portal.get_return_filings(gstin=gstin, fy=fy_label(year), return_type="R3B")
    except PortalError as exc:
        run.counts = {**run.counts, "return_filings_error": exc.message}
        run.save(update_fields=["counts"])
        return None
    return [f for f in filings if f.return_type == "GSTR3B"]


def queue_daily_syncs() -> int:
    """Queue every section of every GSTIN with a live session (the daily beat job), round-robin over tenants at
    batch priority (ims_project/queues.py: one tenant's thousands of GSTINs do not starve another's one). Returns
    runs queued."""
    now = timezone.now()
    queued = 0
    with scopes_disabled():
        conns = list(
            PortalConnection.objects.select_related("tenant", "registration")
            .filter(status=ConnectionStatus.CONNECTED, expires_at__gt=now, registration__active=True)
            .order_by("tenant_id", "registration_id")
        )
    for conn, position in queues.interleave(conns, key=lambda c: c.tenant_id):
        with tenant_scope(conn.tenant):
            queued += len(
                queue_sync(
                    tenant=conn.tenant,
                    actor=Actor.task("gst_sync.daily_sync"),
                    registration=conn.registration,
                    trigger="schedule",
                    priority=queues.batch_priority(position),
                )
            )
    return queued


def requeue_stale_runs() -> int:
    """Runs and jobs whose worker died (heartbeat past the lease) are delivered again; the claim re-checks the
    lease. A job's section runs are its own: the job's sweep covers them."""

    runs = leases.sweep(SyncRun, tasks.sync_section, running=_RUNNING, where=Q(job__isnull=True))
    return runs + leases.sweep(SyncJob, tasks.sync_job, running=_RUNNING)  # also those handed back


# --- a small GSTIN's sections in one job --------------------------------------------------------------------------
# A daily sync of a GSTIN of a hundred documents was 16 tasks of about 50 queries each, most of them bookkeeping: each
# section's claim, progress steps and renewals, savepoints, completion event and flows (docs/performance.md §3.11).
# A job does the sections one after the other under one lease: per section only the portal's calls, its ingest (none
# when the section is empty on both sides) and its run's end; the claim, the heartbeat, the completion event and the
# flows once for the GSTIN.


@owns_adapter
def run_job(job_id: int, *, adapter: PortalAdapter | None = None) -> SyncJob | None:
    """Do a queued job: each of its section runs still queued (a new attempt resumes after the sections an earlier
    one finished), each downloaded then saved in a transaction of its own that ends its run. Safe to deliver twice,
    and failures end as :func:`run_sync`'s do (docs/decisions/0007-shared-lease-helper.md): a lost lease writes
    nothing more, a lost connection hands the job back as queued, any other error fails the sections not done."""
    with scopes_disabled():
        job = SyncJob.objects.select_related("registration", "tenant").filter(pk=job_id).first()
    if job is None:
        return None
    attempt = leases.claim_attempt(
        SyncJob, job_id, running=_RUNNING, new_status_sql="'running'", set_started=True
    )
    if attempt is None:
        return None
    job.attempts, job.status = attempt, RunStatus.RUNNING

    def sections_failed(message: str) -> None:
        """The job fails with the sections it had not done (while the job is still this attempt's)."""
        leases.fresh_connection()
        SyncRun.objects.filter(
            job_id=job_id, job__attempts=attempt, job__status__in=_RUNNING, status=RunStatus.QUEUED
        ).update(
            status=RunStatus.FAILED, error_code="ERROR", error_message=message, finished_at=timezone.now()
        )

    with tenant_scope(job.tenant):
        _leased(
            SyncJob,
            job_id,
            attempt,
            lambda beat: _sync_job(job, cast("PortalAdapter", adapter), beat),  # @owns_adapter builds it
            adapter=adapter,
            task=tasks.sync_job,
            what=f"sync job {job_id}",
            on_failure=sections_failed,
        )
        leases.fresh_connection()
        job.refresh_from_db()
    return job


def _end_runs(
    job: SyncJob,
    runs: list[SyncRun],
    *,
    status: str,
    code: str = "",
    message: str = "",
    counts: dict[str, Any] | None = None,
) -> None:
    """End ``runs`` of ``job`` alike, only while this attempt holds the job (renewed first in the transaction)."""
    with transaction.atomic():
        leases.renew(SyncJob, job.pk, job.attempts, running=_RUNNING)
        SyncRun.objects.filter(pk__in=[r.pk for r in runs]).update(
            status=status,
            error_code=code,
            error_message=message,
            finished_at=timezone.now(),
            **({"counts": counts} if counts is not None else {}),
        )
    for r in runs:
        r.status, r.error_code, r.error_message = status, code, message


def _sync_job(job: SyncJob, portal: PortalAdapter, beat: leases.Heartbeat) -> None:
    """The body of :func:`run_job`, under the lease ``beat`` keeps."""
    tenant, registration = job.tenant, job.registration
    actor = Actor.task("gst_sync.sync_job")
    runs = list(SyncRun.objects.filter(job=job, status=RunStatus.QUEUED).order_by("id"))
    if not registration.active:  # deactivated after the sync was queued: nothing is fetched
        _end_runs(
            job,
            runs,
            status=RunStatus.FAILED,
            code="INACTIVE",
            message=f"{registration.gstin} was deactivated before this sync ran.",
        )
        _end_job(job, actor, runs, [], [])
        return
    conn = PortalConnection.objects.get(tenant=tenant, registration=registration)
    # The sections with something stored: an empty section that has nothing stored has nothing to save.
    stored = set(
        SupplierDocument.objects.filter(tenant=tenant, registration=registration, vanished_at__isnull=True)
        .values_list("section", flat=True)
        .distinct()
    )
    stored_outward = set(
        OutwardDocument.objects.filter(tenant=tenant, registration=registration, vanished_at__isnull=True)
        .values_list("section", flat=True)
        .distinct()
    )
    portal.load_session(open_session(conn.session_blob, key=settings.IMS_SESSION_KEY))
    limit, downloaded = settings.IMS_SYNC_SMALL_DOCUMENTS, 0
    succeeded: list[SyncRun] = []
    quiet: list[SyncRun] = []  # sections with nothing to write: their runs end with the next write
    changed = False
    for i, run in enumerate(runs):
        if downloaded > limit:  # larger than its last sync said: the rest go on as tasks of their own
            _hand_off(job, runs[i:])
            break
        beat.check()
        where = f"{section_info(run.section).label} ({i + 1} of {len(runs)} sections)"
        beat.report(progress={"text": f"Asking the portal for {where}"})

        def step(text: str, done: int | None = None, total: int | None = None, where: str = where) -> None:
            beat.check()
            beat.report(progress={"text": f"{where}: {text}", "done": done, "total": total})

        portal.progress = step  # a large answer comes as files: the adapter says which part it is on
        try:
            records = portal.get_ims_documents(gstin=registration.gstin, section=run.section)
        except leases.LeaseLost:
            raise
        except Reauth as exc:
            beat.check()
            with transaction.atomic():
                _expired(conn, exc)
                _end_runs(  # every section not done: the session is the GSTIN's
                    job,
                    runs[i:],
                    status=RunStatus.FAILED,
                    code=exc.code or "REAUTH",
                    message=f"The portal session has expired: enter a new OTP. ({exc.message})",
                )
            break
        except PortalError as exc:
            beat.check()
            if exc.http_status == 429 and job.attempts < TOO_MANY_ATTEMPTS:
                _job_later(job, quiet)  # the portal is busy: the sections not done wait their turn again
                return
            _end_runs(job, [run], status=RunStatus.FAILED, code=exc.code or "PORTAL", message=exc.message)
            continue
        except Exception as exc:  # noqa: BLE001 - a failed section must say why, and its data stays as it was
            log.exception("sync job %s: section %s failed", job.pk, run.section)
            _end_runs(job, [run], status=RunStatus.FAILED, code="ERROR", message=str(exc)[:1000])
            continue
        finally:
            portal.progress = None
        downloaded += len(records)
        counts_extra: dict[str, Any] = {}
        outward: list[dict[str, Any]] | None = None
        if section_info(run.section).goods_typ == GoodsType.ALL_OTHER:  # no seller's view of BoE / ISD
            try:
                outward = portal.get_outward_actions(gstin=registration.gstin, section=run.section)
            except PortalError as exc:
                counts_extra["outward_error"] = exc.message
        beat.check()  # the download outlived the lease and another worker has the job: stop here
        if not (records or outward or run.section in stored or run.section in stored_outward):
            if outward is not None:
                counts_extra.update(outward_received=0, outward_action_changed=0)
            run.counts = {**IngestResult().counts(), "downloaded": 0, **counts_extra}
            quiet.append(run)
            succeeded.append(run)
            continue
        result = _save_section(
            job, run, records, outward, counts_extra, stored, stored_outward, actor, beat, quiet
        )
        if result.errors:
            _end_runs(
                job,
                [run],
                status=RunStatus.FAILED,
                code="BADDATA",
                counts={"errors": len(result.errors)},
                message="The portal sent records we could not read; nothing was written:\n"
                + "\n".join(result.errors[:20]),
            )
            continue
        succeeded.append(run)
        changed = changed or any(run.counts.get(k) for k in ("created", "changed", "vanished", "reappeared"))
    with transaction.atomic():
        _keep_session(portal, conn)
        _end_job(job, actor, runs, succeeded, quiet)
    if not succeeded:
        return
    last = succeeded[-1]
    filings = _return_filings(portal, last) if _last_of_sync(last) else None
    handoff.announce(
        SyncFinished(
            tenant=tenant,
            registration=registration,
            run=last,
            changed=changed,
            return_filings=filings,
            runs=succeeded,
        )
    )


def _end_quiet(quiet: list[SyncRun]) -> None:
    """End the runs of sections that had nothing to write (one UPDATE per distinct counts: two at most), in the
    caller's transaction, which holds the job."""
    groups: dict[str, list[SyncRun]] = {}
    for run in quiet:
        groups.setdefault(json.dumps(run.counts, sort_keys=True), []).append(run)
    now = timezone.now()
    for runs in groups.values():
        SyncRun.objects.filter(pk__in=[r.pk for r in runs]).update(
            status=RunStatus.SUCCEEDED,
            counts=runs[0].counts,
            error_code="",
            error_message="",
            finished_at=now,
        )
        for r in runs:
            r.status, r.finished_at = RunStatus.SUCCEEDED, now
    quiet.clear()


def _save_section(
    job: SyncJob,
    run: SyncRun,
    records: list[dict[str, Any]],
    outward: list[dict[str, Any]] | None,
    counts_extra: dict[str, Any],
    stored: Any,
    stored_outward: Any,
    actor: Actor,
    beat: leases.Heartbeat,
    quiet: list[SyncRun],
) -> IngestResult:
    """One section's documents and the recipients' actions on the GSTIN's own, and its run's end (with the quiet
    sections' before it), in one transaction; the job is renewed last (the heartbeat thread writes the save's
    progress on the job's row meanwhile), so a lease lost during the save rolls it back. Nothing is written when a
    record is bad."""
    tenant, registration = job.tenant, job.registration
    with transaction.atomic():
        if records or run.section in stored:
            result = _ingest_section(run, records, actor, beat, f"{run.section}: {SAVING}")
            if result.errors:
                transaction.set_rollback(True)
                return result
        else:
            result = IngestResult()
        if outward is not None and (outward or run.section in stored_outward):
            res = refresh_outward(
                tenant=tenant, registration=registration, section=run.section, records=outward, actor=actor
            )
            counts_extra.update(outward_received=res.received, outward_action_changed=res.action_changed)
        elif outward is not None:
            counts_extra.update(outward_received=0, outward_action_changed=0)
        leases.renew(SyncJob, job.pk, job.attempts, running=_RUNNING)
        _end_quiet(quiet)
        run.counts = {**result.counts(), "downloaded": len(records), **counts_extra}
        run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
        SyncRun.objects.filter(pk=run.pk).update(
            status=run.status, counts=run.counts, error_code="", error_message="", finished_at=run.finished_at
        )
    return result


def _end_job(
    job: SyncJob, actor: Actor, runs: list[SyncRun], succeeded: list[SyncRun], quiet: list[SyncRun]
) -> None:
    """The job's end and its one completion event (each section's counts or error in it), while this attempt holds
    the job."""
    with transaction.atomic():
        leases.renew(SyncJob, job.pk, job.attempts, running=_RUNNING)
        _end_quiet(quiet)
        job.status, job.finished_at, job.progress = RunStatus.SUCCEEDED, timezone.now(), {}
        job.save(update_fields=["status", "finished_at", "progress"])
        totals: dict[str, int] = {}
        for run in succeeded:
            for key in ("downloaded", "created", "changed", "vanished", "reappeared"):
                totals[key] = totals.get(key, 0) + int(run.counts.get(key) or 0)
        record(
            tenant=job.tenant,
            actor=actor,
            action="sync.job_completed",
            obj=job,
            request_id=job.request_id,
            metadata={
                "gstin": job.registration.gstin,
                "runs": {r.section: r.pk for r in runs},
                "succeeded": [r.section for r in succeeded],
                "failed": {r.section: r.error_code for r in runs if r.status == RunStatus.FAILED},
                "handed_off": [r.section for r in runs if r.status == RunStatus.QUEUED],
                **totals,
            },
        )


def _hand_off(job: SyncJob, runs: list[SyncRun]) -> None:
    """The job's sections not done go on as tasks of their own (the GSTIN turned out larger than its last sync)."""
    with transaction.atomic():
        leases.renew(SyncJob, job.pk, job.attempts, running=_RUNNING)
        ids = [r.pk for r in runs]
        SyncRun.objects.filter(pk__in=ids, status=RunStatus.QUEUED).update(job=None)
        pri = queues.priority_for(job.trigger)
        transaction.on_commit(lambda: [tasks.sync_section.apply_async((i,), priority=pri) for i in ids])


def _job_later(job: SyncJob, quiet: list[SyncRun]) -> None:
    """As :func:`_later`, for a job: its sections not done wait for a new delivery after a growing delay."""
    delay = TOO_MANY_DELAY * 2 ** max(job.attempts - 1, 0)
    with transaction.atomic():
        leases.renew(SyncJob, job.pk, job.attempts, running=_RUNNING)
        _end_quiet(quiet)
        job.status = RunStatus.QUEUED
        job.progress = {"text": "The portal is busy (too many requests): the sync will retry."}
        job.save(update_fields=["status", "progress"])
        transaction.on_commit(
            lambda: tasks.sync_job.apply_async((job.pk,), countdown=delay, priority=queues.BATCH)
        )

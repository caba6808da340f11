"""Portal connection and sync services: the only writers of PortalConnection and SyncRun.

Network calls never run inside a database transaction: a run downloads first, then ingests in one transaction
(``invoices.services.ingest``), so a failed download or a failed ingest leaves the documents as they were and
the run can simply be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, record
from gst.periods import fy_label, fy_start_year
from gst.sections import GoodsType, Section, section_info
from ims_project import handoff, leases, queues
from ims_project.handoff import SyncFinished
from invoices.services.ingest import ingest_documents
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import tasks
from .client import PortalAdapter, PortalError, Reauth, ReturnFiling
from .client.base import open_session, seal_session
from .client.factory import owns_adapter
from .models import ACTIVE_STATUSES, SAVING, ConnectionStatus, PortalConnection, RunStatus, SyncRun
from .outward import refresh_in_transaction

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
    ``priority`` (default: by ``trigger``, a person's "Sync now" first; ims_project/queues.py)."""
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
                },
            )

            ids = [r.pk for r in created]
            pri = queues.priority_for(trigger) if priority is None else priority
            transaction.on_commit(lambda: [tasks.sync_section.apply_async((i,), priority=pri) for i in ids])
    return created


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
    attempt = _claim(run_id)
    if attempt is None:
        return None
    with tenant_scope(run.tenant):
        run.refresh_from_db()
        try:
            with leases.heartbeat(SyncRun, run_id, attempt, running=_RUNNING) as beat:
                try:
                    return _sync(run, cast("PortalAdapter", adapter), beat)  # @owns_adapter builds it
                finally:
                    if adapter is not None:
                        adapter.progress = None
        except leases.LeaseLost:
            log.warning("sync run %s: attempt %s lost its lease; stopped without writing", run_id, attempt)
        except Exception as exc:  # noqa: BLE001 - a run must end released or failed, never stuck
            log.exception("sync run %s: attempt %s failed", run_id, attempt)
            if leases.retryable(exc, attempt):
                if leases.release(SyncRun, run_id, attempt, running=_RUNNING):
                    leases.deliver_later(tasks.sync_section, run_id, countdown=RETRY_AFTER)
            else:
                leases.fail(
                    SyncRun,
                    run_id,
                    attempt,
                    running=_RUNNING,
                    status=RunStatus.FAILED,
                    error_code="ERROR",
                    error_message=leases.failure_message(exc, f"sync run {run_id}"),
                    finished_at=timezone.now(),
                )
        leases.fresh_connection()
        run.refresh_from_db()
    return run


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
            conn.status = ConnectionStatus.EXPIRED
            conn.last_error = exc.message
            conn.save(update_fields=["status", "last_error", "updated_at"])
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
        result = ingest_documents(
            tenant=tenant,
            registration=registration,
            records={run.section: records},
            actor=actor,
            source="portal",
            complete_sections=[run.section],
            request_id=run.request_id,
            progress=lambda saved, total: beat.report(
                progress={"text": SAVING, "done": saved, "total": total}
            ),
        )
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
        session = portal.session(registration.gstin)
        if session is not None and session.expires_at != conn.expires_at:
            _save_session(conn, session)  # the adapter refreshed the token
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
    """Runs whose worker died (heartbeat past the lease) are delivered again; the claim re-checks the lease."""

    return leases.sweep(SyncRun, tasks.sync_section, running=_RUNNING)  # also those handed back

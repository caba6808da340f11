"""Export a registered list to Excel: directly for small lists, through a worker job with progress otherwise."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse
from django.utils import timezone
from django.utils.text import slugify

from audit.chain import normalise_json
from audit.services import Actor, record
from ims_project import leases
from ims_project.xlsx import write_xlsx
from tenancy.models import Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import registry, tasks
from .models import ExportJob, ExportStatus
from .registry import ExportError

log = logging.getLogger(__name__)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROGRESS_EVERY = 5000  # rows between progress updates of a running job
_RUNNING = (ExportStatus.RUNNING,)  # the lease's running state (ims_project.leases)
RETRY_AFTER = 10  # seconds before a released job is delivered again


def download_name(title: str, when: dt.datetime | None = None) -> str:
    when = timezone.localtime(when or timezone.now())
    return f"{slugify(title) or 'export'}-{when:%d-%m-%Y-%H%M}.xlsx"


def sheet_title(title: str) -> str:
    """The data sheet's name: the title without its parenthesis (the filters, stated on the About sheet), cut at a
    word to Excel's 31 characters."""
    name = title.split(" (", 1)[0].strip() or "Export"
    if len(name) > 31:
        name = name[:31].rsplit(" ", 1)[0]
    return name


def about_rows(
    *,
    tenant: Tenant,
    user: Any,
    kind: str,
    title: str,
    params: dict[str, Any],
    when: dt.datetime | None = None,
) -> Callable[[int], list[tuple[str, Any]]]:
    """``about(rows)`` for :func:`write_xlsx`: what was exported (the view and its filters in words), for whom,
    when (IST) and by whom."""
    local = timezone.localtime(when or timezone.now())
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    who = user.get_username() + (f" ({name})" if name else "")
    filters = registry.describe(kind, params)

    def about(rows: int) -> list[tuple[str, Any]]:
        return [
            ("What", title),
            *filters,
            ("Organisation", tenant.name),
            ("Exported by", who),
            ("Exported on (IST)", dt.datetime.combine(local.date(), local.time().replace(microsecond=0))),
            ("Rows", rows),
            ("Amounts", "In rupees, with Indian digit grouping (12,34,567.00)"),
        ]

    return about


def start_export(
    *, tenant: Tenant, user, kind: str, params: dict[str, Any], actor: Actor | None = None
) -> ExportJob:
    """Queue an export of ``kind`` with ``params`` for ``user``; a worker runs it after the commit.

    Raises ``ExportError`` for an unknown kind. Records ``export.requested`` in the ledger.
    """
    registry.get(kind)
    params = normalise_json(params or {})
    with transaction.atomic():
        job = ExportJob.objects.create(tenant=tenant, user_id=user.pk, kind=kind, params=params)
        record(
            tenant=tenant,
            actor=actor or Actor.user(user),
            action="export.requested",
            obj=job,
            metadata={"kind": kind, "params": params},
        )

        tasks.run_export_task.delay_on_commit(job.pk)
    return job


def _claim(job_id: int) -> int | None:
    """The lease of :mod:`ims_project.leases`: queued (or running past the lease: its worker died) -> running.
    This attempt's number, None when another delivery holds it or it is finished."""
    attempt = leases.claim_attempt(
        ExportJob, job_id, running=_RUNNING, new_status_sql="'running'", set_started=True
    )
    if attempt is not None:
        ExportJob.objects.filter(pk=job_id).update(rows_done=0, error="")
    return attempt


def _safe_message(exc: BaseException, job_id: int) -> str:
    if isinstance(exc, ExportError):
        return str(exc)
    if isinstance(exc, PermissionDenied):
        return "You no longer have access to this data, so the export was stopped."
    if isinstance(exc, get_user_model().DoesNotExist):
        return "The user who asked for this export no longer exists."
    return f"The export failed because of an internal error ({type(exc).__name__}); it is logged as job {job_id}."


def _with_progress(rows, job_id: int, attempt: int):
    """The rows, renewing the lease with the progress every :data:`PROGRESS_EVERY` rows (raises
    :class:`~ims_project.leases.LeaseLost` when another attempt has taken the job over)."""
    for done, row in enumerate(rows, start=1):
        yield row
        if done % PROGRESS_EVERY == 0:
            leases.renew(ExportJob, job_id, attempt, running=_RUNNING, rows_done=done)


def run_export(job_id: int) -> ExportJob | None:
    """Write job ``job_id``'s file (worker side). Idempotent: a second delivery of a running or finished job
    does nothing. Marks the job done (file name, row count) or failed (a message safe to show).

    Claimed with the lease of :mod:`ims_project.leases` (docs/decisions/0007-shared-lease-helper.md): a heartbeat
    thread keeps it while the query and the file take their time; each attempt writes its own part file, and
    only the attempt still holding the lease renames it and marks the job done. When the job's database session
    dies, the failure path writes on a fresh connection: the job is handed back as queued and delivered again
    (up to ``leases.MAX_ATTEMPTS`` times); any other error fails it with a message safe to show."""
    with scopes_disabled():
        tenant_id = ExportJob.objects.filter(pk=job_id).values_list("tenant_id", flat=True).first()
    if tenant_id is None:
        log.warning("export job %s does not exist", job_id)
        return None
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        attempt = _claim(job_id)
        if attempt is None:
            log.info("export job %s already taken or finished; nothing to do", job_id)
            return ExportJob.objects.get(pk=job_id)
        job = ExportJob.objects.get(pk=job_id)
        folder = Path(settings.EXPORT_DIR) / str(tenant.pk)
        final = folder / f"{job.pk}-{slugify(job.kind)}.xlsx"
        part = final.with_suffix(f".{attempt}.part")  # a taken-over attempt never writes into its successor's
        try:
            with leases.heartbeat(ExportJob, job.pk, attempt, running=_RUNNING) as beat:
                user = get_user_model().objects.get(pk=job.user_id)
                title, headers, rows, total = registry.get(job.kind)(
                    tenant=tenant, user=user, params=job.params
                )
                leases.renew(
                    ExportJob, job.pk, attempt, running=_RUNNING, title=title[:200], rows_total=total
                )
                folder.mkdir(parents=True, exist_ok=True)
                written = write_xlsx(
                    part,
                    sheet_name=sheet_title(title),
                    headers=headers,
                    rows=_with_progress(rows, job.pk, attempt),
                    about=about_rows(
                        tenant=tenant,
                        user=user,
                        kind=job.kind,
                        title=title,
                        params=job.params,
                        when=job.created_at,
                    ),
                )
                beat.check()
            with transaction.atomic():
                leases.renew(
                    ExportJob, job.pk, attempt, running=_RUNNING
                )  # holds the job row: ours to finish
                os.replace(part, final)
                ExportJob.objects.filter(pk=job.pk).update(
                    status=ExportStatus.DONE,
                    rows_done=written,
                    rows_total=written,
                    file_name=str(final.relative_to(settings.EXPORT_DIR)),
                    size_bytes=final.stat().st_size,
                    finished_at=timezone.now(),
                )
                record(
                    tenant=tenant,
                    actor=Actor.task("exports.run_export"),
                    action="export.completed",
                    obj=job,
                    metadata={"kind": job.kind, "rows": written, "user_id": job.user_id},
                )
        except leases.LeaseLost:
            log.warning("export job %s: attempt %s lost its lease; stopped", job.pk, attempt)
            part.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - any failure must end as a failed job with a clear message
            log.exception("export job %s failed", job.pk)
            part.unlink(missing_ok=True)
            leases.end_failed(
                ExportJob,
                job.pk,
                attempt,
                exc,
                running=_RUNNING,
                task=tasks.run_export_task,
                countdown=RETRY_AFTER,
                status=ExportStatus.FAILED,
                error=_safe_message(exc, job.pk),
            )
        leases.fresh_connection()
        return ExportJob.objects.get(pk=job.pk)


def requeue_stale_jobs() -> int:
    """The beat sweep: deliver again the export jobs whose worker died (running past the lease) or whose delivery
    was lost (queued that long, or released and not taken); the claim re-checks the lease."""
    return leases.sweep(ExportJob, tasks.run_export_task, running=_RUNNING)


def export_response(
    *, tenant: Tenant, user, kind: str, params: dict[str, Any], actor: Actor | None = None
) -> FileResponse | None:
    """The file as a download when the list has at most ``settings.EXPORT_SYNC_MAX_ROWS`` rows; None when it
    is bigger (or its size is unknown): then queue it with :func:`start_export`. Records ``export.downloaded``."""
    params = normalise_json(params or {})
    title, headers, rows, total = registry.get(kind)(tenant=tenant, user=user, params=params)
    if total is None or total > settings.EXPORT_SYNC_MAX_ROWS:
        return None
    tmp = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - FileResponse closes (and so deletes) it
    try:
        written = write_xlsx(
            tmp,
            sheet_name=sheet_title(title),
            headers=headers,
            rows=rows,
            about=about_rows(tenant=tenant, user=user, kind=kind, title=title, params=params),
        )
        size = tmp.tell()
        tmp.seek(0)
        now = timezone.now()
        with transaction.atomic():
            # listed under "My exports" like a queued one (no file kept: the list can be exported again)
            ExportJob.objects.create(
                tenant=tenant,
                user_id=user.pk,
                kind=kind,
                params=params,
                title=title[:200],
                status=ExportStatus.DONE,
                rows_total=written,
                rows_done=written,
                size_bytes=size,
                direct=True,
                started_at=now,
                finished_at=now,
            )
            record(
                tenant=tenant,
                actor=actor or Actor.user(user),
                action="export.downloaded",
                metadata={"kind": kind, "params": params, "rows": written},
            )
    except BaseException:
        tmp.close()
        raise
    return FileResponse(tmp, as_attachment=True, filename=download_name(title), content_type=XLSX_TYPE)


def job_file(job: ExportJob) -> Path | None:
    """The finished file of ``job`` if it is still on disk."""
    if job.status != ExportStatus.DONE or not job.file_name:
        return None
    path = Path(settings.EXPORT_DIR) / job.file_name
    return path if path.is_file() else None

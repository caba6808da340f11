from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from tenancy.roles import Capability, can

from . import selectors, services
from .models import ExportStatus
from .registry import ExportError


def export_or_start(request, *, kind: str, params: dict):
    """What a list's "Export to Excel" button does: a direct download for small lists, otherwise a queued job
    and a redirect to its progress page. Call it from the list's export view with the validated filters."""
    membership = request.membership
    if membership is None or not can(membership.role, Capability.EXPORT):
        return HttpResponseForbidden(render_to_string("exports/forbidden.html", request=request))
    try:
        response = services.export_response(
            tenant=request.tenant, user=request.user, kind=kind, params=params
        )
        if response is not None:
            return response
        job = services.start_export(tenant=request.tenant, user=request.user, kind=kind, params=params)
    except ExportError as exc:
        return render(request, "exports/error.html", {"message": str(exc)}, status=400)
    return redirect("export-job", request.tenant.slug, job.pk)


@require_GET
def job_list(request, tenant_slug):
    jobs = selectors.jobs_for_user(tenant=request.tenant, user=request.user)[:50]
    return render(request, "exports/list.html", {"jobs": jobs})


def _outdated(request, job) -> bool:
    """The user's access narrowed since the export was asked for: its file may hold data they can no longer see."""
    return selectors.access_narrowed_since(
        tenant=request.tenant, user=request.user, membership=request.membership, since=job.created_at
    )


def _outdated_message(request) -> str:
    return (
        f"Your access in {request.tenant.name} changed since this export was made, so its file can no longer be "
        "downloaded: export the list again to get what you can see now."
    )


@require_GET
def job_detail(request, tenant_slug, pk: int):
    job = selectors.job_for_user(tenant=request.tenant, user=request.user, job_id=pk)
    if job is None:
        raise Http404("No such export")
    template = "exports/_progress.html" if request.htmx else "exports/job.html"
    outdated = job.status == ExportStatus.DONE and _outdated(request, job)
    return render(request, template, {"job": job, "outdated": _outdated_message(request) if outdated else ""})


@require_GET
def job_download(request, tenant_slug, pk: int):
    job = selectors.job_for_user(tenant=request.tenant, user=request.user, job_id=pk)
    path = services.job_file(job) if job is not None else None
    if path is None:
        raise Http404("No such export file")
    if _outdated(request, job):  # grants are checked again at download, not only when the export ran
        return render(request, "exports/error.html", {"message": _outdated_message(request)}, status=403)
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=services.download_name(job.title or job.kind, job.finished_at),
        content_type=services.XLSX_TYPE,
    )

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from tenancy.roles import Capability, can

from . import selectors, services
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


@require_GET
def job_detail(request, tenant_slug, pk: int):
    job = selectors.job_for_user(tenant=request.tenant, user=request.user, job_id=pk)
    if job is None:
        raise Http404("No such export")
    template = "exports/_progress.html" if request.htmx else "exports/job.html"
    return render(request, template, {"job": job})


@require_GET
def job_download(request, tenant_slug, pk: int):
    job = selectors.job_for_user(tenant=request.tenant, user=request.user, job_id=pk)
    path = services.job_file(job) if job is not None else None
    if path is None:
        raise Http404("No such export file")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=services.download_name(job.title or job.kind, job.finished_at),
        content_type=services.XLSX_TYPE,
    )

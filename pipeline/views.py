"""Client batches page: start a "sync all → reconcile all → recommended actions" batch and follow each GSTIN."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.services import Actor
from ims_project.jobs import JobStatus
from tenancy.roles import Capability
from tenancy.selectors import visible_registrations
from tenancy.views import require_capability

from . import batches
from .models import ClientBatch, ClientBatchItem, Stage


def batch_list(request, tenant_slug):
    recent = list(ClientBatch.objects.filter(tenant=request.tenant)[:20])
    rows = [(b, batches.progress(b)) for b in recent]
    return render(request, "pipeline/batches.html", {"rows": rows})


@require_POST
@require_capability(Capability.SYNC)
def batch_start(request, tenant_slug):
    try:
        batch = batches.start_batch(
            tenant=request.tenant,
            actor=Actor.user(request.user),
            user=request.user,
            membership=request.membership,
        )
    except batches.BatchError as exc:
        messages.error(request, str(exc))
        return redirect("client-batches", tenant_slug)
    messages.success(request, f"Batch #{batch.pk} started: every connected GSTIN is being synced.")
    return redirect("client-batch", tenant_slug, batch.pk)


def batch_detail(request, tenant_slug, batch_id):
    batch = get_object_or_404(ClientBatch.objects.filter(tenant=request.tenant), pk=batch_id)
    visible = visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    items = (
        ClientBatchItem.objects.filter(batch=batch, registration__in=visible)
        .select_related("registration")
        .order_by("registration__gstin")
    )
    stage = request.GET.get("stage", "")
    if stage in Stage.values:
        items = items.filter(stage=stage)
    page = Paginator(items, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "pipeline/batch_detail.html",
        {
            "batch": batch,
            "summary": batches.progress(batch),
            "page": page,
            "stages": Stage.choices,
            "stage": stage,
            "running": batch.status == JobStatus.RUNNING,
        },
    )

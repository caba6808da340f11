from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from ims_project.params import as_id

from . import selectors, services


@require_GET
def notification_list(request, tenant_slug):
    items = list(selectors.notifications_for(tenant=request.tenant, user=request.user)[:100])
    return render(request, "notifications/list.html", {"notifications": items})


@require_POST
def notification_read(request, tenant_slug):
    ids = [i for v in request.POST.getlist("id") if (i := as_id(v)) is not None] or None
    services.mark_read(tenant=request.tenant, user=request.user, ids=ids)
    return redirect("notifications", tenant_slug)

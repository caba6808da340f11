from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services


@require_GET
def notification_list(request, tenant_slug):
    items = list(selectors.notifications_for(tenant=request.tenant, user=request.user)[:100])
    return render(request, "notifications/list.html", {"notifications": items})


@require_POST
def notification_read(request, tenant_slug):
    ids = [int(i) for i in request.POST.getlist("id") if str(i).isdigit()] or None
    services.mark_read(tenant=request.tenant, user=request.user, ids=ids)
    return redirect("notifications", tenant_slug)

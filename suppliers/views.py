"""Pages of the supplier directory (list, edit, import from Excel), of the e-mails sent to suppliers and of the
tenant's webhooks."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.services import Actor
from invoices.models import Supplier
from tenancy.roles import Capability, can
from tenancy.views import require_capability

from . import selectors, services
from .forms import ImportForm, SupplierForm, WebhookForm
from .sheet import SheetError

PER_PAGE = 100


@require_capability(Capability.VIEW)
def supplier_list(request, tenant_slug):
    query = request.GET.get("q", "")[:100]
    qs = selectors.supplier_directory(
        tenant=request.tenant, user=request.user, membership=request.membership, query=query
    )
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    role = request.membership.role
    return render(
        request,
        "suppliers/list.html",
        {
            "page": page,
            "query": query,
            "can_edit": can(role, Capability.ACT),
            "can_manage": can(role, Capability.MANAGE_REGISTRATIONS),
        },
    )


@require_capability(Capability.ACT)
def supplier_edit(request, tenant_slug, pk):
    try:
        supplier = selectors.supplier_detail(
            tenant=request.tenant, user=request.user, membership=request.membership, pk=pk
        )
    except Supplier.DoesNotExist:
        raise Http404("No such supplier") from None
    initial = {
        "legal_name": supplier.legal_name,
        "trade_name": supplier.trade_name,
        "emails": ", ".join(supplier.emails),
    }
    form = SupplierForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_supplier(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                supplier=supplier,
                **form.cleaned_data,
            )
        except services.SupplierError as err:
            form.add_error(err.field if err.field in form.fields else None, err.message)
        else:
            messages.success(request, f"Saved {supplier.gstin}.")
            return redirect("supplier-list", tenant_slug)
    return render(
        request,
        "suppliers/edit.html",
        {"supplier": supplier, "form": form},
        status=400 if form.errors else 200,
    )


@require_capability(Capability.MANAGE_REGISTRATIONS)
def supplier_import(request, tenant_slug):
    """Upload an Excel file; the result lists every bad row with its reason (good rows are kept)."""
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = services.import_suppliers(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                data=upload.read(),
                filename=upload.name,
            )
        except SheetError as err:
            form.add_error("file", str(err))
    return render(
        request, "suppliers/import.html", {"form": form, "result": result}, status=400 if form.errors else 200
    )


@require_POST
@require_capability(Capability.MANAGE_REGISTRATIONS)
def supplier_fill(request, tenant_slug):
    added = services.fill_from_documents(tenant=request.tenant, actor=Actor.from_request(request))
    messages.success(request, f"Added {added} supplier{'s' if added != 1 else ''} from the documents.")
    return redirect("supplier-list", tenant_slug)


@require_capability(Capability.MANAGE_REGISTRATIONS)
def notification_list(request, tenant_slug):
    page = Paginator(selectors.notifications(tenant=request.tenant), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "suppliers/notifications.html", {"page": page})


@require_capability(Capability.MANAGE_REGISTRATIONS)
def webhooks(request, tenant_slug):
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = services.create_webhook(
                tenant=request.tenant, actor=Actor.from_request(request), **form.cleaned_data
            )
        except services.SupplierError as err:
            form.add_error(err.field if err.field in form.fields else None, err.message)
        else:
            messages.success(request, f"Added the webhook {made.endpoint.url}.")
            return _show_secret_once(request, tenant_slug, made)
    return render(
        request,
        "suppliers/webhooks.html",
        {
            "form": form,
            "endpoints": selectors.webhook_endpoints(tenant=request.tenant),
            "allow_private": services.allow_private_network(),
        },
        status=400 if form.errors else 200,
    )


def _endpoint(request, pk):
    return get_object_or_404(selectors.webhook_endpoints(tenant=request.tenant), pk=pk)


def _secret_key(pk: int) -> str:
    return f"webhook-secret-{pk}"


def _show_secret_once(request, tenant_slug, made: services.NewSecret):
    """Keep the new secret in the (server-side) session for the next page only, which shows it and drops it."""
    request.session[_secret_key(made.endpoint.pk)] = made.secret
    return redirect("webhook-detail", tenant_slug, made.endpoint.pk)


@require_capability(Capability.MANAGE_REGISTRATIONS)
def webhook_detail(request, tenant_slug, pk):
    endpoint = _endpoint(request, pk)
    deliveries = selectors.webhook_deliveries(tenant=request.tenant, endpoint=endpoint)[:200]
    new_secret = request.session.pop(_secret_key(endpoint.pk), None)
    response = render(
        request,
        "suppliers/webhook_detail.html",
        {
            "endpoint": endpoint,
            "deliveries": deliveries,
            "new_secret": new_secret,
        },
    )
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@require_capability(Capability.MANAGE_REGISTRATIONS)
def webhook_rotate(request, tenant_slug, pk):
    made = services.rotate_webhook_secret(
        tenant=request.tenant, actor=Actor.from_request(request), endpoint=_endpoint(request, pk)
    )
    messages.success(request, "A new signing secret is in force from now on.")
    return _show_secret_once(request, tenant_slug, made)


@require_POST
@require_capability(Capability.MANAGE_REGISTRATIONS)
def webhook_delete(request, tenant_slug, pk):
    endpoint = _endpoint(request, pk)
    services.delete_webhook(tenant=request.tenant, actor=Actor.from_request(request), endpoint=endpoint)
    messages.success(request, f"Removed the webhook {endpoint.url}.")
    return redirect("webhooks", tenant_slug)

"""Pages of inward supplier documents: the tenant dashboard, the document list, a document, its export."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from audit.selectors import events_for_object
from exports.services import export_response, start_export
from gst.sections import ACTION_CHOICES, ACTION_LABELS, SECTION_CHOICES, Action
from tenancy.roles import Capability, can

from . import facets, panels, selectors
from .exports import KIND as EXPORT_KIND
from .exports import document_export_params
from .filters import DocumentFilter, PeriodField
from .models import SupplierDocument
from .pagination import ListOptionsForm, capped_count, paginate


class DashboardForm(forms.Form):
    period = PeriodField(required=False)


def tenant_home(request, tenant_slug):
    form = DashboardForm(request.GET)
    period = form.cleaned_data["period"] if form.is_valid() else None
    board = selectors.dashboard(
        tenant=request.tenant, user=request.user, membership=request.membership, period=period
    )
    periods = selectors.document_periods(
        tenant=request.tenant, user=request.user, membership=request.membership
    )
    chart = {
        "labels": [p.strftime("%m-%Y") for p in board.trend_periods],
        "series": [
            {"action": a.value, "label": ACTION_LABELS[a], "data": [str(v) for v in board.trend[a.value]]}
            for a in selectors.ACTION_ORDER
        ],
    }
    return render(
        request,
        "invoices/dashboard.html",
        {
            "board": board,
            "form": form,
            "periods": periods,
            "tax_heads": [(h, selectors.TAX_HEAD_LABELS[h], board.itc[h]) for h in selectors.TAX_HEADS],
            "actions": [(a.value, ACTION_LABELS[a]) for a in selectors.ACTION_ORDER],
            "chart": chart,
        },
        status=200 if form.is_valid() else 400,
    )


MAIN_FILTERS = ("registration", "period", "number", "supplier", "date_from", "date_to")
MORE_FILTERS = (
    "pending_push",
    "filing_status",
    "needs_review",
    "vanished",
    "value_min",
    "value_max",
    "taxable_min",
    "taxable_max",
)


def _filtered(request):
    base = selectors.documents_for(tenant=request.tenant, user=request.user, membership=request.membership)
    return DocumentFilter(request.GET, queryset=base, request=request)


def _selected_outcomes(values: list[str]) -> list[str]:
    """The outcome checkboxes to tick: a group name (matched, …) ticks its outcomes."""
    facet = facets.get("reconciliation")
    try:
        return facet.expand(values) if facet else values
    except ValueError:
        return values


def document_list(request, tenant_slug):
    filterset = _filtered(request)
    options = ListOptionsForm(request.GET)
    valid = filterset.is_valid() & options.is_valid()
    form = filterset.form
    more = ("section", "action", "reconciliation", *MORE_FILTERS)
    context = {
        "filterset": filterset,
        "options": options,
        "page": None,
        "list_url": reverse("document-list", args=[tenant_slug]),  # + "<id>/" is a document's page
        "main_fields": [form[name] for name in MAIN_FILTERS],
        "more_fields": [form[name] for name in MORE_FILTERS],
        "more_open": any(form[name].value() not in (None, "", []) or form[name].errors for name in more),
        # Checkboxes are written out in the template: a widget template per option costs ~1 ms each.
        "section_choices": SECTION_CHOICES,
        "action_choices": ACTION_CHOICES,
        "selected_sections": request.GET.getlist("section"),
        "selected_actions": request.GET.getlist("action"),
        # The outcomes as checkboxes; the group names (matched, …) are accepted in the query string too.
        "recon_choices": list(facet.options) if (facet := facets.get("reconciliation")) else [],
        "selected_recon": _selected_outcomes(request.GET.getlist("reconciliation")),
    }
    if valid:
        opts = options.cleaned_data
        page = paginate(
            filterset.qs.select_related("registration"),
            sort=opts["sort"],
            per_page=opts["per_page"],
            position=opts["position"],
        )
        names = selectors.supplier_names(tenant=request.tenant, gstins=(d.supplier_gstin for d in page.rows))
        for doc in page.rows:
            doc.supplier_name = names.get(doc.supplier_gstin, "")
        context.update(
            page=page,
            date_sort_next="date" if page.sort == "-date" else "-date",
            value_sort_next="value" if page.sort == "-value" else "-value",
            active=filterset.active_filters(),
            multi_gstin=not filterset.form.cleaned_data.get("registration")
            and len(filterset.filters["registration"].queryset) > 1,
        )
    return render(request, "invoices/document_list.html", context, status=200 if valid else 400)


def document_count(request, tenant_slug):
    """htmx fragment: how many documents match the filters (exact up to a cap), loaded after the page."""
    filterset = _filtered(request)
    if not filterset.is_valid():
        return render(request, "invoices/_count.html", {"invalid": True})
    n, more = capped_count(filterset.qs)
    return render(request, "invoices/_count.html", {"n": n, "more": more})


def document_detail(request, tenant_slug, pk):
    try:
        doc = selectors.document_detail(
            tenant=request.tenant, user=request.user, membership=request.membership, pk=pk
        )
    except SupplierDocument.DoesNotExist:
        raise Http404("No such document") from None
    names = selectors.supplier_names(tenant=request.tenant, gstins=[doc.supplier_gstin])
    return render(
        request,
        "invoices/document_detail.html",
        {
            "doc": doc,
            "supplier_name": names.get(doc.supplier_gstin, ""),
            "versions": list(selectors.document_versions(document=doc)),
            "events": _audit_events(request.tenant, doc),
            **panels.context_for(tenant=request.tenant, document=doc),
            "action_labels": {a.value: ACTION_LABELS[a] for a in Action},
        },
    )


def _audit_events(tenant, doc, limit=200):
    return list(
        events_for_object(tenant=tenant, object_type="invoices.supplierdocument", object_id=doc.pk)[:limit]
    )


def document_export(request, tenant_slug):
    """Export every document matching the filters: a direct download when small, a background job otherwise."""
    if not can(request.membership.role, Capability.EXPORT):
        raise PermissionDenied
    filterset = _filtered(request)
    if not filterset.is_valid():
        messages.error(request, "Fix the filters before exporting.")
        return redirect(f"{reverse('document-list', args=[tenant_slug])}?{request.GET.urlencode()}")
    params = document_export_params(request.GET)
    response = export_response(tenant=request.tenant, user=request.user, kind=EXPORT_KIND, params=params)
    if response is not None:
        return response
    job = start_export(tenant=request.tenant, user=request.user, kind=EXPORT_KIND, params=params)
    return redirect("export-job", tenant_slug, job.pk)

"""Pages of inward supplier documents: the tenant dashboard, the document list, a document, its export."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.selectors import events_for_object
from audit.services import Actor
from exports.services import export_response, start_export
from gst.sections import ACTION_CHOICES, ACTION_LABELS, SECTION_CHOICES, Action
from tenancy.roles import Capability, can

from . import facets, panels, selectors, today
from .exports import KIND as EXPORT_KIND
from .exports import document_export_params
from .filters import DocumentFilter, PeriodField
from .models import SupplierDocument
from .pagination import ListOptionsForm, capped_count, cursor_at, neighbours, paginate, rows_before
from .saved_views import SavedView
from .services.saved_views import NOT_SAVED, SavedViewError, delete_view, save_view


class DashboardForm(forms.Form):
    period = PeriodField(required=False)


def tenant_home(request, tenant_slug):
    form = DashboardForm(request.GET)
    period = form.cleaned_data["period"] if form.is_valid() else None
    board = selectors.dashboard(
        tenant=request.tenant, user=request.user, membership=request.membership, period=period
    )
    labels = [p.strftime("%m-%Y") for p in board.trend_periods]
    chart = {
        "labels": labels,
        "series": [
            {"action": a.value, "label": ACTION_LABELS[a], "data": [str(v) for v in board.trend[a.value]]}
            for a in selectors.ACTION_ORDER
        ],
    }
    risk_chart = {
        "labels": labels,
        "series": [
            {"key": key, "label": label, "data": [str(v) for v in board.risk_trend[key]]}
            for key, label in (
                ("available", "Available (accepted + no action)"),
                ("at_risk", "At risk (pending)"),
            )
        ],
    }
    items = today.items_for(
        tenant=request.tenant,
        user=request.user,
        membership=request.membership,
        registrations=[rc.registration for rc in board.registrations],
        today=timezone.localdate(),
    )
    return render(
        request,
        "invoices/dashboard.html",
        {
            "board": board,
            "form": form,
            "periods": board.periods,
            "tax_heads": [(h, selectors.TAX_HEAD_LABELS[h], board.itc[h]) for h in selectors.TAX_HEADS],
            "actions": [(a.value, ACTION_LABELS[a]) for a in selectors.ACTION_ORDER],
            "chart": chart,
            "risk_chart": risk_chart,
            "today_items": [(rc, items.get(rc.registration.pk, [])) for rc in board.registrations],
            "tenant_items": items.get(None, []),
            "list_url": reverse("document-list", args=[tenant_slug]),
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
    detail_query = request.GET.copy()
    detail_query.pop("cursor", None)
    context = {
        "filterset": filterset,
        "options": options,
        "page": None,
        # A document opened from the list carries the list's filters and sort: its page has previous / next.
        "row_suffix": f"?{detail_query.urlencode()}" if detail_query else "",
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
        "saved_query": detail_query.urlencode(),
        "selected_recon": _selected_outcomes(request.GET.getlist("reconciliation")),
    }
    if valid:
        opts = options.cleaned_data
        page = paginate(
            filterset.qs.select_related("registration"),
            sort=opts["sort"],
            per_page=opts["per_page"],
            position=opts["position"],
            index=opts["index"],
        )
        names = selectors.supplier_names(tenant=request.tenant, gstins=(d.supplier_gstin for d in page.rows))
        for doc in page.rows:
            doc.supplier_name = names.get(doc.supplier_gstin, "")
        context.update(
            page=page,
            date_sort_next="date" if page.sort == "-date" else "-date",
            value_sort_next="value" if page.sort == "-value" else "-value",
            active=filterset.active_filters(),
            # The select's own queryset: the GSTINs are read once for both (filters.RegistrationField).
            multi_gstin=not filterset.form.cleaned_data.get("registration")
            and len(filterset.form.fields["registration"].queryset) > 1,
        )
    return render(request, "invoices/document_list.html", context, status=200 if valid else 400)


def document_count(request, tenant_slug):
    """htmx fragment: how many documents match the filters (exact up to a cap), loaded after the page."""
    filterset = _filtered(request)
    if not filterset.is_valid():
        return render(request, "invoices/_count.html", {"invalid": True})
    n, more = capped_count(filterset.qs)
    return render(
        request, "invoices/_count.html", {"n": n, "more": more, "bare": request.GET.get("bare") == "1"}
    )


def document_detail(request, tenant_slug, pk):
    try:
        doc = selectors.document_detail(
            tenant=request.tenant, user=request.user, membership=request.membership, pk=pk
        )
    except SupplierDocument.DoesNotExist:
        raise Http404("No such document") from None
    review = _review_nav(request, tenant_slug, doc)
    if request.GET.get("then") == "next":  # after "Save and next"
        if review.get("next"):
            return redirect(review["next"])
        messages.info(request, "That was the last document of the list.")
    names = selectors.supplier_names(tenant=request.tenant, gstins=[doc.supplier_gstin])
    return render(
        request,
        "invoices/document_detail.html",
        {
            "doc": doc,
            "supplier_name": names.get(doc.supplier_gstin, ""),
            "versions": list(selectors.document_versions(document=doc)),
            "events": _audit_events(request.tenant, doc),
            "review": review,
            "supplier_history": selectors.supplier_history(
                tenant=request.tenant, user=request.user, membership=request.membership, document=doc
            ),
            **panels.context_for(tenant=request.tenant, document=doc),
            "action_labels": {a.value: ACTION_LABELS[a] for a in Action},
        },
    )


def _review_nav(request, tenant_slug, doc) -> dict:
    """Previous / next within the list the document was opened from: the list's filters and sort travel in the
    query string (``cursor`` aside); links keep them. Invalid filters: no neighbours, the list link still shows
    the list as it was."""
    query = request.GET.copy()
    query.pop("cursor", None)
    query.pop("then", None)
    list_url = reverse("document-list", args=[tenant_slug])
    nav = {"query": query.urlencode(), "list_url": list_url, "back": f"{list_url}?{query.urlencode()}"}
    filterset = _filtered(request)
    options = ListOptionsForm(query)
    if not (filterset.is_valid() and options.is_valid()):
        return nav
    sort = options.cleaned_data["sort"]
    qs = filterset.qs
    prev, next_ = neighbours(qs, sort=sort, row=doc)
    before = rows_before(qs, sort=sort, row=doc)
    suffix = f"?{nav['query']}" if nav["query"] else ""
    nav.update(
        prev=f"{list_url}{prev.pk}/{suffix}" if prev else None,
        next=f"{list_url}{next_.pk}/{suffix}" if next_ else None,
        place=before + 1 if before is not None else None,
    )
    if prev is not None:  # the list's page that starts at this document
        cursor = cursor_at(sort, prev, index=before - 1 if before else None)
        back = query.copy()
        back["cursor"] = cursor
        nav["back"] = f"{list_url}?{back.urlencode()}"
    count_query = query.copy()
    count_query["bare"] = "1"
    nav["count_url"] = f"{reverse('document-count', args=[tenant_slug])}?{count_query.urlencode()}"
    return nav


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


def saved_views(request, tenant_slug):
    """GET: the member's saved views and the team's shared ones, as the navigation's menu (``as=menu``) or the
    list page's table (loaded when shown: no page pays a query for them). POST: save a view."""
    if request.method == "POST":
        return _save_view(request, tenant_slug)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    views = selectors.saved_views_for(tenant=request.tenant, user=request.user).select_related("user")
    return render(
        request,
        "invoices/_saved_views.html",
        {"views": list(views), "as_menu": request.GET.get("as") == "menu"},
    )


def _save_view(request, tenant_slug):
    """Save the list's filters (``query``, as the list page sends it) under a name; ``shared``: for the team."""
    query = QueryDict(request.POST.get("query", "")[:4000], mutable=True)
    for key in NOT_SAVED:
        query.pop(key, None)
    list_url = reverse("document-list", args=[tenant_slug])
    back = f"{list_url}?{query.urlencode()}" if query else list_url
    filterset = DocumentFilter(query, queryset=SupplierDocument.objects.none(), request=request)
    if not (filterset.is_valid() and ListOptionsForm(query).is_valid()):
        messages.error(request, "View not saved: fix the filters first.")
        return redirect(back)
    try:
        view = save_view(
            tenant=request.tenant,
            actor=Actor.user(request.user),
            user=request.user,
            name=request.POST.get("name", ""),
            query=query.urlencode(),
            shared=request.POST.get("shared") == "on",
        )
    except SavedViewError as exc:
        messages.error(request, f"View not saved: {exc.message}")
        return redirect(back)
    messages.success(
        request, f"Saved the view “{view.name}”{' for the team' if view.shared else ''}: it is in the menu."
    )
    return redirect(back)


@require_POST
def saved_view_delete(request, tenant_slug, pk):
    """Delete one of the member's own saved views (another's, or one of another organisation: 404)."""
    try:
        delete_view(tenant=request.tenant, actor=Actor.user(request.user), user=request.user, pk=pk)
    except SavedView.DoesNotExist:
        raise Http404("No such saved view of yours") from None
    messages.success(request, "Saved view deleted.")
    return redirect("document-list", tenant_slug)

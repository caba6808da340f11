"""Pages of IMS actions: confirm a bulk action (the preview), apply it, follow its run; act on one document."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor
from ims_project.params import is_id
from invoices.selectors import documents_for
from tenancy.roles import Capability, can

from . import gates, selectors, services
from .errors import ActionError, DocumentsNotFound
from .forms import HEAD_LABELS, OVERRIDE_CHOICES, ActionForm, BulkActionForm
from .models import BulkActionRun


def _require_act(request):
    if not can(request.membership.role, Capability.ACT):
        raise PermissionDenied("Your role may not take IMS actions.")


RETRY_KEY = "actions.bulk_retry"  # the session key of a bulk form sent back to the list with its errors


def _list_url(request, tenant_slug) -> str:
    """The list the bulk action was started from: its whole query string (filters, sort, page) as the bar sent
    it in ``back``; else its filters."""
    back = request.POST.get("back") or request.GET.get("back") or request.POST.get("query") or ""
    return reverse("document-list", args=[tenant_slug]) + (f"?{back}" if back else "")


def _from_the_list(request) -> bool:
    """Sent by the list's bulk bar (not by the confirmation page, whose per-document answers would be lost)."""
    return not any(key.startswith("ovr_") for key in request.POST) and "confirmed" not in request.POST


def _back_to_list(request, tenant_slug, form):
    """Errors of a bulk form go back to the list, the selection and choices kept (``bulk_retry`` shows them)."""
    errors = [str(e) for e in form.non_field_errors()]
    for name, field_errors in form.errors.items():
        if name == "__all__":
            continue
        label = form.fields[name].label if name in form.fields else name
        errors.extend(f"{label}: {e}" for e in field_errors)
    data = {
        key: request.POST.get(key, "")
        for key in ("action", "remarks", "declaration", *(f"decl_{h}" for h in HEAD_LABELS), "all_matching")
    }
    data["ids"] = [v for v in request.POST.getlist("ids") if is_id(v)][:1000]
    data["errors"] = errors
    request.session[RETRY_KEY] = data
    return redirect(_list_url(request, tenant_slug))


@require_POST
def bulk_confirm(request, tenant_slug):
    """The confirmation step: what the chosen action would do to the selection (nothing is changed)."""
    _require_act(request)
    form = BulkActionForm(request.POST)
    context = {
        "form": form,
        "preview": None,
        "head_labels": HEAD_LABELS,
        "back": _list_url(request, tenant_slug),
    }
    if form.is_valid():
        try:
            context["preview"] = selectors.bulk_preview(
                tenant=request.tenant,
                user=request.user,
                membership=request.membership,
                **form.target(),
                **form.action_kwargs(),
            )
            # Impact on the draft GSTR-2B and supplier liability, and what approval policies would hold.
            context["held"] = gates.preview(
                tenant=request.tenant,
                user=request.user,
                membership=request.membership,
                **form.target(),
                **form.action_kwargs(),
            )
            context["impact"] = context["held"].impact if context["held"] is not None else None
            if form.cleaned_data["action"] == "A":
                _answers(request, form, context)
        except DocumentsNotFound as exc:
            raise Http404(str(exc)) from None
        except ActionError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    if context["preview"] is None and _from_the_list(request):
        return _back_to_list(request, tenant_slug, form)
    return render(request, "actions/confirm.html", context, status=200 if context["preview"] else 400)


def _answers(request, form, context) -> None:
    """The confirmation step of a bulk Accept: the batch's answer to "Whether ITC needs to be reduced?" and the
    documents that take it, each of which may be given its own (docs/rules/ims-actions.md §4.4)."""
    rows, count = selectors.specified_documents(
        tenant=request.tenant, user=request.user, membership=request.membership, **form.target()
    )
    given = form.overrides()
    for row in rows:
        own = given.get(str(row.id), {})
        row.choice = (
            ""
            if not own
            else "nil"
            if own.get("itc_red_req") == "N"
            else "partial"
            if len(own) > 1
            else "full"
        )
        row.amounts = {h: own.get(f"decl_{h}", "") for h in ("igst", "cgst", "sgst", "cess")}
    context.update(
        specified=rows,
        specified_count=count,
        override_choices=OVERRIDE_CHOICES,
        batch_answer=dict(form.fields["declaration"].choices).get(
            form.cleaned_data.get("declaration") or "full", ""
        ),
    )


@require_POST
def bulk_apply(request, tenant_slug):
    _require_act(request)
    form = BulkActionForm(request.POST)
    back = _list_url(request, tenant_slug)
    if not form.is_valid():
        return render(
            request, "actions/confirm.html", {"form": form, "preview": None, "back": back}, status=400
        )
    try:
        result = services.bulk_set_action(
            tenant=request.tenant,
            actor=Actor.user(request.user),
            user=request.user,
            membership=request.membership,
            **form.target(),
            **form.action_kwargs(),
        )
    except DocumentsNotFound as exc:
        raise Http404(str(exc)) from None
    except ActionError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return render(
            request, "actions/confirm.html", {"form": form, "preview": None, "back": back}, status=400
        )
    run_url = reverse("action-run", args=[tenant_slug, result.run_id])
    back = request.POST.get("back", "")
    return redirect(f"{run_url}?{urlencode({'back': back})}" if back else run_url)


@require_GET
def run_detail(request, tenant_slug, pk):
    """A bulk action's progress (refreshed by htmx while a worker runs it) and result with the refusals."""
    try:
        run = selectors.run_for(tenant=request.tenant, user=request.user, pk=pk)
    except BulkActionRun.DoesNotExist:
        raise Http404("No such bulk action") from None
    template = "actions/_run_body.html" if request.htmx else "actions/run.html"
    return render(
        request,
        template,
        {
            "run": run,
            "back": _list_url(request, tenant_slug),
            "can_push": can(request.membership.role, Capability.SYNC),
        },
    )


@require_POST
def document_action(request, tenant_slug, pk):
    """Take an action on one document from its page; the verdicts shown there tell what is allowed."""
    _require_act(request)
    doc = (
        documents_for(tenant=request.tenant, user=request.user, membership=request.membership)
        .filter(pk=pk)
        .first()
    )
    if doc is None:
        raise Http404("No such document")

    form = ActionForm(request.POST)
    # The list the page was opened from (its filters, in the query string) comes back with the page.
    query = request.GET.copy()
    query.pop("then", None)
    detail = reverse("document-detail", args=[tenant_slug, pk]) + (f"?{query.urlencode()}" if query else "")
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(
                request,
                f"{form.fields[field].label or field if field in form.fields else ''}: "
                f"{' '.join(errors)}".lstrip(": "),
            )
        return redirect(detail)
    try:
        result = services.set_action(
            tenant=request.tenant,
            actor=Actor.user(request.user),
            membership=request.membership,
            document=doc,
            **form.action_kwargs(),
        )
    except ActionError as exc:
        messages.error(request, f"Not done: {exc.message}")
        return redirect(detail)
    if result.changed and result.held:
        messages.warning(
            request, "Action saved; an approval policy holds it: it will be pushed once approved."
        )
    elif result.changed:
        messages.success(
            request,
            "Action saved; it will be pushed to the portal."
            if result.local_action
            else "Action saved: it matches the portal, nothing to push.",
        )
    else:
        messages.info(request, "Nothing changed: the document already has this action.")
    for w in result.warnings:
        messages.warning(request, w["message"])
    if request.POST.get("then") == "next":  # "Save and next": the document page moves on to the next one
        query["then"] = "next"
        return redirect(reverse("document-detail", args=[tenant_slug, pk]) + f"?{query.urlencode()}")
    return redirect(detail)


__all__ = ["bulk_apply", "bulk_confirm", "document_action", "run_detail"]

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.verify import verify_chain
from exports.views import export_or_start

from .forms import LedgerFilterForm
from .selectors import actor_names, can_view_ledger, ledger
from .words import lines_for

PAGE_SIZE = 50


def _forbidden(request):
    return render(request, "audit/forbidden.html", status=403)


def _page(request, *, verified=None):
    form = LedgerFilterForm(request.GET or None, actors=actor_names(tenant=request.tenant))
    events, next_before = [], None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        status = 200
        filters = form.filters() if form.is_bound else {}
        qs = ledger(tenant=request.tenant, user=request.user, membership=request.membership, **filters)
        before = form.cleaned_data.get("before") if form.is_bound else None
        if before:
            qs = qs.filter(seq__lt=before)
        events = list(qs[: PAGE_SIZE + 1])
        if len(events) > PAGE_SIZE:
            events = events[:PAGE_SIZE]
            next_before = events[-1].seq
    context = {
        "form": form,
        "rows": lines_for(events, tenant=request.tenant),
        "next_before": next_before,
        "paged": bool(form.is_bound and form.is_valid() and form.cleaned_data.get("before")),
        "verified": verified,
    }
    return render(request, "audit/list.html", context, status=status)


@require_GET
def audit_list(request, tenant_slug):
    """The tenant's ledger, newest first, 50 a page (keyset on seq: ``?before=<seq>``)."""
    if not can_view_ledger(request.membership):
        return _forbidden(request)
    return _page(request)


@require_POST
def audit_verify(request, tenant_slug):
    """ "Verify the chain": recompute every link of the organisation's ledger and show the result on the page."""
    if not can_view_ledger(request.membership):
        return _forbidden(request)
    report = verify_chain(tenant=request.tenant)
    return _page(request, verified={"report": report, "at": timezone.now(), "why": _plain(report.problem)})


def _plain(problem: str) -> str:
    """What a broken link means, in words (the check's own wording stays as the technical detail)."""
    if problem.startswith("gap"):
        return "Entries before it are missing: they were removed."
    if problem.startswith("prev_hash"):
        return "It does not follow on from the entry before it: an entry was removed, inserted or replaced."
    if problem.startswith("hash mismatch"):
        return "Its content no longer matches its fingerprint: it was changed after it was written."
    return problem


@require_POST
def audit_export(request, tenant_slug):
    """Export the filtered ledger (filters in the query string) to Excel."""
    if not can_view_ledger(request.membership):
        return _forbidden(request)
    form = LedgerFilterForm(request.GET, actors=actor_names(tenant=request.tenant))
    if not form.is_valid():
        return render(request, "audit/list.html", {"form": form, "rows": []}, status=400)
    return export_or_start(request, kind="audit", params=LedgerFilterForm.to_params(form.filters()))

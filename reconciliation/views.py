"""Reconciliation pages: summary and runs, register import, drill-down, pair view, "why not" probe, link/unlink."""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.services import Actor
from exports.registry import ExportError
from exports.services import XLSX_TYPE, export_response, start_export
from gst.gstin import validate_gstin
from gst.register_checks import FLAG_LABELS
from ims_project.params import as_id, id_param, is_id
from ims_project.xlsx import write_xlsx
from invoices.selectors import documents_for, supplier_names
from reconciliation.domain.outcomes import DOCUMENT_OUTCOMES
from reconciliation.latest import latest_runs
from tenancy.roles import Capability, can
from tenancy.selectors import visible_registrations
from tenancy.views import require_capability

from . import selectors, services
from .domain import register_rows
from .domain.matching import OUTCOME_LABELS
from .domain.rules import RuleSet
from .engine import probe
from .exports import KIND as EXPORT_KIND
from .models import (
    DEFAULT_OUTCOME_ACTIONS,
    RECOMMENDED_ACTIONS,
    JobStatus,
    PurchaseLine,
    RegisterImport,
    RunScope,
)
from .today import EXCEPTIONS, EXCEPTIONS_FILTER

ACTION_LABELS = dict(RECOMMENDED_ACTIONS)


def _ctx(request):
    return {"tenant": request.tenant, "membership": request.membership}


def _date(value: str | None):
    try:
        return dt.datetime.strptime(value or "", "%d-%m-%Y").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        return None


def _run(request, tenant_slug, kw):
    run_id = id_param(kw, "run")  # ?run=x: 400 naming the field (was int() of it: a 500)
    if run_id is not None:
        run = (
            selectors.runs_for(tenant=request.tenant, user=request.user, membership=request.membership)
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            raise Http404
        return run
    return (
        selectors.runs_for(tenant=request.tenant, user=request.user, membership=request.membership)
        .filter(status="done")
        .first()
    )


@require_capability(Capability.VIEW)
def home(request, tenant_slug):
    regs = list(
        visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    )
    errors = {}
    if request.method == "POST":
        chosen = [r for r in regs if str(r.pk) in request.POST.getlist("registrations")]
        date_from, date_to = _date(request.POST.get("date_from")), _date(request.POST.get("date_to"))
        if date_from is None:
            errors["date_from"] = "Enter a date DD-MM-YYYY."
        if date_to is None:
            errors["date_to"] = "Enter a date DD-MM-YYYY."
        if not errors:
            try:
                run = services.start_run(
                    tenant=request.tenant,
                    actor=Actor.from_request(request),
                    user=request.user,
                    membership=request.membership,
                    registrations=chosen,
                    date_from=date_from,
                    date_to=date_to,
                    scope=request.POST.get("scope") or RunScope.REGISTER,
                )
                messages.success(request, f"Reconciliation #{run.pk} queued.")
                return redirect("recon-home", tenant_slug)
            except services.Forbidden as e:
                return HttpResponse(str(e), status=403)
            except services.ReconError as e:
                errors[e.field] = e.message
    poll = request.GET.get("poll", "")
    if request.htmx and is_id(poll):
        return _run_progress(request, as_id(poll))
    run = _run(request, tenant_slug, request.GET)
    summary = selectors.summary(run=run, registration_ids=[r.pk for r in regs]) if run else None
    gstins = {r.pk: r.gstin for r in regs}
    if summary:
        names = supplier_names(
            tenant=request.tenant, gstins={s["supplier_gstin"] for s in summary["suppliers"]}
        )
        for s in summary["suppliers"]:
            s["gstin"] = gstins.get(s["registration_id"], "")
            s["name"] = names.get(s["supplier_gstin"], "")
    runs = list(
        selectors.runs_for(tenant=request.tenant, user=request.user, membership=request.membership)[:10]
    )
    active = next((r for r in runs if r.status in (JobStatus.QUEUED, JobStatus.RUNNING)), None)
    return render(
        request,
        "reconciliation/home.html",
        {
            **_ctx(request),
            "registrations": regs,
            "run": run,
            "summary": summary,
            "runs": runs,
            "errors": errors,
            "active": active,
            "labels": OUTCOME_LABELS,
            "post": request.POST,
            "rules": services.active_rules(tenant=request.tenant),
            "recommended": _recommended(request, run, regs),
            "scopes": RunScope.choices,
            "coverage": _coverage(run, gstins),
            "may_write_back": can(request.membership.role, Capability.ACT),
        },
        status=400 if errors else 200,
    )


def _coverage(run, gstins: dict[int, str]) -> list[dict]:
    """What the register covered for the run's GSTINs the user sees: GSTIN, first and last day (None: no line)."""
    if run is None:
        return []
    covered = run.coverage or {}
    out = []
    for reg_id in run.registration_ids:
        if reg_id not in gstins:
            continue
        days = covered.get(str(reg_id))
        out.append(
            {
                "gstin": gstins[reg_id],
                "from": dt.date.fromisoformat(days[0]) if days else None,
                "to": dt.date.fromisoformat(days[1]) if days else None,
            }
        )
    return out


def _run_progress(request, pk: int) -> HttpResponse:
    """What the summary page polls while a run is queued or running: its progress, then a reload once it is over
    (the page then shows the finished run, or the failure in the recent runs)."""
    polled = (
        selectors.runs_for(tenant=request.tenant, user=request.user, membership=request.membership)
        .filter(pk=pk)
        .first()
    )
    if polled is None:
        raise Http404
    response = render(request, "reconciliation/_run_progress.html", {**_ctx(request), "active": polled})
    if polled.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        response["HX-Refresh"] = "true"
    return response


def _recommended(request, run, registrations) -> dict[str, dict]:
    """Per outcome with a recommended action: the action, how many visible supplier documents of the run it would
    apply to, and what the bulk-action confirmation is given (only for members who may act). When ``run`` is the
    latest finished run of its GSTINs, the documents filter ``reconciliation=<outcome>`` (``query``, with
    ``all_matching``), which reads that same run, so the confirmation counts and the apply re-checks the outcome on
    the server (documents changed on the portal since are left out); for an older run, the documents' ``ids``."""
    if run is None or not can(request.membership.role, Capability.ACT):
        return {}
    actions = services.outcome_actions(tenant=request.tenant)
    ids = selectors.outcome_document_ids(
        tenant=request.tenant, user=request.user, membership=request.membership, run=run
    )
    latest = _latest_run_filter(request, run, registrations)
    out = {}
    for outcome, action in actions.items():
        if not action or not ids.get(outcome):
            continue
        rec = {"action": action, "label": ACTION_LABELS[action], "count": len(ids[outcome])}
        if latest is not None and outcome in DOCUMENT_OUTCOMES:
            rec["query"] = urlencode({"reconciliation": outcome, **latest})
        else:
            rec["ids"] = ids[outcome]
        out[outcome] = rec
    return out


def _latest_run_filter(request, run, registrations) -> dict[str, str] | None:
    """The documents-list filters (besides ``reconciliation``) under which that filter reads exactly ``run``: it
    must be the latest finished run of each of its GSTINs the user sees; ``registration`` names its GSTIN when it
    is one, and none is needed when no other visible GSTIN has a different latest run. None otherwise (the
    documents filter takes a single GSTIN)."""
    if run.status != JobStatus.DONE:
        return None
    visible = {r.pk: r for r in registrations}
    latest = {
        reg_id: other.pk
        for reg_id, other in latest_runs(
            tenant=request.tenant, registration_ids=visible
        ).by_registration.items()
    }
    mine = sorted({reg_id for reg_id in run.registration_ids or [] if reg_id in visible})
    if not mine or any(latest.get(reg_id) != run.pk for reg_id in mine):
        return None
    if len(mine) == 1:
        return {"registration": visible[mine[0]].gstin}
    if all(run_id == run.pk for run_id in latest.values()):
        return {}
    return None


@require_capability(Capability.VIEW)
def compare_view(request, tenant_slug):
    """What changed between two runs (``?a=`` the earlier, ``?b=`` the later; by default the latest finished run and
    the finished run before it that shares a GSTIN): each document whose outcome differs, and why."""
    runs = selectors.runs_for(tenant=request.tenant, user=request.user, membership=request.membership).filter(
        status=JobStatus.DONE
    )
    b_key, a_key = request.GET.get("b", ""), request.GET.get("a", "")
    b = runs.filter(pk=as_id(b_key)).first() if is_id(b_key) else runs.first()
    if b_key and b is None:
        raise Http404
    a = None
    if is_id(a_key):
        a = runs.filter(pk=as_id(a_key)).first()
        if a is None:
            raise Http404
    elif b is not None:
        a = next(
            (r for r in runs.filter(pk__lt=b.pk) if set(r.registration_ids) & set(b.registration_ids)), None
        )
    changes = (
        selectors.compare_runs(
            tenant=request.tenant, user=request.user, membership=request.membership, a=a, b=b
        )
        if a is not None and b is not None
        else []
    )
    return render(
        request,
        "reconciliation/compare.html",
        {
            **_ctx(request),
            "a": a,
            "b": b,
            "changes": changes,
            "runs": list(runs[:30]),
            "labels": OUTCOME_LABELS,
            "limit": selectors.COMPARE_LIMIT,
            "names": supplier_names(tenant=request.tenant, gstins={c.row.supplier_gstin for c in changes}),
        },
    )


@require_capability(Capability.VIEW)
def outcome_actions_view(request, tenant_slug):
    """The recommended IMS action per outcome; owners and admins edit it."""
    may_edit = can(request.membership.role, Capability.MANAGE_REGISTRATIONS)
    errors = {}
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("Only owners and admins set the recommended actions.")
        try:
            services.save_outcome_actions(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                membership=request.membership,
                mapping={o: request.POST.get(o, "") for o in DEFAULT_OUTCOME_ACTIONS},
            )
        except services.ReconError as e:
            errors[e.field] = e.message
        else:
            messages.success(request, "Recommended actions saved.")
            return redirect("recon-outcome-actions", tenant_slug)
    current = services.outcome_actions(tenant=request.tenant)
    rows = [
        (o, OUTCOME_LABELS[o], request.POST.get(o, a) if errors else a, errors.get(o))
        for o, a in current.items()
    ]
    return render(
        request,
        "reconciliation/outcome_actions.html",
        {
            **_ctx(request),
            "rows": rows,
            "choices": RECOMMENDED_ACTIONS,
            "may_edit": may_edit,
        },
        status=400 if errors else 200,
    )


# name, label, input kind ("amount" | "int" | "bool"), help
RULE_FIELDS = [
    (
        "fuzzy_threshold",
        "Number similarity at least (50-100)",
        "int",
        "Document numbers less alike than this are never paired, whatever the amounts say.",
    ),
    (
        "amount_abs",
        "Amount tolerance per head (₹)",
        "amount",
        "Taxable value and each tax head may differ by this many rupees…",
    ),
    (
        "amount_pct",
        "…or by this % of the supplier's amount",
        "amount",
        "whichever is larger; a head may have its own tolerance below.",
    ),
    (
        "date_window",
        "Date window (days)",
        "int",
        "Days between the two document dates for a tolerance match.",
    ),
    (
        "pan_fallback",
        "PAN fallback",
        "bool",
        "A supplier's other GSTIN (same PAN) may pair, as probable at best.",
    ),
    ("across_fy", "Match across financial years", "bool", "Documents of different financial years may pair."),
    (
        "absolute_amounts",
        "Ignore the sign of amounts",
        "bool",
        "Credit notes booked negative in the ERP compare with the positive amounts the supplier filed.",
    ),
    (
        "groups",
        "Group matches (1:n, n:1)",
        "bool",
        "One document may pair with several register lines of the same number whose sum fits.",
    ),
    ("max_group", "Lines in a group at most (2-50)", "int", ""),
]


HEAD_LABELS = {
    "taxable": "Taxable value",
    "igst": "IGST",
    "cgst": "CGST",
    "sgst": "SGST/UTGST",
    "cess": "Cess",
}


def _rule_params(post) -> dict:
    out = {
        name: (name in post) if kind == "bool" else post.get(name, "").strip()
        for name, _l, kind, _h in RULE_FIELDS
    }
    for head in HEAD_LABELS:
        for k in ("abs", "pct"):
            out[f"{head}_{k}"] = post.get(f"{head}_{k}", "").strip()  # blank: the general tolerance
    return out


@require_capability(Capability.VIEW)
def rules_view(request, tenant_slug):
    """The tenant's matching rules in force and their history; owners and admins save a new version."""
    may_edit = can(request.membership.role, Capability.MANAGE_REGISTRATIONS)
    current = services.active_rules(tenant=request.tenant)
    values, errors = dict(current.params), {}
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("Only owners and admins change the matching rules.")
        values = _rule_params(request.POST)
        try:
            new = services.save_rules(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                membership=request.membership,
                params=values,
            )
        except services.ReconError as e:
            errors[e.field] = e.message
        else:
            if new.pk == current.pk:
                messages.info(request, "Nothing changed.")
            else:
                messages.success(request, f"Rules v{new.version} saved; the next reconciliation uses them.")
            return redirect("recon-rules", tenant_slug)
    fields = [
        {
            "name": n,
            "label": label,
            "kind": kind,
            "help": help_,
            "value": values.get(n),
            "error": errors.get(n),
        }
        for n, label, kind, help_ in RULE_FIELDS
    ]
    in_force = RuleSet.from_json(current.params)
    heads = [
        {
            "head": h,
            "label": label,
            "cells": [
                {
                    "name": f"{h}_{k}",
                    "value": values.get(f"{h}_{k}"),
                    "error": errors.get(f"{h}_{k}"),
                    "effective": in_force.head_abs(h) if k == "abs" else in_force.head_pct(h),
                }
                for k in ("abs", "pct")
            ],
        }
        for h, label in HEAD_LABELS.items()
    ]
    return render(
        request,
        "reconciliation/rules.html",
        {
            **_ctx(request),
            "current": current,
            "fields": fields,
            "heads": heads,
            "may_edit": may_edit,
            "errors": errors,
            "history": selectors.rule_history(tenant=request.tenant, user=request.user),
        },
        status=400 if errors else 200,
    )


@require_capability(Capability.EXPORT)
def export_view(request, tenant_slug):
    """Excel of a run's results with reasons: a direct download when small, a background job otherwise."""
    params = {k: request.GET[k] for k in ("run", "outcome") if request.GET.get(k)}
    try:
        response = export_response(tenant=request.tenant, user=request.user, kind=EXPORT_KIND, params=params)
    except ExportError as e:
        messages.error(request, str(e))
        return redirect("recon-home", tenant_slug)
    if response is not None:
        return response
    job = start_export(tenant=request.tenant, user=request.user, kind=EXPORT_KIND, params=params)
    return redirect("export-job", tenant_slug, job.pk)


_LISTED_APART = frozenset({"number_exact", "books_flag"})


@require_capability(Capability.VIEW)
def matches(request, tenant_slug):
    run = _run(request, tenant_slug, request.GET)
    if run is None:
        raise Http404
    qs = selectors.matches_for(
        tenant=request.tenant, user=request.user, membership=request.membership, run=run
    )
    outcome = request.GET.get("outcome", "")
    if outcome == EXCEPTIONS_FILTER:
        qs = qs.filter(outcome__in=[o.value for o in EXCEPTIONS])
    elif outcome:
        qs = qs.filter(outcome=outcome)
    gstin = request.GET.get("registration", "").strip().upper()
    if gstin:
        qs = qs.filter(registration__gstin=gstin)
    if request.GET.get("supplier"):
        qs = qs.filter(supplier_gstin=request.GET["supplier"].strip().upper())
    flag = request.GET.get("flag", "")
    if flag:
        qs = selectors.with_flag(qs, flag)
    after = request.GET.get("after", "")
    if is_id(after):
        qs = qs.filter(pk__gt=as_id(after))
    rows = list(qs.order_by("pk")[: selectors.PAGE + 1])
    more = len(rows) > selectors.PAGE
    rows = rows[: selectors.PAGE]
    for m in rows:  # the reasons of the pair view, in the list too (the line's flags are badges of their own)
        m.reason_items = [r for r in selectors.reason_list(m) if r["code"] not in _LISTED_APART]
    return render(
        request,
        "reconciliation/matches.html",
        {
            **_ctx(request),
            "run": run,
            "rows": rows,
            "outcome": outcome,
            "labels": {**OUTCOME_LABELS, EXCEPTIONS_FILTER: "Exceptions"},
            "gstin": gstin,
            "next_after": rows[-1].pk if more else None,
            "supplier": request.GET.get("supplier", ""),
            "flag": flag,
            "flag_labels": FLAG_LABELS,
            "names": supplier_names(tenant=request.tenant, gstins={m.supplier_gstin for m in rows}),
        },
    )


@require_capability(Capability.VIEW)
def pair(request, tenant_slug, pk: int):
    run = (
        selectors.runs_for(tenant=request.tenant, user=request.user, membership=request.membership)
        .filter(matches__pk=pk)
        .first()
    )
    row = (
        selectors.matches_for(
            tenant=request.tenant, user=request.user, membership=request.membership, run=run
        )
        .filter(pk=pk)
        .first()
        if run
        else None
    )
    if row is None:
        raise Http404
    return render(
        request,
        "reconciliation/pair.html",
        {
            **_ctx(request),
            "m": row,
            "labels": OUTCOME_LABELS,
            "reasons": _reasons(row),
            "line_flags": row.purchase.flag_list if row.purchase else [],
            "differing": selectors.differing_fields(row),
            "may_act": can(request.membership.role, Capability.ACT),
            "names": supplier_names(
                tenant=request.tenant,
                gstins={g for g in (row.supplier_gstin, row.purchase and row.purchase.supplier_gstin) if g},
            ),
            "document_flags": _document_flags(row.document),
        },
    )


def _reasons(row) -> list[dict]:
    if row.duplicate_of:
        return []
    return selectors.reason_list(row)


def _document_flags(document) -> list[str]:
    """What is wrong with the supplier's side as the portal has it (the GSTIN is stored even when it fails)."""
    if document is None or document.supplier_gstin_valid:
        return []
    return [f"Supplier GSTIN {validate_gstin(document.supplier_gstin).message or 'fails a check'}"]


def _pair_objects(request, purchase_key: str, document_key: str):
    regs = visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    lines = PurchaseLine.objects.filter(tenant=request.tenant, registration__in=regs)
    purchase = (
        lines.filter(pk=as_id(purchase_key)).first() if is_id(purchase_key) else None
    ) or lines.filter(erp_ref=purchase_key).first()
    docs = documents_for(tenant=request.tenant, user=request.user, membership=request.membership)
    document = docs.filter(pk=as_id(document_key)).first() if is_id(document_key) else None
    return purchase, document


@require_capability(Capability.VIEW)
def why_not(request, tenant_slug):
    """ "Why didn't these match?": search both sides by number, supplier or amount (``?q=``); the best candidate
    documents of a register line (``?line=``, e.g. a line only in books) with the verdict or the blocking reason of
    each and a one-click link; or probe a register line (id or ERP reference) against a supplier document (id)."""
    pkey, dkey = request.GET.get("purchase", "").strip(), request.GET.get("document", "").strip()
    q, line_key = request.GET.get("q", "").strip()[:100], request.GET.get("line", "").strip()
    verdict = purchase = document = line = None
    errors = {}
    found_lines, found_docs, line_candidates = [], [], []
    rules = RuleSet.from_json(services.active_rules(tenant=request.tenant).params)
    who = {"tenant": request.tenant, "user": request.user, "membership": request.membership}
    if q:
        found_lines, found_docs = selectors.search(**who, q=q)
    if line_key:
        line = selectors.lines_for(**who).filter(pk=as_id(line_key)).first() if is_id(line_key) else None
        if line is None:
            errors["line"] = "No such register line."
        else:
            line_candidates = selectors.candidates(**who, line=line, rules=rules)
    if pkey or dkey:
        purchase, document = _pair_objects(request, pkey, dkey)
        if purchase is None:
            errors["purchase"] = "No such register line (give its id or ERP reference)."
        if document is None:
            errors["document"] = "No such supplier document (give its id)."
        if not errors:
            verdict = probe(purchase, document, rules)
    return render(
        request,
        "reconciliation/why_not.html",
        {
            **_ctx(request),
            "q": q,
            "found_lines": found_lines,
            "found_docs": found_docs,
            "line": line,
            "line_candidates": line_candidates,
            "names": supplier_names(
                tenant=request.tenant,
                gstins={
                    x.supplier_gstin for x in [*found_lines, *found_docs, *(d for d, _v in line_candidates)]
                }
                | ({line.supplier_gstin} if line else set()),
            ),
            "may_act": can(request.membership.role, Capability.ACT),
            "verdict": verdict,
            "purchase": purchase,
            "document": document,
            "errors": errors,
            "pkey": pkey,
            "dkey": dkey,
            "labels": OUTCOME_LABELS,
        },
        status=400 if errors else 200,
    )


@require_POST
@require_capability(Capability.ACT)
def link_view(request, tenant_slug):
    purchase, document = _pair_objects(
        request, request.POST.get("purchase", ""), request.POST.get("document", "")
    )
    if purchase is None or document is None:
        raise Http404
    fn = services.link if request.POST.get("op") == "link" else services.unlink
    try:
        fn(
            tenant=request.tenant,
            actor=Actor.from_request(request),
            user=request.user,
            membership=request.membership,
            purchase=purchase,
            document=document,
            note=request.POST.get("note", ""),
        )
    except services.ReconError as e:
        if e.code == "not_found":
            raise Http404 from None
        messages.error(request, e.message)
    else:
        messages.success(
            request, "Linked." if fn is services.link else "Unlinked: these two will not be paired."
        )
    return redirect(
        f"{reverse('recon-why-not', args=[tenant_slug])}?purchase={purchase.pk}&document={document.pk}"
    )


@require_capability(Capability.ACT)
def writeback_view(request, tenant_slug):
    """Write back to the ERP: how many corrections of the run would go (GET, the confirmation), then send them
    (POST) through the organisation's signed webhook, as the API does; the result or the refusal on the results
    page."""
    kw = request.POST if request.method == "POST" else request.GET
    run_id = id_param(kw, "run")
    try:
        if request.method == "POST":
            out = services.send_writeback(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                user=request.user,
                membership=request.membership,
                run_id=run_id,
            )
        else:
            preview = services.writeback_preview(
                tenant=request.tenant, user=request.user, membership=request.membership, run_id=run_id
            )
    except services.Forbidden as e:
        raise PermissionDenied(str(e)) from None
    except services.ReconError as e:
        if e.code == "not_found":
            raise Http404 from None
        messages.error(request, e.message)  # no webhook for corrections: said plainly, nothing sent
        home = reverse("recon-home", args=[tenant_slug])
        return redirect(f"{home}?run={run_id}" if run_id else home)
    if request.method == "POST":
        sent, before = len(out["sent"]), len(out["already_sent"])
        messages.success(
            request,
            f"Write-back of reconciliation #{out['run']}: {sent} correction{'s' if sent != 1 else ''} sent to the "
            f"ERP through the webhook" + (f"; {before} sent before, not sent again." if before else "."),
        )
        return redirect(f"{reverse('recon-home', args=[tenant_slug])}?run={out['run']}")
    return render(request, "reconciliation/writeback.html", {**_ctx(request), **preview})


@require_capability(Capability.VIEW)
def register(request, tenant_slug):
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose a file."
        elif upload.size > services.register_file.max_upload_bytes():
            error = "The file is too large."
        else:
            staged = None
            chosen = request.POST.get("recipient", "")
            try:
                staged = services.stage_upload(
                    tenant=request.tenant, membership=request.membership, name=upload.name, data=upload.read()
                )
                if not staged.ready or request.POST.get("review"):
                    return _mapping_page(request, staged, staged.guess, "", recipient=chosen)
                job = services.start_staged_import(
                    tenant=request.tenant,
                    actor=Actor.from_request(request),
                    user=request.user,
                    membership=request.membership,
                    token=staged.token,
                    name=staged.name,
                    default_recipient=chosen,
                )
                return redirect("recon-import", tenant_slug, job.pk)
            except services.Forbidden as e:
                return HttpResponse(str(e), status=403)
            except services.ReconError as e:
                if staged is not None and e.field in ("recipient", "mapping"):
                    return _mapping_page(request, staged, staged.guess, e.message, recipient=chosen)
                error = e.message
    imports = RegisterImport.objects.filter(tenant=request.tenant, user_id=request.user.pk).defer(
        "flagged_lines"
    )[:10]
    return render(
        request,
        "reconciliation/register.html",
        {
            **_ctx(request),
            "error": error,
            "imports": imports,
            "columns": register_rows.COLUMNS,
            "mapping": services.remembered_mapping(tenant=request.tenant),
            "recipients": _recipients(request),
            "recipient": request.POST.get("recipient", ""),
            "review": bool(request.POST.get("review")),
        },
        status=400 if error else 200,
    )


def _recipients(request) -> list[str]:
    """The GSTINs the user may import for, when there is a choice to make (more than one)."""
    found = sorted(
        services.recipients_for(tenant=request.tenant, user=request.user, membership=request.membership)
    )
    return found if len(found) > 1 else []


_DATE_FIELDS = frozenset({"doc_date", "posting_date", "boe_date"})


def _sample(value: str, field: str) -> str:
    """A sample cell as the import will read it: an .xlsx date cell (its day number) as DD-MM-YYYY."""
    if field in _DATE_FIELDS and is_id(value):
        try:
            return register_rows.parse_date(int(value)).strftime("%d-%m-%Y")
        except ValueError:
            return value
    return value


def _mapping_page(request, staged, mapping: dict, error: str, status: int = 200, recipient: str = ""):
    field_of = {h: f for f, h in mapping.items() if h}
    samples = {
        h: [_sample(v, field_of.get(h, "")) for v in cells] for h, cells in staged.column_samples().items()
    }
    rows = [
        {
            "name": n,
            "label": label,
            "required": req,
            "chosen": mapping.get(n, ""),
            "samples": samples.get(mapping.get(n, ""), []),
        }
        for n, label, req in register_rows.COLUMNS
    ]
    preview = [h for h in staged.headers if h]
    return render(
        request,
        "reconciliation/mapping.html",
        {
            **_ctx(request),
            "staged": staged,
            "rows": rows,
            "error": error,
            "preview_head": preview,
            "preview_rows": [[samples[h][i] for h in preview] for i in range(len(staged.samples))],
            "recipients": _recipients(request),
            "recipient": recipient,
        },
        status=400 if error else status,
    )


@require_capability(Capability.VIEW)
def register_mapping(request, tenant_slug):
    """Confirm the column mapping of a kept upload whose headings were not all recognised, then import it."""
    if request.method != "POST":
        return redirect("recon-register", tenant_slug)
    token, name = request.POST.get("token", ""), request.POST.get("name", "")
    mapping = {n: request.POST.get(n, "") for n in register_rows.FIELDS}
    chosen = request.POST.get("recipient", "")
    try:
        staged = services.staged_upload(
            tenant=request.tenant, membership=request.membership, token=token, name=name
        )
    except services.Forbidden as e:
        return HttpResponse(str(e), status=403)
    except services.ReconError as e:
        messages.error(request, e.message)
        return redirect("recon-register", tenant_slug)
    try:
        job = services.start_staged_import(
            tenant=request.tenant,
            actor=Actor.from_request(request),
            user=request.user,
            membership=request.membership,
            token=token,
            name=name,
            mapping=mapping,
            default_recipient=chosen,
        )
    except services.ReconError as e:
        return _mapping_page(request, staged, mapping, e.message, recipient=chosen)
    return redirect("recon-import", tenant_slug, job.pk)


@require_capability(Capability.VIEW)
def register_lines(request, tenant_slug):
    """The register lines as imported, newest first; ``?flag=`` (a flag's code, or ``any``) keeps the lines
    flagged with it, ``?import=`` those an import of the organisation left flagged, ``?supplier=`` one supplier's,
    ``?number=`` those whose number contains it."""
    qs = selectors.lines_for(tenant=request.tenant, user=request.user, membership=request.membership)
    flag = request.GET.get("flag", "").strip()
    error = ""
    by_import = None
    import_id = request.GET.get("import", "").strip()
    if import_id:
        by_import = (
            RegisterImport.objects.filter(tenant=request.tenant, pk=as_id(import_id))
            .defer("flagged_lines")
            .first()
            if is_id(import_id)
            else None
        )
        if by_import is None:
            error = f"No import {import_id[:20]!r} in this organisation."
            qs = qs.none()
        else:
            qs = selectors.flagged_by(qs, by_import)
    if flag and flag != selectors.ANY_FLAG and flag not in FLAG_LABELS:
        error = error or f"No flag {flag[:40]!r}: choose one of the list."
        qs = qs.none()
    elif flag:
        qs = selectors.with_flag(qs, flag, prefix="")
    supplier = request.GET.get("supplier", "").strip().upper()
    if supplier:
        qs = qs.filter(supplier_gstin=supplier)
    number = request.GET.get("number", "").strip()
    if number:
        qs = qs.filter(doc_number__icontains=number[:64])
    after = request.GET.get("after", "")
    if is_id(after):
        qs = qs.filter(pk__lt=as_id(after))
    rows = list(qs.order_by("-pk")[: selectors.PAGE + 1])
    more = len(rows) > selectors.PAGE
    rows = rows[: selectors.PAGE]
    return render(
        request,
        "reconciliation/lines.html",
        {
            **_ctx(request),
            "rows": rows,
            "flag": flag,
            "supplier": supplier,
            "number": number,
            "flag_labels": FLAG_LABELS,
            "names": supplier_names(tenant=request.tenant, gstins={p.supplier_gstin for p in rows}),
            "error": error,
            "by_import": by_import,
            "next_after": rows[-1].pk if more else None,
        },
        status=400 if error else 200,
    )


def _import(request, pk):
    # The flagged lines' ids stay in the database: the lines page reads them there (selectors.flagged_by).
    job = (
        RegisterImport.objects.filter(tenant=request.tenant, user_id=request.user.pk, pk=pk)
        .defer("flagged_lines")
        .first()
    )
    if job is None:
        raise Http404
    return job


@require_capability(Capability.VIEW)
def import_detail(request, tenant_slug, pk: int):
    job = _import(request, pk)
    template = "reconciliation/_import_body.html" if request.htmx else "reconciliation/import.html"
    return render(request, template, {**_ctx(request), "job": job})


@require_capability(Capability.VIEW)
def import_errors(request, tenant_slug, pk: int):
    job = _import(request, pk)
    path = services.import_dir() / job.error_file if job.error_file else None
    if path is None or not path.is_file():
        raise Http404
    return FileResponse(
        _error_workbook(request, job, path),
        as_attachment=True,
        filename=f"register-errors-{job.pk}.xlsx",
        content_type=XLSX_TYPE,
    )


def _error_workbook(request, job, path):
    """The import's error report (kept as CSV while the import runs) as a workbook: an About sheet saying which
    import it reports on, then one row per problem, the row numbers as numbers."""
    tmp = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - FileResponse closes (and so deletes) it
    when = timezone.localtime(job.finished_at or job.created_at)
    now = timezone.localtime()

    def about(rows: int):
        return [
            ("What", f"Problems found importing the purchase register file {job.file_name}"),
            ("Import", f"#{job.pk}, started by {job.actor_label} on {when:%d-%m-%Y %H:%M} IST"),
            ("Organisation", request.tenant.name),
            ("Exported by", request.user.get_username()),
            ("Exported on (IST)", dt.datetime.combine(now.date(), now.time().replace(microsecond=0))),
            ("Rows", rows),
            (
                "Result",
                "“not imported”: the row was refused; “imported, flagged”: imported with a GST finding",
            ),
        ]

    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        headers = next(reader, ["Row", "Column", "Value", "Problem", "Result"])
        rows = ([int(r[0]) if r and r[0].isdigit() else (r[0] if r else ""), *r[1:]] for r in reader)
        write_xlsx(tmp, sheet_name="Import problems", headers=headers, rows=rows, about=about)
    tmp.seek(0)
    return tmp


@require_capability(Capability.VIEW)
def register_template(request, tenant_slug):

    tmp = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - FileResponse closes it
    # A supplier in Karnataka (29), the place of supply Maharashtra (27): an inter-state supply, so IGST only.
    example = [
        [
            "27AAPFU0939F1ZV",
            "29AAGCB7383J1Z4",
            "Invoice",
            "INV/2025-26/0042",
            dt.date(2025, 10, 5),
            10000,
            1800,
            0,
            0,
            0,
            "27",
            "N",
            "PV-000123",
            "102025",
            "Y",
            "Regular",  # optional from here: supply type, IRN, posting date, nil/exempt value, bill of entry
            "",
            dt.date(2025, 10, 6),
            0,
            "",
            None,
            "",
        ]
    ]
    write_xlsx(
        tmp, sheet_name="Purchase register", headers=[c[1] for c in register_rows.COLUMNS], rows=example
    )
    tmp.seek(0)
    return FileResponse(
        tmp, as_attachment=True, filename="purchase-register-template.xlsx", content_type=XLSX_TYPE
    )

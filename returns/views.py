"""GSTR-2B preview pages: a period's preview (summary, diff, drill-down, comparison with the portal's 2B, GSTR-3B
Table 4), rebuild on demand, recompute on the portal, Excel/JSON downloads, and the deadline queue."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import Actor
from exports.views import export_or_start
from gst.duedates import return_period
from gst.labels import section_name, twob_part
from gst.periods import PeriodError, add_months, format_period, parse_period
from gst.sections import SECTIONS
from ims_project.params import as_id, is_id
from tenancy.roles import Capability, can
from tenancy.views import require_capability

from . import selectors, services
from .forms import BalanceForm, FilingCorrectionForm, FilingForm
from .twob import HEADS, PART_LABELS


def _registration(request, registration_id):
    reg = selectors.registration_for(
        tenant=request.tenant,
        user=request.user,
        registration_id=registration_id,
        membership=request.membership,
    )
    if reg is None:
        raise Http404("No such GSTIN")
    return reg


def _period(reg, text):
    try:
        return return_period(parse_period(text), reg.filing_frequency)
    except PeriodError:
        raise Http404("No such period") from None


_PART_ORDER = {p: i for i, p in enumerate(("itcavl", "itcunavl", "itcrev", "itcRejected"))}
_GROUP_ORDER = {g: i for i, g in enumerate(("nonrevsup", "isdsup", "revsup", "imports", "othersup"))}
_LIST_ORDER = {
    n: i
    for i, n in enumerate(
        (
            "b2b",
            "b2ba",
            "cdnr",
            "cdnra",
            "ecom",
            "ecoma",
            "isd",
            "isda",
            "impg",
            "impga",
            "impgsez",
            "impgasez",
        )
    )
}


def summary_rows(itcsumm: dict) -> list[dict]:
    """One row per (part, group, section) with the four heads, in the portal's order (Part A before Part B);
    the group's total rows first."""
    rows = []
    for part, groups in sorted(itcsumm.items(), key=lambda kv: _PART_ORDER.get(kv[0], 99)):
        for group, body in sorted(groups.items(), key=lambda kv: _GROUP_ORDER.get(kv[0], 99)):
            rows.append(
                {
                    "part": part,
                    "group": group,
                    "section": "",
                    "bucket": f"{part}/{group}",
                    **{h: body.get(h) for h in HEADS},
                }
            )
            lists = sorted(
                ((k, v) for k, v in body.items() if isinstance(v, dict)),
                key=lambda kv: _LIST_ORDER.get(kv[0], 99),
            )
            for section, heads in lists:
                rows.append(
                    {
                        "part": part,
                        "group": group,
                        "section": section,
                        "bucket": f"{part}/{group}/{section}",
                        **heads,
                    }
                )
    return rows


@require_GET
def home(request, tenant_slug):
    regs = list(
        selectors.registrations_for(tenant=request.tenant, user=request.user, membership=request.membership)
    )
    today = timezone.localdate()
    rows = []
    for reg in regs:
        for period in services.periods_to_rebuild(reg, today):
            rows.append(
                {
                    "registration": reg,
                    "period": period,
                    "period_text": format_period(period),
                    "preview": selectors.latest_preview(
                        tenant=request.tenant, registration=reg, period=period
                    ),
                }
            )
    return render(request, "returns/home.html", {"rows": rows})


class BadAsOf(ValueError):
    """A ``?as_of=`` that is not a date, or one in the future; the message is safe to show."""


def _as_of(request) -> dt.date | None:
    """``?as_of=`` (YYYY-MM-DD as a date picker sends it, or DD-MM-YYYY); None when absent. A bad date is a 400."""
    text = request.GET.get("as_of", "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    raise BadAsOf(f"as_of {text!r} is not a date (YYYY-MM-DD or DD-MM-YYYY).")


def _snapshot(request, reg, period):
    """(snapshot, as_of): the latest stored preview, or with ``?as_of=`` the preview as it stood then."""
    try:
        as_of = _as_of(request)
        if as_of is not None:
            return services.preview_as_of(registration=reg, period=period, as_of=as_of), as_of
    except services.ReturnsError as exc:
        raise BadAsOf(str(exc)) from None
    return selectors.latest_preview(tenant=request.tenant, registration=reg, period=period), None


@require_GET
def preview(request, tenant_slug, registration_id, period):
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    try:
        snap, as_of = _snapshot(request, reg, period)
    except BadAsOf as exc:
        return HttpResponseBadRequest(str(exc))
    ctx = {
        "as_of": as_of,
        "as_of_query": f"&as_of={as_of:%Y-%m-%d}" if as_of else "",
        "registration": reg,
        "period": period,
        "period_text": format_period(period),
        "preview": snap,
        "can_rebuild": can(request.membership.role, Capability.VIEW),
        "can_sync": can(request.membership.role, Capability.SYNC),
        "prev_text": format_period(add_months(period, -3 if reg.filing_frequency == "Q" else -1)),
        "next_text": format_period(add_months(period, 3 if reg.filing_frequency == "Q" else 1)),
        "rebuild": selectors.latest_rebuild(tenant=request.tenant, registration=reg, period=period),
    }
    if snap is not None:
        ctx["history"] = (
            []
            if as_of
            else selectors.previews_for(tenant=request.tenant, registration=reg, period=period)[:10]
        )
        ctx["comparison"] = selectors.compare_with_portal(
            tenant=request.tenant, registration=reg, preview=snap
        )
        ctx["table4"] = selectors.table4(preview=snap)
        ctx["reclaim"] = selectors.reclaim_check(tenant=request.tenant, preview=snap, rows=ctx["table4"])
        ctx["summary_rows"] = summary_rows(snap.summary.get("itcsumm", {}))
        ctx["parts"] = [
            (twob_part(p.value), snap.summary["counts"].get(p.value, 0), p.value) for p in PART_LABELS
        ]
        ctx["diff_numbers"] = selectors.diff_document_numbers(tenant=request.tenant, preview=snap)
    return render(request, "returns/preview.html", ctx)


@require_POST
def rebuild(request, tenant_slug, registration_id, period):
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    try:
        _job, created = services.request_rebuild(
            tenant=request.tenant, actor=Actor.user(request.user), registration=reg, period=period
        )
    except services.ReturnsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Rebuild queued: this page updates when it is done."
            if created
            else "A rebuild of this period is already queued or running.",
        )
    return redirect("twob-preview", tenant_slug, reg.pk, format_period(period))


@require_GET
def rebuild_status(request, tenant_slug, registration_id, period, rebuild_id):
    """The htmx-polled progress of a rebuild; once it has finished, the whole page reloads to show the result."""
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    job = selectors.rebuild_for(
        tenant=request.tenant, user=request.user, rebuild_id=rebuild_id, membership=request.membership
    )
    if job is None or job.registration_id != reg.pk or job.period != period:
        raise Http404("No such rebuild")
    response = render(
        request,
        "returns/_rebuild_status.html",
        {"rebuild": job, "registration": reg, "period_text": format_period(period)},
    )
    if not job.active and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@require_POST
@require_capability(Capability.SYNC)
def recompute(request, tenant_slug, registration_id, period):
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    try:
        services.recompute_on_portal(
            tenant=request.tenant, actor=Actor.user(request.user), registration=reg, period=period
        )
    except services.ReturnsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The portal recomputed its GSTR-2B; the new 2B has been imported.")
    return redirect("twob-preview", tenant_slug, reg.pk, format_period(period))


@require_POST
@require_capability(Capability.SYNC)
def fetch_portal_2b(request, tenant_slug, registration_id, period):
    """Fetch the portal's GSTR-2B of the period (GET2B); when it has none, say why and offer to generate it now."""
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    try:
        services.fetch_portal_2b(
            tenant=request.tenant, actor=Actor.user(request.user), registration=reg, period=period
        )
    except services.TwobNotGenerated as exc:
        messages.warning(request, f"{exc} Use “Generate it now on the portal”.")
    except services.ReturnsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The portal's GSTR-2B has been fetched and imported.")
    return redirect("twob-preview", tenant_slug, reg.pk, format_period(period))


@require_GET
def documents(request, tenant_slug, registration_id, period):
    """Drill-down: the documents behind one figure of the latest snapshot (``?bucket=itcavl/othersup``)."""
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    try:
        snap, as_of = _snapshot(request, reg, period)
    except BadAsOf as exc:
        return HttpResponseBadRequest(str(exc))
    if snap is None:
        raise Http404("No preview yet")
    bucket = request.GET.get("bucket", "itcavl")
    page = Paginator(
        selectors.bucket_documents(tenant=request.tenant, preview=snap, prefix=bucket), 100
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "returns/documents.html",
        {
            "registration": reg,
            "period_text": format_period(period),
            "bucket": bucket,
            "page": page,
            "preview": snap,
            "as_of": as_of,
        },
    )


@require_GET
def download_json(request, tenant_slug, registration_id, period):
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    data = selectors.preview_json(registration=reg, period=period, today=timezone.localdate())
    response = HttpResponse(
        json.dumps({"data": data}, default=str, indent=1), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="GSTR2B_preview_{reg.gstin}_{data["rtnprd"]}.json"'
    )
    return response


@require_GET
def download_excel(request, tenant_slug, registration_id, period):
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    return export_or_start(
        request, kind="twob_preview", params={"registration": reg.pk, "period": format_period(period)}
    )


PAGE = 100  # documents per page of the deadline queue (a page renders in well under 150 ms at 500,000)
SECTION_CHOICES = [(key.value, section_name(key)) for key in SECTIONS]


def _after(text: str) -> tuple[Decimal, int] | None:
    """The keyset cursor ``score:id`` of the deadline queue's next page (None when absent or malformed)."""
    score, _, doc_id = (text or "").partition(":")
    try:
        return Decimal(score), int(doc_id)
    except (InvalidOperation, ValueError):
        return None


@require_GET
def deadlines(request, tenant_slug):
    """The documents that still need a decision, most urgent first, with filters, totals of everything matching,
    and a bulk action on the ticked documents or on all matching (the actions' confirmation step)."""
    visible = selectors.registrations_for(
        tenant=request.tenant, user=request.user, membership=request.membership
    )
    regs = visible
    chosen = request.GET.get("registration", "")
    if chosen:
        regs = regs.filter(pk=as_id(chosen)) if is_id(chosen) else regs.none()
    regs = list(regs)
    flt = selectors.queue_filter(request.GET)
    after = _after(request.GET.get("after", ""))
    today = timezone.localdate()
    items = selectors.deadline_queue(
        tenant=request.tenant, registrations=regs, today=today, limit=PAGE, after=after, flt=flt
    )
    count, stake = selectors.deadline_totals(tenant=request.tenant, registrations=regs, today=today, flt=flt)
    query = {**flt.query(), **({"registration": chosen} if chosen else {})}
    more = f"{items[-1]['score']}:{items[-1]['id']}" if len(items) == PAGE else ""
    return render(
        request,
        "returns/deadlines.html",
        {
            "items": items,
            "chosen": chosen,
            "flt": flt,
            "query": urlencode(query, doseq=True),
            "bulk_query": urlencode({"deadline": urlencode(query, doseq=True)}),
            "more": more,
            "paged": after is not None,
            "total_count": count,
            "total_itc": stake,
            "sections": SECTION_CHOICES,
            "clocks": selectors.CLOCKS,
            "can_act": can(request.membership.role, Capability.ACT),
            "action_choices": [("A", "Accept"), ("R", "Reject"), ("P", "Pending")],
            "registrations": visible.order_by("gstin"),
        },
    )


# --- the Rule 37A watch (docs/rules/gstr2b.md §7) ---------------------------------------------------------------


def _rule37a_registration(request):
    """The GSTIN the watch shows: ``?registration=`` among those the user sees (404 otherwise), else the first."""
    visible = _visible_regs(request)
    chosen = request.GET.get("registration") or request.POST.get("registration") or ""
    if chosen:
        return _registration(request, chosen) if is_id(chosen) else None, visible
    return visible.first(), visible


@require_GET
def rule37a(request, tenant_slug):
    """Per GSTIN: the invoices and debit notes at risk under Rule 37A, those to reverse (amounts by head, the
    reverse-by day) and those re-availed since their supplier filed."""
    reg, visible = _rule37a_registration(request)
    if reg is None:
        raise Http404("No such GSTIN")
    watch = selectors.rule37a_watch(tenant=request.tenant, registration=reg, today=timezone.localdate())
    return render(
        request,
        "returns/rule37a.html",
        {
            **watch,
            "totals_rows": [(s, label, watch["totals"][s]) for s, label in watch["labels"].items()],
            "registrations": visible,
            "can_refresh": can(request.membership.role, Capability.SYNC),
            "heads": HEADS,
        },
    )


@require_POST
@require_capability(Capability.SYNC)
def rule37a_refresh(request, tenant_slug):
    """Ask the portal's return tracking about the suppliers' GSTR-3B filings now (in the background)."""
    reg, _visible = _rule37a_registration(request)
    if reg is None:
        raise Http404("No such GSTIN")
    services.queue_supplier_filings(tenant=request.tenant, registration=reg)
    messages.success(request, "Asking the portal about the suppliers' GSTR-3B filings; reload in a minute.")
    return redirect(f"{reverse('returns-rule37a', args=[tenant_slug])}?registration={reg.pk}")


# --- GSTR-3B filings recorded by hand (docs/rules/gstr3b.md §4) --------------------------------------------------


def _visible_regs(request):
    return selectors.registrations_for(
        tenant=request.tenant, user=request.user, membership=request.membership
    ).order_by("gstin")


@require_http_methods(["GET", "POST"])
def filings(request, tenant_slug):
    """The recorded GSTR-3B filings of the GSTINs the user sees (from the portal or by hand), and a form to record
    one by hand (members who may sync)."""
    can_edit = can(request.membership.role, Capability.SYNC)
    form = FilingForm(request.POST or None, registrations=_visible_regs(request))
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Your role may not record GSTR-3B filings.")
        if form.is_valid():
            try:
                services.mark_gstr3b_filed(
                    tenant=request.tenant,
                    actor=Actor.user(request.user),
                    registration=form.cleaned_data["registration"],
                    period=form.cleaned_data["period"],
                    filed_on=form.cleaned_data["filed_on"],
                    arn=form.cleaned_data["arn"],
                )
            except services.ReturnsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "GSTR-3B filing recorded.")
                return redirect("returns-filings", tenant_slug)
    rows = selectors.filings_for(tenant=request.tenant, user=request.user, membership=request.membership)
    return render(
        request,
        "returns/filings.html",
        {"filings": rows, "form": form, "can_edit": can_edit},
        status=400 if form.errors else 200,
    )


def _filing(request, pk):
    filing = selectors.filing_for(
        tenant=request.tenant, user=request.user, pk=pk, membership=request.membership
    )
    if filing is None:
        raise Http404("No such filing")
    return filing


@require_http_methods(["GET", "POST"])
def filing_edit(request, tenant_slug, pk):
    filing = _filing(request, pk)
    initial = {"filed_on": filing.filed_on.strftime("%d-%m-%Y"), "arn": filing.arn}
    form = FilingCorrectionForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not can(request.membership.role, Capability.SYNC):
            raise PermissionDenied("Your role may not correct GSTR-3B filings.")
        if form.is_valid():
            try:
                services.correct_gstr3b_filing(
                    tenant=request.tenant,
                    actor=Actor.user(request.user),
                    filing=filing,
                    filed_on=form.cleaned_data["filed_on"],
                    arn=form.cleaned_data["arn"],
                )
            except services.ReturnsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "GSTR-3B filing corrected.")
                return redirect("returns-filings", tenant_slug)
    return render(
        request,
        "returns/filing_edit.html",
        {"filing": filing, "form": form, "can_edit": can(request.membership.role, Capability.SYNC)},
        status=400 if form.errors else 200,
    )


@require_POST
@require_capability(Capability.SYNC)
def filing_delete(request, tenant_slug, pk):
    filing = _filing(request, pk)
    services.delete_gstr3b_filing(tenant=request.tenant, actor=Actor.user(request.user), filing=filing)
    messages.success(request, f"GSTR-3B filing of {format_period(filing.period)} deleted.")
    return redirect("returns-filings", tenant_slug)


# --- the credit-reversal statement balance (docs/rules/gstr3b.md §2.3) ------------------------------------------


@require_http_methods(["GET", "POST"])
def balances(request, tenant_slug):
    """Balances of the Electronic Credit Reversal and Re-claimed Statement, recorded by hand, and a form to record
    (or correct) one."""
    can_edit = can(request.membership.role, Capability.SYNC)
    form = BalanceForm(request.POST or None, registrations=_visible_regs(request))
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Your role may not record statement balances.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.set_credit_reversal_balance(
                    tenant=request.tenant,
                    actor=Actor.user(request.user),
                    registration=data["registration"],
                    period=data["period"],
                    amounts={h: data[h] for h in HEADS},
                )
            except services.ReturnsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Balance recorded.")
                return redirect("returns-balances", tenant_slug)
    rows = selectors.balances_for(tenant=request.tenant, user=request.user, membership=request.membership)
    return render(
        request,
        "returns/balances.html",
        {"balances": rows, "form": form, "can_edit": can_edit},
        status=400 if form.errors else 200,
    )


@require_POST
@require_capability(Capability.SYNC)
def balance_delete(request, tenant_slug, pk):
    row = selectors.balance_for(
        tenant=request.tenant, user=request.user, pk=pk, membership=request.membership
    )
    if row is None:
        raise Http404("No such balance")
    services.delete_credit_reversal_balance(
        tenant=request.tenant, actor=Actor.user(request.user), balance=row
    )
    messages.success(request, "Balance deleted.")
    return redirect("returns-balances", tenant_slug)

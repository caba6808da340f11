"""GSTR-2B preview pages: a period's preview (summary, diff, drill-down, comparison with the portal's 2B, GSTR-3B
Table 4), rebuild on demand, recompute on the portal, Excel/JSON downloads, and the deadline queue."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor
from exports.views import export_or_start
from gst.duedates import return_period
from gst.periods import PeriodError, add_months, format_period, parse_period
from tenancy.roles import Capability, can
from tenancy.views import require_capability

from . import selectors, services
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


def summary_rows(itcsumm: dict) -> list[dict]:
    """One row per (part, group, section) with the four heads; the group's total rows first."""
    rows = []
    for part, groups in itcsumm.items():
        for group, body in groups.items():
            rows.append(
                {
                    "part": part,
                    "group": group,
                    "section": "",
                    "bucket": f"{part}/{group}",
                    **{h: body.get(h) for h in HEADS},
                }
            )
            for section, heads in body.items():
                if isinstance(heads, dict):
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


@require_GET
def preview(request, tenant_slug, registration_id, period):
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    snap = selectors.latest_preview(tenant=request.tenant, registration=reg, period=period)
    ctx = {
        "registration": reg,
        "period": period,
        "period_text": format_period(period),
        "preview": snap,
        "can_rebuild": can(request.membership.role, Capability.VIEW),
        "can_sync": can(request.membership.role, Capability.SYNC),
        "prev_text": format_period(add_months(period, -3 if reg.filing_frequency == "Q" else -1)),
        "next_text": format_period(add_months(period, 3 if reg.filing_frequency == "Q" else 1)),
        "rebuild": selectors.latest_rebuild(tenant=request.tenant, registration=reg, period=period),
        "itcrev_on": services.itcrev_enabled(),
    }
    if snap is not None:
        ctx["history"] = selectors.previews_for(tenant=request.tenant, registration=reg, period=period)[:10]
        ctx["comparison"] = selectors.compare_with_portal(
            tenant=request.tenant, registration=reg, preview=snap
        )
        ctx["table4"] = selectors.table4(preview=snap)
        ctx["summary_rows"] = summary_rows(snap.summary.get("itcsumm", {}))
        ctx["parts"] = [
            (PART_LABELS[p], snap.summary["counts"].get(p.value, 0), p.value) for p in PART_LABELS
        ]
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


@require_GET
def documents(request, tenant_slug, registration_id, period):
    """Drill-down: the documents behind one figure of the latest snapshot (``?bucket=itcavl/othersup``)."""
    reg = _registration(request, registration_id)
    period = _period(reg, period)
    snap = selectors.latest_preview(tenant=request.tenant, registration=reg, period=period)
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


PAGE = 200


def _after(text: str) -> tuple[Decimal, int] | None:
    """The keyset cursor ``score:id`` of the deadline queue's next page (None when absent or malformed)."""
    score, _, doc_id = (text or "").partition(":")
    try:
        return Decimal(score), int(doc_id)
    except (InvalidOperation, ValueError):
        return None


@require_GET
def deadlines(request, tenant_slug):
    regs = selectors.registrations_for(
        tenant=request.tenant, user=request.user, membership=request.membership
    )
    chosen = request.GET.get("registration")
    if chosen:
        regs = regs.filter(pk=chosen) if chosen.isdigit() else regs.none()
    after = _after(request.GET.get("after", ""))
    items = selectors.deadline_queue(
        tenant=request.tenant, registrations=list(regs), today=timezone.localdate(), limit=PAGE, after=after
    )
    more = f"{items[-1]['score']}:{items[-1]['id']}" if len(items) == PAGE else ""
    return render(
        request,
        "returns/deadlines.html",
        {
            "items": items,
            "chosen": chosen or "",
            "more": more,
            "paged": after is not None,
            "registrations": selectors.registrations_for(
                tenant=request.tenant, user=request.user, membership=request.membership
            ),
        },
    )

"""Portal pages: connect a GSTIN (OTP), sync now, watch runs, and see what each run changed."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.services import Actor
from exports.services import export_response, start_export
from tenancy.roles import Capability
from tenancy.selectors import visible_registrations
from tenancy.views import require_capability

from . import push, services
from .client import PortalError
from .exports import KIND as DIFF_KIND
from .forms import OtpForm, OtpRequestForm, SyncForm
from .models import ACTIVE_PUSH_STATUSES, ACTIVE_STATUSES
from .outward import outward_for
from .selectors import DIFF_ACTIONS, push_batches_for, registrations_with_connections, run_diff, runs_for


def _registration(request, registration_id: int):
    regs = visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    return get_object_or_404(regs, pk=registration_id)


def portal_home(request, tenant_slug):
    regs = registrations_with_connections(
        tenant=request.tenant, user=request.user, membership=request.membership
    )
    runs = list(runs_for(tenant=request.tenant, user=request.user, membership=request.membership)[:30])
    batches = list(
        push_batches_for(tenant=request.tenant, user=request.user, membership=request.membership)[:20]
    )
    context = {
        "registrations": regs,
        "runs": runs,
        "batches": batches,
        "active": any(r.status in ACTIVE_STATUSES for r in runs)
        or any(b.status in ACTIVE_PUSH_STATUSES for b in batches),
        "sync_form": SyncForm(),
    }
    if request.htmx:
        return render(request, "gst_sync/_runs.html", context)
    return render(request, "gst_sync/portal.html", context)


def _otp_step(request, tenant_slug, registration_id, *, form_class, invalid: str, step, done: str):
    """One step of connecting a GSTIN (ask for an OTP, then submit it): validate, call the service, say how it went."""
    reg = _registration(request, registration_id)
    form = form_class(request.POST)
    if not form.is_valid():
        named = [
            f"{form.fields[f].label}: {e}"
            for f, errs in form.errors.items()
            if f in form.fields
            for e in errs
        ]
        messages.error(request, " ".join([invalid, *named]))
    else:
        try:
            step(tenant=request.tenant, actor=Actor.user(request.user), registration=reg, **form.cleaned_data)
            messages.success(request, done.format(gstin=reg.gstin))
        except services.SyncError as exc:
            messages.error(request, str(exc))
        except PortalError as exc:  # the portal (or the sandbox portal) is down or unreachable
            messages.error(
                request,
                f"Could not reach the GST portal, so nothing was sent: please try again in a few minutes. "
                f"({exc.message})",
            )
    return redirect("portal-home", tenant_slug)


@require_POST
@require_capability(Capability.SYNC)
def request_otp(request, tenant_slug, registration_id):
    return _otp_step(
        request,
        tenant_slug,
        registration_id,
        form_class=OtpRequestForm,
        invalid="Enter the portal username of the GSTIN.",
        step=services.request_otp,
        done="The portal sent an OTP for {gstin}. Enter it below.",
    )


@require_POST
@require_capability(Capability.SYNC)
def submit_otp(request, tenant_slug, registration_id):
    return _otp_step(
        request,
        tenant_slug,
        registration_id,
        form_class=OtpForm,
        invalid="The OTP is the 6-digit number the portal sent.",
        step=services.connect,
        done="{gstin} is connected to the portal.",
    )


@require_POST
@require_capability(Capability.SYNC)
def sync_now(request, tenant_slug, registration_id):
    reg = _registration(request, registration_id)
    form = SyncForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose valid sections.")
        return redirect("portal-home", tenant_slug)
    try:
        runs = services.queue_sync(
            tenant=request.tenant,
            actor=Actor.user(request.user),
            registration=reg,
            sections=form.cleaned_data["sections"] or None,
        )
    except services.SyncError as exc:
        messages.error(request, str(exc))
    else:
        if runs:
            messages.success(request, f"Sync of {reg.gstin} queued: {len(runs)} section(s).")
        else:
            messages.info(request, f"A sync of {reg.gstin} is already running.")
    return redirect("portal-home", tenant_slug)


def run_detail(request, tenant_slug, run_id):
    run = get_object_or_404(
        runs_for(tenant=request.tenant, user=request.user, membership=request.membership), pk=run_id
    )
    events = run_diff(tenant=request.tenant, run=run)
    kind = request.GET.get("kind")
    if kind:
        if kind not in DIFF_ACTIONS:
            raise Http404
        events = events.filter(action=kind)
    return render(
        request,
        "gst_sync/run_detail.html",
        {
            "run": run,
            "events": events[:500],
            "shown_kind": kind,
            "kinds": DIFF_ACTIONS,
            "total": events.count(),
        },
    )


def run_export(request, tenant_slug, run_id):
    run = get_object_or_404(
        runs_for(tenant=request.tenant, user=request.user, membership=request.membership), pk=run_id
    )
    params = {"run": run.pk}
    response = export_response(tenant=request.tenant, user=request.user, kind=DIFF_KIND, params=params)
    if response is not None:
        return response
    job = start_export(tenant=request.tenant, user=request.user, kind=DIFF_KIND, params=params)
    return redirect("export-job", tenant_slug, job.pk)


@require_POST
@require_capability(Capability.SYNC)
def push_now(request, tenant_slug, registration_id):
    reg = _registration(request, registration_id)
    try:
        batches = push.queue_push(tenant=request.tenant, actor=Actor.user(request.user), registration=reg)
    except push.PushError as exc:
        messages.error(request, str(exc))
    else:
        if batches:
            n = sum(b.item_count for b in batches)
            messages.success(request, f"Pushing {n} action(s) of {reg.gstin} in {len(batches)} request(s).")
        elif not batches.held:
            messages.info(request, f"No action of {reg.gstin} is waiting to be pushed.")
        if batches.held:
            messages.warning(
                request,
                f"{len(batches.held)} accept(s) of {reg.gstin} not sent: say whether ITC needs to be reduced on "
                "each (the portal refuses them without the answer). The documents' histories name them.",
            )
    return redirect("portal-home", tenant_slug)


def push_detail(request, tenant_slug, batch_id):
    batch = get_object_or_404(
        push_batches_for(tenant=request.tenant, user=request.user, membership=request.membership), pk=batch_id
    )
    items = batch.items.select_related("document").order_by("result", "id")
    return render(request, "gst_sync/push_detail.html", {"batch": batch, "items": items})


def outward_list(request, tenant_slug):
    """The seller's side of IMS: what buyers did with the tenant's own invoices, rejected and pending first."""

    regs = visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    docs = outward_for(tenant=request.tenant, registrations=regs)
    action = request.GET.get("action", "")
    if action in ("A", "R", "P", "N"):
        docs = docs.filter(recipient_action=action)
    recipient = request.GET.get("recipient", "").strip().upper()
    if recipient:
        docs = docs.filter(recipient_gstin__startswith=recipient)
    return render(
        request, "gst_sync/outward.html", {"docs": docs[:500], "action": action, "recipient": recipient}
    )

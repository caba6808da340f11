"""Portal pages: connect a GSTIN (OTP), sync now, watch runs, and see what each run changed."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from audit.services import Actor
from exports.services import export_response, start_export
from tenancy.roles import Capability, can
from tenancy.selectors import registrations_for_capability, visible_registrations
from tenancy.views import require_capability

from . import push, services
from .client import PortalError
from .exports import KIND as DIFF_KIND
from .forms import OtpForm, OtpRequestForm, SyncForm
from .models import ACTIVE_PUSH_STATUSES, ACTIVE_STATUSES, ConnectionStatus, PortalConnection
from .outward import outward_for
from .selectors import (
    DIFF_ACTIONS,
    push_batches_for,
    push_queue_counts,
    registrations_with_connections,
    run_diff,
    runs_for,
    sync_states,
)


def _registration(request, registration_id: int):
    regs = visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    return get_object_or_404(regs, pk=registration_id)


# What "Sync all" / "Push all" could not do for a GSTIN: shown on its row by the next page load (and its htmx
# refreshes), then gone.
NOTES_KEY = "portal_row_notes"
SHOWN_NOTES_KEY = "portal_row_notes_shown"


def portal_home(request, tenant_slug):
    regs = registrations_with_connections(
        tenant=request.tenant, user=request.user, membership=request.membership
    )
    states = sync_states(tenant=request.tenant, registrations=regs)
    if request.htmx:
        notes = request.session.get(SHOWN_NOTES_KEY, {})
    else:
        notes = request.session.pop(NOTES_KEY, {})
        if notes or request.session.get(SHOWN_NOTES_KEY):
            request.session[SHOWN_NOTES_KEY] = notes
    for reg in regs:
        reg.sync = states[reg.pk]
        reg.note = notes.get(str(reg.pk), "")
    runs = list(runs_for(tenant=request.tenant, user=request.user, membership=request.membership)[:30])
    batches = list(
        push_batches_for(tenant=request.tenant, user=request.user, membership=request.membership)[:20]
    )
    can_sync = can(request.membership.role, Capability.SYNC)
    connected = [r for r in regs if r.connection and r.connection.status == ConnectionStatus.CONNECTED]
    context = {
        "registrations": regs,
        "runs": runs,
        "batches": batches,
        "active": any(r.status in ACTIVE_STATUSES for r in runs)
        or any(b.status in ACTIVE_PUSH_STATUSES for b in batches)
        or any(st.active for st in states.values()),
        "sync_form": SyncForm(),
        "can_sync": can_sync,
        "connected_count": len(connected),
        "push_all_count": sum(r.to_push for r in connected),
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


def _actionable(request) -> list:
    """The GSTINs "Sync all" and "Push all" act on: those the member may sync (visible, active), in order."""
    return list(
        registrations_for_capability(
            tenant=request.tenant,
            user=request.user,
            capability=Capability.SYNC,
            membership=request.membership,
        ).order_by("gstin")
    )


def _connected_ids(request, regs) -> set[int]:
    return set(
        PortalConnection.objects.filter(
            tenant=request.tenant, registration__in=regs, status=ConnectionStatus.CONNECTED
        ).values_list("registration_id", flat=True)
    )


@require_POST
@require_capability(Capability.SYNC)
def sync_all(request, tenant_slug):
    """Queue a sync of every connected GSTIN the member may sync; what could not be queued is said on its row."""
    regs = _actionable(request)
    connected = _connected_ids(request, regs)
    notes: dict[str, str] = {}
    queued = busy = 0
    for reg in regs:
        if reg.pk not in connected:
            notes[str(reg.pk)] = "Not synced: connect it with an OTP first."
            continue
        try:
            runs = services.queue_sync(
                tenant=request.tenant, actor=Actor.user(request.user), registration=reg
            )
        except services.SyncError as exc:
            notes[str(reg.pk)] = f"Not synced: {exc}"
            continue
        if runs:
            queued += 1
        else:
            busy += 1
    parts = [f"Sync queued for {queued} GSTIN{pluralize(queued)}"]
    if busy:
        parts.append(f"{busy} already syncing")
    if notes:
        parts.append(f"{len(notes)} not synced (see the row{pluralize(len(notes))} below)")
    (messages.success if queued or busy else messages.warning)(request, "; ".join(parts) + ".")
    request.session[NOTES_KEY] = notes
    return redirect("portal-home", tenant_slug)


@require_POST
@require_capability(Capability.SYNC)
def push_all(request, tenant_slug):
    """Push the waiting actions of every connected GSTIN the member may push; refusals and held accepts are said
    on their rows."""
    regs = _actionable(request)
    connected = _connected_ids(request, regs)
    unconnected = [r for r in regs if r.pk not in connected]
    waiting = push_queue_counts(tenant=request.tenant, registrations=unconnected) if unconnected else {}
    notes: dict[str, str] = {}
    gstins = actions = 0
    for reg in regs:
        if reg.pk not in connected:
            if waiting[reg.pk]["all"]:
                notes[str(reg.pk)] = "Not pushed: connect it with an OTP first."
            continue
        try:
            batches = push.queue_push(tenant=request.tenant, actor=Actor.user(request.user), registration=reg)
        except push.PushError as exc:
            notes[str(reg.pk)] = f"Not pushed: {exc}"
            continue
        if batches:
            gstins += 1
            actions += sum(b.item_count for b in batches)
        if batches.held:
            notes[str(reg.pk)] = (
                f"{len(batches.held)} accept{pluralize(len(batches.held))} not sent: say whether ITC needs to be "
                "reduced on each (the portal refuses them without the answer)."
            )
    if actions:
        messages.success(
            request, f"Pushing {actions} action{pluralize(actions)} of {gstins} GSTIN{pluralize(gstins)}."
        )
    else:
        messages.info(request, "No action is waiting to be pushed.")
    request.session[NOTES_KEY] = notes
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

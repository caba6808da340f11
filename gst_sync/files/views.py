"""Portal files page: import the IMS JSON / GSTR-2B JSON downloaded from the portal, download the pending local
actions as the IMS Offline Tool's upload JSON."""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from audit.services import Actor
from tenancy.roles import Capability, can
from tenancy.selectors import registrations_for_capability, visible_registrations
from tenancy.views import require_capability

from . import imports
from .formats import RESET, SAVE, PortalFileError, dumps

KIND_CHOICES = [("ims", "IMS JSON (IMS dashboard → Offline → Download JSON)"), ("2b", "GSTR-2B JSON")]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data] if data else [single(None, initial)]
        return [single(data, initial)]


class PortalFileForm(forms.Form):
    registration = forms.IntegerField(label="GSTIN", widget=forms.Select)
    kind = forms.ChoiceField(label="File type", choices=KIND_CHOICES, widget=forms.RadioSelect, initial="ims")
    period = forms.RegexField(
        regex=r"^(0[1-9]|1[0-2])\d{4}$",
        required=False,
        label="2B period (MMYYYY, checked against the file)",
        error_messages={"invalid": "The period is MMYYYY, e.g. 102025."},
    )
    files = MultipleFileField(
        label="File(s)", help_text="GSTR-2B split into parts: choose all parts together."
    )
    confirm_removals = forms.BooleanField(
        required=False,
        label="Yes, mark the documents listed above as no longer on the portal",
    )

    def __init__(self, *args, registrations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["registration"].widget.choices = [
            (r.pk, f"{r.gstin} {r.display_name}") for r in registrations
        ]


def _page(request, form, status=200, errors=None, removals=None):
    regs = list(
        visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    )
    counts = imports.pending_upload_counts(tenant=request.tenant, registrations=regs)
    for reg in regs:
        reg.upload_counts = counts[reg.pk]
    return render(
        request,
        "gst_sync/import.html",
        {
            "form": form,
            "errors": errors or [],
            "removals": removals,
            "registrations": regs,
            "can_import": can(request.membership.role, Capability.SYNC),
            "statements": imports.recent_statements(tenant=request.tenant, registrations=regs)[:24],
            "max_mb": imports.max_upload_bytes() // (1024 * 1024),
        },
        status=status,
    )


def files_home(request, tenant_slug):
    if request.method == "POST":
        return import_file(request, tenant_slug)
    regs = registrations_for_capability(
        tenant=request.tenant, user=request.user, capability=Capability.SYNC, membership=request.membership
    )
    return _page(request, PortalFileForm(registrations=regs))


@require_capability(Capability.SYNC)
def import_file(request, tenant_slug):
    regs = registrations_for_capability(
        tenant=request.tenant, user=request.user, capability=Capability.SYNC, membership=request.membership
    )
    form = PortalFileForm(request.POST, request.FILES, registrations=regs)
    if not form.is_valid():
        return _page(request, form, status=400)
    reg = get_object_or_404(regs, pk=form.cleaned_data["registration"])
    actor = Actor.user(request.user)
    try:
        if form.cleaned_data["kind"] == "2b":
            result = imports.import_gstr2b_files(
                tenant=request.tenant,
                actor=actor,
                registration=reg,
                files=form.cleaned_data["files"],
                period=form.cleaned_data["period"],
            )
        else:
            result = imports.import_ims_files(
                tenant=request.tenant,
                actor=actor,
                registration=reg,
                files=form.cleaned_data["files"],
                confirm_removals=form.cleaned_data["confirm_removals"],
            )
    except imports.RemovalsNeedConfirmation as exc:
        return _page(request, form, status=409, removals=exc)
    except PortalFileError as exc:
        return _page(request, form, status=400, errors=exc.errors)
    return render(
        request,
        "gst_sync/import_result.html",
        {"registration": reg, "result": result, "data": result.as_dict()},
    )


def offline_upload(request, tenant_slug, registration_id):
    kind = request.GET.get("kind", SAVE)
    if kind not in (SAVE, RESET):
        raise Http404("kind is save or reset")
    regs = visible_registrations(tenant=request.tenant, user=request.user, membership=request.membership)
    reg = get_object_or_404(regs, pk=registration_id)
    try:
        body = imports.offline_upload(tenant=request.tenant, registration=reg, kind=kind)
    except PortalFileError as exc:  # an Accept without the ITC-reduction answer it needs
        importable = registrations_for_capability(
            tenant=request.tenant,
            user=request.user,
            capability=Capability.SYNC,
            membership=request.membership,
        )
        return _page(request, PortalFileForm(registrations=importable), status=422, errors=exc.errors)
    response = HttpResponse(dumps(body), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{imports.upload_filename(reg, kind)}"'
    return response

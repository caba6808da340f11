"""Sign-in security pages (docs/access.md §3): two-factor sign-in, recovery codes, the session list, and the second
step of signing in."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import Actor

from . import security
from .middleware import _TENANT_PATH
from .models import Tenant
from .roles import Capability
from .views import require_capability


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
    )


def _next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


@login_required
def account_security(request):
    user = request.user
    on = security.has_two_factor(user)
    context = {
        "two_factor_on": on,
        "verified": request.user.is_verified(),
        "setup": None if on else security.pending_setup(user),
        "sessions": security.live_sessions(user),
        "this_session": request.session.session_key,
        "required_by": request.GET.get("required", ""),
        "requiring": list(
            Tenant.objects.filter(memberships__user=user, require_two_factor=True).values_list(
                "name", flat=True
            )
        ),
        "next": _next(request, ""),
        "form": CodeForm(),
    }
    if context["setup"] is not None:
        context["qr_svg"] = security.qr_svg(context["setup"])
        context["secret"] = security.secret_text(context["setup"])
    return render(request, "tenancy/security.html", context)


@require_POST
@login_required
def two_factor_start(request):
    try:
        security.start_setup(request.user)
    except security.SecurityError as err:
        messages.error(request, str(err))
    return _back_to_security(request)


@require_POST
@login_required
def two_factor_confirm(request):
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            enabled = security.confirm_setup(request, form.cleaned_data["code"])
        except security.SecurityError as err:
            messages.error(request, str(err))
        else:
            return render(
                request,
                "tenancy/recovery_codes.html",
                {"codes": enabled.recovery_codes, "first_time": True, "next": _next(request, "")},
            )
    else:
        messages.error(request, "Enter the code your authenticator app shows.")
    return _back_to_security(request)


@require_POST
@login_required
def recovery_codes_renew(request):
    form = CodeForm(request.POST)
    try:
        if not form.is_valid():
            raise security.SecurityError("Enter a current code from your authenticator app.")
        codes = security.regenerate_codes(request, form.cleaned_data["code"])
    except security.SecurityError as err:
        messages.error(request, str(err))
        return _back_to_security(request)
    return render(request, "tenancy/recovery_codes.html", {"codes": codes, "first_time": False, "next": ""})


@require_POST
@login_required
def two_factor_disable(request):
    form = CodeForm(request.POST)
    try:
        if not form.is_valid():
            raise security.SecurityError("Enter a current code to turn two-factor sign-in off.")
        security.disable(request, form.cleaned_data["code"])
    except security.SecurityError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, "Two-factor sign-in is off.")
    return _back_to_security(request)


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_verify(request):
    """The second step of signing in."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            security.verify(request, form.cleaned_data["code"])
        except security.SecurityError as err:
            form.add_error("code", str(err))
        else:
            return HttpResponseRedirect(_next(request, reverse("home")))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": _next(request, "")})


@require_POST
@login_required
def sessions_end(request):
    """End the user's other sessions ("others"), or every session, this one included ("all")."""
    everywhere = request.POST.get("which") == "all"
    keep = None if everywhere else request.session.session_key
    ended = security.end_sessions(request.user, keep=keep, actor=Actor.user(request.user))
    if everywhere:
        logout(request)
        return redirect("login")
    messages.success(request, f"Signed out of {ended} other session{'s' if ended != 1 else ''}.")
    return _back_to_security(request)


@require_POST
@require_capability(Capability.MANAGE_MEMBERS)
def tenant_two_factor(request, tenant_slug):
    """An owner or admin makes two-factor sign-in required (or optional) for the organisation's members."""
    required = request.POST.get("required") == "1"
    if required and not request.user.is_verified():
        messages.error(request, "Turn on two-factor sign-in for yourself first, then require it of the team.")
    else:
        security.set_required(request.tenant, required, Actor.user(request.user))
        messages.success(
            request,
            "Every member must now sign in with a second factor."
            if required
            else "Two-factor sign-in is now up to each member.",
        )
    return redirect("tenant-members", tenant_slug=tenant_slug)


def _back_to_security(request):
    target = reverse("account-security")
    nxt = _next(request, "")
    if nxt and _TENANT_PATH.match(nxt):
        target += "?" + urlencode({"next": nxt})
    return HttpResponseRedirect(target)

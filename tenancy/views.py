"""Organisation pages: the tenant switcher, members and GSTIN access, the tenant's GSTINs, and its data (export,
deletion)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import Actor

from . import services, tokens
from .forms import (
    DeleteOrganisationForm,
    GrantsForm,
    InviteForm,
    RegistrationEditForm,
    RegistrationForm,
    RoleForm,
    TokenForm,
)
from .models import Membership, Registration
from .roles import Capability, Role, can, sees_all_gstins
from .selectors import (
    member_grants,
    registrations_page,
    tenant_data_counts,
    tenant_data_exports,
    tenant_members,
    tenant_registrations,
    tenants_for_user,
)


@login_required
def home(request):
    """Send the user to their last (or only) organisation; otherwise let them choose."""
    tenants = list(tenants_for_user(request.user))
    last = request.session.get("last_tenant")
    if last and any(t.slug == last for t in tenants):
        return redirect("tenant-home", last)
    if len(tenants) == 1:
        return redirect("tenant-home", tenants[0].slug)
    return render(request, "tenancy/choose_tenant.html", {"tenants": tenants})


def require_capability(capability: Capability):
    """Tenant pages only for members whose role has ``capability``; others get 403 (the middleware already
    sent non-members a 404 and anonymous users to the login page)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None or not can(membership.role, capability):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _form_kwargs(request) -> dict:
    return {
        "registrations": tenant_registrations(
            tenant=request.tenant, user=request.user, membership=request.membership
        ),
        "allow_owner": request.membership.role == Role.OWNER,
    }


def _apply_error(form, err: services.TenancyError) -> None:
    form.add_error(err.field if err.field in form.fields else None, err.message)


# --- members -----------------------------------------------------------------------------------------------


@require_capability(Capability.MANAGE_MEMBERS)
def members(request, tenant_slug):
    """List members with role and GSTIN grants; invite someone by email (POST)."""
    form = InviteForm(request.POST or None, **_form_kwargs(request))
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.invite_member(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                registrations=form.cleaned_data["registrations"],
                base_url=request.build_absolute_uri("/"),
            )
        except services.TenancyError as err:
            _apply_error(form, err)
        else:
            messages.success(request, f"Invited {membership.user.email} as {membership.get_role_display()}.")
            if not sees_all_gstins(membership.role) and not form.cleaned_data["registrations"]:
                messages.warning(
                    request,
                    f"{membership.user.email} has no GSTIN yet, so they will see no documents: grant GSTINs on "
                    "their page.",
                )
            return redirect("tenant-members", tenant_slug)
    return render(
        request,
        "tenancy/members.html",
        {
            "members": tenant_members(tenant=request.tenant),
            "form": form,
            "has_registrations": form.fields["registrations"].queryset.exists(),
        },
    )


def _member(request, member_id) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), pk=member_id, tenant=request.tenant)


@require_capability(Capability.MANAGE_MEMBERS)
def member_detail(request, tenant_slug, member_id):
    member = _member(request, member_id)
    kwargs = _form_kwargs(request)
    granted = member_grants(tenant=request.tenant, user=member.user)
    return render(
        request,
        "tenancy/member_detail.html",
        {
            "member": member,
            "role_form": RoleForm(initial={"role": member.role}, **kwargs),
            "grants_form": GrantsForm(initial={"registrations": list(granted)}, **kwargs),
            "sees_all": member.role in (Role.OWNER, Role.ADMIN),
        },
    )


@require_POST
@require_capability(Capability.MANAGE_MEMBERS)
def member_role(request, tenant_slug, member_id):
    member = _member(request, member_id)
    form = RoleForm(request.POST, **_form_kwargs(request))
    if not form.is_valid():
        messages.error(request, "Choose one of the offered roles.")
        return redirect("tenant-member", tenant_slug, member.pk)
    try:
        member = services.set_role(
            tenant=request.tenant,
            actor=Actor.from_request(request),
            membership=member,
            role=form.cleaned_data["role"],
        )
    except services.TenancyError as err:
        messages.error(request, err.message)
        return redirect("tenant-member", tenant_slug, member.pk)
    messages.success(request, f"{member.user.get_username()} is now {member.get_role_display()}.")
    if member.user_id == request.user.pk and not can(member.role, Capability.MANAGE_MEMBERS):
        return redirect("tenant-home", tenant_slug)
    return redirect("tenant-member", tenant_slug, member.pk)


@require_POST
@require_capability(Capability.MANAGE_MEMBERS)
def member_grants_update(request, tenant_slug, member_id):
    member = _member(request, member_id)
    form = GrantsForm(request.POST, **_form_kwargs(request))
    if not form.is_valid():
        messages.error(request, "Tick only GSTINs of this organisation.")
        return redirect("tenant-member", tenant_slug, member.pk)
    try:
        granted, revoked = services.set_gstin_grants(
            tenant=request.tenant,
            actor=Actor.from_request(request),
            user=member.user,
            registrations=form.cleaned_data["registrations"],
        )
    except services.TenancyError as err:
        messages.error(request, err.message)
    else:
        if granted or revoked:
            parts = [
                f"granted {', '.join(granted)}" if granted else "",
                f"revoked {', '.join(revoked)}" if revoked else "",
            ]
            messages.success(
                request,
                f"GSTIN access of {member.user.get_username()}: " + "; ".join(p for p in parts if p) + ".",
            )
        else:
            messages.info(request, "No change to GSTIN access.")
    return redirect("tenant-member", tenant_slug, member.pk)


@require_POST
@require_capability(Capability.MANAGE_MEMBERS)
def member_resend_invitation(request, tenant_slug, member_id):
    member = _member(request, member_id)
    try:
        services.resend_invitation(
            tenant=request.tenant,
            actor=Actor.from_request(request),
            membership=member,
            base_url=request.build_absolute_uri("/"),
        )
    except services.TenancyError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, f"Sent a new set-password link to {member.user.email}.")
    return redirect("tenant-member", tenant_slug, member.pk)


@require_POST
@require_capability(Capability.MANAGE_MEMBERS)
def member_remove(request, tenant_slug, member_id):
    member = _member(request, member_id)
    try:
        services.remove_member(tenant=request.tenant, actor=Actor.from_request(request), membership=member)
    except services.TenancyError as err:
        messages.error(request, err.message)
        return redirect("tenant-member", tenant_slug, member.pk)
    if member.user_id == request.user.pk:
        messages.success(request, f"You left {request.tenant.name}.")
        request.session.pop("last_tenant", None)
        return redirect("home")
    messages.success(request, f"Removed {member.user.get_username()} from {request.tenant.name}.")
    return redirect("tenant-members", tenant_slug)


# --- registrations (GSTINs) ----------------------------------------------------------------------------------


@require_capability(Capability.MANAGE_REGISTRATIONS)
def registrations(request, tenant_slug):
    """The tenant's GSTINs; add one (POST). A GSTIN that fails a check gets a field error naming the check."""
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reg = services.add_registration(
                tenant=request.tenant, actor=Actor.from_request(request), **form.cleaned_data
            )
        except services.TenancyError as err:
            _apply_error(form, err)
        else:
            messages.success(request, f"Added {reg.gstin} ({reg.display_name}).")
            return redirect("tenant-registrations", tenant_slug)
    return render(
        request,
        "tenancy/registrations.html",
        {
            "registrations": registrations_page(
                tenant=request.tenant, user=request.user, membership=request.membership
            ),
            "form": form,
        },
    )


@require_capability(Capability.MANAGE_REGISTRATIONS)
def registration_edit(request, tenant_slug, registration_id):
    reg = get_object_or_404(Registration.objects.filter(tenant=request.tenant), pk=registration_id)
    initial = {
        "legal_name": reg.legal_name,
        "trade_name": reg.trade_name,
        "filing_frequency": reg.filing_frequency,
    }
    form = RegistrationEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_registration(
                tenant=request.tenant,
                actor=Actor.from_request(request),
                registration=reg,
                **form.cleaned_data,
            )
        except services.TenancyError as err:
            _apply_error(form, err)
        else:
            messages.success(request, f"Saved {reg.gstin}.")
            return redirect("tenant-registrations", tenant_slug)
    return render(request, "tenancy/registration_edit.html", {"registration": reg, "form": form})


@require_POST
@require_capability(Capability.MANAGE_REGISTRATIONS)
def registration_active(request, tenant_slug, registration_id):
    """Deactivate (``active=0``) or reactivate (``active=1``) a GSTIN: owners and admins only."""
    reg = get_object_or_404(Registration.objects.filter(tenant=request.tenant), pk=registration_id)
    wanted = request.POST.get("active")
    if wanted not in ("0", "1"):
        messages.error(request, "Say whether to deactivate or reactivate the GSTIN.")
        return redirect("tenant-registrations", tenant_slug)
    services.set_registration_active(
        tenant=request.tenant, actor=Actor.from_request(request), registration=reg, active=wanted == "1"
    )
    if wanted == "1":
        messages.success(request, f"Reactivated {reg.gstin}: it is listed and synced again.")
    else:
        messages.success(
            request,
            f"Deactivated {reg.gstin}: it is hidden and no longer synced. Its documents and history are kept; "
            "reactivate it here at any time.",
        )
    return redirect("tenant-registrations", tenant_slug)


@require_http_methods(["GET", "POST"])
def api_access(request, tenant_slug):
    """The user's API tokens in this organisation (docs/access.md §1): name, scopes, expiry, last use; POST makes
    one, whose key this answer shows once (it is stored only as a hash)."""
    form = TokenForm(
        request.POST or None,
        default_days=settings.API_TOKEN_DAYS,
        max_days=settings.API_TOKEN_MAX_DAYS,
    )
    new_key = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                token, new_key = tokens.create_token(
                    tenant=request.tenant,
                    actor=Actor.user(request.user),
                    user=request.user,
                    **form.cleaned_data,
                )
            except services.TenancyError as err:
                _apply_error(form, err)
            else:
                messages.success(
                    request, f"Made the token “{token.name}”. Copy it now: it is not shown again."
                )
                form = TokenForm(default_days=settings.API_TOKEN_DAYS, max_days=settings.API_TOKEN_MAX_DAYS)
        if form.errors:
            status = 400
    response = render(
        request,
        "tenancy/api_access.html",
        {
            "tokens": tokens.tokens_of(tenant=request.tenant, user=request.user),
            "form": form,
            "new_key": new_key,
            "now": timezone.now(),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def api_token_revoke(request, tenant_slug, token_id):
    """Revoke one of the user's own tokens in this organisation (404 for anyone else's)."""
    token = tokens.token_of(tenant=request.tenant, user=request.user, pk=token_id)
    if token is None:
        raise Http404("No such token")
    if tokens.revoke_token(token=token, actor=Actor.user(request.user), reason="revoked_by_user"):
        messages.success(request, f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("api-access", tenant_slug)


# --- organisation data: export and deletion (owners only; docs/operations.md §5-§6) ----------------------------

_DELETE_SALT = "tenancy.delete-organisation"
_DELETE_MAX_AGE = 15 * 60  # seconds between the first confirmation and the second


def require_owner(view):
    """Owner-only pages: the organisation's whole data leaves with an export, and deletion cannot be undone."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        membership = getattr(request, "membership", None)
        if membership is None or membership.role != Role.OWNER:
            raise PermissionDenied("Only an owner of the organisation may do this.")
        return view(request, *args, **kwargs)

    return wrapped


@require_owner
@require_http_methods(["GET", "POST"])
def organisation_data(request, tenant_slug):
    tenant = request.tenant
    if request.method == "POST":
        name = services.request_tenant_export(tenant=tenant, actor=Actor.from_request(request))
        messages.success(request, f"The export {name} is being written; it appears below when ready.")
        return redirect("organisation-data", tenant_slug)
    return render(
        request,
        "tenancy/organisation_data.html",
        {"exports": tenant_data_exports(tenant=tenant), "delete_form": DeleteOrganisationForm()},
    )


@require_owner
def organisation_export_download(request, tenant_slug, file_name):
    try:
        path = services.tenant_export_path(request.tenant, file_name)
    except services.TenancyError as err:
        raise Http404("No such export") from err
    if not path.is_file():
        raise Http404("No such export")
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip"
    )


@require_owner
@require_POST
def organisation_delete(request, tenant_slug):
    """Two confirmations: the owner types the organisation's name (step 1), then confirms once more on a page
    that says what goes (step 2, with a signed token from step 1 that expires in 15 minutes)."""
    tenant = request.tenant
    form = DeleteOrganisationForm(request.POST)
    if not form.is_valid() or form.cleaned_data["name"].strip() != tenant.name:
        if form.is_valid():
            form.add_error("name", f"Type the organisation's name, {tenant.name}, exactly.")
        return render(
            request,
            "tenancy/organisation_data.html",
            {"exports": tenant_data_exports(tenant=tenant), "delete_form": form},
            status=400,
        )
    token = request.POST.get("token", "")
    if not token:  # step 1 passed: ask once more
        token = signing.dumps({"tenant": tenant.pk, "user": request.user.pk}, salt=_DELETE_SALT)
        counts = tenant_data_counts(tenant=tenant)
        return render(
            request,
            "tenancy/organisation_delete_confirm.html",
            {"token": token, "name": tenant.name, "counts": counts, "total": sum(counts.values())},
        )
    try:
        payload = signing.loads(token, salt=_DELETE_SALT, max_age=_DELETE_MAX_AGE)
    except signing.BadSignature:
        messages.error(
            request, "That confirmation expired or was not valid: nothing was deleted. Start again."
        )
        return redirect("organisation-data", tenant_slug)
    if payload != {"tenant": tenant.pk, "user": request.user.pk} or request.POST.get("confirm") != "delete":
        messages.error(request, "The second confirmation was not given: nothing was deleted.")
        return redirect("organisation-data", tenant_slug)
    try:
        deleted = services.delete_tenant(
            tenant=tenant, actor=Actor.from_request(request), confirm_name=form.cleaned_data["name"]
        )
    except services.TenancyError as err:
        messages.error(request, err.message)
        return redirect("organisation-data", tenant_slug)
    request.session.pop("last_tenant", None)
    messages.success(request, f"{tenant.name} was deleted: {sum(deleted.values()):,} rows removed.")
    return redirect("home")

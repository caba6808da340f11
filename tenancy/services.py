"""Writers of tenancy data. Each change is recorded in the tenant's audit ledger in the same transaction."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from audit.models import ActorType
from audit.services import Actor, record
from gst.gstin import validate_gstin

from . import portability, tasks, tokens
from .errors import TenancyError  # raised by every writer here (defined apart so tenancy.tokens can raise it)
from .models import FilingFrequency, Membership, Registration, Tenant
from .roles import Role

ACCESS_PERM = "tenancy.access_registration"


_EXPORT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,120}\.zip$")


def create_tenant(*, name: str, slug: str, actor: Actor) -> Tenant:
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, slug=slug)
        record(
            tenant=tenant, actor=actor, action="tenant.created", obj=tenant, changes={"name": [None, name]}
        )
    return tenant


def add_registration(
    *,
    tenant: Tenant,
    actor: Actor,
    gstin: str,
    legal_name: str,
    trade_name: str = "",
    filing_frequency: str = FilingFrequency.MONTHLY,
) -> Registration:
    """Add a GSTIN to the tenant. The GSTIN must pass every check (format, state code, check character)."""

    result = validate_gstin(gstin)
    if not result.valid:
        raise TenancyError(result.message, field="gstin", code=result.code)
    with transaction.atomic():
        try:
            with transaction.atomic():
                reg = Registration.objects.create(
                    tenant=tenant,
                    gstin=result.gstin,
                    legal_name=legal_name,
                    trade_name=trade_name,
                    state_code=result.gstin[:2],
                    filing_frequency=filing_frequency,
                )
        except IntegrityError:
            if Registration.objects.filter(tenant=tenant, gstin=result.gstin, active=False).exists():
                raise TenancyError(
                    f"{result.gstin} was deactivated: reactivate it from the list.",
                    field="gstin",
                    code="deactivated",
                ) from None
            raise TenancyError(
                f"{result.gstin} is already one of this organisation's GSTINs.",
                field="gstin",
                code="duplicate",
            ) from None
        record(
            tenant=tenant,
            actor=actor,
            action="registration.created",
            obj=reg,
            changes={"gstin": [None, reg.gstin], "filing_frequency": [None, filing_frequency]},
        )
    return reg


def add_member(*, tenant: Tenant, actor: Actor, user, role: str) -> Membership:
    Role(role)  # raises ValueError on an unknown role
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
        if not created and membership.role != role:
            old = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            record(
                tenant=tenant,
                actor=actor,
                action="membership.role_changed",
                obj=membership,
                changes={"role": [old, role]},
            )
        elif created:
            record(
                tenant=tenant,
                actor=actor,
                action="membership.created",
                obj=membership,
                changes={"user": [None, user.get_username()], "role": [None, role]},
            )
    return membership


def set_role(*, tenant: Tenant, actor: Actor, membership: Membership, role: str) -> Membership:
    """Change a member's role. The last owner keeps the owner role; only an owner may give or take it."""
    Role(role)
    if membership.tenant_id != tenant.pk:
        raise TenancyError("That member does not belong to this organisation.")
    with transaction.atomic():
        owners = _lock_owners(tenant)
        membership.refresh_from_db(fields=["role"])
        if Role.OWNER in (membership.role, role) and membership.role != role:
            _require_owner_actor(tenant, actor, "Only an owner can give or take the owner role.")
        if membership.role == Role.OWNER and role != Role.OWNER and owners == [membership.pk]:
            raise TenancyError("An organisation needs at least one owner: make someone else an owner first.")
        return add_member(tenant=tenant, actor=actor, user=membership.user, role=role)


def _lock_owners(tenant: Tenant) -> list[int]:
    """Lock the tenant's owner memberships for this transaction; returns their ids (last-owner checks)."""
    return list(
        Membership.objects.select_for_update()
        .filter(tenant=tenant, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _require_owner_actor(tenant: Tenant, actor: Actor, message: str) -> None:
    """A user actor must be an owner of ``tenant``; system and task actors pass."""
    if actor.type != ActorType.USER:
        return
    if not Membership.objects.filter(tenant=tenant, user_id=actor.id, role=Role.OWNER).exists():
        raise TenancyError(message, code="owner_only")


def set_gstin_grants(
    *, tenant: Tenant, actor: Actor, user, registrations: Iterable[Registration]
) -> tuple[list[str], list[str]]:
    """Make ``user``'s GSTIN grants in ``tenant`` exactly ``registrations``; returns (granted, revoked) GSTINs."""
    wanted = {r.pk: r for r in registrations}
    if any(r.tenant_id != tenant.pk for r in wanted.values()):
        raise TenancyError("A GSTIN of another organisation cannot be granted here.")
    with transaction.atomic():
        current = {
            r.pk: r
            for r in get_objects_for_user(
                # Grants on deactivated GSTINs are not in the pickers: they stay as they are, for a reactivation.
                user,
                ACCESS_PERM,
                klass=Registration.objects.filter(tenant=tenant, active=True),
                accept_global_perms=False,
            )
        }
        granted = [wanted[pk] for pk in wanted.keys() - current.keys()]
        revoked = [current[pk] for pk in current.keys() - wanted.keys()]
        for reg in granted:
            assign_perm(ACCESS_PERM, user, reg)
        for reg in revoked:
            remove_perm(ACCESS_PERM, user, reg)
        if granted or revoked:
            record(
                tenant=tenant,
                actor=actor,
                action="membership.gstins_changed",
                object_type="auth.user",
                object_id=str(user.pk),
                object_repr=user.get_username(),
                changes={
                    "gstins": [
                        sorted(r.gstin for r in current.values()),
                        sorted(r.gstin for r in wanted.values()),
                    ],
                    "granted": [None, sorted(r.gstin for r in granted)],
                    "revoked": [sorted(r.gstin for r in revoked), None],
                },
            )
    return sorted(r.gstin for r in granted), sorted(r.gstin for r in revoked)


def get_or_create_user(*, email: str, username: str | None = None):
    User = get_user_model()
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(username=username or email, email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def invite_member(
    *,
    tenant: Tenant,
    actor: Actor,
    email: str,
    role: str,
    registrations: Iterable[Registration] = (),
    base_url: str,
) -> Membership:
    """Add the user with ``email`` (created with an unusable password if new) as a member with ``role`` and
    exactly ``registrations`` as GSTIN grants, then email them: a link to set their password (Django's
    password-reset token) if they have none yet, otherwise a link to log in. The email goes after commit.

    Refuses someone who is already a member, and (for a user actor) the owner role unless the actor is an owner.
    ``base_url`` is the site root the links start with, e.g. ``https://ims.example.com/``.
    """
    role = Role(role)
    registrations = list(registrations)
    if role == Role.OWNER:
        _require_owner_actor(tenant, actor, "Only an owner can invite another owner.")
    with transaction.atomic():
        user = get_or_create_user(email=email)
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise TenancyError(f"{user.email} is already a member.", field="email", code="already_member")
        membership = add_member(tenant=tenant, actor=actor, user=user, role=role)
        set_gstin_grants(tenant=tenant, actor=actor, user=user, registrations=registrations)
        _send_invitation(
            tenant=tenant, actor=actor, membership=membership, base_url=base_url, action="membership.invited"
        )
    return membership


def resend_invitation(*, tenant: Tenant, actor: Actor, membership: Membership, base_url: str) -> None:
    """Email a member who has not set a password yet a fresh set-password link (the old one may have expired;
    Django's "forgot password" form ignores accounts without a usable password)."""
    if membership.tenant_id != tenant.pk:
        raise TenancyError("That member does not belong to this organisation.")
    if membership.user.has_usable_password():
        raise TenancyError(
            f"{membership.user.get_username()} has already set a password.", code="not_pending"
        )
    with transaction.atomic():
        _send_invitation(
            tenant=tenant,
            actor=actor,
            membership=membership,
            base_url=base_url,
            action="membership.invitation_resent",
        )


def _send_invitation(
    *, tenant: Tenant, actor: Actor, membership: Membership, base_url: str, action: str
) -> None:
    """Record ``action`` and email the member after commit: a set-password link (Django's password-reset token)
    if they have no usable password yet, otherwise a link to the organisation."""
    user = membership.user
    needs_password = not user.has_usable_password()
    record(
        tenant=tenant,
        actor=actor,
        action=action,
        obj=membership,
        changes={"email": [None, user.email]},
        metadata={"set_password_link": needs_password},
    )
    if needs_password:
        uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
        path = reverse(
            "password_reset_confirm",
            kwargs={"uidb64": uidb64, "token": default_token_generator.make_token(user)},
        )
    else:
        path = reverse("tenant-home", args=[tenant.slug])
    context = {
        "tenant": tenant,
        "inviter": actor.label,
        "link": base_url.rstrip("/") + path,
        "needs_password": needs_password,
        "user": user,
        "role": membership.get_role_display(),
    }
    subject = " ".join(render_to_string("tenancy/email/invite_subject.txt", context).split())
    body = render_to_string("tenancy/email/invite_body.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [user.email]))


def remove_member(*, tenant: Tenant, actor: Actor, membership: Membership) -> None:
    """Remove a member, their GSTIN grants and their API tokens in this tenant. The last owner cannot be removed, and only an
    owner may remove an owner. The user account itself stays (it may belong to other organisations)."""
    if membership.tenant_id != tenant.pk:
        raise TenancyError("That member does not belong to this organisation.")
    with transaction.atomic():
        owners = _lock_owners(tenant)
        membership.refresh_from_db(fields=["role"])
        if membership.role == Role.OWNER:
            _require_owner_actor(tenant, actor, "Only an owner can remove an owner.")
            if owners == [membership.pk]:
                raise TenancyError("The last owner cannot be removed: make someone else an owner first.")
        user = membership.user
        set_gstin_grants(tenant=tenant, actor=actor, user=user, registrations=[])
        tokens.revoke_tokens(user=user, actor=actor, reason="membership_removed", tenant=tenant)
        record(
            tenant=tenant,
            actor=actor,
            action="membership.removed",
            obj=membership,
            changes={"user": [user.get_username(), None], "role": [membership.role, None]},
        )
        membership.delete()


def update_registration(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    legal_name: str,
    trade_name: str = "",
    filing_frequency: str,
) -> Registration:
    """Edit a GSTIN's names and filing frequency (the GSTIN itself never changes). Audited with old/new."""
    if registration.tenant_id != tenant.pk:
        raise TenancyError("That GSTIN does not belong to this organisation.")
    if not legal_name.strip():
        raise TenancyError("The legal name is required.", field="legal_name", code="required")
    if filing_frequency not in FilingFrequency.values:
        raise TenancyError(
            "Choose monthly or quarterly (QRMP).", field="filing_frequency", code="invalid_choice"
        )
    new = {
        "legal_name": legal_name.strip(),
        "trade_name": trade_name.strip(),
        "filing_frequency": filing_frequency,
    }
    changes = {k: [getattr(registration, k), v] for k, v in new.items() if getattr(registration, k) != v}
    if not changes:
        return registration
    with transaction.atomic():
        for k, (_old, v) in changes.items():
            setattr(registration, k, v)
        registration.save(update_fields=list(changes))
        record(tenant=tenant, actor=actor, action="registration.updated", obj=registration, changes=changes)
    return registration


def set_registration_active(
    *, tenant: Tenant, actor: Actor, registration: Registration, active: bool
) -> Registration:
    """Deactivate a GSTIN (added by mistake, or no longer used) or reactivate it. A deactivated GSTIN is left out of
    every list, picker, dashboard and sync (scheduled or "Sync all") and cannot be synced or pushed; its documents,
    their history and the audit ledger are kept as they are. Owners and admins only (the view checks the
    capability). Audited with old/new; a no-op when it is already so."""
    if registration.tenant_id != tenant.pk:
        raise TenancyError("That GSTIN does not belong to this organisation.")
    with transaction.atomic():
        reg = Registration.objects.select_for_update().get(pk=registration.pk)
        if reg.active == active:
            return reg
        reg.active = active
        reg.save(update_fields=["active"])
        record(
            tenant=tenant,
            actor=actor,
            action="registration.reactivated" if active else "registration.deactivated",
            obj=reg,
            changes={"active": [not active, active]},
        )
    registration.active = active
    return reg


# --- Organisation data: export and deletion (docs/operations.md §5-§6) ---------------------------------------------


def request_tenant_export(*, tenant: Tenant, actor: Actor) -> str:
    """Queue a worker to write the organisation's data export; returns the file name it will have."""
    name = f"{tenant.slug}-{timezone.now():%Y%m%d-%H%M%S}.zip"
    with transaction.atomic():
        record(
            tenant=tenant, actor=actor, action="tenant.export_requested", obj=tenant, metadata={"file": name}
        )
        tasks.export_tenant_data.delay_on_commit(tenant.pk, name)
    return name


def tenant_export_path(tenant: Tenant, file_name: str) -> Path:
    if not _EXPORT_NAME.match(file_name):
        raise TenancyError(
            "An export file name is letters, digits, '-', '_' and ends in .zip.", field="file_name"
        )
    return portability.tenant_export_folder(tenant) / file_name


def write_tenant_export(*, tenant: Tenant, actor: Actor, target: Path) -> dict[str, Any]:
    """Write the organisation's data export to ``target`` now (the worker's task and ``manage.py export_tenant``);
    returns its manifest."""
    manifest = portability.write_export(tenant, target)
    with transaction.atomic():
        record(
            tenant=tenant,
            actor=actor,
            action="tenant.exported",
            obj=tenant,
            metadata={"file": target.name, "rows": {f["table"]: f["rows"] for f in manifest["files"]}},
        )
    return manifest


def delete_tenant(*, tenant: Tenant, actor: Actor, confirm_name: str) -> dict[str, int]:
    """Delete the organisation's data: every row of it in every table (tenancy.portability.tenant_tables) but its
    own row, which is marked deleted, and its audit ledger, which stays append-only and records the deletion with
    the rows removed. Its members lose access at once; their user accounts stay. The files its rows point at and
    its data exports are removed after the commit. ``confirm_name`` must be the organisation's name, exactly."""
    if tenant.deleted_at is not None:
        raise TenancyError("This organisation is already deleted.", field="confirm_name")
    if (confirm_name or "").strip() != tenant.name:
        raise TenancyError(
            f"Type the organisation's name, {tenant.name!r}, exactly to confirm.", field="confirm_name"
        )
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        files = portability.tenant_files(tenant)
        counts = portability.count_rows(tenant.pk)
        record(
            tenant=tenant,
            actor=actor,
            action="tenant.deleted",
            obj=tenant,
            changes={"deleted_at": [None, "now"]},
            metadata={"rows": {t: n for t, n in counts.items() if n}},
        )
        deleted = portability.delete_rows(tenant.pk)
        tenant.deleted_at = timezone.now()
        tenant.save(update_fields=["deleted_at"])
        folder = portability.tenant_export_folder(tenant)

        def remove_files() -> None:
            for path in files:
                path.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)

        transaction.on_commit(remove_files)
    return deleted

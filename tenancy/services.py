"""Writers of tenancy data. Each change is recorded in the tenant's audit ledger in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import transaction
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from audit.services import Actor, record

from .models import FilingFrequency, Membership, Registration, Tenant
from .roles import Role

ACCESS_PERM = "tenancy.access_registration"


class TenancyError(ValueError):
    """A tenancy change that the rules refuse; the message is safe to show."""


def create_tenant(*, name: str, slug: str, actor: Actor) -> Tenant:
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, slug=slug)
        record(tenant=tenant, actor=actor, action="tenant.created", obj=tenant, changes={"name": [None, name]})
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
    from invoices.domain.gstin import validate_gstin

    result = validate_gstin(gstin)
    if not result.valid:
        raise TenancyError(result.message)
    with transaction.atomic():
        reg = Registration.objects.create(
            tenant=tenant,
            gstin=result.gstin,
            legal_name=legal_name,
            trade_name=trade_name,
            state_code=result.gstin[:2],
            filing_frequency=filing_frequency,
        )
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
        membership, created = Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": role})
        if not created and membership.role != role:
            old = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            record(tenant=tenant, actor=actor, action="membership.role_changed", obj=membership,
                   changes={"role": [old, role]})
        elif created:
            record(tenant=tenant, actor=actor, action="membership.created", obj=membership,
                   changes={"user": [None, user.get_username()], "role": [None, role]})
    return membership


def set_role(*, tenant: Tenant, actor: Actor, membership: Membership, role: str) -> Membership:
    Role(role)
    if membership.tenant_id != tenant.pk:
        raise TenancyError("That member does not belong to this organisation.")
    if membership.role == Role.OWNER and role != Role.OWNER:
        if not Membership.objects.filter(tenant=tenant, role=Role.OWNER).exclude(pk=membership.pk).exists():
            raise TenancyError("An organisation needs at least one owner.")
    return add_member(tenant=tenant, actor=actor, user=membership.user, role=role)


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
                user, ACCESS_PERM, klass=Registration.objects.filter(tenant=tenant), accept_global_perms=False
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

from __future__ import annotations

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from .models import Membership, Registration, Tenant
from .roles import Capability, can, sees_all_gstins

ACCESS_PERM = "tenancy.access_registration"


def membership_for(*, tenant: Tenant, user) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(tenant=tenant, user=user).first()


def visible_registrations(*, tenant: Tenant, user, membership: Membership | None = None) -> QuerySet[Registration]:
    """The GSTINs of ``tenant`` that ``user`` may see: all for owners and admins, the granted ones otherwise.

    A user who is not a member sees none. Everything a user can see of a document follows from this set.
    """
    membership = membership or membership_for(tenant=tenant, user=user)
    base = Registration.objects.filter(tenant=tenant)
    if membership is None or membership.tenant_id != tenant.pk:
        return base.none()
    if sees_all_gstins(membership.role):
        return base
    return get_objects_for_user(user, ACCESS_PERM, klass=base, accept_global_perms=False)


def registrations_for_capability(
    *, tenant: Tenant, user, capability: Capability, membership: Membership | None = None
) -> QuerySet[Registration]:
    """Visible GSTINs on which the member's role allows ``capability`` (empty if the role lacks it)."""
    membership = membership or membership_for(tenant=tenant, user=user)
    if membership is None or not can(membership.role, capability):
        return Registration.objects.filter(tenant=tenant).none()
    return visible_registrations(tenant=tenant, user=user, membership=membership)


def tenants_for_user(user) -> QuerySet[Tenant]:
    if not user.is_authenticated:
        return Tenant.objects.none()
    return Tenant.objects.filter(memberships__user=user).order_by("name")

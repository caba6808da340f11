from __future__ import annotations

from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet
from guardian.models import UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from . import portability
from .models import Membership, Registration, Tenant
from .roles import Capability, can, sees_all_gstins

ACCESS_PERM = "tenancy.access_registration"


def membership_for(*, tenant: Tenant, user) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(tenant=tenant, user=user).first()


def tenants_with_inactive_registrations() -> QuerySet[Tenant]:
    """Tenants, each carrying the ids of its deactivated GSTINs (``inactive_registration_ids``) read in the same
    query: the request's tenant is loaded this way, so hiding deactivated GSTINs costs no query of its own."""
    inactive = Registration._base_manager.filter(tenant=OuterRef("pk"), active=False).values("pk")
    return Tenant.objects.annotate(inactive_registration_ids=ArraySubquery(inactive))


def membership_at(*, slug: str, user) -> Membership | None:
    """``user``'s membership of the tenant ``slug``, with the tenant and its deactivated GSTINs' ids (as
    :func:`tenants_with_inactive_registrations` gives them), in one query: a page's tenant and membership."""
    inactive = Registration._base_manager.filter(tenant=OuterRef("tenant_id"), active=False).values("pk")
    membership = (
        Membership.objects.select_related("tenant")
        .annotate(inactive_registration_ids=ArraySubquery(inactive))
        .filter(tenant__slug=slug, user=user)
        .first()
    )
    if membership is not None:
        membership.tenant.inactive_registration_ids = membership.inactive_registration_ids
    return membership


def inactive_registration_ids(tenant: Tenant) -> list[int]:
    """Ids of ``tenant``'s deactivated GSTINs: from the tenant's annotation when it was loaded with
    :func:`tenants_with_inactive_registrations` (a request's tenant), else read once and kept on the instance."""
    ids = getattr(tenant, "inactive_registration_ids", None)
    if ids is None:
        ids = list(
            Registration._base_manager.filter(tenant=tenant, active=False).values_list("pk", flat=True)
        )
        setattr(tenant, "inactive_registration_ids", ids)  # noqa: B010 - an annotation's name, not a field
    return list(ids)


def visible_registrations(
    *, tenant: Tenant, user: Any, membership: Membership | None = None
) -> QuerySet[Registration]:
    """The GSTINs of ``tenant`` that ``user`` may see: all for owners and admins, the granted ones otherwise.

    A user who is not a member sees none. Everything a user can see of a document follows from this set.
    Deactivated GSTINs are left out (the registrations page lists them with :func:`tenant_registrations`).
    """
    membership = membership or membership_for(tenant=tenant, user=user)
    base = Registration.objects.filter(tenant=tenant, active=True)
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


def tenant_members(*, tenant: Tenant) -> list[Membership]:
    """The tenant's members (user loaded), each with ``granted`` = the GSTINs granted to them, sorted.

    For the members page of an owner or admin (the view checks the capability). Owners and admins see every
    GSTIN whatever their grants say; ``sees_all`` tells which.
    """

    members = list(Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username"))
    gstins = {str(pk): g for pk, g in Registration.objects.filter(tenant=tenant).values_list("pk", "gstin")}
    granted: dict[int, list[str]] = {}
    rows = UserObjectPermission.objects.filter(
        permission__content_type__app_label="tenancy",
        permission__codename=ACCESS_PERM.split(".")[1],
        object_pk__in=list(gstins),
        user_id__in=[m.user_id for m in members],
    ).values_list("user_id", "object_pk")
    for user_id, object_pk in rows:
        granted.setdefault(user_id, []).append(gstins[object_pk])
    for m in members:
        m.granted = sorted(granted.get(m.user_id, []))
        m.sees_all = sees_all_gstins(m.role)
    return members


def member_grants(*, tenant: Tenant, user) -> QuerySet[Registration]:
    """The GSTINs of ``tenant`` explicitly granted to ``user`` (whatever their role)."""
    return get_objects_for_user(
        user, ACCESS_PERM, klass=Registration.objects.filter(tenant=tenant), accept_global_perms=False
    )


def tenant_registrations(
    *, tenant: Tenant, user: Any, membership: Membership | None = None
) -> QuerySet[Registration]:
    """The GSTINs ``user`` may see (all active ones, for owners and admins), as the grants pickers list them."""
    return visible_registrations(tenant=tenant, user=user, membership=membership).order_by("gstin")


def registrations_page(
    *, tenant: Tenant, user: Any, membership: Membership | None = None
) -> QuerySet[Registration]:
    """The GSTINs of the registrations page: as :func:`tenant_registrations`, and for owners and admins (who may
    deactivate and reactivate) the deactivated ones too, last."""
    membership = membership or membership_for(tenant=tenant, user=user)
    if membership is not None and membership.tenant_id == tenant.pk and sees_all_gstins(membership.role):
        return Registration.objects.filter(tenant=tenant).order_by("-active", "gstin")
    return tenant_registrations(tenant=tenant, user=user, membership=membership)


def tenant_data_counts(*, tenant: Tenant) -> dict[str, int]:
    """Rows of the organisation per table (tables holding none left out): what deleting it would remove."""
    return {table: n for table, n in portability.count_rows(tenant.pk).items() if n}


def tenant_data_exports(*, tenant: Tenant) -> list[dict[str, Any]]:
    """The organisation's finished data exports, newest first: file name and size."""
    folder = portability.tenant_export_folder(tenant)
    files = sorted(folder.glob("*.zip"), reverse=True) if folder.exists() else []
    return [{"name": p.name, "size": p.stat().st_size} for p in files]

"""The audit trail as people read it: the whole ledger of a tenant, filtered, for owners and admins."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEvent
from tenancy.models import Membership, Tenant
from tenancy.roles import sees_all_gstins
from tenancy.selectors import membership_for


def can_view_ledger(membership) -> bool:
    """The whole ledger spans every GSTIN, so only roles that see all GSTINs (owner, admin) may read it."""
    return membership is not None and sees_all_gstins(membership.role)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def ledger(
    *,
    tenant,
    user,
    membership=None,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """The tenant's events, newest first (``-seq``; keyset-paginate with ``seq__lt``), filtered. Dates are
    inclusive days in Asia/Kolkata. Empty for a member whose role does not see the whole ledger."""
    membership = membership or membership_for(tenant=tenant, user=user)
    qs = AuditEvent.objects.filter(tenant=tenant).order_by("-seq")
    if membership is None or membership.tenant_id != tenant.pk or not can_view_ledger(membership):
        return qs.none()
    if actor:
        qs = qs.filter(actor_label__iexact=actor)
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if date_from:
        qs = qs.filter(occurred_at__gte=_local_midnight(date_from))
    if date_to:
        qs = qs.filter(occurred_at__lt=_local_midnight(date_to + dt.timedelta(days=1)))
    return qs


def actor_names(*, tenant: Tenant) -> list[str]:
    """Who the "Who" filter offers: the organisation's members."""
    return list(
        Membership.objects.filter(tenant=tenant)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )

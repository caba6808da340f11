from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent
from tenancy.models import Membership, Tenant

from .models import ExportJob

# Changes to a member's access that may narrow what they can see; each is recorded in the audit ledger in the
# transaction that makes it (tenancy.services).
_GSTINS_CHANGED = "membership.gstins_changed"
_MEMBERSHIP_CHANGED = ("membership.role_changed", "membership.created")


def jobs_for_user(*, tenant, user) -> QuerySet[ExportJob]:
    """The user's own export jobs in ``tenant``, newest first."""
    return ExportJob.objects.filter(tenant=tenant, user_id=user.pk).order_by("-created_at", "-id")


def job_for_user(*, tenant, user, job_id: int) -> ExportJob | None:
    """The job if it belongs to ``tenant`` AND ``user``; None otherwise (callers answer 404)."""
    return jobs_for_user(tenant=tenant, user=user).filter(pk=job_id).first()


def access_narrowed_since(
    *, tenant: Tenant, user: Any, membership: Membership | None, since: dt.datetime
) -> bool:
    """Whether ``user``'s access in ``tenant`` may have narrowed since ``since``: a GSTIN grant revoked, the role
    changed, or the membership removed and created again. A finished export holds what the user could see when it
    ran, so it may be downloaded only while this is False."""
    if membership is None:  # no longer a member at all
        return True
    events = AuditEvent.objects.filter(tenant=tenant, occurred_at__gte=since)
    for changes in events.filter(action=_GSTINS_CHANGED, object_id=str(user.pk)).values_list(
        "changes", flat=True
    ):
        revoked = (changes or {}).get("revoked") or [None]
        if revoked[0]:
            return True
    return events.filter(
        action__in=_MEMBERSHIP_CHANGED,
        object_type=membership._meta.label_lower,
        object_id=str(membership.pk),
    ).exists()

"""The dashboard's "today" item of the approvals app (registered in ``ApprovalsConfig.ready``): per GSTIN, the
batches awaiting approval that the member may decide (their role approves, they did not propose them)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from invoices.today import Item
from tenancy.roles import Capability, can

from .models import ApprovalRequest, RequestStatus


def today_items(*, tenant, user, membership, registrations, today: dt.date) -> dict[int | None, list[Item]]:
    if membership is None or not can(membership.role, Capability.APPROVE):
        return {}
    # Batches whose every GSTIN the member sees (as ``selectors.requests_for``, with the GSTINs already known).
    waiting = (
        ApprovalRequest.objects.filter(
            tenant=tenant,
            status=RequestStatus.PENDING,
            registration_ids__contained_by=[r.pk for r in registrations],
        )
        .exclude(proposed_by_id=user.pk)
        .values_list("registration_ids", flat=True)
    )
    counts: dict[int, int] = {}
    for reg_ids in waiting:
        for reg_id in set(reg_ids):
            counts[reg_id] = counts.get(reg_id, 0) + 1
    url = f"{reverse('approval-list', args=[tenant.slug])}?{urlencode({'status': RequestStatus.PENDING})}"
    return {
        r.pk: [
            Item(
                key="approvals",
                label="Approvals waiting for you",
                text=f"{counts[r.pk]} batch{'es' if counts[r.pk] != 1 else ''}",
                url=url,
                tone="warning",
                order=25,
            )
        ]
        for r in registrations
        if counts.get(r.pk)
    }

"""The dashboard's "today" item of the portal app (registered in ``GstSyncConfig.ready``): per GSTIN, its last
successful sync and how old it is (one DISTINCT ON over the runs' (tenant, registration, created) index)."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from invoices.today import Item, age_text

from .models import RunStatus, SyncRun

STALE_AFTER = dt.timedelta(days=1)  # older than this: a warning
OLD_AFTER = dt.timedelta(days=7)  # older than this (or never): a danger


def today_items(*, tenant, user, membership, registrations, today: dt.date) -> dict[int | None, list[Item]]:
    ids = [r.pk for r in registrations]
    last = dict(
        SyncRun.objects.filter(tenant=tenant, registration_id__in=ids, status=RunStatus.SUCCEEDED)
        .order_by("registration_id", "-created_at")
        .distinct("registration_id")
        .values_list("registration_id", "finished_at")
    )
    now = timezone.now()
    url = reverse("portal-home", args=[tenant.slug])
    out: dict[int | None, list[Item]] = {}
    for reg_id in ids:
        finished = last.get(reg_id)
        if finished is None:
            out[reg_id] = [
                Item(key="sync", label="Last sync", text="never synced", url=url, tone="danger", order=30)
            ]
            continue
        age = now - finished
        tone = "danger" if age > OLD_AFTER else "warning" if age > STALE_AFTER else ""
        local = timezone.localtime(finished)
        out[reg_id] = [
            Item(
                key="sync",
                label="Last sync",
                text=f"{age_text(finished, now)} ({local:%d-%m-%Y %H:%M})",
                url=url,
                tone=tone,
                order=30,
            )
        ]
    return out

"""The dashboard's "today" items of the returns app (registered in ``ReturnsConfig.ready``): per GSTIN, the next
GSTR-3B due date (the earliest return period not filed among the last three ended and the running one; from the
calendar and the filings recorded, no documents read), the nearest one-period Pending limit with the documents kept
pending under it and their ITC (from the maintained document summary, ``selectors.nearest_pending_limits``) and a
link to its deadline queue (documents to decide before their clocks: GSTR-3B, one-period Pending limits, Rule 37A);
for the tenant, the suppliers' returns that put ITC at risk under Rule 37A (from the stored return-tracking
answers)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse

from gst.duedates import gstr3b_due_date, next_return_period, return_period
from ims_project.formatting import format_inr
from invoices.today import Item, days_text

from .models import Gstr3bFiling, SupplierGstr3bStatus
from .selectors import PendingLimit, nearest_pending_limits
from .twob import rule37a_dates

ENDED_LOOKED_AT = 3  # return periods before the running one checked for a missing filing


def next_gstr3b(*, registration, filed: set, today: dt.date) -> tuple[dt.date, dt.date]:
    """(return period, due date) of the GSTR-3B to file next: the earliest of the last ended return periods not
    filed yet, else the running one."""
    freq = registration.filing_frequency
    running = return_period(today, freq)
    ended = [next_return_period(running, freq, -k) for k in range(ENDED_LOOKED_AT, 0, -1)]
    period = next((p for p in ended if p not in filed), running)
    return period, gstr3b_due_date(period, freq, registration.gstin[:2])


def today_items(*, tenant, user, membership, registrations, today: dt.date) -> dict[int | None, list[Item]]:
    ids = [r.pk for r in registrations]
    filed: dict[int, set] = {i: set() for i in ids}
    for reg_id, period in Gstr3bFiling.objects.filter(tenant=tenant, registration_id__in=ids).values_list(
        "registration_id", "period"
    ):
        filed[reg_id].add(period)
    slug = tenant.slug
    limits = nearest_pending_limits(tenant=tenant, registrations=registrations, today=today)
    out: dict[int | None, list[Item]] = {}
    for reg in registrations:
        period, due = next_gstr3b(registration=reg, filed=filed[reg.pk], today=today)
        when, tone = days_text(due, today)
        out[reg.pk] = [
            Item(
                key="gstr3b",
                label=f"GSTR-3B {period:%m-%Y}",
                text=f"due {due:%d-%m-%Y}, {when}",
                url=f"{reverse('returns-filings', args=[slug])}?{urlencode({'registration': reg.pk})}",
                tone=tone,
                order=10,
            ),
            _pending_limit_item(slug, reg, limits.get(reg.pk), today),
            Item(
                key="deadlines",
                label="Deadline queue",
                text="documents to decide by their GSTR-3B, one-period Pending or Rule 37A dates",
                url=f"{reverse('twob-deadlines', args=[slug])}?{urlencode({'registration': reg.pk})}",
                order=15,
            ),
        ]
    late = _rule37a_late(tenant)
    if late:
        n = sum(late.values())
        text = f"{n} supplier return{'s' if n != 1 else ''} not filed by the Rule 37A day"
        tone = ""
        upcoming = [rule37a_dates(p)[2] for p in late if rule37a_dates(p)[2] >= today]
        if upcoming:
            when, tone = days_text(min(upcoming), today)
            text += f"; reverse ITC by {min(upcoming):%d-%m-%Y}, {when}"
        out[None] = [
            Item(
                key="rule37a",
                label="Rule 37A",
                text=text,
                url=reverse("returns-rule37a", args=[slug]),
                tone=tone,
            )
        ]
    return out


def _pending_limit_item(slug: str, reg, limit: PendingLimit | None, today: dt.date) -> Item:
    """The nearest one-period Pending limit of the GSTIN: the documents kept pending that must be accepted or
    rejected by then (else deemed accepted), linked to the deadline queue showing exactly those."""
    query = {"registration": reg.pk, "clock": "Pending limit"}
    if limit is None:
        return Item(
            key="pending-limit",
            label="Pending limit",
            text="no document kept pending under the one-period limit",
            url=f"{reverse('twob-deadlines', args=[slug])}?{urlencode(query)}",
            order=12,
        )
    when, tone = days_text(limit.due, today)
    n = limit.documents
    query["days_max"] = (limit.due - today).days
    return Item(
        key="pending-limit",
        label=f"Pending limit {limit.due:%d-%m-%Y}",
        text=(
            f"{format_inr(n, symbol=False, decimals=0)} document{'s' if n != 1 else ''} kept pending, "
            f"ITC at stake {format_inr(limit.itc)}: accept or reject by then, {when}"
        ),
        url=f"{reverse('twob-deadlines', args=[slug])}?{urlencode(query)}",
        tone=tone,
        order=12,
    )


def _rule37a_late(tenant) -> dict[dt.date, int]:
    """Supplier return periods → suppliers that have not filed their GSTR-3B, or filed it after the Rule 37A day,
    as the portal's return tracking last said (two small aggregates of the stored answers)."""
    qs = SupplierGstr3bStatus.objects.filter(tenant=tenant)
    periods = list(qs.order_by().values_list("period", flat=True).distinct())
    if not periods:
        return {}
    late = Q(filed_on__isnull=True)
    for p in periods:
        late |= Q(period=p, filed_on__gt=rule37a_dates(p)[0])
    return dict(
        qs.filter(late).order_by().values("period").annotate(n=Count("id")).values_list("period", "n")
    )

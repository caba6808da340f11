"""The dashboard's "today" item of the reconciliation app (registered in ``ReconciliationConfig.ready``): the
latest finished run's exceptions (mismatched, probable, only in books, only in supplier data), from the counts
the run stored when it finished (no read of its results)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from invoices.today import Item

from .domain.matching import Outcome
from .selectors import latest_done_run

EXCEPTIONS = (Outcome.MISMATCH, Outcome.PROBABLE, Outcome.MISSING_IN_REGISTER, Outcome.MISSING_IN_SUPPLIER)


def today_items(*, tenant, user, membership, registrations, today: dt.date) -> dict[int | None, list[Item]]:
    run = latest_done_run(tenant=tenant, user=user, membership=membership)
    if run is None:
        return {}
    counts = run.counts or {}
    n = sum(int(counts.get(o.value, 0)) for o in EXCEPTIONS)
    finished = run.finished_at or run.created_at
    return {
        None: [
            Item(
                key="recon",
                label="Latest reconciliation",
                text=f"{n:,} exception{'s' if n != 1 else ''} (run #{run.pk} of {finished:%d-%m-%Y})",
                url=f"{reverse('recon-matches', args=[tenant.slug])}?{urlencode({'run': run.pk})}",
                tone="warning" if n else "",
                order=40,
            )
        ]
    }

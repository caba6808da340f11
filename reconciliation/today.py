"""The dashboard's "today" item of the reconciliation app (registered in ``ReconciliationConfig.ready``): the
latest finished run's exceptions (mismatched, probable, only in books, only in supplier data), from the counts
the run stored when it finished (no read of its results)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from ims_project.jobs import JobStatus
from invoices.today import Item

from .domain.matching import Outcome
from .models import ReconRun

RUNS_LOOKED_AT = 200  # the latest finished runs looked at (as the runs list)
EXCEPTIONS = (Outcome.MISMATCH, Outcome.PROBABLE, Outcome.MISSING_IN_REGISTER, Outcome.MISSING_IN_SUPPLIER)


def today_items(*, tenant, user, membership, registrations, today: dt.date) -> dict[int | None, list[Item]]:
    # The latest finished run whose every GSTIN the member sees (as ``selectors.latest_done_run``, in one query:
    # the GSTINs are already known).
    visible = {r.pk for r in registrations}
    done = ReconRun.objects.filter(tenant=tenant, status=JobStatus.DONE).only(
        "id", "registration_ids", "counts", "created_at", "finished_at"
    )[:RUNS_LOOKED_AT]
    run = next((r for r in done if set(r.registration_ids) <= visible), None)
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

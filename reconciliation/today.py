"""The dashboard's "today" item of the reconciliation app (registered in ``ReconciliationConfig.ready``): per GSTIN,
the exceptions (mismatched, probable, only in books, only in supplier data) of its latest finished reconciliation,
from the counts per GSTIN the run stored when it finished (no read of its results), linked to that run's results
of the GSTIN, exceptions only."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from ims_project.formatting import format_inr
from invoices.today import Item

from .domain.matching import Outcome
from .latest import latest_runs
from .models import ReconRun

EXCEPTIONS = (Outcome.MISMATCH, Outcome.PROBABLE, Outcome.MISSING_IN_REGISTER, Outcome.MISSING_IN_SUPPLIER)
EXCEPTIONS_FILTER = "exceptions"  # the results list's outcome filter for every exception (views.matches)


def exceptions_of(counts: dict) -> int:
    """Exceptions among per-outcome row counts."""
    return sum(int(counts.get(o.value, 0)) for o in EXCEPTIONS)


def today_items(*, tenant, user, membership, registrations, today: dt.date) -> dict[int | None, list[Item]]:
    latest = latest_runs(tenant=tenant, registration_ids=[r.pk for r in registrations])
    stored = {
        pk: (counts or {}, by_reg or {})
        for pk, counts, by_reg in ReconRun.objects.filter(
            tenant=tenant, pk__in=[r.pk for r in latest.runs]
        ).values_list("pk", "counts", "registration_counts")
    }
    out: dict[int | None, list[Item]] = {}
    for reg in registrations:
        run = latest.by_registration.get(reg.pk)
        if run is None:
            continue
        counts, by_reg = stored.get(run.pk, ({}, {}))
        per_gstin = by_reg.get(str(reg.pk))
        if per_gstin is None:  # a run of this GSTIN alone, finished before counts were kept per GSTIN
            if list(run.registration_ids or []) != [reg.pk]:
                continue
            per_gstin = counts
        n = exceptions_of(per_gstin)
        finished = run.finished_at or run.created_at
        query = {"run": run.pk, "registration": reg.gstin, "outcome": EXCEPTIONS_FILTER}
        out[reg.pk] = [
            Item(
                key="recon",
                label="Latest reconciliation",
                text=f"{format_inr(n, symbol=False, decimals=0)} exception{'s' if n != 1 else ''} "
                f"(run #{run.pk} of {finished:%d-%m-%Y})",
                url=f"{reverse('recon-matches', args=[tenant.slug])}?{urlencode(query)}",
                tone="warning" if n else "",
                order=40,
            )
        ]
    return out

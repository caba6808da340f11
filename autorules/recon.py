"""Where auto-action rules read reconciliation outcomes: the one place that knows how results are stored.

A rule's ``reconciliation`` condition asks "what did the latest reconciliation of this document's GSTIN say about
it?". Results are kept per run (``reconciliation.ReconMatch``: run, registration, outcome, document); the latest
finished run that covered a GSTIN is the one that counts. A document is left out when it changed on the portal
after that run started (a newer version was seen, or it was amended since): the outcome no longer describes it.

If the way results are stored changes, only this module needs to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from invoices.models import DocumentVersion, SupplierDocument
from reconciliation.models import JobStatus, ReconMatch, ReconRun
from tenancy.models import Tenant

# How far back to look for the latest run of each GSTIN (runs are per tenant, newest first).
RECENT_RUNS = 200


@dataclass(frozen=True)
class LatestRuns:
    """The latest finished run of each GSTIN (registration id → run)."""

    by_registration: dict[int, ReconRun]

    @property
    def runs(self) -> list[ReconRun]:
        return sorted({r.pk: r for r in self.by_registration.values()}.values(), key=lambda r: r.pk)


def latest_runs(*, tenant: Tenant, registration_ids=None) -> LatestRuns:
    """For each GSTIN (all of the tenant's, or ``registration_ids``), its latest finished reconciliation."""
    wanted = None if registration_ids is None else set(registration_ids)
    out: dict[int, ReconRun] = {}
    runs = (ReconRun.objects.filter(tenant=tenant, status=JobStatus.DONE)
            .only("pk", "registration_ids", "created_at", "finished_at").order_by("-pk")[:RECENT_RUNS])
    for run in runs:
        for reg_id in run.registration_ids:
            if (wanted is None or reg_id in wanted) and reg_id not in out:
                out[reg_id] = run
    return LatestRuns(out)


def document_ids(*, tenant: Tenant, outcomes, latest: LatestRuns) -> QuerySet:
    """A subquery (``values("document_id")``) of the supplier documents whose outcome in their GSTIN's latest run
    is one of ``outcomes`` and which have not changed on the portal since that run started."""
    by_run: dict[int, list[int]] = {}
    started = {}
    for reg_id, run in latest.by_registration.items():
        by_run.setdefault(run.pk, []).append(reg_id)
        started[run.pk] = run.created_at
    if not by_run:
        return ReconMatch.objects.none().values("document_id")
    scope = Q()
    for run_id, reg_ids in by_run.items():
        changed = Exists(DocumentVersion.objects.filter(tenant=tenant, document_id=OuterRef("document_id"),
                                                        seen_at__gte=started[run_id]))
        scope |= Q(run_id=run_id, registration_id__in=reg_ids) & ~Q(changed)
    amended = Exists(SupplierDocument.objects.filter(tenant=tenant, original_id=OuterRef("document_id"),
                                                     vanished_at__isnull=True))
    return (ReconMatch.objects.filter(tenant=tenant, outcome__in=list(outcomes), document__isnull=False)
            .filter(scope).filter(~Q(amended)).values("document_id"))


__all__ = ["LatestRuns", "latest_runs", "document_ids"]

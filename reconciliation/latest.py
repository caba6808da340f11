"""Supplier documents by what the latest reconciliation of their GSTIN said about them.

This is the one place that knows how reconciliation results are stored: the document list's ``reconciliation``
filter (``invoices.filters.DocumentFilter``: the list page, the API, exports, "all matching" bulk actions) and the
auto-action rules (through that filter) all read outcomes through :func:`filter_documents`. If the way results are
stored changes, only this module needs to follow.

Semantics. Results are kept per run (``reconciliation.ReconMatch``: run, outcome, document). For each GSTIN only
its latest finished run counts (the newest ``done`` run naming it). A document is in outcome X when that run has a
result row of outcome X for it, and it is left out when it changed on the portal after that run started (a
version seen since then, or a live amendment of it exists): the outcome no longer describes it. A document of a
GSTIN no run has finished for, or outside the dates of its GSTIN's latest run, is in no outcome.

The condition is one correlated ``EXISTS`` per document on ``reconciliation_reconmatch`` by (run, document)
(indexed ``(run, document)`` and ``(run, outcome, id)``), whichever run each GSTIN's latest is: PostgreSQL turns
it into a semi-join (a hash of the run's rows of those outcomes) for big sets and into index probes for a page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Case, DateTimeField, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.lookups import In

from invoices.facets import Facet
from invoices.models import DocumentVersion, SupplierDocument
from reconciliation.domain.outcomes import CHOICES, DOCUMENT_OUTCOMES, expand
from tenancy.models import Tenant

from .models import JobStatus, ReconMatch, ReconRun

# How far back to look for the latest run of each GSTIN (runs of the tenant, newest first).
RECENT_RUNS = 200


@dataclass(frozen=True)
class LatestRuns:
    """The latest finished run of each GSTIN (registration id → run)."""

    by_registration: dict[int, ReconRun]

    @property
    def runs(self) -> list[ReconRun]:
        return sorted({r.pk: r for r in self.by_registration.values()}.values(), key=lambda r: r.pk)

    def registrations_of(self) -> dict[int, list[int]]:
        """run id → the GSTINs (registration ids) it is the latest run of."""
        out: dict[int, list[int]] = {}
        for reg_id, run in sorted(self.by_registration.items()):
            out.setdefault(run.pk, []).append(reg_id)
        return out


def latest_runs(*, tenant: Tenant, registration_ids: Iterable[int] | None = None) -> LatestRuns:
    """For each GSTIN of ``tenant`` (all, or ``registration_ids``), its latest finished reconciliation. One small
    query; runs of other tenants are never read."""
    wanted = None if registration_ids is None else set(registration_ids)
    out: dict[int, ReconRun] = {}
    runs = (
        ReconRun.objects.filter(tenant=tenant, status=JobStatus.DONE)
        .only("pk", "tenant_id", "registration_ids", "created_at", "finished_at")
        .order_by("-pk")[:RECENT_RUNS]
    )
    for run in runs:
        for reg_id in run.registration_ids or []:
            if (wanted is None or reg_id in wanted) and reg_id not in out:
                out[reg_id] = run
    return LatestRuns(out)


def _per_run(latest: LatestRuns, value, output_field):
    """The value of each document's run (``value(run)``): a constant when one run is the latest of every GSTIN
    concerned, otherwise ``CASE WHEN <document's GSTIN> IN (…) THEN … END`` on the outer document (NULL for a
    GSTIN without a run)."""
    runs = {r.pk: r for r in latest.runs}
    if len(runs) == 1:
        return Value(value(next(iter(runs.values()))), output_field=output_field)
    whens = [
        When(In(OuterRef("registration_id"), regs), then=Value(value(runs[pk]), output_field=output_field))
        for pk, regs in latest.registrations_of().items()
    ]
    return Case(*whens, default=Value(None, output_field=output_field), output_field=output_field)


def outcome_condition(*, tenant: Tenant, outcomes: Iterable[str], latest: LatestRuns) -> Q:
    """A condition on ``SupplierDocument`` querysets: the document's outcome in its GSTIN's run of ``latest`` is
    one of ``outcomes`` (outcome values or group names, see ``reconciliation.domain.outcomes``; raises
    ``UnknownOutcome`` on others) and it has not changed on the portal since that run started. Matches nothing
    when ``latest`` has no run."""
    wanted = expand(outcomes)
    if not latest.by_registration or not wanted:
        return Q(pk__in=[])
    matches = ReconMatch.objects.filter(tenant=tenant, outcome__in=wanted, document_id=OuterRef("pk"))
    if len(latest.runs) > 1:  # the runs concerned, as constants, so the planner can read only their rows
        matches = matches.filter(run_id__in=[r.pk for r in latest.runs])
    in_outcome = Exists(matches.filter(run_id=_per_run(latest, lambda r: r.pk, IntegerField())))
    changed = Exists(
        DocumentVersion.objects.filter(
            tenant=tenant,
            document_id=OuterRef("pk"),
            seen_at__gte=_per_run(latest, lambda r: r.created_at, DateTimeField()),
        )
    )
    amended = Exists(
        SupplierDocument.objects.filter(tenant=tenant, original_id=OuterRef("pk"), vanished_at__isnull=True)
    )
    return Q(registration_id__in=sorted(latest.by_registration)) & Q(in_outcome) & ~Q(changed) & ~Q(amended)


def filter_documents(
    qs: QuerySet[SupplierDocument],
    *,
    tenant: Tenant,
    outcomes: Iterable[str],
    latest: LatestRuns | None = None,
) -> QuerySet[SupplierDocument]:
    """``qs`` narrowed to the documents whose latest reconciliation put them in one of ``outcomes``."""
    if latest is None:
        latest = latest_runs(tenant=tenant)
    return qs.filter(outcome_condition(tenant=tenant, outcomes=outcomes, latest=latest))


__all__ = ["LatestRuns", "filter_documents", "latest_runs", "outcome_condition"]


def _apply(queryset: QuerySet[SupplierDocument], *, tenant: Tenant, values) -> QuerySet[SupplierDocument]:
    return filter_documents(queryset, tenant=tenant, outcomes=values)


# The documents list's "Latest reconciliation says" filter (registered with invoices.facets by this app).
FACET = Facet(apply=_apply, choices=CHOICES, options=list(DOCUMENT_OUTCOMES.items()), expand=expand)

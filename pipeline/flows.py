"""What runs after what: the walk of the data through the product, in one place.

    portal sync ───────┬─> GSTR-3B filings (return tracking) recorded
                       ├─> suppliers' GSTR-3B filings asked (return tracking, Rule 37A; a worker, retried)
                       ├─> documents ─> reconciliation ─> auto-action rules ─> actions
    IMS file import ───┘     (GSTINs already reconciled)   (on outcomes)
    register import ─────────────────> reconciliation
    or ERP upsert
    action (a person, a rule, an approval) ─> push queue ─> push ─> the portal's answers ─> suppliers told
    write-back sent (a person) ─> the organisation's webhooks (signed, retried) ─> the ERP
    GSTR-2B preview: rebuilt by the daily beat (returns.rebuild_previews) and on demand
    ITC claim periods: after a sync, a GSTR-3B filing (returns itself) or a reconciliation, and daily

Each feature app ends a job by announcing it through ``ims_project.handoff`` and calls no other app; the flows
below decide what follows. Two steps are not here because they are part of a write, not after it: a document
whose local action changes joins the push queue through a database trigger in the same transaction
(``gst_sync_pushqueue``), and an approval policy holds a change in that transaction (``actions.gates``).

A flow runs in the worker that finished the job, after that job's commit. Heavy follow-ups are queued by the
service a flow calls (a reconciliation rerun is queued on commit, debounced per GSTIN); the auto-action rules and
supplier notices run at once, as they always have. A flow never raises into the job that finished.
"""

from __future__ import annotations

from django.db import transaction

from audit.services import Actor
from autorules import services as autorules
from gst_sync.models import ACTIVE_STATUSES, SyncRun
from ims_project import handoff
from ims_project.handoff import (
    PortalFileImported,
    PushFinished,
    ReconciliationFinished,
    RegisterChanged,
    SyncFinished,
    WritebackQueued,
)
from reconciliation import services as reconciliation
from returns import services as returns
from suppliers import services as suppliers
from suppliers.models import WebhookEvent
from tenancy.scoping import tenant_scope

WRITEBACK_EVENT = WebhookEvent.RECON_WRITEBACK.value


def after_sync(event: SyncFinished) -> None:
    """The GSTR-3B filings the sync read from the portal's return tracking are recorded (returns), and the
    suppliers' filings (Rule 37A) are asked for in the background (once per sync, when it ends); the synced GSTIN's auto-action rules run; if documents changed, a GSTIN already reconciled is reconciled again (whose
    completion runs the rules that look at reconciliation outcomes)."""
    if event.return_filings is not None:
        returns.record_portal_filings(
            tenant=event.tenant,
            actor=Actor.task("gst_sync.sync_section"),
            registration=event.registration,
            filings=event.return_filings,
        )
        returns.queue_supplier_filings(tenant=event.tenant, registration=event.registration)
    autorules.run_after_sync(tenant=event.tenant, registration=event.registration)
    if _last_of_sync(event):
        # Once per sync, when its last section ends, whichever sections changed (it was once per changed section:
        # up to 16 refreshes of the same GSTIN, most of a worker's time in bench/bench_simulate.py).
        returns.queue_claim_refreshes([event.registration.pk])
    if event.changed:
        run, runs = event.run, event.runs or [event.run]
        sections = ", ".join(r.section.upper() for r in runs)
        which = f"sync job #{run.job_id}" if len(runs) > 1 else f"sync run #{run.pk}"
        reconciliation.rerun_after_change(
            tenant=event.tenant,
            registration_ids=[event.registration.pk],
            reason=f"the sync of {sections} for {event.registration.gstin} ({which})",
        )


def _last_of_sync(event: SyncFinished) -> bool:
    """No other section of the GSTIN is queued or syncing: this run ends its sync (runs record their end before
    announcing it, so of two ending together at least one sees the other ended)."""
    return (
        not SyncRun.objects.filter(
            tenant_id=event.tenant.pk, registration_id=event.registration.pk, status__in=ACTIVE_STATUSES
        )
        .exclude(pk__in=[r.pk for r in (event.runs or [event.run])])
        .exists()
    )


def after_portal_file_import(event: PortalFileImported) -> None:
    """An IMS file stands in for a sync (users without API access): a reconciled GSTIN is reconciled again."""
    if event.changed:
        reconciliation.rerun_after_change(
            tenant=event.tenant,
            registration_ids=[event.registration.pk],
            reason=f"the IMS file import for {event.registration.gstin} ({', '.join(event.files)})",
        )


def after_register_change(event: RegisterChanged) -> None:
    """Register lines were written: their GSTINs, if already reconciled, are reconciled again."""
    reconciliation.rerun_after_change(
        tenant=event.tenant_id, registration_ids=event.registration_ids, reason=event.reason
    )


def after_reconciliation(event: ReconciliationFinished) -> None:
    """The rules that act on reconciliation outcomes run on each GSTIN of the run (once per rule and run); the
    GSTINs' ITC claim periods are refreshed (a booking may move one later)."""
    autorules.run_after_reconciliation(run=event.run)
    returns.queue_claim_refreshes(list(event.run.registration_ids))


def after_push(event: PushFinished) -> None:
    """Suppliers are told, by e-mail and webhook, of the rejections (and remarked pendings) the portal saved."""
    suppliers.notify_suppliers(tenant=event.tenant, document_ids=event.saved_document_ids)


def after_writeback(event: WritebackQueued) -> None:
    """Corrections sent to the ERP go out through the organisation's webhooks subscribed to them, signed, retried
    with back-off by a worker (``suppliers.services.queue_webhook``), each with its idempotency key."""
    with tenant_scope(event.tenant), transaction.atomic():
        for proposal in event.proposals:
            suppliers.queue_webhook(tenant=event.tenant, event=WRITEBACK_EVENT, payload=proposal)


def writeback_refusal(event: WritebackQueued) -> str | None:
    """Corrections are only marked sent when a webhook will carry them: without one, the person is told what to
    set up (issue #12 §4)."""
    if suppliers.subscribed(tenant=event.tenant, event=WRITEBACK_EVENT):
        return None
    return (
        f"No webhook receives reconciliation corrections: add one on Suppliers → Webhooks with the event "
        f"“{WebhookEvent.RECON_WRITEBACK.label}” ({WRITEBACK_EVENT}); the corrections wait until then, none has been sent."
    )


CHECKS = {WritebackQueued: writeback_refusal}

ROUTES = {
    SyncFinished: after_sync,
    PortalFileImported: after_portal_file_import,
    RegisterChanged: after_register_change,
    ReconciliationFinished: after_reconciliation,
    PushFinished: after_push,
    WritebackQueued: after_writeback,
}


def connect() -> None:
    """Route every event to its flow (``PipelineConfig.ready``)."""
    for event_type, flow in ROUTES.items():
        handoff.route(event_type, flow)
    for event_type, fn in CHECKS.items():
        handoff.check(event_type, fn)

"""A CA firm's batch over its clients' GSTINs: sync all → reconcile all → GSTR-2B preview → recommended actions,
with progress per client GSTIN (the "Client batches" page and ``/api/v1/batches/``).

Starting a batch queues the sync of every connected GSTIN the member may sync, at batch priority and with a fair
share per tenant (ims_project/queues.py), so a person's own "Sync now" still goes first. A tick
(``pipeline.advance_batch``, every ``IMS_BATCH_TICK_SECONDS`` while the batch runs) moves each GSTIN on when the
jobs of its stage have ended: its sync runs → one reconciliation of the GSTIN over the batch's dates → a rebuild of
its GSTR-2B preview for the return period being filed → the count of its documents per recommended action (the
tenant's action per reconciliation outcome). A GSTIN whose job failed stops there with the reason; the others go on.
The tick reads every GSTIN of a stage in one query per stage, so a batch of 10,000 GSTINs costs a few queries a tick.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from audit.services import Actor, record
from gst.periods import fy_start_year
from gst_sync import services as sync_services
from gst_sync.models import ACTIVE_STATUSES, ConnectionStatus, PortalConnection, RunStatus, SyncRun
from ims_project import queues
from ims_project.jobs import JobStatus
from reconciliation import services as recon_services
from reconciliation.models import ReconMatch, ReconRun
from returns import services as returns_services
from returns.models import PreviewRebuild
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.scoping import scopes_disabled, tenant_scope
from tenancy.selectors import registrations_for_capability

from . import tasks
from .models import ClientBatch, ClientBatchItem, Stage

ACTIVE_STAGES = (Stage.SYNCING, Stage.RECONCILING, Stage.PREVIEWING)


class BatchError(ValueError):
    """A batch the rules refuse; the message is safe to show."""


def default_dates(today: dt.date) -> tuple[dt.date, dt.date]:
    """From the start of the previous financial year to today: every period still open for ITC."""
    return dt.date(fy_start_year(today) - 1, 4, 1), today


def start_batch(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> ClientBatch:
    """Start a batch over every GSTIN connected to the portal that the member may sync and act on."""
    if membership is None or not (
        can(membership.role, Capability.SYNC) and can(membership.role, Capability.ACT)
    ):
        raise BatchError("Your role does not allow syncing and reconciling.")
    dflt_from, dflt_to = default_dates(timezone.localdate())
    date_from, date_to = date_from or dflt_from, date_to or dflt_to
    if date_to < date_from:
        raise BatchError("The end date is before the start date.")
    allowed = registrations_for_capability(
        tenant=tenant, user=user, capability=Capability.SYNC, membership=membership
    )
    connected = set(
        PortalConnection.objects.filter(
            tenant=tenant, status=ConnectionStatus.CONNECTED, expires_at__gt=timezone.now()
        ).values_list("registration_id", flat=True)
    )
    regs = [r for r in allowed.order_by("gstin") if r.pk in connected]
    if not regs:
        raise BatchError("None of your GSTINs is connected to the portal: connect them with an OTP first.")
    with transaction.atomic():
        batch = ClientBatch.objects.create(
            tenant=tenant,
            started_by=actor.id,
            actor_label=actor.label,
            date_from=date_from,
            date_to=date_to,
        )
        items = []
        for position, reg in enumerate(regs):
            item = ClientBatchItem(tenant=tenant, batch=batch, registration=reg)
            try:
                runs = sync_services.queue_sync(
                    tenant=tenant,
                    actor=actor,
                    registration=reg,
                    trigger="batch",
                    priority=queues.batch_priority(position),
                )
            except sync_services.SyncError as exc:
                item.stage, item.error = Stage.FAILED, str(exc)
            else:
                # Sections already syncing are waited for instead of queued twice.
                item.sync_run_ids = sorted(
                    {r.pk for r in runs}
                    | set(
                        SyncRun.objects.filter(
                            tenant=tenant, registration=reg, status__in=ACTIVE_STATUSES
                        ).values_list("pk", flat=True)
                    )
                )
            items.append(item)
        ClientBatchItem.objects.bulk_create(items, batch_size=1000)
        record(
            tenant=tenant,
            actor=actor,
            action="batch.started",
            obj=batch,
            metadata={"gstins": len(regs), "from": date_from, "to": date_to},
        )
        transaction.on_commit(lambda: schedule_tick(batch.pk))
    return batch


def schedule_tick(batch_id: int, *, countdown: float | None = None) -> None:
    tasks.advance_batch.apply_async(
        (batch_id,),
        countdown=settings.IMS_BATCH_TICK_SECONDS if countdown is None else countdown,
        priority=queues.NORMAL,
    )


def advance(batch_id: int) -> ClientBatch | None:
    """One tick: move every GSTIN of the batch whose stage's jobs have ended to its next stage. Returns the batch
    (None when it does not exist or another tick holds it); its status is DONE once every GSTIN is done or
    failed."""
    with scopes_disabled():
        batch = ClientBatch.objects.select_related("tenant").filter(pk=batch_id).first()
    if batch is None:
        return None
    tenant = batch.tenant
    actor = Actor.task("pipeline.advance_batch")
    with tenant_scope(tenant), transaction.atomic():
        locked = ClientBatch.objects.select_for_update(skip_locked=True).filter(pk=batch_id).first()
        if locked is None or locked.status != JobStatus.RUNNING:
            return locked
        batch = locked
        _after_syncs(batch, actor)
        _after_reconciliations(batch, actor)
        _after_previews(batch)
        if not ClientBatchItem.objects.filter(batch=batch, stage__in=ACTIVE_STAGES).exists():
            batch.status, batch.finished_at = JobStatus.DONE, timezone.now()
            batch.save(update_fields=["status", "finished_at"])
            record(
                tenant=tenant,
                actor=actor,
                action="batch.finished",
                obj=batch,
                metadata=progress(batch)["stages"],
            )
    return batch


def _items(batch: ClientBatch, stage: str) -> list[ClientBatchItem]:
    return list(ClientBatchItem.objects.filter(batch=batch, stage=stage))


def _after_syncs(batch: ClientBatch, actor: Actor) -> None:
    items = _items(batch, Stage.SYNCING)
    ids = [i for item in items for i in item.sync_run_ids]
    runs = {
        r.pk: r
        for r in SyncRun.objects.filter(tenant=batch.tenant, pk__in=ids).only(
            "status", "counts", "error_message", "section"
        )
    }
    ready = []
    for item in items:
        mine = [runs[i] for i in item.sync_run_ids if i in runs]
        if any(r.status in ACTIVE_STATUSES for r in mine):
            continue
        failed = [r for r in mine if r.status == RunStatus.FAILED]
        item.documents = sum(int((r.counts or {}).get("downloaded") or 0) for r in mine)
        if failed:
            item.stage = Stage.FAILED
            item.error = "; ".join(f"{r.section.upper()}: {r.error_message}" for r in failed)[:2000]
        else:
            ready.append(item)
    if ready:
        recon = recon_services.queue_batch_runs(
            tenant=batch.tenant,
            actor=actor,
            registration_ids=[i.registration_id for i in ready],
            date_from=batch.date_from,
            date_to=batch.date_to,
            priority=queues.BATCH,
        )
        for item, run in zip(ready, recon, strict=True):
            item.stage, item.recon_run_id = Stage.RECONCILING, run.pk
    ClientBatchItem.objects.bulk_update(items, ["stage", "error", "documents", "recon_run_id", "updated_at"])


def _after_reconciliations(batch: ClientBatch, actor: Actor) -> None:
    items = _items(batch, Stage.RECONCILING)
    status = dict(
        ReconRun.objects.filter(tenant=batch.tenant, pk__in=[i.recon_run_id for i in items]).values_list(
            "pk", "status"
        )
    )
    errors = {}
    regs = {
        r.pk: r
        for r in Registration.objects.filter(tenant=batch.tenant, pk__in=[i.registration_id for i in items])
    }
    today = timezone.localdate()
    for item in items:
        state = status.get(item.recon_run_id)
        if state == JobStatus.FAILED or state is None:
            errors[item.pk] = "The reconciliation failed: see its run."
            item.stage, item.error = Stage.FAILED, errors[item.pk]
        elif state == JobStatus.DONE:
            reg = regs[item.registration_id]
            period = returns_services.periods_to_rebuild(reg, today)[0]  # the 2B being filed against
            job, _ = returns_services.request_rebuild(
                tenant=batch.tenant, actor=actor, registration=reg, period=period
            )
            item.stage, item.rebuild_id = Stage.PREVIEWING, job.pk
    ClientBatchItem.objects.bulk_update(items, ["stage", "error", "rebuild_id", "updated_at"])


def _after_previews(batch: ClientBatch) -> None:
    items = _items(batch, Stage.PREVIEWING)
    status = dict(
        PreviewRebuild.objects.filter(tenant=batch.tenant, pk__in=[i.rebuild_id for i in items]).values_list(
            "pk", "status"
        )
    )
    done = [i for i in items if status.get(i.rebuild_id) == JobStatus.DONE]
    actions = recon_services.outcome_actions(tenant=batch.tenant)
    per_run: dict[int, Counter] = defaultdict(Counter)
    rows = (
        ReconMatch.objects.filter(
            tenant=batch.tenant, run_id__in=[i.recon_run_id for i in done], document__isnull=False
        )
        .values_list("run_id", "outcome")
        .annotate(n=Count("id"))
    )
    for run_id, outcome, n in rows:
        if actions.get(outcome):
            per_run[run_id][actions[outcome]] += n
    for item in items:
        state = status.get(item.rebuild_id)
        if state == JobStatus.DONE:
            item.stage, item.recommended = Stage.DONE, dict(per_run.get(item.recon_run_id, {}))
        elif state == JobStatus.FAILED or state is None:
            item.stage, item.error = Stage.FAILED, "The GSTR-2B preview could not be built: see its page."
    ClientBatchItem.objects.bulk_update(items, ["stage", "error", "recommended", "updated_at"])


def progress(batch: ClientBatch) -> dict:
    """GSTINs per stage, documents downloaded and documents per recommended action, over the whole batch."""
    stages = {s.value: 0 for s in Stage}
    recommended: Counter = Counter()
    documents = 0
    for stage, n, docs in (
        ClientBatchItem.objects.filter(batch=batch)
        .values("stage")
        .annotate(n=Count("id"), docs=Sum("documents"))
        .values_list("stage", "n", "docs")
    ):
        stages[stage] = n
        documents += docs or 0
    for rec in ClientBatchItem.objects.filter(batch=batch, stage=Stage.DONE).values_list(
        "recommended", flat=True
    ):
        recommended.update(rec or {})
    total = sum(stages.values())
    finished = stages[Stage.DONE] + stages[Stage.FAILED]
    return {
        "gstins": total,
        "finished": finished,
        "percent": round(100 * finished / total) if total else 100,
        "stages": stages,
        "documents": documents,
        "recommended": dict(recommended),
    }

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.timesince import timesince

from audit.models import AuditEvent
from ims_project.formatting import format_inr
from tenancy.models import Registration, Tenant
from tenancy.selectors import visible_registrations

from . import holds
from .files.formats import RESET, SAVE
from .models import (
    ACTIVE_PUSH_STATUSES,
    ACTIVE_STATUSES,
    SAVING,
    PortalConnection,
    PushBatch,
    PushItem,
    PushQueueEntry,
    PushStatus,
    RunStatus,
    SyncJob,
    SyncRun,
)

# What a SAVE and a RESETIMS carry (the Offline Tool's upload and the push): the same column names on documents and
# on the queue.
UPLOAD_FILTERS = {
    SAVE: Q(local_action__in=["A", "R", "P"]),
    RESET: Q(local_action="N") & ~Q(portal_action="N"),
}

DIFF_ACTIONS = {
    "document.created": "New",
    "document.changed": "Changed",
    "document.vanished": "Vanished",
    "document.reappeared": "Reappeared",
}


def push_queue(
    *,
    tenant: Tenant,
    registrations: Sequence[Registration],
    in_flight: bool = False,
) -> QuerySet[PushQueueEntry]:
    """The push queue of ``registrations``: documents with a local action not yet on the portal (not vanished),
    read from the trigger-kept ``gst_sync_pushqueue`` (never a scan of the documents), less those held for approval
    and, unless ``in_flight``, those already in a batch being sent. Filter with :data:`UPLOAD_FILTERS` for what a
    SAVE or RESETIMS would carry."""
    reg_ids = [r.pk for r in registrations]
    qs = PushQueueEntry.objects.filter(tenant=tenant, registration_id__in=reg_ids)
    for held in holds.held(tenant=tenant):
        qs = qs.filter(~Exists(held.filter(document_id=OuterRef("document_id"))))
    if not in_flight:
        qs = qs.filter(
            ~Exists(
                PushItem.objects.filter(
                    tenant=tenant, document_id=OuterRef("document_id"), batch__status__in=ACTIVE_PUSH_STATUSES
                )
            )
        )
    return qs


def push_queue_counts(
    *,
    tenant: Tenant,
    registrations: Sequence[Registration],
    in_flight: bool = False,
) -> dict[int, dict[str, int]]:
    """Per registration id: the queue's documents (``"all"``) and how many a SAVE and a RESETIMS would carry."""
    rows = (
        push_queue(tenant=tenant, registrations=registrations, in_flight=in_flight)
        .values("registration_id")
        .annotate(all=Count("pk"), **{kind: Count("pk", filter=q) for kind, q in UPLOAD_FILTERS.items()})
    )
    counts = {r.pk: {"all": 0, SAVE: 0, RESET: 0} for r in registrations}
    for row in rows:
        counts[row["registration_id"]] = {"all": row["all"], SAVE: row[SAVE], RESET: row[RESET]}
    return counts


def registrations_with_connections(*, tenant, user, membership):
    """Visible GSTINs, each with ``.connection`` (or None) and ``.to_push`` (what Push would send now)."""
    regs = list(visible_registrations(tenant=tenant, user=user, membership=membership))
    conns = {
        c.registration_id: c for c in PortalConnection.objects.filter(tenant=tenant, registration__in=regs)
    }
    counts = push_queue_counts(tenant=tenant, registrations=regs)
    for reg in regs:
        reg.connection = conns.get(reg.pk)
        reg.to_push = counts[reg.pk][SAVE] + counts[reg.pk][RESET]
    return regs


@dataclass
class SyncState:
    """Where one GSTIN's syncs and pushes stand, for its row on the portal page."""

    last_sync: dt.datetime | None = None  # the last section run that finished well
    age: str = ""  # "3 hours ago", "just now"
    steps: list[str] = field(default_factory=list)  # what each running section or push is doing now
    waiting: int = 0  # sections queued for a worker
    done: int = 0  # of the sync in progress: sections finished…
    total: int = 0  # …of sections queued together
    errors: list[str] = field(default_factory=list)  # the last failure of each section, and of the last push

    @property
    def active(self) -> bool:
        return bool(self.steps or self.waiting)


def _which(sections: list[str], *, everyone: int) -> str:
    """The sections a message concerns: named, or "All 16 sections" when it is every one of them."""
    return f"All {everyone} sections" if len(sections) == everyone > 1 else ", ".join(sections)


def _run_step(run: SyncRun) -> str:
    progress = run.progress or {}
    text = progress.get("text") or "starting"
    if text == SAVING and progress.get("total"):
        done, total = int(progress.get("done") or 0), int(progress["total"])
        text = (
            f"{text}, {format_inr(done, symbol=False, decimals=0)} of "
            f"{format_inr(total, symbol=False, decimals=0)} document{pluralize(total)}"
        )
    return f"{run.section}: {text}"


def _push_step(batch: PushBatch) -> str:
    n = f"Pushing {batch.item_count} action{pluralize(batch.item_count)}"
    if batch.status == PushStatus.QUEUED:
        return f"{n}: waiting for a worker"
    if batch.status == PushStatus.SENDING:
        return f"{n}: sending to the portal"
    return f"{n}: sent, waiting for the portal's answer"


def sync_states(*, tenant: Tenant, registrations: Sequence[Registration]) -> dict[int, SyncState]:
    """Per registration id: its :class:`SyncState`, from the latest run of each section, the last good run, the
    jobs running (a small GSTIN's sections in one task: its step stands for theirs) and the pushes in flight or
    last finished (four queries whatever the number of GSTINs)."""
    ids = [r.pk for r in registrations]
    states = {pk: SyncState() for pk in ids}
    latest = list(
        SyncRun.objects.filter(tenant=tenant, registration_id__in=ids)
        .order_by("registration_id", "section", "-created_at", "-id")
        .distinct("registration_id", "section")
        .only(
            "registration_id",
            "section",
            "status",
            "progress",
            "error_message",
            "created_at",
            "finished_at",
            "job_id",
        )
    )
    jobs = {
        j.pk: j
        for j in SyncJob.objects.filter(
            tenant=tenant, registration_id__in=ids, status=RunStatus.RUNNING
        ).only("registration_id", "progress")
    }
    # The last sync that went well, even when later ones failed (the portal down since).
    last_good = dict(
        SyncRun.objects.filter(tenant=tenant, registration_id__in=ids, status=RunStatus.SUCCEEDED)
        .values("registration_id")
        .annotate(last=Max("finished_at"))
        .values_list("registration_id", "last")
    )
    by_reg: dict[int, list[SyncRun]] = defaultdict(list)
    for run in latest:
        by_reg[run.registration_id].append(run)
    now = timezone.now()
    for reg_id, runs in by_reg.items():
        state = states[reg_id]
        last = last_good.get(reg_id)
        if last is not None:
            state.last_sync = last
            recent = now - state.last_sync < dt.timedelta(minutes=1)
            state.age = "just now" if recent else f"{timesince(state.last_sync, now, depth=1)} ago"
        active = [r for r in runs if r.status in ACTIVE_STATUSES]
        if active:
            # The sync in progress: the runs queued with the first active one (one click, one beat tick).
            since = min(r.created_at for r in active) - dt.timedelta(seconds=5)
            current = [r for r in runs if r.created_at >= since]
            state.total = len(current)
            state.done = len(current) - len(active)
            state.steps = [_run_step(r) for r in active if r.status == RunStatus.RUNNING]
            state.steps += [
                (jobs[j].progress or {}).get("text") or "starting"
                for j in sorted({r.job_id for r in active if r.job_id in jobs})
            ]
            # A running job's sections wait for it, not for a worker.
            state.waiting = sum(r.status == RunStatus.QUEUED and r.job_id not in jobs for r in active)
        # One line per message: a portal that is down fails every section alike.
        failed: dict[str, list[str]] = defaultdict(list)
        for r in runs:
            if r.status == RunStatus.FAILED and r.error_message:
                failed[r.error_message].append(r.section)
        state.errors = [
            f"{_which(sections, everyone=len(runs))}: {message}" for message, sections in failed.items()
        ]
    recent = PushBatch.objects.filter(tenant=tenant, registration_id__in=ids).filter(
        Q(status__in=ACTIVE_PUSH_STATUSES) | Q(created_at__gte=now - dt.timedelta(days=1))
    )
    last_finished: dict[int, PushBatch] = {}
    for batch in recent.order_by("created_at", "id"):
        state = states[batch.registration_id]
        if batch.status in ACTIVE_PUSH_STATUSES:
            state.steps.append(_push_step(batch))
        else:
            last_finished[batch.registration_id] = batch
    for reg_id, batch in last_finished.items():
        if batch.status == PushStatus.FAILED and batch.error_message:
            states[reg_id].errors.append(f"Push #{batch.pk}: {batch.error_message}")
        elif batch.failed_count:
            states[reg_id].errors.append(
                f"Push #{batch.pk}: the portal refused {batch.failed_count} of {batch.item_count} action"
                f"{pluralize(batch.item_count)} (open the push for each reason)"
            )
    return states


def push_batches_for(*, tenant, user, membership) -> QuerySet[PushBatch]:
    regs = visible_registrations(tenant=tenant, user=user, membership=membership)
    return PushBatch.objects.filter(tenant=tenant, registration__in=regs).select_related("registration")


def runs_for(*, tenant, user, membership) -> QuerySet[SyncRun]:
    regs = visible_registrations(tenant=tenant, user=user, membership=membership)
    return SyncRun.objects.filter(tenant=tenant, registration__in=regs).select_related("registration", "job")


def run_diff(*, tenant, run: SyncRun) -> QuerySet[AuditEvent]:
    """What a run changed: its ledger events for documents (new, changed, vanished, reappeared)."""
    return AuditEvent.objects.filter(
        tenant=tenant, request_id=run.request_id, action__in=list(DIFF_ACTIONS)
    ).order_by("seq")


def pushes_of_document(*, tenant, document_id: int):
    """What each push did with one document: what was sent and the portal's answer, newest first."""

    return (
        PushItem.objects.filter(tenant=tenant, document_id=document_id)
        .select_related("batch")
        .order_by("-batch__created_at", "-id")
    )


def pushes_panel(*, tenant, document) -> dict:
    """The "Pushes to the portal" panel of a document's page (registered with ``invoices.panels``)."""
    return {"pushes": list(pushes_of_document(tenant=tenant, document_id=document.pk)[:50])}


def in_push_queue(queryset, *, tenant, values) -> QuerySet:
    """The documents of ``queryset`` in the push queue (the documents list's "Not yet pushed: yes"; registered with
    ``invoices.facets``), found through that narrow trigger-kept table since no index of the documents may name
    ``local_action``. Without a tenant (a subquery), each document's own tenant."""
    tenant_id = tenant.pk if tenant is not None else OuterRef("tenant_id")
    return queryset.filter(pk__in=PushQueueEntry.objects.filter(tenant_id=tenant_id).values("document_id"))

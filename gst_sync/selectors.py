from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent
from tenancy.selectors import visible_registrations

from .models import PortalConnection, PushBatch, SyncRun

DIFF_ACTIONS = {
    "document.created": "New",
    "document.changed": "Changed",
    "document.vanished": "Vanished",
    "document.reappeared": "Reappeared",
}


def registrations_with_connections(*, tenant, user, membership):
    """Visible GSTINs, each with ``.connection`` (or None) and ``.to_push`` (local actions waiting)."""
    from .push import pending_push

    regs = list(visible_registrations(tenant=tenant, user=user, membership=membership))
    conns = {c.registration_id: c for c in PortalConnection.objects.filter(tenant=tenant, registration__in=regs)}
    for reg in regs:
        reg.connection = conns.get(reg.pk)
        reg.to_push = pending_push(tenant=tenant, registration=reg).count()
    return regs


def push_batches_for(*, tenant, user, membership) -> QuerySet[PushBatch]:
    regs = visible_registrations(tenant=tenant, user=user, membership=membership)
    return PushBatch.objects.filter(tenant=tenant, registration__in=regs).select_related("registration")


def runs_for(*, tenant, user, membership) -> QuerySet[SyncRun]:
    regs = visible_registrations(tenant=tenant, user=user, membership=membership)
    return SyncRun.objects.filter(tenant=tenant, registration__in=regs).select_related("registration")


def run_diff(*, tenant, run: SyncRun) -> QuerySet[AuditEvent]:
    """What a run changed: its ledger events for documents (new, changed, vanished, reappeared)."""
    return AuditEvent.objects.filter(
        tenant=tenant, request_id=run.request_id, action__in=list(DIFF_ACTIONS)
    ).order_by("seq")


def pushes_of_document(*, tenant, document_id: int):
    """What each push did with one document: what was sent and the portal's answer, newest first."""
    from .models import PushItem

    return (PushItem.objects.filter(tenant=tenant, document_id=document_id)
            .select_related("batch").order_by("-batch__created_at", "-id"))

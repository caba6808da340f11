"""Readers of the audit ledger that other apps use (a detail page's own trail)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AuditEvent


def events_for_object(*, tenant, object_type: str, object_id) -> QuerySet[AuditEvent]:
    """One object's trail, newest first (for a detail page; the caller has checked the user may see it)."""
    return AuditEvent.objects.filter(
        tenant=tenant, object_type=object_type, object_id=str(object_id)
    ).order_by("-seq")

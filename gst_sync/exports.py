"""The "sync_diff" export: what one sync run changed, one row per document event."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from exports.registry import ExportError, register
from gst.labels import section_name
from tenancy.selectors import membership_for

from .selectors import DIFF_ACTIONS, run_diff, runs_for

KIND = "sync_diff"
HEADERS = ["Change", "Document id", "Document", "Fields changed (old → new)", "Seen at (IST)"]


def _describe(changes: dict) -> str:
    return "; ".join(
        f"{k}: {v[0]} → {v[1]}" if isinstance(v, list) and len(v) == 2 else f"{k}: {v}"
        for k, v in (changes or {}).items()
    )


def export_diff(*, tenant, user, params):
    membership = membership_for(tenant=tenant, user=user)
    if membership is None:
        raise PermissionDenied
    run = runs_for(tenant=tenant, user=user, membership=membership).filter(pk=params.get("run")).first()
    if run is None:
        raise ExportError("No such sync run.")
    events = run_diff(tenant=tenant, run=run)
    rows = (
        (
            DIFF_ACTIONS[e.action],
            e.object_id,
            e.object_repr,
            _describe(e.changes) if e.action == "document.changed" else "",
            timezone.localtime(e.occurred_at).replace(tzinfo=None),
        )
        for e in events.iterator(chunk_size=2000)
    )
    title = f"Sync #{run.pk} ({run.registration.gstin}, {section_name(run.section)})"
    return title, HEADERS, rows, events.count()


register(KIND, export_diff)

"""Pushing local IMS actions to the portal: the only writer of PushBatch / PushItem.

The queue is every document of a GSTIN whose ``local_action`` is set (not vanished, not awaiting approval, not
already in a batch in flight), found through ``gst_sync_pushqueue`` (kept by triggers on the documents table; see
``gst_sync.selectors.push_queue``).
``queue_push`` cuts it into batches of ``settings.IMS_PUSH_BATCH_SIZE`` records (SAVE for Accept / Reject /
Pending, RESETIMS for back-to-No-action) and commits them before anything is sent. ``run_push`` sends one batch,
stores the portal's reference the moment it answers, polls REQSTS, and records each document's result in one
transaction: saved documents take the action as their portal action and leave the queue; refused ones keep the
local action with the portal's error; ``IMSSAV0010`` (previous action wrong or the supplier edited the record)
re-downloads the section, flags the document for review and keeps the local action. A batch whose worker died is
re-claimed after the lease; if it had no reference yet, the portal is re-read first so nothing is sent twice.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor, Event, record, record_many
from gst.sections import section_info
from ims_project import handoff, leases, rls
from ims_project.handoff import PushFinished
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from notifications.services import notify
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import tasks
from .client import PortalAdapter, PortalError, Reauth
from .client.base import open_session
from .client.errors import record_message
from .client.factory import owns_adapter
from .files import formats
from .files.imports import upload_rows
from .models import (
    ConnectionStatus,
    PortalConnection,
    PushBatch,
    PushItem,
    PushItemResult,
    PushStatus,
)
from .selectors import UPLOAD_FILTERS, push_queue

log = logging.getLogger(__name__)
CONFLICT_CODE = "IMSSAV0010"


class PushError(ValueError):
    """A push request the rules refuse; the message is safe to show."""


class Queued(list):
    """The batches :func:`queue_push` queued; ``held`` lists the documents left in the queue because their Accept
    lacks the ITC-reduction answer the portal requires (docs/rules/ims-actions.md §4.4), with the reason."""

    def __init__(self, batches=(), held: list[tuple[int, str]] | None = None):
        super().__init__(batches)
        self.held = held or []


def pending_push(*, tenant: Tenant, registration: Registration, kind: str | None = None):
    """Documents with a local action to push (not vanished) that are not already in a batch in flight nor awaiting
    approval; ``kind`` (``"save"`` / ``"reset"``) narrows them to what that request carries. Found through the push
    queue table, then read from the documents by id."""
    entries = push_queue(tenant=tenant, registrations=[registration])
    if kind is not None:
        entries = entries.filter(UPLOAD_FILTERS[kind])
    return SupplierDocument.objects.filter(
        tenant=tenant, registration=registration, pk__in=entries.values("document_id")
    )


def queue_push(*, tenant: Tenant, actor: Actor, registration: Registration) -> Queued:
    """Cut the GSTIN's queue into SAVE / RESET batches and enqueue them when the transaction commits. An Accept that
    needs the ITC-reduction answer and has none is never sent: it stays queued, is listed in ``held`` and gets an
    ``ims.push_held`` audit event naming the reason (docs/rules/ims-actions.md §4.4)."""
    if not registration.active:
        raise PushError(f"{registration.gstin} is deactivated: reactivate it to push its actions.")
    conn = PortalConnection.objects.filter(tenant=tenant, registration=registration).first()
    if conn is None or conn.status != ConnectionStatus.CONNECTED:
        raise PushError(f"{registration.gstin} is not connected to the portal: enter an OTP first.")
    size = settings.IMS_PUSH_BATCH_SIZE
    batches = Queued()
    items: list[tuple[int, dict, dict]] = []
    with transaction.atomic():
        # Serialise queueing per GSTIN so two clicks cannot put one document in two batches.
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7260002, %s)", [registration.pk])
        for kind in (formats.SAVE, formats.RESET):
            rows = list(
                upload_rows(
                    pending_push(tenant=tenant, registration=registration, kind=kind).order_by(
                        "section", "id"
                    ),
                    registration,
                    "id",
                )
            )
            records = []
            for row in rows:
                try:
                    records.append((row, formats.upload_record(row, kind)))
                except formats.DeclarationMissing as exc:
                    batches.held.append((row["id"], str(exc)))
            for start in range(0, len(records), size):
                chunk = records[start : start + size]
                batch = PushBatch.objects.create(
                    tenant=tenant,
                    registration=registration,
                    kind=kind,
                    item_count=len(chunk),
                    requested_by=actor.id,
                )
                batches.append(batch)
                items.extend((batch.pk, row, record) for row, record in chunk)
        _copy_items(tenant, items)
        if batches.held:
            record_many(
                tenant=tenant,
                actor=actor,
                events=[
                    Event(
                        "ims.push_held",
                        "invoices.supplierdocument",
                        str(doc_id),
                        message.split(":", 1)[0],
                        metadata={"code": "IMSSAV0054", "message": message},
                    )
                    for doc_id, message in batches.held
                ],
            )
        if batches:
            record(
                tenant=tenant,
                actor=actor,
                action="push.queued",
                obj=registration,
                metadata={
                    "batches": [b.pk for b in batches],
                    "documents": sum(b.item_count for b in batches),
                },
            )

            ids = [b.pk for b in batches]
            transaction.on_commit(lambda: [tasks.push_batch.delay(i) for i in ids])
    return batches


_ITEM_COLUMNS = (
    "tenant_id",
    "batch_id",
    "document_id",
    "section",
    "action",
    "prev_status",
    "record",
    "result",
    "error_code",
    "error_message",
)


def _copy_items(tenant: Tenant, items: list[tuple[int, dict, dict]]) -> None:
    """The batches' items (batch id, document row, kind) in one COPY: a queue of 100,000 documents took 15-19 s
    through ``bulk_create`` (bench/bench_push.py, BENCH_QUEUE_DOCS)."""
    if not items:
        return
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with (
        connection.cursor() as cur,
        rls.copy_in(cur, f"COPY gst_sync_pushitem ({', '.join(_ITEM_COLUMNS)}) FROM STDIN") as copy,
    ):
        for batch_id, row, record in items:
            copy.write_row(
                (
                    tenant.pk,
                    batch_id,
                    row["id"],
                    row["section"],
                    row["local_action"],
                    row["portal_action"],
                    dumps(_json_record(record)),
                    PushItemResult.SENT,
                    "",
                    "",
                )
            )


def _json_record(rec: dict) -> dict:
    return {k: (str(v) if not isinstance(v, str | int | type(None)) else v) for k, v in rec.items()}


def _wire_record(rec: dict) -> dict:
    """The stored record with amounts back as Decimals, for the adapter's exact JSON numbers."""

    out = dict(rec)
    for key in (
        "val",
        "txval",
        "iamt",
        "camt",
        "samt",
        "cess",
        "declIgst",
        "declCgst",
        "declSgst",
        "declCess",
    ):
        if key in out and out[key] not in (None, ""):
            out[key] = Decimal(str(out[key]))
    return out


_RUNNING = ("sending", "polling")  # the lease's running states (ims_project.leases)
RETRY_AFTER = 10  # seconds before a released batch is delivered again


def _claim(batch_id: int) -> int | None:
    """The lease of :mod:`ims_project.leases`; this attempt's number, None when not claimed. A batch that already
    has the portal's reference only needs polling again."""
    return leases.claim_attempt(
        PushBatch,
        batch_id,
        running=_RUNNING,
        new_status_sql="CASE WHEN reference_id = '' THEN 'sending' ELSE 'polling' END",
    )


def _key(section: str, stin: str, number: str) -> tuple[str, str, str]:
    return section, stin, number.upper()


def _item_key(item: PushItem) -> tuple[str, str, str]:
    info = section_info(item.section)
    return _key(item.section, item.record.get("stin", ""), item.record[info.number_field])


def _portal_actions(portal: PortalAdapter, gstin: str, sections: set[str]) -> dict[tuple, str]:
    current: dict[tuple, str] = {}
    for section in sections:
        info = section_info(section)
        for rec in portal.get_ims_documents(gstin=gstin, section=section):
            number = rec.get(info.number_field) or rec.get("inum") or rec.get("nt_num") or ""
            current[_key(section, rec.get("stin", ""), str(number))] = rec.get("action", "N")
    return current


@owns_adapter
def run_push(batch_id: int, *, adapter: PortalAdapter | None = None) -> PushBatch | None:
    """Send (or resume) one batch and record its results. A second delivery of a live batch is a no-op.

    A heartbeat thread keeps the lease while the portal is asked and polled; when the batch's own database
    session dies, the failure path writes on a fresh connection and hands the batch back as queued (a later
    attempt re-reads the portal before sending anything again: nothing is sent twice)."""
    with scopes_disabled():
        batch = PushBatch.objects.select_related("tenant", "registration").filter(pk=batch_id).first()
    if batch is None:
        return None
    attempt = _claim(batch_id)
    if attempt is None:
        return None
    with tenant_scope(batch.tenant):
        try:
            with leases.heartbeat(PushBatch, batch_id, attempt, running=_RUNNING):
                return _push(batch, adapter)
        except leases.LeaseLost:
            log.warning("push batch %s: attempt %s lost its lease; stopped", batch_id, attempt)
        except Exception as exc:
            if not leases.retryable(exc, attempt):
                raise
            log.exception("push batch %s: attempt %s lost its database connection", batch_id, attempt)
            if leases.release(PushBatch, batch_id, attempt, running=_RUNNING):
                leases.deliver_later(tasks.push_batch, batch_id, countdown=RETRY_AFTER)
        leases.fresh_connection()
        batch.refresh_from_db()
    return batch


def _push(batch: PushBatch, adapter: PortalAdapter | None) -> PushBatch:
    """The body of :func:`run_push`, under the lease its heartbeat keeps."""
    tenant, registration = batch.tenant, batch.registration
    batch.refresh_from_db()
    items = list(batch.items.all())
    conn = PortalConnection.objects.get(tenant=tenant, registration=registration)
    portal = adapter  # given, or built from settings by @owns_adapter
    try:
        portal.load_session(open_session(conn.session_blob, key=settings.IMS_SESSION_KEY))
        if not batch.reference_id:
            to_send = items
            if batch.attempts > 1:
                to_send = _already_applied(batch, items, portal)
            if to_send:
                invdata: dict[str, list] = defaultdict(list)
                for item in to_send:
                    invdata[item.section].append(_wire_record(item.record))
                send = portal.save_actions if batch.kind == formats.SAVE else portal.reset_actions
                reference = send(gstin=registration.gstin, invdata=dict(invdata))
                PushBatch.objects.filter(pk=batch.pk).update(
                    reference_id=reference, status=PushStatus.POLLING, heartbeat_at=timezone.now()
                )
                batch.reference_id = reference
        status = (
            portal.wait_for_request(gstin=registration.gstin, reference_id=batch.reference_id)
            if batch.reference_id
            else None
        )
    except Reauth as exc:
        with transaction.atomic():
            conn.status = ConnectionStatus.EXPIRED
            conn.last_error = exc.message
            conn.save(update_fields=["status", "last_error", "updated_at"])
            _park(
                batch,
                exc.code or "REAUTH",
                f"The portal session has expired: enter a new OTP, then push again. ({exc.message})",
            )
        return batch
    except PortalError as exc:
        _park(batch, exc.code or "PORTAL", exc.message)
        return batch
    if status is not None and not status.done:
        # Still processing on the portal: keep the reference, let the sweeper ask again later.
        PushBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now())

        tasks.push_batch.apply_async((batch.pk,), countdown=60)
        return batch
    conflicts = _record_results(batch, status)
    if conflicts:
        _refresh_conflicts(tenant, registration, conflicts, portal)
    saved = PushItem.objects.filter(batch=batch, result=PushItemResult.SAVED, action__in=["R", "P"])
    handoff.announce(
        PushFinished(
            tenant=tenant,
            batch=batch,
            saved_document_ids=list(saved.values_list("document_id", flat=True)),
        )
    )
    batch.refresh_from_db()
    return batch


def _already_applied(batch: PushBatch, items: list[PushItem], portal: PortalAdapter) -> list[PushItem]:
    """After a crash between sending and storing the reference: items the portal already shows as done are
    recorded as saved; only the rest are sent again."""
    current = _portal_actions(portal, batch.registration.gstin, {i.section for i in items})
    done = [i for i in items if current.get(_item_key(i)) == i.action]
    if done:
        _apply_saved(batch, done, note="found applied on the portal after an interrupted push")
    done_ids = {i.pk for i in done}
    return [i for i in items if i.pk not in done_ids]


def _park(batch: PushBatch, code: str, message: str) -> None:
    """The batch could not be sent: it fails as a whole, its documents keep their local actions (retry later)."""
    PushBatch.objects.filter(pk=batch.pk).update(
        status=PushStatus.FAILED, error_code=code, error_message=message, finished_at=timezone.now()
    )
    PushItem.objects.filter(batch=batch, result=PushItemResult.SENT).update(
        result=PushItemResult.FAILED, error_code=code, error_message=message[:500]
    )
    _notify_requester(batch, f"not sent: {message}")


def _errors_by_key(status) -> dict[tuple, tuple[str, str]]:
    errors: dict[tuple, tuple[str, str]] = {}
    for err in status.errors:
        for inv in err.inv or [{}]:
            number = str(
                inv.get("inum")
                or inv.get("nt_num")
                or inv.get("ntnum")
                or inv.get("boenum")
                or inv.get("docnum")
                or ""
            )
            try:
                section = section_info(err.section).key.value
            except ValueError:
                section = err.section
            errors[_key(section, err.stin, number)] = (
                err.error_cd,
                record_message(err.error_cd, err.error_msg),
            )
    return errors


def _record_results(batch: PushBatch, status) -> list[PushItem]:
    """Saved / refused per item, set-based, with one audit event per document and a summary. Returns conflicts."""
    pending = list(
        PushItem.objects.filter(batch=batch, result=PushItemResult.SENT)
    )  # fresh: some may be saved
    if status is not None and status.status == "ER":
        failed = {
            i.pk: (status.err_cd or "ER", status.err_msg or "The portal refused the request.")
            for i in pending
        }
    else:
        errors = _errors_by_key(status) if status is not None else {}
        failed = {i.pk: errors[_item_key(i)] for i in pending if _item_key(i) in errors}
    saved = [i for i in pending if i.pk not in failed]
    refused = [i for i in pending if i.pk in failed]
    conflicts = [i for i in refused if failed[i.pk][0] == CONFLICT_CODE]
    with transaction.atomic():
        if saved:
            _apply_saved(batch, saved)
        if refused:
            for item in refused:
                code, message = failed[item.pk]
                item.result = PushItemResult.CONFLICT if code == CONFLICT_CODE else PushItemResult.FAILED
                item.error_code, item.error_message = code, message[:500]
            PushItem.objects.bulk_update(refused, ["result", "error_code", "error_message"])
            if conflicts:
                SupplierDocument.objects.filter(pk__in=[i.document_id for i in conflicts]).update(
                    needs_review=True
                )
            record_many(
                tenant=batch.tenant,
                actor=Actor.task("gst_sync.push"),
                request_id=f"push:{batch.pk}",
                events=[
                    Event(
                        "ims.push_refused",
                        "invoices.supplierdocument",
                        str(i.document_id),
                        f"{i.record.get('stin')} {i.section}",
                        metadata={
                            "code": i.error_code,
                            "message": i.error_message,
                            "action": i.action,
                            "batch": batch.pk,
                        },
                    )
                    for i in refused
                ],
            )
        saved_total = PushItem.objects.filter(batch=batch, result=PushItemResult.SAVED).count()
        failed_total = PushItem.objects.filter(batch=batch).exclude(result=PushItemResult.SAVED).count()
        PushBatch.objects.filter(pk=batch.pk).update(
            status=PushStatus.DONE,
            saved_count=saved_total,
            failed_count=failed_total,
            finished_at=timezone.now(),
            error_code=(status.err_cd if status is not None else ""),
            error_message=(status.err_msg if status is not None and status.status == "ER" else ""),
        )
        if failed_total:
            _notify_requester(batch, f"the portal refused {failed_total} document(s).")
        record(
            tenant=batch.tenant,
            actor=Actor.task("gst_sync.push"),
            action="push.completed",
            obj=batch,
            request_id=f"push:{batch.pk}",
            metadata={
                "saved": saved_total,
                "refused": failed_total,
                "reference_id": batch.reference_id,
                "status": status.status if status is not None else "P",
            },
        )
    return conflicts


def _notify_requester(batch: PushBatch, what: str) -> None:
    """In-app notification (and e-mail) to whoever asked for the push that it did not fully go through."""

    user = get_user_model().objects.filter(pk=batch.requested_by).first() if batch.requested_by else None
    if user is None:
        return
    notify(
        tenant=batch.tenant,
        users=[user],
        kind="push_failed",
        text=f"Push #{batch.pk} of {batch.registration.gstin}: {what}",
        url=reverse("push-batch", args=[batch.tenant.slug, batch.pk]),
    )


def _apply_saved(batch: PushBatch, saved: list[PushItem], note: str = "") -> None:
    """The portal has these actions now: portal fields take the local ones and the local action is cleared —
    unless the user changed it again meanwhile (then it stays queued, with the new prev_status)."""
    with transaction.atomic():
        ids = [i.pk for i in saved]
        PushItem.objects.filter(pk__in=ids).update(result=PushItemResult.SAVED)
        with connection.cursor() as cur:
            cur.execute(
                """
                UPDATE invoices_supplierdocument d SET
                    portal_action = i.action,
                    portal_remarks = CASE WHEN i.action = 'N' THEN '' ELSE COALESCE(i.record->>'remarks', '') END,
                    portal_itc_red_req = COALESCE(i.record->>'itcRedReq', ''),
                    portal_decl_igst = (i.record->>'declIgst')::numeric,
                    portal_decl_cgst = (i.record->>'declCgst')::numeric,
                    portal_decl_sgst = (i.record->>'declSgst')::numeric,
                    portal_decl_cess = (i.record->>'declCess')::numeric,
                    local_action = CASE WHEN d.local_action = i.action THEN NULL ELSE d.local_action END,
                    local_remarks = CASE WHEN d.local_action = i.action THEN '' ELSE d.local_remarks END,
                    local_itc_red_req = CASE WHEN d.local_action = i.action THEN '' ELSE d.local_itc_red_req END,
                    local_decl_igst = CASE WHEN d.local_action = i.action THEN NULL ELSE d.local_decl_igst END,
                    local_decl_cgst = CASE WHEN d.local_action = i.action THEN NULL ELSE d.local_decl_cgst END,
                    local_decl_sgst = CASE WHEN d.local_action = i.action THEN NULL ELSE d.local_decl_sgst END,
                    local_decl_cess = CASE WHEN d.local_action = i.action THEN NULL ELSE d.local_decl_cess END
                FROM gst_sync_pushitem i
                WHERE i.id = ANY(%s) AND d.id = i.document_id AND d.tenant_id = %s
                """,
                [ids, batch.tenant_id],
            )
        record_many(
            tenant=batch.tenant,
            actor=Actor.task("gst_sync.push"),
            request_id=f"push:{batch.pk}",
            events=[
                Event(
                    "ims.action_pushed",
                    "invoices.supplierdocument",
                    str(i.document_id),
                    f"{i.record.get('stin')} {i.section}",
                    changes={"portal_action": [i.prev_status, i.action]},
                    metadata={
                        "batch": batch.pk,
                        "reference_id": batch.reference_id,
                        **({"note": note} if note else {}),
                    },
                )
                for i in saved
            ],
        )


def _refresh_conflicts(tenant, registration, conflicts: list[PushItem], portal: PortalAdapter) -> None:
    """IMSSAV0010: re-download the sections concerned so the document shows the portal's current state; the
    local action is kept (never lost) and the document is flagged for review."""
    for section in {i.section for i in conflicts}:
        try:
            records = portal.get_ims_documents(gstin=registration.gstin, section=section)
        except PortalError:
            log.warning("could not refresh %s after IMSSAV0010", section, exc_info=True)
            continue
        with transaction.atomic():
            ingest_documents(
                tenant=tenant,
                registration=registration,
                records={section: records},
                actor=Actor.task("gst_sync.push"),
                source="portal",
                request_id="push-refresh",
            )
        SupplierDocument.objects.filter(pk__in=[i.document_id for i in conflicts]).update(needs_review=True)


def requeue_stale_pushes() -> int:

    return leases.sweep(PushBatch, tasks.push_batch, running=_RUNNING)  # also those handed back

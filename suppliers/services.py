"""Writers of the supplier directory and of notifications to suppliers.

* :func:`update_supplier` / :func:`import_suppliers` / :func:`fill_from_documents` keep the directory
  (``invoices.Supplier``), audited in the same transaction.
* :func:`notify_suppliers` e-mails each supplier the documents just rejected or kept pending with a remark, and
  queues the same event for the tenant's webhooks. Called by ``gst_sync.push`` once a batch's results are saved.
* :func:`deliver_webhook` makes one signed POST of a delivery; ``suppliers.tasks`` retries it with backoff.
* :func:`create_webhook` / :func:`rotate_webhook_secret` make an endpoint's signing secret: stored sealed
  (``suppliers.sealing``) and returned once, never shown again. Endpoint URLs are checked against internal
  addresses when saved and at every delivery (``suppliers.netguard``).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from actions.selectors import ids_in
from audit.services import Actor, Event, record, record_many
from invoices.models import Supplier, SupplierDocument
from tenancy.models import Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import netguard, sealing, sheet, signing, tasks
from .models import (
    DeliveryStatus,
    NotificationStatus,
    SupplierNotification,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

log = logging.getLogger(__name__)
OBJECT_TYPE = "invoices.supplier"


class SupplierError(ValueError):
    """Invalid input: ``field`` names the form field, ``message`` is safe to show."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


# --- the directory ---------------------------------------------------------------------------------------------


def update_supplier(
    *, tenant: Tenant, actor: Actor, supplier: Supplier, legal_name: str, trade_name: str, emails: list[str]
) -> Supplier:
    """Set a supplier's names and contact e-mails (each checked; lower-cased, de-duplicated, at most 10)."""
    if supplier.tenant_id != tenant.pk:
        raise SupplierError(None, "No such supplier.")
    try:
        emails = sheet.clean_emails(list(emails))
    except ValueError as exc:
        raise SupplierError("emails", str(exc)[0].upper() + str(exc)[1:] + ".") from None
    new = {"legal_name": legal_name.strip()[:200], "trade_name": trade_name.strip()[:200], "emails": emails}
    changes = {k: [getattr(supplier, k), v] for k, v in new.items() if getattr(supplier, k) != v}
    if not changes:
        return supplier
    with transaction.atomic():
        for k, v in new.items():
            setattr(supplier, k, v)
        supplier.save(update_fields=[*new, "updated_at"])
        record(tenant=tenant, actor=actor, action="supplier.updated", obj=supplier, changes=changes)
    return supplier


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.created + self.updated + self.unchanged


def import_suppliers(*, tenant: Tenant, actor: Actor, data: bytes, filename: str = "") -> ImportResult:
    """Add or update suppliers from an Excel workbook (columns GSTIN, Legal name, Trade name, Emails).

    Good rows are kept even when other rows are bad; each bad row is reported with its reason. A non-empty cell
    replaces the directory's value, an empty one keeps it. Raises :class:`sheet.SheetError` when the file as a
    whole is refused (not an .xlsx, a zip bomb, no GSTIN column, too many rows): then nothing is written.
    Written set-based (one ``INSERT … ON CONFLICT``) with one audit event per changed supplier and a summary."""
    parsed = sheet.read_workbook(data)
    result = ImportResult(errors=parsed.errors)
    existing = {
        s.gstin: s for s in Supplier.objects.filter(tenant=tenant, gstin__in=[r.gstin for r in parsed.rows])
    }
    upserts, events = [], []
    for row in parsed.rows:
        old = existing.get(row.gstin)
        new = {
            "legal_name": row.legal_name or (old.legal_name if old else ""),
            "trade_name": row.trade_name or (old.trade_name if old else ""),
            "emails": row.emails if row.emails is not None else (old.emails if old else []),
        }
        if old is None:
            result.created += 1
            changes = {k: [None, v] for k, v in new.items() if v}
        else:
            changes = {k: [getattr(old, k), v] for k, v in new.items() if getattr(old, k) != v}
            if not changes:
                result.unchanged += 1
                continue
            result.updated += 1
        upserts.append((row.gstin, new))
        events.append(
            Event(
                "supplier.imported",
                OBJECT_TYPE,
                row.gstin,
                f"{row.gstin} {new['trade_name'] or new['legal_name']}".strip(),
                changes,
                {"row": row.row, "created": old is None},
            )
        )
    now = timezone.now()
    with transaction.atomic():
        if upserts:
            with connection.cursor() as cur:
                cur.execute(
                    """
                    INSERT INTO invoices_supplier (tenant_id, gstin, legal_name, trade_name, emails, gstin_valid,
                                                   created_at, updated_at)
                    SELECT %s, g, l, t, e::jsonb, true, %s, %s
                    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(g, l, t, e)
                    ON CONFLICT (tenant_id, gstin) DO UPDATE SET legal_name = EXCLUDED.legal_name,
                        trade_name = EXCLUDED.trade_name, emails = EXCLUDED.emails, updated_at = EXCLUDED.updated_at
                    """,
                    [
                        tenant.pk,
                        now,
                        now,
                        [g for g, _ in upserts],
                        [n["legal_name"] for _, n in upserts],
                        [n["trade_name"] for _, n in upserts],
                        [json.dumps(n["emails"]) for _, n in upserts],
                    ],
                )
        summary = Event(
            "supplier.import",
            OBJECT_TYPE,
            "",
            f"Supplier import {filename}"[:200],
            {},
            {
                "file": filename,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "bad_rows": len(result.errors),
            },
        )
        record_many(tenant=tenant, actor=actor, events=events, summary=summary)
    return result


def fill_from_documents(*, tenant: Tenant, actor: Actor) -> int:
    """Add every supplier GSTIN of the tenant's documents that the directory lacks. Returns how many were added."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO invoices_supplier (tenant_id, gstin, legal_name, trade_name, emails, gstin_valid, created_at,
                                           updated_at)
            SELECT %s, d.supplier_gstin, '', '', '[]'::jsonb, bool_and(d.supplier_gstin_valid), %s, %s
            FROM invoices_supplierdocument d WHERE d.tenant_id = %s GROUP BY d.supplier_gstin
            ON CONFLICT (tenant_id, gstin) DO NOTHING
            """,
            [tenant.pk, now, now, tenant.pk],
        )
        added = cur.rowcount
        record(
            tenant=tenant,
            actor=actor,
            action="supplier.filled_from_documents",
            object_type=OBJECT_TYPE,
            metadata={"added": added},
        )
    return added


# --- e-mail digests and webhooks -------------------------------------------------------------------------------


def flagged_q() -> Q:
    """Documents a supplier is told about: rejected on the portal, or kept pending there with a remark."""
    return Q(portal_action="R") | (Q(portal_action="P") & ~Q(portal_remarks=""))


@dataclass
class NotifyResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    deliveries: int = 0
    notifications: list[SupplierNotification] = field(default_factory=list)


def _doc_json(d: SupplierDocument) -> dict:
    return {
        "id": d.pk,
        "recipient_gstin": d.registration.gstin,
        "section": d.section,
        "number": d.doc_number,
        "date": d.doc_date.strftime("%d-%m-%Y"),
        "value": str(d.doc_value),
        "action": d.portal_action,
        "remarks": d.portal_remarks,
    }


def notify_suppliers(*, tenant: Tenant, document_ids, actor: Actor | None = None) -> NotifyResult:
    """Tell each supplier about its documents among ``document_ids`` that are now rejected, or pending with a
    remark, on the portal: one e-mail per supplier to its contact addresses (none: recorded as skipped), and one
    webhook delivery per active endpoint listing every supplier's documents.

    Mail goes out before anything is written (no network I/O inside a transaction); a mail error is recorded on
    that supplier's notification, never raised. The notifications, their audit events (``supplier.notified``)
    and the webhook deliveries are written in one transaction; deliveries are sent by a worker after commit."""
    actor = actor or Actor.task("suppliers.notify")
    ids = sorted({int(i) for i in document_ids})
    result = NotifyResult()
    if not ids:
        return result
    with tenant_scope(tenant):
        docs = list(
            SupplierDocument.objects.filter(tenant=tenant, pk__in=ids_in(ids))
            .filter(flagged_q())
            .select_related("registration")
            .order_by("supplier_gstin", "doc_date", "id")
        )
        if not docs:
            return result
        by_supplier: dict[str, list[SupplierDocument]] = defaultdict(list)
        for d in docs:
            by_supplier[d.supplier_gstin].append(d)
        suppliers = {s.gstin: s for s in Supplier.objects.filter(tenant=tenant, gstin__in=list(by_supplier))}
        rows: list[SupplierNotification] = []
        mail = get_connection(fail_silently=False)
        for gstin, group in by_supplier.items():
            supplier = suppliers.get(gstin)
            emails = list(supplier.emails) if supplier else []
            note = SupplierNotification(
                tenant=tenant,
                supplier_gstin=gstin,
                emails=emails,
                document_ids=[d.pk for d in group],
                document_count=len(group),
            )
            if not emails:
                note.status, note.error = (
                    NotificationStatus.SKIPPED,
                    "No contact e-mail in the supplier directory.",
                )
            else:
                context = {"tenant": tenant, "supplier": supplier, "gstin": gstin, "documents": group}
                message = EmailMessage(
                    subject=render_to_string("suppliers/email/digest_subject.txt", context).strip(),
                    body=render_to_string("suppliers/email/digest.txt", context),
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=emails,
                    connection=mail,
                )
                try:
                    message.send()
                except Exception as exc:  # noqa: BLE001 - SMTP and backends raise many types; record, never raise
                    log.warning("supplier digest to %s failed", gstin, exc_info=True)
                    note.status, note.error = NotificationStatus.FAILED, str(exc)[:500] or type(exc).__name__
                else:
                    note.status = NotificationStatus.SENT
            rows.append(note)
        payload = {
            "event": WebhookEvent.DOCUMENTS_FLAGGED.value,
            "tenant": tenant.slug,
            "occurred_at": timezone.now().isoformat(),
            "suppliers": [
                {
                    "gstin": gstin,
                    "name": suppliers[gstin].display_name if gstin in suppliers else "",
                    "documents": [_doc_json(d) for d in group],
                }
                for gstin, group in by_supplier.items()
            ],
        }
        with transaction.atomic():
            SupplierNotification.objects.bulk_create(rows)
            record_many(
                tenant=tenant,
                actor=actor,
                events=[
                    Event(
                        "supplier.notified",
                        "suppliers.suppliernotification",
                        str(n.pk),
                        n.supplier_gstin,
                        metadata={
                            "status": n.status,
                            "emails": n.emails,
                            "documents": n.document_ids,
                            **({"error": n.error} if n.error else {}),
                        },
                    )
                    for n in rows
                ],
            )
            deliveries = queue_webhook(
                tenant=tenant, event=WebhookEvent.DOCUMENTS_FLAGGED.value, payload=payload
            )
    result.notifications = rows
    result.sent = sum(n.status == NotificationStatus.SENT for n in rows)
    result.skipped = sum(n.status == NotificationStatus.SKIPPED for n in rows)
    result.failed = sum(n.status == NotificationStatus.FAILED for n in rows)
    result.deliveries = len(deliveries)
    return result


def subscribed(*, tenant: Tenant, event: str) -> bool:
    """Whether an active webhook of ``tenant`` receives ``event``."""
    with tenant_scope(tenant):
        return any(event in e.events for e in WebhookEndpoint.objects.filter(tenant=tenant, active=True))


def queue_webhook(*, tenant: Tenant, event: str, payload: dict) -> list[WebhookDelivery]:
    """A delivery of ``event`` to each active endpoint subscribed to it, sent by a worker after commit. Must run
    inside the transaction of the change it reports."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(tenant=tenant, active=True) if event in e.events]
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(tenant=tenant, endpoint=e, event=event, payload=payload) for e in endpoints]
    )
    if deliveries:
        ids = [d.pk for d in deliveries]

        def enqueue():

            for delivery_id in ids:
                tasks.deliver_webhook_task.delay(delivery_id)

        transaction.on_commit(enqueue)
    return deliveries


def max_attempts() -> int:
    return settings.IMS_WEBHOOK_MAX_ATTEMPTS


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt: 30 s, 1 min, 2 min, … capped at an hour."""
    return min(3600, 30 * 2 ** max(attempts - 1, 0))


def deliver_webhook(*, delivery_id: int, timeout: float = 10.0) -> str | None:
    """One attempt at a delivery: POST the JSON payload signed with the endpoint's secret. A 2xx answer marks it
    delivered; anything else (error status, timeout, refused connection) is recorded and leaves it pending until
    ``IMS_WEBHOOK_MAX_ATTEMPTS`` attempts, then failed. Returns the new status (None: no such delivery, or it is
    already finished)."""
    with scopes_disabled():
        delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    code, error = None, ""
    try:
        secret = sealing.unseal(endpoint.sealed_secret)
    except ValueError as exc:
        secret, error = None, str(exc)
    if secret is not None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "IMS-Webhooks/1",
            "X-IMS-Event": delivery.event,
            "X-IMS-Delivery": str(delivery.pk),
            signing.HEADER: signing.sign(secret, body),
        }
        if isinstance(
            delivery.payload.get("idempotency_key"), str
        ):  # the same on every attempt: applied once
            headers["Idempotency-Key"] = delivery.payload["idempotency_key"]
        try:
            with netguard.client(allow_private=allow_private_network(), timeout=timeout) as http:
                response = http.post(endpoint.url, content=body, headers=headers)
            code = response.status_code
            if 300 <= code < 400:
                error = (
                    f"HTTP {code}: redirects are not followed ({response.headers.get('location', '')[:200]})"
                )
            elif not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    now = timezone.now()
    attempts = delivery.attempts + 1
    if not error:
        status = DeliveryStatus.SUCCEEDED
    else:
        status = (
            DeliveryStatus.FAILED
            if attempts >= max_attempts() or not endpoint.active
            else DeliveryStatus.PENDING
        )
    with tenant_scope(delivery.tenant_id):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            attempts=attempts,
            response_code=code,
            last_error=error[:500],
            last_attempt_at=now,
            delivered_at=now if status == DeliveryStatus.SUCCEEDED else None,
        )
    return status


def allow_private_network() -> bool:
    """``IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK``: on-premise deployments (and tests) may send to LAN and loopback."""
    return bool(settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK)


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SupplierError("url", "Enter an http:// or https:// address.")
    if parts.username or parts.password:
        raise SupplierError(
            "url", "Leave user names and passwords out of the address: deliveries are signed."
        )
    try:
        netguard.check_url(url, allow_private=allow_private_network())
    except netguard.UnsafeAddress as exc:
        raise SupplierError("url", str(exc)) from None
    return url


@dataclass
class NewSecret:
    """An endpoint and its signing secret in clear: returned once, when made or rotated, and never again."""

    endpoint: WebhookEndpoint
    secret: str


def _new_secret() -> tuple[str, dict]:
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    return secret, {"sealed_secret": sealing.seal(secret), "secret_hint": secret[-4:]}


def create_webhook(*, tenant: Tenant, actor: Actor, url: str, events: list[str] | None = None) -> NewSecret:
    """A new endpoint with a fresh random secret, stored sealed; the clear secret is in the result only (show it
    once). The URL must reach a public address (see :mod:`suppliers.netguard`)."""
    url = _check_url(url)
    events = list(events or [WebhookEvent.DOCUMENTS_FLAGGED.value])
    unknown = set(events) - set(WebhookEvent.values)
    if unknown:
        raise SupplierError("events", f"Unknown event(s): {', '.join(sorted(unknown))}.")
    secret, sealed = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(tenant=tenant, url=url, events=events, **sealed)
        record(
            tenant=tenant,
            actor=actor,
            action="webhook.created",
            obj=endpoint,
            changes={"url": [None, url], "events": [None, events]},
        )
    return NewSecret(endpoint, secret)


def update_webhook(
    *,
    tenant: Tenant,
    actor: Actor,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint's URL (checked like a new one), events or whether it is active; audited."""
    if endpoint.tenant_id != tenant.pk:
        raise SupplierError(None, "No such webhook.")
    new = {}
    if url is not None:
        new["url"] = _check_url(url)
    if events is not None:
        unknown = set(events) - set(WebhookEvent.values)
        if unknown or not events:
            raise SupplierError(
                "events",
                f"Unknown event(s): {', '.join(sorted(unknown))}."
                if unknown
                else "Choose at least one event.",
            )
        new["events"] = list(events)
    if active is not None:
        new["active"] = bool(active)
    changes = {k: [getattr(endpoint, k), v] for k, v in new.items() if getattr(endpoint, k) != v}
    if changes:
        with transaction.atomic():
            for k, v in new.items():
                setattr(endpoint, k, v)
            endpoint.save(update_fields=list(new))
            record(tenant=tenant, actor=actor, action="webhook.updated", obj=endpoint, changes=changes)
    return endpoint


def rotate_webhook_secret(*, tenant: Tenant, actor: Actor, endpoint: WebhookEndpoint) -> NewSecret:
    """Replace an endpoint's secret: deliveries from now on (retries included) are signed with the new one,
    returned here once. Audited ``webhook.secret_rotated`` (without the secret)."""
    if endpoint.tenant_id != tenant.pk:
        raise SupplierError(None, "No such webhook.")
    secret, sealed = _new_secret()
    with transaction.atomic():
        old_hint = endpoint.secret_hint
        for k, v in sealed.items():
            setattr(endpoint, k, v)
        endpoint.secret_rotated_at = timezone.now()
        endpoint.save(update_fields=[*sealed, "secret_rotated_at"])
        record(
            tenant=tenant,
            actor=actor,
            action="webhook.secret_rotated",
            obj=endpoint,
            changes={"secret_hint": [old_hint, endpoint.secret_hint]},
        )
    return NewSecret(endpoint, secret)


def delete_webhook(*, tenant: Tenant, actor: Actor, endpoint: WebhookEndpoint) -> None:
    if endpoint.tenant_id != tenant.pk:
        raise SupplierError(None, "No such webhook.")
    with transaction.atomic():
        record(
            tenant=tenant,
            actor=actor,
            action="webhook.deleted",
            obj=endpoint,
            changes={"url": [endpoint.url, None]},
        )
        endpoint.delete()

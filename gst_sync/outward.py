"""The seller's side of IMS: recipients' actions on the tenant's own outward documents (writer of
OutwardDocument). Refreshed with each sync of a section; documents no longer reported are kept and marked."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from audit.services import Actor, Event, record_many
from gst.periods import PeriodError, fy_start_year, parse_period, parse_portal_date
from gst.sections import section_info

from .models import OutwardDocument


@dataclass
class OutwardResult:
    received: int = 0
    created: int = 0
    action_changed: int = 0
    vanished: int = 0


def _money(rec, key) -> Decimal:
    value = rec.get(key)
    return Decimal(str(value)) if value not in (None, "") else Decimal("0")


def refresh_outward(
    *, tenant, registration, section: str, records: list[dict], actor: Actor
) -> OutwardResult:
    """Upsert the recipients' actions of one section. A change of a recipient's action is audited (one event per
    document: what the seller sees change). Must run inside a transaction."""
    info = section_info(section)
    now = timezone.now()
    result = OutwardResult(received=len(records))
    existing = {
        (d.recipient_gstin, d.doc_number.upper(), d.fy): d
        for d in OutwardDocument.objects.filter(
            tenant=tenant, registration=registration, section=info.key.value
        )
    }
    seen: set[int] = set()
    new: list[OutwardDocument] = []
    changed: list[OutwardDocument] = []
    events: list[Event] = []
    for rec in records:
        number = str(rec.get(info.number_field) or rec.get("inum") or rec.get("nt_num") or "")
        try:
            day = parse_portal_date(str(rec.get(info.date_field) or rec.get("idt") or rec.get("nt_dt") or ""))
        except PeriodError:
            continue  # a record we cannot date cannot be keyed; the inbound ingest reports such records
        try:
            period = parse_period(str(rec.get("rtnprd") or ""))
        except PeriodError:
            period = None
        key = (str(rec.get("rtin") or ""), number.upper(), fy_start_year(day))
        action = str(rec.get("action") or "N")
        remarks = str(rec.get("remarks") or "")[:500]
        doc = existing.get(key)
        if doc is None:
            new.append(
                OutwardDocument(
                    tenant=tenant,
                    registration=registration,
                    recipient_gstin=key[0],
                    section=info.key.value,
                    doc_number=number,
                    doc_date=day,
                    fy=key[2],
                    supplier_period=period,
                    doc_value=_money(rec, "val"),
                    taxable_value=_money(rec, "txval"),
                    igst=_money(rec, "iamt"),
                    cgst=_money(rec, "camt"),
                    sgst=_money(rec, "samt"),
                    cess=_money(rec, "cess"),
                    recipient_action=action,
                    remarks=remarks,
                    itc_red_req=str(rec.get("itcRedReq") or ""),
                    action_seen_at=now,
                    last_seen_at=now,
                )
            )
            continue
        seen.add(doc.pk)
        if doc.recipient_action != action or doc.remarks != remarks or doc.vanished_at is not None:
            events.append(
                Event(
                    "outward.action_changed",
                    "gst_sync.outwarddocument",
                    str(doc.pk),
                    str(doc),
                    changes={
                        "recipient_action": [doc.recipient_action, action],
                        "remarks": [doc.remarks, remarks],
                    },
                )
            )
            if doc.recipient_action != action:
                doc.action_seen_at = now
            doc.recipient_action, doc.remarks, doc.vanished_at = action, remarks, None
            changed.append(doc)
    if new:
        OutwardDocument.objects.bulk_create(new, batch_size=2000)
        result.created = len(new)
    if changed:
        OutwardDocument.objects.bulk_update(
            changed, ["recipient_action", "remarks", "vanished_at", "action_seen_at"], batch_size=2000
        )
        result.action_changed = len(changed)
    with connection.cursor() as cur:
        cur.execute(
            """UPDATE gst_sync_outwarddocument SET last_seen_at = %s
               WHERE tenant_id = %s AND registration_id = %s AND section = %s AND id = ANY(%s)""",
            [now, tenant.pk, registration.pk, info.key.value, list(seen)],
        )
        cur.execute(
            """UPDATE gst_sync_outwarddocument SET vanished_at = %s
               WHERE tenant_id = %s AND registration_id = %s AND section = %s AND vanished_at IS NULL
                 AND NOT (id = ANY(%s)) AND last_seen_at < %s""",
            [now, tenant.pk, registration.pk, info.key.value, list(seen), now],
        )
        result.vanished = cur.rowcount
    if events:
        record_many(tenant=tenant, actor=actor, events=events)
    return result


def outward_for(*, tenant, registrations):
    """Outward documents of these GSTINs, the ones needing the seller's attention first (rejected, pending)."""

    rank = Case(
        When(recipient_action="R", then=Value(0)),
        When(recipient_action="P", then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        OutwardDocument.objects.filter(tenant=tenant, registration__in=registrations)
        .select_related("registration")
        .annotate(rank=rank)
        .order_by("rank", "-action_seen_at", "-id")
    )


def refresh_in_transaction(**kwargs) -> OutwardResult:
    with transaction.atomic():
        return refresh_outward(**kwargs)

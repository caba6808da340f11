"""Readers of the returns app. Every reader takes the user and narrows to the GSTINs they may see."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import QuerySet

from gst.duedates import return_period
from gst.periods import add_months
from gst_sync.models import Gstr2bDocument, Gstr2bStatement
from invoices.models import SupplierDocument
from tenancy.models import Registration, Tenant
from tenancy.selectors import visible_registrations

from . import documents, gstr3b, twob_sql
from .models import Gstr3bFiling, PreviewRebuild, TwobPreview
from .services import compute, recipient_of
from .snapshots import Entries
from .twob import ITCREV, Part, flatten_itcsumm, official_json, place

ZERO = Decimal("0")


def registrations_for(*, tenant: Tenant, user, membership=None) -> QuerySet[Registration]:
    return visible_registrations(tenant=tenant, user=user, membership=membership)


def registration_for(*, tenant: Tenant, user, registration_id, membership=None) -> Registration | None:
    return (
        registrations_for(tenant=tenant, user=user, membership=membership).filter(pk=registration_id).first()
    )


def latest_preview(*, tenant: Tenant, registration: Registration, period: dt.date) -> TwobPreview | None:
    return (
        TwobPreview.objects.filter(tenant=tenant, registration=registration, period=period)
        .order_by("-built_at", "-id")
        .first()
    )


def latest_rebuild(*, tenant: Tenant, registration: Registration, period: dt.date) -> PreviewRebuild | None:
    return (
        PreviewRebuild.objects.filter(tenant=tenant, registration=registration, period=period)
        .order_by("-created_at", "-id")
        .first()
    )


def rebuild_for(*, tenant: Tenant, user, rebuild_id, membership=None) -> PreviewRebuild | None:
    """A rebuild of a GSTIN the user may see, or None."""
    regs = registrations_for(tenant=tenant, user=user, membership=membership)
    return (
        PreviewRebuild.objects.filter(tenant=tenant, registration__in=regs, pk=rebuild_id)
        .select_related("registration")
        .first()
    )


def previews_for(*, tenant: Tenant, registration: Registration, period: dt.date) -> QuerySet[TwobPreview]:
    return (
        TwobPreview.objects.filter(tenant=tenant, registration=registration, period=period)
        .defer("entries")
        .order_by("-built_at", "-id")
    )


def bucket_documents(*, tenant: Tenant, preview: TwobPreview, prefix: str) -> QuerySet[SupplierDocument]:
    """The documents behind a figure: those of the snapshot whose bucket starts with ``prefix``
    (``itcavl``, ``itcavl/othersup``, ``itcavl/nonrevsup/b2b`` …)."""
    wanted = {i for i, name in enumerate(preview.buckets) if name == prefix or name.startswith(prefix + "/")}
    entries = Entries.unpack(preview.entries)
    ids = [doc_id for doc_id, b in zip(entries.ids, entries.buckets, strict=True) if b in wanted]
    return SupplierDocument.objects.filter(
        tenant=tenant, registration=preview.registration, id__in=ids
    ).order_by("supplier_gstin", "doc_date", "id")


def preview_json(*, registration: Registration, period: dt.date, today: dt.date) -> dict:
    """The preview (computed now) as the portal's GET2B ``data`` object, document lists included."""
    recipient = recipient_of(registration)
    period = return_period(period, registration.filing_frequency)
    summary, _entries, _buckets, placed = compute(registration=registration, period=period)
    docs = documents.documents_by_id(
        tenant_id=registration.tenant_id, registration_id=registration.pk, ids=list(placed)
    )
    pairs = [
        (d, place(d, recipient)) for d in sorted(docs, key=lambda d: (d.supplier_gstin, d.doc_date, d.id))
    ]
    return official_json(recipient, period, summary, pairs, generated=today)


# --- against the portal's own 2B ----------------------------------------------------------------------------

_KEY = ("ims_section", "supplier_gstin", "doc_number", "fy")


def compare_with_portal(*, tenant: Tenant, registration: Registration, preview: TwobPreview) -> dict | None:
    """Differences between the preview and the portal's 2B of the same period (None when none is stored):
    per total (part, group, section, head) and per document, each with an explanation."""
    statement = Gstr2bStatement.objects.filter(
        tenant=tenant, registration=registration, period=preview.period
    ).first()
    if statement is None:
        return None
    ours = flatten_itcsumm(preview.summary.get("itcsumm", {}))
    theirs = flatten_itcsumm(statement.summary.get("itcsumm", {}))
    totals = [
        {
            "key": "/".join(k[:3]).rstrip("/"),
            "head": k[3],
            "preview": ours.get(k, ZERO),
            "portal": theirs.get(k, ZERO),
            "difference": ours.get(k, ZERO) - theirs.get(k, ZERO),
            "why": _why_total(k, ours, theirs),
        }
        for k in sorted(set(ours) | set(theirs))
        if ours.get(k, ZERO) != theirs.get(k, ZERO)
    ]
    names = {i: n.split("/")[0] for i, n in enumerate(preview.buckets)}
    entries = Entries.unpack(preview.entries)
    part_of = {doc_id: names[b] for doc_id, b in zip(entries.ids, entries.buckets, strict=True)}
    local = {
        (d.section, d.supplier_gstin, d.doc_number, d.fy): d
        for d in SupplierDocument.objects.filter(
            tenant=tenant, registration=registration, id__in=list(part_of)
        )
    }
    portal_rows = Gstr2bDocument.objects.filter(tenant=tenant, statement=statement)
    generated = statement.generated_on
    diffs, seen = [], set()
    for g in portal_rows.iterator(chunk_size=2000):
        key = (g.ims_section, g.supplier_gstin, g.doc_number, g.fy)
        seen.add(key)
        portal_part = (
            Part.REJECTED.value
            if g.rejected
            else (Part.UNAVAILABLE.value if g.itc_available == "N" else Part.AVAILABLE.value)
        )
        d = local.get(key)
        if d is None:
            why = _why_absent(tenant, registration, key)
            diffs.append(
                {
                    "document": f"{g.supplier_gstin} {g.doc_number}",
                    "preview": "—",
                    "portal": portal_part,
                    "why": why,
                    "late_action": False,
                }
            )
            continue
        ours_part = part_of[d.pk]
        if ours_part != portal_part:
            late = bool(d.local_updated_at and generated and d.local_updated_at.date() >= generated)
            diffs.append(
                {
                    "document": f"{d.supplier_gstin} {d.doc_number}",
                    "id": d.pk,
                    "preview": ours_part,
                    "portal": portal_part,
                    "late_action": late or d.local_action is not None,
                    "why": f"action {d.effective_action} taken after the portal generated its 2B"
                    if (late or d.local_action)
                    else "the portal placed it differently",
                }
            )
    for key, d in local.items():
        if key not in seen and part_of[d.pk] != Part.PENDING.value:
            late = d.local_action is not None
            diffs.append(
                {
                    "document": f"{d.supplier_gstin} {d.doc_number}",
                    "id": d.pk,
                    "preview": part_of[d.pk],
                    "portal": "—",
                    "late_action": late,
                    "why": "action changed after the portal generated its 2B"
                    if late
                    else "filed after the portal generated its 2B, or a 2B period the portal did not give it",
                }
            )
    late_actions = any(x["late_action"] for x in diffs)
    filed = Gstr3bFiling.objects.filter(
        tenant=tenant, registration=registration, period=preview.period
    ).exists()
    return {
        "statement": statement,
        "totals": totals,
        "documents": diffs[:1000],
        "document_count": len(diffs),
        "recompute_needed": late_actions and not filed,
    }


def _why_total(key, ours, theirs) -> str:
    if key[0] == ITCREV:
        if not ours.get(key):
            return (
                "the portal reverses ITC here; the preview does not compute itcrev (setting TWOB_ITCREV) or "
                "reads its trigger differently (UNVERIFIED)"
            )
        return (
            "itcrev is our reading (UNVERIFIED): originals accepted in a filed 2B whose amendment is rejected"
            + ("; the portal shows none" if not theirs.get(key) else "")
        )
    return "the documents below that differ make up this total"


def _why_absent(tenant, registration, key) -> str:
    doc = SupplierDocument.objects.filter(
        tenant=tenant,
        registration=registration,
        section=key[0],
        supplier_gstin=key[1],
        doc_number=key[2],
        fy=key[3],
    ).first()
    if doc is None:
        return "not in our IMS copy: sync or import the IMS documents"
    if doc.effective_action == "P":
        return "kept pending after the portal generated its 2B"
    return "placed in another period by the preview (filing date or 2B period)"


# --- GSTR-3B Table 4 ----------------------------------------------------------------------------------------


def table4(*, preview: TwobPreview) -> list[gstr3b.Row]:
    return gstr3b.table4(preview.summary.get("itcsumm", {}))


# --- the deadline queue -------------------------------------------------------------------------------------


def deadline_queue(
    *,
    tenant: Tenant,
    registrations,
    today: dt.date,
    limit: int = 200,
    after: tuple[Decimal, int] | None = None,
) -> list[dict]:
    """Documents with a clock, most urgent first (ITC at stake ÷ days left; overdue: × days overdue): the GSTR-3B
    due date of their 2B period (3B not filed yet), the one-period limit of pending specified records (from
    October 2025), the section 16(4) last date of pending invoices and debit notes. Ranked in SQL per GSTIN
    (returns.twob_sql.deadlines), merged here; ``after`` = the (score, id) of the last item of the previous page.
    Each item carries its ``score`` and ``id`` for the next page."""
    ranked: list[tuple] = []
    for reg in registrations:
        recipient = recipient_of(reg, as_of=today)
        since = add_months(return_period(today, reg.filing_frequency), -6)
        p = twob_sql.deadline_params(
            tenant_id=tenant.pk,
            registration_id=reg.pk,
            state_code=reg.state_code,
            frequency=reg.filing_frequency,
            today=today,
            filed_3b=dict(recipient.filed_3b),
            since=since,
            limit=limit,
            after=after,
        )
        ranked.extend((row, reg) for row in twob_sql.deadlines(p))
    ranked.sort(key=lambda x: (x[0][6], x[0][0]), reverse=True)
    ranked = ranked[:limit]
    docs: dict[int, object] = {}
    by_reg: dict = {}
    for row, reg in ranked:
        by_reg.setdefault(reg, []).append(row[0])
    for reg, ids in by_reg.items():
        docs.update(
            (d.id, d) for d in documents.documents_by_id(tenant_id=tenant.pk, registration_id=reg.pk, ids=ids)
        )
    return [
        {
            "registration": reg,
            "gstin": reg.gstin,
            "doc": docs[doc_id],
            "part": part,
            "clock": clock,
            "due": due,
            "days_left": days,
            "itc": stake,
            "score": score,
            "id": doc_id,
        }
        for (doc_id, part, clock, due, days, stake, score), reg in ranked
    ]

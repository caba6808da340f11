"""Writers of the returns app: build and store GSTR-2B preview snapshots (with the diff against the previous
one), rebuild them daily, and ask the portal to recompute its own 2B (GEN2B) after late actions."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import psycopg
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Actor, record
from gst.duedates import return_period
from gst.periods import (
    add_months,
    format_period,
    fy_label,
    fy_start_year,
    quarter_last_period,
    quarter_periods,
)
from gst.rule_data import DEFAULT_RULES
from gst_sync.client import PortalAdapter, PortalError, ReturnFiling, TwoBNotGenerated
from gst_sync.client.base import open_session
from gst_sync.client.factory import make_adapter
from gst_sync.files.imports import Gstr2bImportResult, UploadedFile, import_gstr2b_files
from gst_sync.models import PortalConnection
from ims_project import leases, rls
from invoices.models import SupplierDocument
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import claims, documents, tasks, twob_sql
from .models import (
    ACTIVE_REBUILD,
    CreditReversalBalance,
    FilingSource,
    Gstr3bFiling,
    PreviewRebuild,
    PreviewTrigger,
    RebuildStatus,
    SupplierGstr3bStatus,
    TwobPreview,
)
from .snapshots import Entries
from .twob import HEADS, IN_2B, ITCREV, RECLAIM, Part, Recipient, period_months, place, rule37a_table

DIFF_LIST_LIMIT = 500
REVERSAL_WHY = (
    "Rule 37A: its supplier did not file the GSTR-3B of the document's period by 30 September after the "
    "financial year; the ITC is reversed"
)
REAVAIL_WHY = "Rule 37A: the supplier has filed the GSTR-3B; the reversed ITC is re-availed (GSTR-3B 4(D)(1))"
_REBUILD_RUNNING = (RebuildStatus.RUNNING,)  # the lease's running state (ims_project.leases)
REBUILD_RETRY_AFTER = 10  # seconds before a released rebuild is delivered again
log = logging.getLogger(__name__)


class ReturnsError(ValueError):
    """A request the returns rules refuse; the message is safe to show."""


class TwobNotGenerated(ReturnsError):
    """The portal has no GSTR-2B of the period (RET2B1023; GTR2B-002: not generated because the previous period's
    GSTR-3B was filed late): generate it now (GEN2B, :func:`recompute_on_portal`). ``code`` is the portal's."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


def filed_3b(registration: Registration) -> dict[dt.date, dt.date]:
    """Return period → filing date of the GSTR-3Bs recorded as filed for ``registration``."""
    return dict(
        Gstr3bFiling.objects.filter(tenant_id=registration.tenant_id, registration=registration).values_list(
            "period", "filed_on"
        )
    )


def supplier_3b(tenant_id: int) -> dict[tuple[str, dt.date], dt.date | None]:
    """(supplier GSTIN, return period) → the day that GSTR-3B was filed, None when the portal said not filed, for
    every supplier period the tenant asked the portal about (:func:`refresh_supplier_filings`)."""
    return {
        (gstin, period): filed_on
        for gstin, period, filed_on in SupplierGstr3bStatus.objects.filter(tenant_id=tenant_id).values_list(
            "supplier_gstin", "period", "filed_on"
        )
    }


def recipient_of(
    registration: Registration, *, as_of: dt.date | None = None, history: bool = False
) -> Recipient:
    """The recipient as the placement needs it: state, frequency, filed GSTR-3Bs, the day (for the one-period
    Pending limit and Rule 37A; today by default) and the suppliers' GSTR-3B filings known (Rule 37A).
    ``history``: as things stood at the end of ``as_of`` (GSTR-3Bs filed by then, the recipient's and the
    suppliers'; docs/rules/gstr2b.md §10)."""
    filings, suppliers = filed_3b(registration), supplier_3b(registration.tenant_id)
    if history and as_of is not None:
        filings = {period: on for period, on in filings.items() if on <= as_of}
        suppliers = {key: on if on is not None and on <= as_of else None for key, on in suppliers.items()}
    return Recipient(
        registration.gstin,
        registration.state_code,
        registration.filing_frequency,
        filed_3b=filings,
        as_of=as_of or timezone.localdate(),
        supplier_3b=suppliers,
    )


def bucket_name(p) -> str:
    return f"{p.part.value}/{p.group}/{p.twob_section}/{p.reason}"


class Placements(Mapping):
    """Placements by document id of a computed preview, placed by :func:`returns.twob.place` only when read (the
    totals and entries come from SQL); :meth:`prefetch` places many in one query."""

    def __init__(self, registration: Registration, ids, recipient: Recipient | None = None):
        self.registration, self._ids, self._set, self._cache = registration, ids, None, {}
        self.recipient = recipient

    def prefetch(self, ids) -> None:
        missing = [i for i in ids if i not in self._cache]
        if missing:
            recipient = self.recipient or recipient_of(self.registration)
            for doc in documents.documents_by_id(
                tenant_id=self.registration.tenant_id, registration_id=self.registration.pk, ids=missing
            ):
                self._cache[doc.id] = place(doc, recipient)

    def __getitem__(self, doc_id):
        if doc_id not in self:
            raise KeyError(doc_id)
        self.prefetch([doc_id])
        return self._cache[doc_id]

    def __contains__(self, doc_id) -> bool:
        if self._set is None:
            self._set = set(self._ids)
        return doc_id in self._set

    def __iter__(self):
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


@dataclass
class Computed:
    """A computed preview's summary in its stored (JSON) form: amounts as strings, as the snapshot keeps them.
    ``cp_text`` is the ``cpsumm`` JSON as the database built it (parsed only when read)."""

    itc: dict
    cp_text: str
    counts: dict[str, int]
    reclaimed: dict[str, dict[str, Any]] | None = (
        None  # Rule 37A re-availments (GSTR-3B 4(D)(1)): {"nonrevsup": {...}}
    )
    _cp: dict | None = None

    def reclaim(self) -> dict[str, dict[str, Any]]:
        return self.reclaimed or {}

    def itcsumm(self) -> dict:
        return self.itc

    def cpsumm(self) -> dict:
        if self._cp is None:
            self._cp = json.loads(self.cp_text)
        return self._cp

    def payload_json(self) -> str:
        """The snapshot's ``summary`` as JSON text (cpsumm spliced in as built, not re-encoded)."""
        counts = {part.value: self.counts.get(part.value, 0) for part in Part}
        return (
            f'{{"itcsumm": {json.dumps(self.itc)}, "cpsumm": {self.cp_text}, "counts": {json.dumps(counts)}, '
            f'"{RECLAIM}": {json.dumps(self.reclaim())}}}'
        )


def compute(
    *,
    registration: Registration,
    period: dt.date,
    recipient: Recipient | None = None,
    history: bool = False,
):
    """Place every candidate document of ``period`` in SQL (returns.twob_sql, mirroring returns.twob.place) and
    aggregate there, in one statement: (summary, entries, buckets, placements by document id for the documents
    in the 2B or pending). ``history``: the documents as they stood at the end of ``recipient.as_of``."""
    recipient = recipient or recipient_of(registration)
    p = twob_sql.params(
        tenant_id=registration.tenant_id,
        registration_id=registration.pk,
        state_code=recipient.state_code,
        frequency=recipient.frequency,
        period=period,
        months=period_months(period, recipient.frequency),
        filed_3b=dict(recipient.filed_3b),
        as_of=recipient.as_of,
        at_risk=rule37a_table(recipient),
        history=history,
    )
    entries, buckets = Entries(), []
    itc: dict = {}
    reclaimed: dict[str, dict[str, Any]] = {}
    cp = "{}"
    counts: dict[str, int] = {}
    for kind, key, text, ids, paise in twob_sql.aggregates(p):
        if kind == "e":
            entries.extend(array("q", ids), len(buckets), array("q", paise))
            buckets.append(key)
        elif kind == "i":
            part, grp, section = key.split("/")
            amounts = dict(zip(HEADS, json.loads(text), strict=True))
            group = (reclaimed if part == RECLAIM else itc.setdefault(part, {})).setdefault(grp, {})
            if section:
                group[section] = amounts
            else:
                group.update(amounts)
        elif kind == "c":
            cp = text
        else:
            counts[key] = int(text)
    summary = Computed(itc, cp, counts, reclaimed)
    return summary, entries, buckets, Placements(registration, entries.ids, recipient)


def preview_as_of(*, registration: Registration, period: dt.date, as_of: dt.date) -> TwobPreview:
    """The 2B preview of ``period`` as it stood at the end of ``as_of`` (docs/rules/gstr2b.md §10): the actions,
    document versions and GSTR-3B filings in force then, from the history the product keeps. Computed, never
    stored (it is not the period's latest preview); read it as a snapshot (Table 4, drill-down)."""
    if as_of > timezone.localdate():
        raise ReturnsError("The date must not be in the future.")
    period = return_period(period, registration.filing_frequency)
    started = time.monotonic()
    recipient = recipient_of(registration, as_of=as_of, history=True)
    summary, entries, buckets, _placed = compute(
        registration=registration, period=period, recipient=recipient, history=True
    )
    counts = {part.value: summary.counts.get(part.value, 0) for part in Part}
    return TwobPreview(
        tenant_id=registration.tenant_id,
        registration=registration,
        period=period,
        built_at=timezone.now(),
        trigger=PreviewTrigger.MANUAL,
        built_by=f"as of {as_of:%d-%m-%Y}",
        summary=json.loads(summary.payload_json()),
        buckets=buckets,
        entries=entries.pack(),
        document_count=sum(counts[p.value] for p in IN_2B),
        diff={},
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _explain_left(registration: Registration, period: dt.date, ids: list[int]) -> dict[int, str]:
    recipient = recipient_of(registration)
    docs = documents.documents_by_id(
        tenant_id=registration.tenant_id, registration_id=registration.pk, ids=ids
    )
    out = {}
    for doc in docs:
        p = place(doc, recipient)
        if p.period != period:
            out[doc.id] = (
                f"now in the 2B of {format_period(p.period)} ({p.why})"
                if p.period
                else f"no longer in a 2B: {p.why}"
            )
        else:
            out[doc.id] = f"now {p.part.value}: {p.why}"
    return out


def diff_snapshots(
    *,
    registration: Registration,
    period: dt.date,
    previous: TwobPreview | None,
    entries: Entries,
    buckets: list[str],
    placed: dict,
) -> dict:
    """What entered, left or changed (bucket or ITC) since ``previous``, and why; lists capped at 500 each."""
    if previous is None:
        return {"first": True}
    old_entries, old_buckets = Entries.unpack(previous.entries), previous.buckets
    # one int per document (ITC in paise × 4096 + a bucket code shared by both snapshots): int dicts, no tuples
    codes = {name: i for i, name in enumerate(dict.fromkeys([*old_buckets, *buckets]))}
    names = list(codes)
    old = old_entries.coded([codes[n] for n in old_buckets])
    new = entries.coded([codes[n] for n in buckets])
    entered, left, changed = [], [], []
    counts: Counter = Counter()
    get = old.get
    for doc_id, code in new.items():
        before = get(doc_id)
        if before == code:
            continue
        if before is None:
            counts["entered"] += 1
            if len(entered) < DIFF_LIST_LIMIT:
                entered.append({"id": doc_id, "to": names[code & 4095], "itc": (code >> 12) / 100})
        else:
            counts["changed"] += 1
            if len(changed) < DIFF_LIST_LIMIT:
                changed.append(
                    {
                        "id": doc_id,
                        "from": names[before & 4095],
                        "to": names[code & 4095],
                        "itc_before": (before >> 12) / 100,
                        "itc": (code >> 12) / 100,
                    }
                )
    if isinstance(placed, Placements):
        placed.prefetch([x["id"] for x in entered + changed])
    for x in entered + changed:
        if x["to"].startswith(ITCREV + "/"):
            x["why"] = REVERSAL_WHY
        elif x["to"].startswith(RECLAIM + "/"):
            x["why"] = REAVAIL_WHY
        else:
            x["why"] = placed[x["id"]].why
    gone = [doc_id for doc_id in old if doc_id not in new] if len(old) + counts["entered"] != len(new) else []
    counts["left"] = len(gone)
    reasons = _explain_left(registration, period, gone[:DIFF_LIST_LIMIT])
    for doc_id in gone[:DIFF_LIST_LIMIT]:
        bucket, paise = names[old[doc_id] & 4095], old[doc_id] >> 12
        why = reasons.get(doc_id, "no longer in IMS (vanished from the portal)")
        if bucket.startswith((ITCREV + "/", RECLAIM + "/")):
            why = "no Rule 37A reversal or re-availment here any more: " + why
        left.append({"id": doc_id, "from": bucket, "itc": paise / 100, "why": why})
    return {
        "previous": previous.pk,
        "counts": dict(counts),
        "entered": entered,
        "left": left,
        "changed": changed,
    }


def build_preview(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    period: dt.date,
    trigger: str = PreviewTrigger.MANUAL,
) -> TwobPreview:
    """Compute the 2B preview of ``registration`` for the return ``period`` and store it as a new snapshot with
    its diff against the previous snapshot of the same period. Audited as ``twob.preview_built``."""
    if registration.tenant_id != tenant.pk:
        raise ReturnsError("No such GSTIN.")
    period = return_period(period, registration.filing_frequency)
    started = time.monotonic()
    summary, entries, buckets, placed = compute(registration=registration, period=period)
    previous = (
        TwobPreview.objects.filter(tenant=tenant, registration=registration, period=period)
        .defer("summary", "diff")
        .order_by("-built_at", "-id")
        .first()
    )
    diff = diff_snapshots(
        registration=registration,
        period=period,
        previous=previous,
        entries=entries,
        buckets=buckets,
        placed=placed,
    )
    counts = {part.value: summary.counts.get(part.value, 0) for part in Part}
    snap = TwobPreview(
        tenant=tenant,
        registration=registration,
        period=period,
        built_at=timezone.now(),
        trigger=trigger,
        built_by=actor.label,
        buckets=buckets,
        document_count=sum(counts[p.value] for p in IN_2B),
        diff=diff,
        previous=previous,
    )
    with transaction.atomic():
        _insert_snapshot(snap, summary.payload_json(), entries.pack(), started)
        record(
            tenant=tenant,
            actor=actor,
            action="twob.preview_built",
            obj=snap,
            object_repr=f"GSTR-2B preview of {registration.gstin} for {period:%m-%Y}",
            metadata={
                "registration": registration.gstin,
                "period": format_period(period),
                "trigger": trigger,
                "counts": counts,
                "diff": diff.get("counts", {}),
            },
        )
    return TwobPreview.objects.defer("entries", "summary").get(pk=snap.pk)  # summary: parsed when read


def _insert_snapshot(snap: TwobPreview, summary_json: str, entries: bytes, started: float) -> None:
    """INSERT the snapshot with server-side binding: the entries go as binary bytea and the summary as JSON text
    (a Django create() would quote both client-side: ~0.5 s more for a 500,000-document period)."""
    snap.duration_ms = int((time.monotonic() - started) * 1000)
    rls.ensure_connection()  # before a raw psycopg cursor: the tenant set
    with psycopg.Cursor(connection.connection) as cur:
        cur.execute(
            """INSERT INTO returns_twobpreview (tenant_id, registration_id, period, built_at, trigger, built_by,
                   summary, buckets, entries, document_count, diff, previous_id, duration_ms)
               VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s::jsonb, %s, %s) RETURNING id""",
            [
                snap.tenant_id,
                snap.registration_id,
                snap.period,
                snap.built_at,
                snap.trigger,
                snap.built_by,
                summary_json,
                json.dumps(snap.buckets),
                entries,
                snap.document_count,
                json.dumps(snap.diff),
                snap.previous_id,
                snap.duration_ms,
            ],
            binary=True,
        )
        snap.pk = cur.fetchone()[0]


def periods_to_rebuild(registration: Registration, today: dt.date) -> list[dt.date]:
    """The previous and the current return period (the 2B being filed against, and the one filling up)."""
    this = return_period(today, registration.filing_frequency)
    step = 3 if registration.filing_frequency == "Q" else 1
    return [add_months(this, -step), this]


def rebuild_all(*, today: dt.date | None = None) -> int:
    """The daily beat job: rebuild the previews of every GSTIN of every tenant. Returns snapshots built."""
    today = today or timezone.localdate()
    actor = Actor.task("returns.rebuild_previews")
    with scopes_disabled():
        regs = list(
            Registration.objects.select_related("tenant").filter(active=True).order_by("tenant_id", "pk")
        )
    built = 0
    for reg in regs:
        with tenant_scope(reg.tenant):
            for period in periods_to_rebuild(reg, today):
                build_preview(
                    tenant=reg.tenant,
                    actor=actor,
                    registration=reg,
                    period=period,
                    trigger=PreviewTrigger.BEAT,
                )
                built += 1
            claims.refresh_claim_periods(registration=reg, today=today)
    return built


def queue_claim_refresh(registration: Registration) -> None:
    """Refresh the GSTIN's ITC claim periods in a worker once the current transaction commits."""
    queue_claim_refreshes([registration.pk])


def queue_claim_refreshes(registration_ids: Iterable[int]) -> None:
    """:func:`queue_claim_refresh` of GSTINs given by id."""
    ids = list(registration_ids)
    transaction.on_commit(lambda: [tasks.refresh_claim_periods.delay(i) for i in ids])


def refresh_claims_job(registration_id: int) -> int:
    """The worker's side of :func:`queue_claim_refresh` (a GSTIN removed since: nothing)."""
    with scopes_disabled():
        reg = Registration.objects.select_related("tenant").filter(pk=registration_id).first()
    if reg is None:
        return 0
    with tenant_scope(reg.tenant):
        return claims.refresh_claim_periods(registration=reg)


def request_rebuild(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    period: dt.date,
    trigger: str = PreviewTrigger.MANUAL,
) -> tuple[PreviewRebuild, bool]:
    """Queue a rebuild of the preview (the ``returns.rebuild_preview`` task, enqueued on commit). When one is
    already queued or running for the GSTIN and period, that one is returned instead: (rebuild, created)."""

    if registration.tenant_id != tenant.pk:
        raise ReturnsError("No such GSTIN.")
    period = return_period(period, registration.filing_frequency)
    active = PreviewRebuild.objects.filter(
        tenant=tenant, registration=registration, period=period, status__in=ACTIVE_REBUILD
    )
    try:
        with transaction.atomic():
            job = PreviewRebuild.objects.create(
                tenant=tenant,
                registration=registration,
                period=period,
                trigger=trigger,
                actor_type=actor.type,
                actor_label=actor.label,
                actor_id=actor.id,
            )
            record(
                tenant=tenant,
                actor=actor,
                action="twob.rebuild_queued",
                obj=job,
                object_repr=f"GSTR-2B preview of {registration.gstin} for {period:%m-%Y}",
                metadata={
                    "registration": registration.gstin,
                    "period": format_period(period),
                    "trigger": trigger,
                },
            )
            tasks.rebuild_preview.delay_on_commit(job.pk)
    except IntegrityError:
        existing = active.first()
        if existing is None:  # the active one finished in between
            raise ReturnsError("A rebuild of this period just finished: reload the page.") from None
        return existing, False
    return job, True


def _claim_rebuild(rebuild_id: int) -> int | None:
    """The lease of :mod:`ims_project.leases`: queued -> running (or take over a running one whose heartbeat is
    past the lease: its worker was lost). This attempt's number, None when not claimed."""
    return leases.claim_attempt(
        PreviewRebuild, rebuild_id, running=_REBUILD_RUNNING, new_status_sql="'running'", set_started=True
    )


def run_rebuild(rebuild_id: int) -> PreviewRebuild | None:
    """The worker's side of :func:`request_rebuild`: claim the rebuild, build the snapshot in the tenant's scope
    and mark it done (or failed, with the error). A second delivery of the same id is a no-op (None).

    A heartbeat thread keeps the lease while the snapshot is built; the snapshot and the rebuild's end are
    written in one transaction that renews the lease first, so an attempt that lost its lease writes nothing.
    When the rebuild's database session dies, the failure path writes on a fresh connection and hands the
    rebuild back as queued (delivered again, up to ``leases.MAX_ATTEMPTS`` times)."""
    with scopes_disabled():
        job = PreviewRebuild.objects.select_related("tenant", "registration").filter(pk=rebuild_id).first()
    if job is None:
        return None
    attempt = _claim_rebuild(rebuild_id)
    if attempt is None:
        return None
    actor = Actor(job.actor_type, job.actor_label, job.actor_id)
    with tenant_scope(job.tenant):
        job.refresh_from_db()
        try:
            with (
                leases.heartbeat(PreviewRebuild, rebuild_id, attempt, running=_REBUILD_RUNNING),
                transaction.atomic(),
            ):
                leases.renew(
                    PreviewRebuild, rebuild_id, attempt, running=_REBUILD_RUNNING
                )  # the row is ours until commit
                # Another tenant's GSTIN is not even visible here (row-level security): refused as not the tenant's.
                registration = Registration.objects.filter(pk=job.registration_id).first()
                if registration is None:
                    raise ReturnsError("No such GSTIN.")
                snap = build_preview(
                    tenant=job.tenant,
                    actor=actor,
                    registration=registration,
                    period=job.period,
                    trigger=job.trigger,
                )
                PreviewRebuild.objects.filter(pk=rebuild_id).update(
                    status=RebuildStatus.DONE, preview=snap, finished_at=timezone.now()
                )
        except leases.LeaseLost:
            log.warning("2B preview rebuild %s: attempt %s lost its lease; stopped", rebuild_id, attempt)
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the page
            log.exception("2B preview rebuild %s failed", rebuild_id)
            leases.end_failed(
                PreviewRebuild,
                rebuild_id,
                attempt,
                exc,
                running=_REBUILD_RUNNING,
                task=tasks.rebuild_preview,
                countdown=REBUILD_RETRY_AFTER,
                status=RebuildStatus.FAILED,
                error=str(exc) or exc.__class__.__name__,
            )
        leases.fresh_connection()
        job.refresh_from_db()
    return job


def requeue_stale_rebuilds() -> int:
    """The beat sweep: deliver again the rebuilds whose worker died (running past the lease) or whose delivery
    was lost (queued that long, or released and not taken); the claim re-checks the lease."""
    return leases.sweep(PreviewRebuild, tasks.rebuild_preview, running=_REBUILD_RUNNING)


def recompute_on_portal(
    *, tenant: Tenant, actor: Actor, registration: Registration, period: dt.date, adapter=None
):
    """GEN2B on the portal, wait for its status, then GET2B and store it (replacing the earlier import of the
    period). Network calls run outside any transaction. Returns the import result; raises ReturnsError with the
    portal's message when generation fails."""

    conn = PortalConnection.objects.filter(tenant=tenant, registration=registration).first()
    if conn is None or not conn.session_blob:
        raise ReturnsError("Connect this GSTIN to the GST portal first (GST portal → Connect).")
    text = format_period(period)
    portal = adapter or make_adapter()
    try:
        portal.load_session(open_session(conn.session_blob, key=settings.IMS_SESSION_KEY))
        ref = portal.gen_2b(gstin=registration.gstin, period=text)
        status = portal.wait_for_2b(gstin=registration.gstin, reference_id=ref)
        if not status.ok:
            raise ReturnsError(
                f"The portal could not recompute GSTR-2B {text}: {status.err_msg or status.status}"
            )
        data = portal.get_2b(gstin=registration.gstin, period=text)
    except PortalError as exc:
        raise ReturnsError(f"The portal refused: {exc.message}") from exc
    finally:
        if adapter is None:
            portal.close()
    with transaction.atomic():
        record(
            tenant=tenant,
            actor=actor,
            action="twob.recomputed_on_portal",
            object_repr=f"GEN2B {text} {registration.gstin}",
            metadata={"registration": registration.gstin, "period": text, "reference_id": ref},
        )
    blob = ContentFile(json.dumps({"data": data}).encode(), name=f"gen2b_{registration.gstin}_{text}.json")
    return import_gstr2b_files(
        tenant=tenant, actor=actor, registration=registration, files=[blob], period=text
    )


def fetch_portal_2b(
    *, tenant: Tenant, actor: Actor, registration: Registration, period: dt.date, adapter=None
) -> Gstr2bImportResult:
    """GET2B of the period from the portal and store it (replacing an earlier import of the period), without asking
    the portal to generate it. When the portal has none (RET2B1023, or GTR2B-002: the previous period's GSTR-3B was
    filed late, docs/rules/portal-api.md §5) raises :class:`TwobNotGenerated`: generate it now with
    :func:`recompute_on_portal`. Network calls run outside any transaction."""
    conn = PortalConnection.objects.filter(tenant=tenant, registration=registration).first()
    if conn is None or not conn.session_blob:
        raise ReturnsError("Connect this GSTIN to the GST portal first (GST portal → Connect).")
    text = format_period(period)
    portal = adapter or make_adapter()
    try:
        portal.load_session(open_session(conn.session_blob, key=settings.IMS_SESSION_KEY))
        data = portal.get_2b(gstin=registration.gstin, period=text)
    except TwoBNotGenerated as exc:
        raise TwobNotGenerated(f"The portal has no GSTR-2B {text}: {exc.message}", code=exc.code) from exc
    except PortalError as exc:
        raise ReturnsError(f"The portal refused: {exc.message}") from exc
    finally:
        if adapter is None:
            portal.close()
    blob = ContentFile(json.dumps({"data": data}).encode(), name=f"get2b_{registration.gstin}_{text}.json")
    return import_gstr2b_files(
        tenant=tenant, actor=actor, registration=registration, files=[cast(UploadedFile, blob)], period=text
    )


# --- GSTR-3B filing status (docs/rules/gstr3b.md §4) -------------------------------------------------------------


def _filing_repr(registration: Registration, period: dt.date) -> str:
    return f"{registration.gstin} GSTR-3B {period:%m%Y}"


def _check_filing(registration: Registration, period: dt.date, filed_on: dt.date) -> None:
    if not isinstance(filed_on, dt.date):
        raise ReturnsError("Give the date the GSTR-3B was filed.")
    if filed_on < period:
        raise ReturnsError(
            f"A GSTR-3B of {format_period(period)} cannot have been filed before the period began."
        )
    if filed_on > timezone.localdate():
        raise ReturnsError("The filing date cannot be in the future.")


def mark_gstr3b_filed(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    period: dt.date,
    filed_on: dt.date,
    arn: str = "",
    source: str = FilingSource.MANUAL,
) -> Gstr3bFiling:
    """Record that the GSTR-3B of ``period`` (a return period: the month, or the quarter's last month for QRMP)
    of ``registration`` was filed on ``filed_on``: accepted and rejected documents of that GSTR-2B period can no
    longer change. An existing record of the period is corrected (audited as old → new)."""
    if registration.tenant_id != tenant.pk:
        raise ReturnsError("Choose one of your GSTINs.")
    period = return_period(period, registration.filing_frequency)
    _check_filing(registration, period, filed_on)
    with transaction.atomic():
        filing = (
            Gstr3bFiling.objects.select_for_update()
            .filter(tenant=tenant, registration=registration, period=period)
            .first()
        )
        if filing is None:
            filing = Gstr3bFiling.objects.create(
                tenant=tenant,
                registration=registration,
                period=period,
                filed_on=filed_on,
                arn=arn,
                source=source,
            )
            changes = {"filed_on": [None, filed_on], "source": [None, source]}
            if arn:
                changes["arn"] = [None, arn]
            action = "gstr3b.filed"
        else:
            changes = {
                name: [getattr(filing, name), new]
                for name, new in (("filed_on", filed_on), ("arn", arn), ("source", source))
                if getattr(filing, name) != new
            }
            if not changes:
                return filing
            filing.filed_on, filing.arn, filing.source = filed_on, arn, source
            filing.save(update_fields=["filed_on", "arn", "source", "updated_at"])
            action = "gstr3b.filing_corrected"
        record(
            tenant=tenant,
            actor=actor,
            action=action,
            obj=filing,
            object_repr=_filing_repr(registration, period),
            changes=changes,
            metadata={"registration": registration.gstin, "period": format_period(period), "source": source},
        )
        queue_claim_refresh(registration)
    return filing


def correct_gstr3b_filing(
    *, tenant: Tenant, actor: Actor, filing: Gstr3bFiling, filed_on: dt.date, arn: str | None = None
) -> Gstr3bFiling:
    """Correct the filing date (and ARN) of a recorded GSTR-3B filing; it counts as recorded by hand from then
    on (a later sync puts back what the portal says). Audited as old → new."""
    if filing.tenant_id != tenant.pk:
        raise ReturnsError("No such filing.")
    return mark_gstr3b_filed(
        tenant=tenant,
        actor=actor,
        registration=filing.registration,
        period=filing.period,
        filed_on=filed_on,
        arn=filing.arn if arn is None else arn,
        source=FilingSource.MANUAL,
    )


def delete_gstr3b_filing(*, tenant: Tenant, actor: Actor, filing: Gstr3bFiling) -> None:
    """Take back a recorded GSTR-3B filing (recorded by mistake): the period is open again. Audited."""
    if filing.tenant_id != tenant.pk:
        raise ReturnsError("No such filing.")
    registration = filing.registration
    with transaction.atomic():
        locked = Gstr3bFiling.objects.select_for_update().filter(tenant=tenant, pk=filing.pk).first()
        if locked is None:
            return
        record(
            tenant=tenant,
            actor=actor,
            action="gstr3b.filing_deleted",
            obj=locked,
            object_repr=_filing_repr(registration, locked.period),
            changes={"filed_on": [locked.filed_on, None], "arn": [locked.arn, None]},
            metadata={"registration": registration.gstin, "period": format_period(locked.period)},
        )
        locked.delete()
        queue_claim_refresh(registration)


def record_portal_filings(
    *, tenant: Tenant, actor: Actor, registration: Registration, filings: Iterable[ReturnFiling]
) -> int:
    """Record the GSTR-3B filings the portal's return tracking listed for ``registration``
    (``gst_sync.client.ReturnFiling``, docs/rules/portal-api.md §7): a period not yet recorded is added, one
    recorded differently (another date or ARN, or by hand) is corrected to the portal's. Returns the number of
    filings written."""
    if registration.tenant_id != tenant.pk:
        raise ReturnsError("Choose one of your GSTINs.")
    today = timezone.localdate()
    written = 0
    for f in filings:
        if f.return_type != "GSTR3B" or f.gstin != registration.gstin or f.filed_on > today:
            continue
        period = return_period(f.period, registration.filing_frequency)
        if f.filed_on < period:
            continue
        before = (
            Gstr3bFiling.objects.filter(tenant=tenant, registration=registration, period=period)
            .values_list("filed_on", "arn", "source")
            .first()
        )
        if before == (f.filed_on, f.arn, FilingSource.PORTAL):
            continue
        mark_gstr3b_filed(
            tenant=tenant,
            actor=actor,
            registration=registration,
            period=period,
            filed_on=f.filed_on,
            arn=f.arn,
            source=FilingSource.PORTAL,
        )
        written += 1
    return written


# --- the Electronic Credit Reversal and Re-claimed Statement balance (docs/rules/gstr3b.md §2.3) ----------------


def set_credit_reversal_balance(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    period: dt.date,
    amounts: Mapping[str, Decimal],
) -> CreditReversalBalance:
    """Record (or correct) the statement balance available to the GSTR-3B of ``period``, head by head (IGST,
    CGST, SGST, cess; never negative). Audited as old → new."""
    if registration.tenant_id != tenant.pk:
        raise ReturnsError("Choose one of your GSTINs.")
    period = return_period(period, registration.filing_frequency)
    values = {h: Decimal(str(amounts.get(h) or 0)).quantize(Decimal("0.01")) for h in HEADS}
    if any(v < 0 for v in values.values()):
        raise ReturnsError("A balance cannot be negative.")
    with transaction.atomic():
        row = (
            CreditReversalBalance.objects.select_for_update()
            .filter(tenant=tenant, registration=registration, period=period)
            .first()
        )
        if row is None:
            row = CreditReversalBalance.objects.create(
                tenant=tenant, registration=registration, period=period, **values
            )
            changes = {h: [None, v] for h, v in values.items()}
            action = "credit_reversal_balance.recorded"
        else:
            changes = {h: [getattr(row, h), v] for h, v in values.items() if getattr(row, h) != v}
            if not changes:
                return row
            for h, v in values.items():
                setattr(row, h, v)
            row.save(update_fields=[*HEADS, "updated_at"])
            action = "credit_reversal_balance.corrected"
        record(
            tenant=tenant,
            actor=actor,
            action=action,
            obj=row,
            object_repr=f"{registration.gstin} credit reversal balance {period:%m%Y}",
            changes=changes,
            metadata={"registration": registration.gstin, "period": format_period(period)},
        )
    return row


def delete_credit_reversal_balance(*, tenant: Tenant, actor: Actor, balance: CreditReversalBalance) -> None:
    if balance.tenant_id != tenant.pk:
        raise ReturnsError("No such balance.")
    with transaction.atomic():
        record(
            tenant=tenant,
            actor=actor,
            action="credit_reversal_balance.deleted",
            obj=balance,
            object_repr=f"{balance.registration.gstin} credit reversal balance {balance.period:%m%Y}",
            changes={h: [getattr(balance, h), None] for h in HEADS},
            metadata={"registration": balance.registration.gstin, "period": format_period(balance.period)},
        )
        balance.delete()


# --- suppliers' GSTR-3B filing status, for Rule 37A (docs/rules/gstr2b.md §7) ------------------------------------

RULE37A_SECTIONS = sorted(s.value for s in DEFAULT_RULES.rule37a_sections)


def supplier_periods_at_stake(
    *, tenant: Tenant, registrations: Iterable[Registration] | None = None, today: dt.date | None = None
) -> dict[tuple[str, int], set[dt.date]]:
    """(supplier GSTIN, financial year) → the supplier's return periods of the tenant's filed invoices and debit
    notes (Rule 37A's sections) in the financial years at stake: the previous one (its 30-September deadline
    falls this year) and the current one (warned early). Each supplier and year once, however many GSTINs; a
    deactivated GSTIN's suppliers are not asked about (it is not synced either)."""
    today = today or timezone.localdate()
    start = fy_start_year(today) - 1
    docs = SupplierDocument.objects.filter(
        tenant=tenant,
        registration__active=True,
        section__in=RULE37A_SECTIONS,
        supplier_filing_status="filed",
        vanished_at__isnull=True,
        supplier_period__gte=dt.date(start, 4, 1),
        supplier_period__lte=today,
    )
    if registrations is not None:
        docs = docs.filter(registration__in=list(registrations))
    out: dict[tuple[str, int], set[dt.date]] = {}
    for gstin, period in docs.values_list("supplier_gstin", "supplier_period").distinct():
        out.setdefault((gstin, fy_start_year(period)), set()).add(period)
    return out


def _filing_of(period: dt.date, listed: Mapping[dt.date, ReturnFiling]) -> ReturnFiling | None:
    """The GSTR-3B covering a supplier's month: the month's own, else (a quarterly filer: nothing listed for the
    quarter's other months) the quarter's."""
    if period in listed:
        return listed[period]
    last = quarter_last_period(period)
    others = [m for m in quarter_periods(period) if m != last]
    if last in listed and not any(m in listed for m in others):
        return listed[last]
    return None


@dataclass
class SupplierFilingsResult:
    asked: int = 0  # RETTRACK calls made (one per supplier and financial year)
    failed: int = 0  # calls that failed (logged; asked again on the next run)
    written: int = 0  # status rows added or changed


def refresh_supplier_filings(
    *,
    tenant: Tenant,
    actor: Actor,
    registrations: Iterable[Registration] | None = None,
    adapter: PortalAdapter | None = None,
    today: dt.date | None = None,
) -> SupplierFilingsResult:
    """Ask the portal's return tracking (RETTRACK, no session needed) which GSTR-3Bs each supplier of the tenant's
    invoices and debit notes filed in the financial years at stake, and record per supplier and return period
    whether and when it was filed (:class:`SupplierGstr3bStatus`). Network calls run outside any transaction; a
    failed call is logged and leaves what was known (the next run asks again). Audited as one event."""
    at_stake = supplier_periods_at_stake(tenant=tenant, registrations=registrations, today=today)
    result = SupplierFilingsResult()
    answers: dict[tuple[str, int], dict[dt.date, ReturnFiling]] = {}
    if not at_stake:
        return result
    own = make_adapter() if adapter is None else None
    portal = adapter or own
    if portal is None:
        raise RuntimeError("refresh_supplier_filings: no portal adapter (make_adapter returned none)")
    try:
        for gstin, year in sorted(at_stake):
            result.asked += 1
            try:
                filings = portal.get_return_filings(gstin=gstin, fy=fy_label(year), return_type="R3B")
            except PortalError as exc:
                result.failed += 1
                log.warning("return tracking of %s %s failed: %s", gstin, fy_label(year), exc.message)
                continue
            answers[(gstin, year)] = {f.period: f for f in filings if f.return_type == "GSTR3B"}
    finally:
        if own is not None:
            own.close()
    now = timezone.now()
    fields = ("filed", "filed_on", "arn")
    rows: list[SupplierGstr3bStatus] = []
    with transaction.atomic():
        known = {
            (gstin, period): rest
            for gstin, period, *rest in SupplierGstr3bStatus.objects.filter(
                tenant=tenant, supplier_gstin__in={g for g, _y in answers}
            ).values_list("supplier_gstin", "period", *fields)
        }
        for (gstin, year), listed in answers.items():
            for period in sorted(at_stake[(gstin, year)]):
                f = _filing_of(period, listed)
                values = {
                    "filed": f is not None,
                    "filed_on": f.filed_on if f else None,
                    "arn": f.arn if f else "",
                }
                result.written += known.get((gstin, period)) != [values[k] for k in fields]
                rows.append(
                    SupplierGstr3bStatus(
                        tenant=tenant, supplier_gstin=gstin, period=period, fetched_at=now, **values
                    )
                )
        # one upsert for every supplier and period asked (fetched_at moves on even where nothing changed)
        SupplierGstr3bStatus.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["tenant", "supplier_gstin", "period"],
            update_fields=[*fields, "fetched_at"],
        )
        record(
            tenant=tenant,
            actor=actor,
            action="supplier_3b.fetched",
            object_repr=f"suppliers' GSTR-3B filings ({len({g for g, _y in at_stake})} suppliers)",
            metadata={"asked": result.asked, "failed": result.failed, "written": result.written},
        )
    return result


def queue_supplier_filings(*, tenant: Tenant, registration: Registration | None = None) -> None:
    """Ask the portal about the suppliers' GSTR-3B filings in the background (after a sync: pipeline/flows.py)."""
    tasks.refresh_supplier_filings.delay_on_commit(tenant.pk, registration.pk if registration else None)


def refresh_supplier_filings_job(tenant_id: int, registration_id: int | None = None) -> SupplierFilingsResult:
    """The worker's side of :func:`queue_supplier_filings` and of the daily beat (every tenant when
    ``tenant_id`` is 0): opens each tenant's scope."""
    with scopes_disabled():
        tenants = list(Tenant.objects.filter(pk=tenant_id) if tenant_id else Tenant.objects.order_by("pk"))
    total = SupplierFilingsResult()
    actor = Actor.task("returns.refresh_supplier_filings")
    for tenant in tenants:
        with tenant_scope(tenant):
            regs = None
            if registration_id:
                regs = list(Registration.objects.filter(tenant=tenant, pk=registration_id))
            got = refresh_supplier_filings(tenant=tenant, actor=actor, registrations=regs)
        total.asked += got.asked
        total.failed += got.failed
        total.written += got.written
    return total

"""Writers of the returns app: build and store GSTR-2B preview snapshots (with the diff against the previous
one), rebuild them daily, and ask the portal to recompute its own 2B (GEN2B) after late actions."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Actor, Event, record, record_many
from gst.duedates import return_period
from gst.periods import add_months, format_period
from gst_sync.client import PortalError
from gst_sync.client.base import open_session
from gst_sync.client.factory import make_adapter
from gst_sync.files.imports import import_gstr2b_files
from gst_sync.models import PortalConnection
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import documents, tasks, twob_sql
from .models import ACTIVE_REBUILD, Gstr3bFiling, PreviewRebuild, PreviewTrigger, RebuildStatus, TwobPreview
from .snapshots import Entries
from .twob import HEADS, IN_2B, ITCREV, Part, Recipient, period_months, place

DIFF_LIST_LIMIT = 500
REVERSAL_WHY = (
    "the ITC of this original is to be reversed: its amendment was rejected after the original's "
    "GSTR-3B was filed (itcrev, our reading)"
)
REBUILD_LEASE = dt.timedelta(minutes=30)  # a running rebuild older than this was lost with its worker
log = logging.getLogger(__name__)


class ReturnsError(ValueError):
    """A request the returns rules refuse; the message is safe to show."""


def itcrev_enabled() -> bool:
    """Compute ``itcrev`` (our reading, UNVERIFIED: returns.twob)? Setting ``TWOB_ITCREV``, on by default."""
    return bool(settings.TWOB_ITCREV)


def filed_3b(registration: Registration) -> dict[dt.date, dt.date]:
    """Return period → filing date of the GSTR-3Bs recorded as filed for ``registration``."""
    return dict(
        Gstr3bFiling.objects.filter(tenant_id=registration.tenant_id, registration=registration).values_list(
            "period", "filed_on"
        )
    )


def recipient_of(registration: Registration, *, as_of: dt.date | None = None) -> Recipient:
    """The recipient as the placement needs it: state, frequency, filed GSTR-3Bs, the day (for the one-period
    Pending limit; today by default) and whether ITC reversals are computed."""
    return Recipient(
        registration.gstin,
        registration.state_code,
        registration.filing_frequency,
        filed_3b=filed_3b(registration),
        as_of=as_of or timezone.localdate(),
        itcrev=itcrev_enabled(),
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
    _cp: dict | None = None

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
            f'{{"itcsumm": {json.dumps(self.itc)}, "cpsumm": {self.cp_text}, "counts": {json.dumps(counts)}}}'
        )


def compute(*, registration: Registration, period: dt.date, recipient: Recipient | None = None):
    """Place every candidate document of ``period`` in SQL (returns.twob_sql, mirroring returns.twob.place) and
    aggregate there, in one statement: (summary, entries, buckets, placements by document id for the documents
    in the 2B or pending)."""
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
        itcrev=recipient.itcrev,
    )
    entries, buckets = Entries(), []
    itc: dict = {}
    cp = "{}"
    counts: dict[str, int] = {}
    for kind, key, text, ids, paise in twob_sql.aggregates(p):
        if kind == "e":
            entries.extend(array("q", ids), len(buckets), array("q", paise))
            buckets.append(key)
        elif kind == "i":
            part, grp, section = key.split("/")
            amounts = dict(zip(HEADS, json.loads(text), strict=True))
            group = itc.setdefault(part, {}).setdefault(grp, {})
            if section:
                group[section] = amounts
            else:
                group.update(amounts)
        elif kind == "c":
            cp = text
        else:
            counts[key] = int(text)
    return Computed(itc, cp, counts), entries, buckets, Placements(registration, entries.ids, recipient)


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
        x["why"] = REVERSAL_WHY if x["to"].startswith(ITCREV + "/") else placed[x["id"]].why
    gone = [doc_id for doc_id in old if doc_id not in new] if len(old) + counts["entered"] != len(new) else []
    counts["left"] = len(gone)
    reasons = _explain_left(registration, period, gone[:DIFF_LIST_LIMIT])
    for doc_id in gone[:DIFF_LIST_LIMIT]:
        bucket, paise = names[old[doc_id] & 4095], old[doc_id] >> 12
        why = reasons.get(doc_id, "no longer in IMS (vanished from the portal)")
        if bucket.startswith(ITCREV + "/"):
            why = "no ITC reversal any more: its rejected amendment changed"
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
            object_repr=f"GSTR-2B preview {format_period(period)} {registration.gstin}",
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
    connection.ensure_connection()
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
        regs = list(Registration.objects.select_related("tenant").order_by("tenant_id", "pk"))
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
    return built


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
                object_repr=f"GSTR-2B preview rebuild {format_period(period)} {registration.gstin}",
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


def _claim_rebuild(rebuild_id: int) -> bool:
    """Compare-and-set: queued → running (or re-claim a running one past the lease: its worker was lost)."""
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(
            """UPDATE returns_previewrebuild SET status = %s, started_at = %s
               WHERE id = %s AND (status = %s OR (status = %s AND started_at < %s))""",
            [
                RebuildStatus.RUNNING,
                now,
                rebuild_id,
                RebuildStatus.QUEUED,
                RebuildStatus.RUNNING,
                now - REBUILD_LEASE,
            ],
        )
        return cur.rowcount == 1


def run_rebuild(rebuild_id: int) -> PreviewRebuild | None:
    """The worker's side of :func:`request_rebuild`: claim the rebuild, build the snapshot in the tenant's scope
    and mark it done (or failed, with the error). A second delivery of the same id is a no-op (None)."""
    with scopes_disabled():
        job = PreviewRebuild.objects.select_related("tenant", "registration").filter(pk=rebuild_id).first()
    if job is None or not _claim_rebuild(rebuild_id):
        return None
    actor = Actor(job.actor_type, job.actor_label, job.actor_id)
    with tenant_scope(job.tenant):
        job.refresh_from_db()
        try:
            snap = build_preview(
                tenant=job.tenant,
                actor=actor,
                registration=job.registration,
                period=job.period,
                trigger=job.trigger,
            )
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the page
            log.exception("2B preview rebuild %s failed", rebuild_id)
            job.status, job.error = RebuildStatus.FAILED, str(exc) or exc.__class__.__name__
        else:
            job.status, job.preview = RebuildStatus.DONE, snap
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "preview", "finished_at"])
    return job


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


# --- GSTR-3B filing status -------------------------------------------------------------------------------------


def mark_gstr3b_filed(
    *, tenant: Tenant, actor: Actor, registration: Registration, period, filed_on
) -> Gstr3bFiling:
    """Record that the GSTR-3B of ``period`` (a return period: the month, or the quarter's last month for QRMP)
    of ``registration`` was filed: accepted and rejected documents of that GSTR-2B period can no longer change."""
    if registration.tenant_id != tenant.pk:
        raise ReturnsError("Choose one of your GSTINs.")
    period = return_period(period, registration.filing_frequency)
    with transaction.atomic():
        filing, created = Gstr3bFiling.objects.update_or_create(
            tenant=tenant, registration=registration, period=period, defaults={"filed_on": filed_on}
        )
        record_many(
            tenant=tenant,
            actor=actor,
            events=[
                Event(
                    "gstr3b.filed",
                    "returns.gstr3bfiling",
                    str(filing.pk),
                    f"{registration.gstin} GSTR-3B {period:%m%Y}",
                    {"filed_on": [None, filed_on]} if created else {},
                    {"period": period.strftime("%m%Y")},
                )
            ],
        )
    return filing

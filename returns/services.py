"""Writers of the returns app: build and store GSTR-2B preview snapshots (with the diff against the previous
one), rebuild them daily, and ask the portal to recompute its own 2B (GEN2B) after late actions."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Actor, record
from invoices.domain.duedates import return_period
from invoices.domain.periods import add_months, format_period, format_portal_date
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

from . import documents, twob_sql
from .models import ACTIVE_REBUILD, PreviewRebuild, PreviewTrigger, RebuildStatus, TwobPreview
from .snapshots import Entries
from .twob import IN_2B, ZERO, Part, Recipient, Summary, period_months, place

DIFF_LIST_LIMIT = 500
REBUILD_LEASE = dt.timedelta(minutes=30)  # a running rebuild older than this was lost with its worker
log = logging.getLogger(__name__)


class ReturnsError(ValueError):
    """A request the returns rules refuse; the message is safe to show."""


def recipient_of(registration: Registration) -> Recipient:
    return Recipient(registration.gstin, registration.state_code, registration.filing_frequency)


def bucket_name(p) -> str:
    return f"{p.part.value}/{p.group}/{p.twob_section}/{p.reason}"


class Placements(Mapping):
    """Placements by document id of a computed preview, placed by :func:`returns.twob.place` only when read (the
    totals and entries come from SQL); :meth:`prefetch` places many in one query."""

    def __init__(self, registration: Registration, ids):
        self.registration, self._ids, self._set, self._cache = registration, ids, None, {}

    def prefetch(self, ids) -> None:
        missing = [i for i in ids if i not in self._cache]
        if missing:
            recipient = recipient_of(self.registration)
            for doc in documents.documents_by_id(tenant_id=self.registration.tenant_id,
                                                 registration_id=self.registration.pk, ids=missing):
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


def compute(*, registration: Registration, period: dt.date):
    """Place every candidate document of ``period`` in SQL (returns.twob_sql, mirroring returns.twob.place):
    (summary, entries, buckets, placements by document id for the documents in the 2B or pending)."""
    recipient = recipient_of(registration)
    p = twob_sql.params(tenant_id=registration.tenant_id, registration_id=registration.pk,
                        state_code=recipient.state_code, frequency=recipient.frequency, period=period,
                        months=period_months(period, recipient.frequency))
    summary, entries, buckets = Summary(), Entries(), []
    for bucket, ids, paise in twob_sql.bucket_entries(p):
        entries.extend(ids, len(buckets), paise)
        buckets.append(bucket)
    for (part, grp, section, _reason, nttyp, ctin, supprd, filed, n, txval, *amounts,
         name) in twob_sql.grouped(p):
        summary.counts[part] += n
        if part not in IN_2B:
            continue
        acc = summary.itc[(part, grp, section)]
        for i, v in enumerate(amounts[4:]):
            acc[i] += v
        if part == Part.REJECTED:
            continue
        key = (section, ctin, nttyp, format_period(supprd), format_portal_date(filed) if filed else "")
        row = summary.cp.get(key)
        if row is None:
            row = summary.cp[key] = [name, 0, ZERO, ZERO, ZERO, ZERO, ZERO]
        row[1] += n
        for i, v in enumerate((txval, *amounts[:4])):
            row[2 + i] += v
    return summary, entries, buckets, Placements(registration, entries.ids)


def _explain_left(registration: Registration, period: dt.date, ids: list[int]) -> dict[int, str]:
    recipient = recipient_of(registration)
    docs = documents.documents_by_id(tenant_id=registration.tenant_id, registration_id=registration.pk, ids=ids)
    out = {}
    for doc in docs:
        p = place(doc, recipient)
        if p.period != period:
            out[doc.id] = (f"now in the 2B of {format_period(p.period)} ({p.why})" if p.period
                           else f"no longer in a 2B: {p.why}")
        else:
            out[doc.id] = f"now {p.part.value}: {p.why}"
    return out


def diff_snapshots(*, registration: Registration, period: dt.date, previous: TwobPreview | None,
                   entries: Entries, buckets: list[str], placed: dict) -> dict:
    """What entered, left or changed (bucket or ITC) since ``previous``, and why; lists capped at 500 each."""
    if previous is None:
        return {"first": True}
    old, old_buckets = Entries.unpack(previous.entries).as_dict(), previous.buckets
    new = entries.as_dict()
    entered, left, changed = [], [], []
    counts: Counter = Counter()
    for doc_id, (b, paise) in new.items():
        before = old.get(doc_id)
        if before is None:
            counts["entered"] += 1
            if len(entered) < DIFF_LIST_LIMIT:
                entered.append({"id": doc_id, "to": buckets[b], "itc": paise / 100})
        elif old_buckets[before[0]] != buckets[b] or before[1] != paise:
            counts["changed"] += 1
            if len(changed) < DIFF_LIST_LIMIT:
                changed.append({"id": doc_id, "from": old_buckets[before[0]], "to": buckets[b],
                                "itc_before": before[1] / 100, "itc": paise / 100})
    if isinstance(placed, Placements):
        placed.prefetch([x["id"] for x in entered + changed])
    for x in entered + changed:
        x["why"] = placed[x["id"]].why
    gone = [doc_id for doc_id in old if doc_id not in new]
    counts["left"] = len(gone)
    reasons = _explain_left(registration, period, gone[:DIFF_LIST_LIMIT])
    for doc_id in gone[:DIFF_LIST_LIMIT]:
        b, paise = old[doc_id]
        left.append({"id": doc_id, "from": old_buckets[b], "itc": paise / 100,
                     "why": reasons.get(doc_id, "no longer in IMS (vanished from the portal)")})
    return {"previous": previous.pk, "counts": dict(counts), "entered": entered, "left": left, "changed": changed}


def build_preview(*, tenant: Tenant, actor: Actor, registration: Registration, period: dt.date,
                  trigger: str = PreviewTrigger.MANUAL) -> TwobPreview:
    """Compute the 2B preview of ``registration`` for the return ``period`` and store it as a new snapshot with
    its diff against the previous snapshot of the same period. Audited as ``twob.preview_built``."""
    if registration.tenant_id != tenant.pk:
        raise ReturnsError("No such GSTIN.")
    period = return_period(period, registration.filing_frequency)
    started = time.monotonic()
    summary, entries, buckets, placed = compute(registration=registration, period=period)
    previous = (TwobPreview.objects.filter(tenant=tenant, registration=registration, period=period)
                .order_by("-built_at", "-id").first())
    diff = diff_snapshots(registration=registration, period=period, previous=previous, entries=entries,
                          buckets=buckets, placed=placed)
    counts = {part.value: summary.counts.get(part.value, 0) for part in Part}
    payload = json.loads(json.dumps({"itcsumm": summary.itcsumm(), "cpsumm": summary.cpsumm(), "counts": counts},
                                    default=str))
    with transaction.atomic():
        snap = TwobPreview.objects.create(
            tenant=tenant, registration=registration, period=period, built_at=timezone.now(), trigger=trigger,
            built_by=actor.label, summary=payload, buckets=buckets, entries=entries.pack(),
            document_count=sum(counts[p.value] for p in IN_2B), diff=diff, previous=previous,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        record(tenant=tenant, actor=actor, action="twob.preview_built", obj=snap,
               object_repr=f"GSTR-2B preview {format_period(period)} {registration.gstin}",
               metadata={"registration": registration.gstin, "period": format_period(period), "trigger": trigger,
                         "counts": counts, "diff": diff.get("counts", {})})
    return snap


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
                build_preview(tenant=reg.tenant, actor=actor, registration=reg, period=period,
                              trigger=PreviewTrigger.BEAT)
                built += 1
    return built


def request_rebuild(*, tenant: Tenant, actor: Actor, registration: Registration, period: dt.date,
                    trigger: str = PreviewTrigger.MANUAL) -> tuple[PreviewRebuild, bool]:
    """Queue a rebuild of the preview (the ``returns.rebuild_preview`` task, enqueued on commit). When one is
    already queued or running for the GSTIN and period, that one is returned instead: (rebuild, created)."""
    from .tasks import rebuild_preview

    if registration.tenant_id != tenant.pk:
        raise ReturnsError("No such GSTIN.")
    period = return_period(period, registration.filing_frequency)
    active = PreviewRebuild.objects.filter(tenant=tenant, registration=registration, period=period,
                                           status__in=ACTIVE_REBUILD)
    try:
        with transaction.atomic():
            job = PreviewRebuild.objects.create(
                tenant=tenant, registration=registration, period=period, trigger=trigger,
                actor_type=actor.type, actor_label=actor.label, actor_id=actor.id)
            record(tenant=tenant, actor=actor, action="twob.rebuild_queued", obj=job,
                   object_repr=f"GSTR-2B preview rebuild {format_period(period)} {registration.gstin}",
                   metadata={"registration": registration.gstin, "period": format_period(period),
                             "trigger": trigger})
            rebuild_preview.delay_on_commit(job.pk)
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
            [RebuildStatus.RUNNING, now, rebuild_id, RebuildStatus.QUEUED, RebuildStatus.RUNNING, now - REBUILD_LEASE],
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
            snap = build_preview(tenant=job.tenant, actor=actor, registration=job.registration, period=job.period,
                                 trigger=job.trigger)
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the page
            log.exception("2B preview rebuild %s failed", rebuild_id)
            job.status, job.error = RebuildStatus.FAILED, str(exc) or exc.__class__.__name__
        else:
            job.status, job.preview = RebuildStatus.DONE, snap
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "preview", "finished_at"])
    return job


def recompute_on_portal(*, tenant: Tenant, actor: Actor, registration: Registration, period: dt.date,
                        adapter=None):
    """GEN2B on the portal, wait for its status, then GET2B and store it (replacing the earlier import of the
    period). Network calls run outside any transaction. Returns the import result; raises ReturnsError with the
    portal's message when generation fails."""
    from gst_sync.adapters import PortalError
    from gst_sync.adapters.base import open_session
    from gst_sync.imports import import_gstr2b_files
    from gst_sync.models import PortalConnection
    from gst_sync.portal import make_adapter

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
            raise ReturnsError(f"The portal could not recompute GSTR-2B {text}: "
                               f"{status.err_msg or status.status}")
        data = portal.get_2b(gstin=registration.gstin, period=text)
    except PortalError as exc:
        raise ReturnsError(f"The portal refused: {exc.message}") from exc
    finally:
        if adapter is None:
            portal.close()
    with transaction.atomic():
        record(tenant=tenant, actor=actor, action="twob.recomputed_on_portal",
               object_repr=f"GEN2B {text} {registration.gstin}",
               metadata={"registration": registration.gstin, "period": text, "reference_id": ref})
    blob = ContentFile(json.dumps({"data": data}).encode(), name=f"gen2b_{registration.gstin}_{text}.json")
    return import_gstr2b_files(tenant=tenant, actor=actor, registration=registration, files=[blob], period=text)

"""The set-based reconciliation engine.

1. Load the run's scope into two temporary tables (register lines, supplier documents: the latest version of an
   amended document, vanished ones left out), amounts made absolute when the rules say so, each row with a 64-bit
   hash of its exact key (recipient, supplier GSTIN, kind, normalised number, FY). The scope is the run's date range
   widened by the rules' date window on both sides: a line dated just outside the range may pair with a document
   inside it (and the other way round). Rows outside the range are context only: a result is stored when at least
   one of its documents lies inside the range, so a context row never shows as missing or duplicate in this run.
2. Manual links become manual matches; manual unlinks are pairs that never pair.
3. Keys that occur more than once on a side (duplicates, split bookings) are set aside before matching.
4. Pass 1, in SQL: a hash join on the key of the keys that occur once on each side. Such a pair has the same
   number, supplier, kind and FY: exact, within tolerance (per tax head, and the date window) or a mismatch, as
   the matcher would say. Then the same on what is left with the supplier's PAN instead of the GSTIN (the PAN
   fallback, when on). The pairs go to a temporary table and from there into the results (INSERT … SELECT).
5. Pass 2, in memory, on the residue only (duplicates, groups, mismatches, fuzzy numbers, PAN fallback, missing):
   the pure matcher :func:`reconciliation.domain.matching.match`, written back with COPY.

Results are written into a table of the run's own, without indexes (``reconciliation_reconmatch_r<run id>``); at
the end its indexes are built in one go and it is attached as the run's partition of the results table
(migration 0004). Until then readers do not see the run's rows; a failed run drops the table. Replacing an older
run's results drops its partition. Pass 1 and pass 2 are each their own transaction, so the run's progress is
visible while it works.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, record
from gst.numbers import normalise_doc_number
from gst.sections import SECTIONS
from ims_project import handoff, leases, rls
from ims_project.handoff import ReconciliationFinished
from invoices.models import SupplierDocument
from tenancy.scoping import scopes_disabled, tenant_scope

from .domain.matching import Doc, Outcome, compare, match
from .domain.rules import HEADS, RuleSet
from .models import JobStatus, ManualLink, PurchaseLine, ReconMatch, ReconRun, RunScope

logger = logging.getLogger(__name__)
_OUT_COLS = (
    "tenant_id, run_id, registration_id, supplier_gstin, outcome, purchase_id, document_id, group_no, "
    "similarity, days, d_taxable, d_igst, d_cgst, d_sgst, d_cess, pan_fallback, across_fy, duplicate_of"
)
_PAIR_COLS = (
    "reg, sg, outcome, rid, sid, similarity, days, d_taxable, d_igst, d_cgst, d_sgst, d_cess, "
    "pan_fallback, across_fy, inside"
)
_SIDE_COLS = (
    "id, reg, sg, kind, norm, fy, d, taxable, igst, cgst, sgst, cess, inside, num, irn, cls, port, neg"
)
# Sections of bills of entry and of ISD documents (gst.sections): a bill of entry pairs by its number, date and port
# code without a supplier GSTIN; an ISD invoice never pairs with an ISD credit note (domain.matching.compare).
BOE_SECTIONS = tuple(s.value for s, i in SECTIONS.items() if i.is_bill_of_entry)
ISD_SECTIONS = tuple(s.value for s, i in SECTIONS.items() if i.is_isd)
# A register line is a bill of entry when its supply type is an import of goods or it names a bill of entry; it is
# then paired on the bill's number and date (those of the line when the file gives none).
_R_BOE = "(supply_type = 'impg' OR boe_number <> '')"
_R_DATE = f"CASE WHEN {_R_BOE} THEN coalesce(boe_date, doc_date) ELSE doc_date END"
_FY_OF = "(extract(year from {0})::int - CASE WHEN extract(month from {0}) < 4 THEN 1 ELSE 0 END)"
_TEMP = "recon_r, recon_s, recon_p, recon_dup, recon_rr, recon_ss, recon_cover, recon_pans"
LAST_TIMINGS: dict[str, float] = {}  # seconds per stage of the latest run in this process (for the benchmark)


_RUNNING = (JobStatus.RUNNING,)
RETRY_AFTER = 10  # seconds before a run handed back after a lost connection is delivered again


def _task():
    from .tasks import run_recon_task  # noqa: PLC0415 - the task module imports this one

    return run_recon_task


def _progress(run: ReconRun, percent: int, stage: str) -> None:
    """Progress, and the heartbeat of the run's lease; LeaseLost when another worker has taken the run over."""
    leases.renew(ReconRun, run.pk, run.attempts, running=_RUNNING, progress=percent, stage=stage)


def _cleanup(run_id: int) -> None:
    """Drop what an attempt of the run wrote: its temporary tables (of this session), its results table (attached
    or not) and any of its rows in the default partition."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {_TEMP}")
        rls.partition(cur, "drop", run_id)  # the partition is the owner's (rls.partition)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM reconciliation_reconmatch WHERE run_id = %s", [run_id])


def execute_run(*, run_id: int) -> ReconRun | None:
    """Run a queued reconciliation, claimed with the lease of :mod:`ims_project.leases`: a twin delivery while the run
    is running under a live lease (or done) does nothing; a run whose worker died (heartbeat older than
    ``IMS_SYNC_LEASE_SECONDS``) is taken over and done again from a clean state. An attempt that finds its lease
    taken over stops without touching the run (returns None)."""
    with scopes_disabled():
        run = ReconRun.objects.filter(pk=run_id).select_related("tenant", "rules").first()
    if run is None:
        return None
    with tenant_scope(run.tenant):
        attempt = leases.claim_attempt(ReconRun, run_id, running=_RUNNING, new_status_sql="'running'")
        if attempt is None:
            return ReconRun.objects.get(pk=run_id)
        run.status, run.attempts = JobStatus.RUNNING, attempt
        if attempt > 1:
            logger.warning("recon run %s: taking over from a dead worker (attempt %s)", run_id, attempt)
            _cleanup(run_id)
            _progress(run, 0, "restarted")
        started = time.monotonic()
        try:
            # A heartbeat thread keeps the lease through the long statements of pass 2 as well.
            with leases.heartbeat(ReconRun, run_id, attempt, running=_RUNNING):
                counts = _execute(run)
        except leases.LeaseLost:
            logger.warning(
                "recon run %s: attempt %s lost its lease to another worker; stopping", run_id, attempt
            )
            with connection.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {_TEMP}")  # the results table is the new owner's now
            return None
        except Exception as exc:
            leases.fresh_connection()  # the failure may be the connection itself (its session terminated)
            if leases.retryable(exc, attempt):
                # Handed back as queued: the next attempt (attempt > 1) drops this one's half-written results.
                logger.exception("recon run %s: attempt %s lost its database connection", run_id, attempt)
                if leases.release(ReconRun, run_id, attempt, running=_RUNNING):
                    leases.deliver_later(_task(), run_id, countdown=RETRY_AFTER)
                return ReconRun.objects.get(pk=run_id)
            if ReconRun.objects.filter(
                pk=run_id, attempts=attempt
            ).exists():  # else the results are another's
                _cleanup(run_id)
                ReconRun.objects.filter(pk=run_id, attempts=attempt).update(
                    status=JobStatus.FAILED, error=str(exc)[:500], finished_at=timezone.now()
                )
            raise
        run.refresh_from_db()
        run.status, run.progress, run.stage, run.counts = JobStatus.DONE, 100, "done", counts
        run.seconds, run.finished_at = round(time.monotonic() - started, 2), timezone.now()
        with transaction.atomic():
            try:  # locks the run: done only while this attempt holds the lease
                leases.renew(ReconRun, run_id, attempt, running=_RUNNING)
            except leases.LeaseLost:
                logger.warning("recon run %s: attempt %s lost its lease before finishing", run_id, attempt)
                return None
            run.save()
            _drop_older_results(run)
            record(
                tenant=run.tenant,
                actor=Actor(run.actor_type, run.actor_label, run.user_id),
                action="recon.run_completed",
                obj=run,
                metadata={"counts": counts, "seconds": run.seconds},
            )
        handoff.announce(ReconciliationFinished(run=run))
        return run


def _drop_older_results(run: ReconRun) -> None:
    """Results are kept per period: a run of another date range keeps its own, so an earlier period's "only in
    supplier data" stays on record when a later run pairs the document; of the older runs of a GSTIN over the same
    range, the latest keeps its results too (what changed between the two can be shown) and the others' are dropped
    (runs keep their counts)."""
    mine = set(run.registration_ids)
    older = sorted(
        r.pk
        for r in ReconRun.objects.filter(
            tenant=run.tenant_id, pk__lt=run.pk, date_from=run.date_from, date_to=run.date_to
        ).only("registration_ids")
        if mine & set(r.registration_ids)
    )[:-1]
    if not older:
        return
    try:
        # Dropping a partition locks the results table for a moment: never queue behind a long reader (an export
        # streaming an older run), which would hold up every reader queued after us. Retried by the next run.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '3s'")
            for pk in older:
                rls.partition(cur, "drop", pk)
            cur.execute(
                "DELETE FROM reconciliation_reconmatch WHERE run_id = ANY(%s)", [older]
            )  # default part
    except OperationalError:
        logger.warning("recon run %s: older results %s still in use; dropped by a later run", run.pk, older)


def partition_name(run_id: int) -> str:
    return f"reconciliation_reconmatch_r{int(run_id)}"


def _attach(cur, run_id: int) -> None:
    """Build the indexes of the run's table in one go and attach it as the run's partition of the results."""
    # The table's owner builds its primary key, indexes and the check of its run, then attaches it and drops the
    # check (rls.partition: ims_project/rls, docs/decisions/0013).
    with transaction.atomic():
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        rls.partition(cur, "index", run_id)
        _attach_waiting_briefly(cur, run_id)


ATTACH_LOCK_WAIT = "1s"  # the longest an ATTACH queues for its lock at one go (lock_timeout)
ATTACH_TRIES = 20  # tries with that bound, ATTACH_PAUSE apart, before it waits as long as it takes
ATTACH_PAUSE = 0.5


def _attach_waiting_briefly(cur, run_id: int) -> None:
    """Run the ATTACH, queueing for its lock at most :data:`ATTACH_LOCK_WAIT` at a time. Attaching takes ACCESS
    EXCLUSIVE on the default partition, which every reader of the results holds a share of (a page, a batch tick,
    a bookings read); while the ATTACH queues, every reader arriving after it queues behind it, so one long reader
    stalled every reader in turn (the "lock convoy" of docs/performance.md §3.11). Giving way and trying again a
    moment later bounds that stall to the wait; the last try waits as long as it takes, so the run never fails
    for it."""
    for _ in range(ATTACH_TRIES):
        try:
            with transaction.atomic():  # a savepoint: a try that gave way leaves the run's transaction usable
                cur.execute("SELECT set_config('lock_timeout', %s, true)", [ATTACH_LOCK_WAIT])
                rls.partition(cur, "attach", run_id)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            time.sleep(ATTACH_PAUSE)
            continue
        finally:
            cur.execute("SET LOCAL lock_timeout = DEFAULT")
        return
    rls.partition(cur, "attach", run_id)


def scope_dates(run: ReconRun, rules: RuleSet) -> tuple[dt.date, dt.date]:
    """The dates the engine loads: the run's range widened by the date window (context rows outside the range
    may pair with rows inside it)."""
    window = dt.timedelta(days=rules.date_window)
    return run.date_from - window, run.date_to + window


def _load(cur, run: ReconRun, rules: RuleSet, p: dict) -> None:
    # Credit notes compare without sign whatever the rules say (books enter them negative or positive).
    amt = "abs({0})" if rules.absolute_amounts else "CASE WHEN {1} = 'credit_note' THEN abs({0}) ELSE {0} END"
    # ``pg``: the supplier GSTIN pairs are made on (none for a bill of entry), in the key and the joins.
    key = "hashtextextended(concat_ws('|', reg, pg, kind, norm, fy), 0)"
    heads_r = ", ".join(amt.format(h, "kind") + f" AS {h}" for h in HEADS)
    cur.execute(
        f"CREATE TEMP TABLE recon_r AS SELECT *, {key} AS k FROM (SELECT id, registration_id AS reg, "  # nosec B608  # SQL fragments and column names from code; values as params
        f"supplier_gstin AS sg, kind, number_norm AS norm, "
        f"CASE WHEN {_R_BOE} AND boe_date IS NOT NULL THEN {_FY_OF.format('boe_date')} ELSE fy END AS fy, "
        f"{_R_DATE} AS d, {heads_r}, {_R_DATE} BETWEEN %(from)s AND %(to)s AS inside, "
        f"CASE WHEN boe_number <> '' THEN boe_number ELSE doc_number END AS num, lower(irn) AS irn, "
        f"CASE WHEN {_R_BOE} THEN 'boe' WHEN supply_type = 'isd' THEN 'isd' ELSE '' END AS cls, "
        f"upper(port_code) AS port, CASE WHEN {_R_BOE} THEN '' ELSE supplier_gstin END AS pg, "
        "boe_number <> '' AS renumber, (taxable < 0 OR igst + cgst + sgst + cess < 0) AS neg "
        "FROM reconciliation_purchaseline "
        "WHERE tenant_id = %(tenant)s AND registration_id = ANY(%(regs)s) "
        # Either date in range (each has its index: purchaseline_reg_date_idx, purchaseline_boe_date_idx), then the
        # date the line pairs on.
        "AND (doc_date BETWEEN %(lo)s AND %(hi)s OR boe_date BETWEEN %(lo)s AND %(hi)s) "
        f"AND {_R_DATE} BETWEEN %(lo)s AND %(hi)s) x",
        p,
    )
    # A line that names its bill of entry pairs on the bill's number: its key, normalised as every number is.
    cur.execute("SELECT id, num, fy FROM recon_r WHERE renumber")
    renumbered = [(i, normalise_doc_number(num, fy)) for i, num, fy in cur.fetchall()]
    if renumbered:
        cur.execute(
            "UPDATE recon_r r SET norm = v.norm FROM unnest(%s::bigint[], %s::text[]) AS v(id, norm) "
            "WHERE r.id = v.id",
            [[i for i, _ in renumbered], [n for _, n in renumbered]],
        )
        cur.execute(f"UPDATE recon_r SET k = {key} WHERE renumber")  # nosec B608  # key expression a code constant
    heads_s = ", ".join(
        amt.format(f"d.{'taxable_value' if h == 'taxable' else h}", "d.doc_kind") + f" AS {h}" for h in HEADS
    )
    cur.execute(
        f"CREATE TEMP TABLE recon_s AS SELECT *, {key} AS k FROM (SELECT d.id, d.registration_id AS reg, "  # nosec B608  # SQL fragments and column names from code; values as params
        f"d.supplier_gstin AS sg, d.doc_kind AS kind, d.doc_number_norm AS norm, d.fy, d.doc_date AS d, {heads_s}, "
        # The e-invoice's IRN when the portal gave it: it pairs first (domain.matching.compare).
        "d.doc_date BETWEEN %(from)s AND %(to)s AS inside, d.doc_number AS num, lower(coalesce(d.irn, '')) AS irn, "
        "CASE WHEN d.section = ANY(%(boe_sections)s) THEN 'boe' WHEN d.section = ANY(%(isd_sections)s) "
        "THEN 'isd' ELSE '' END AS cls, upper(coalesce(d.port_code, '')) AS port, "
        "CASE WHEN d.section = ANY(%(boe_sections)s) THEN '' ELSE d.supplier_gstin END AS pg, false AS neg "
        "FROM invoices_supplierdocument d WHERE d.tenant_id = %(tenant)s AND d.registration_id = ANY(%(regs)s) "
        "AND d.doc_date BETWEEN %(lo)s AND %(hi)s AND d.vanished_at IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM invoices_supplierdocument a WHERE a.original_id = d.id AND a.vanished_at IS NULL)) x",
        p,
    )
    cur.execute(
        "ANALYZE recon_r (k)"
    )  # row counts and the key's statistics; the rest costs and is not needed
    cur.execute("ANALYZE recon_s (k)")


def _irn_allows(r_all: str, s_all: str) -> str:
    """SQL: the key pair ``r``–``s`` may pair in SQL as far as IRNs go (IRN first, domain.matching.compare): both
    carry the same IRN, or at most one carries one and no row of the other side (the tables ``r_all``, ``s_all``)
    carries that IRN; anything else is the matcher's to weigh."""
    return (
        "(r.irn = s.irn OR ((r.irn = '' OR s.irn = '') "  # nosec B608  # r_all, s_all: the engine's temp tables
        f"AND (r.irn = '' OR r.irn NOT IN (SELECT irn FROM {s_all} WHERE irn <> '')) "
        f"AND (s.irn = '' OR s.irn NOT IN (SELECT irn FROM {r_all} WHERE irn <> ''))))"
    )


def _pass_sql(cur, run: ReconRun, rules: RuleSet, p: dict, lap) -> None:
    """Manual links and the exact-key pairs, all in SQL; the pairs with a member inside the range are stored."""
    diffs = ", ".join(f"NULLIF(s.{h} - r.{h}, 0) AS d_{h}" for h in HEADS)  # supplier − books
    cur.execute(
        f"CREATE TEMP TABLE recon_p AS SELECT r.reg, r.sg, 'manual'::varchar(20) AS outcome, r.id AS rid, "  # nosec B608  # column names from HEADS; values as params
        f"s.id AS sid, NULL::smallint AS similarity, s.d - r.d AS days, {diffs}, r.pg <> s.pg AS pan_fallback, "
        "r.fy <> s.fy AS across_fy, r.inside OR s.inside AS inside "
        "FROM reconciliation_manuallink m JOIN recon_r r ON r.id = m.purchase_id "
        "JOIN recon_s s ON s.id = m.document_id AND s.reg = r.reg "
        "WHERE m.tenant_id = %(tenant)s AND m.kind = 'link'",
        p,
    )
    cur.execute("DELETE FROM recon_r WHERE id IN (SELECT rid FROM recon_p)")
    cur.execute("DELETE FROM recon_s WHERE id IN (SELECT sid FROM recon_p)")
    lap("manual links")
    # Keys repeated on either side (duplicates, split bookings) are left to the matcher.
    cur.execute(
        "CREATE TEMP TABLE recon_dup AS SELECT k FROM recon_r GROUP BY k HAVING count(*) > 1 "
        "UNION SELECT k FROM recon_s GROUP BY k HAVING count(*) > 1"
    )
    cur.execute("ANALYZE recon_dup")
    lap("repeated keys")
    # A key found once on each side pairs whatever the amounts say (the numbers are the same): within tolerance of
    # every head and the date window it is exact or within tolerance, else a mismatch (as the matcher rules).
    within = " AND ".join(
        f"abs(r.{h} - s.{h}) <= greatest(%({h}_abs)s, abs(s.{h}) * %({h}_pct)s / 100)" for h in HEADS
    )
    zero = " AND ".join(f"r.{h} = s.{h}" for h in HEADS)
    cur.execute(
        f"INSERT INTO recon_p ({_PAIR_COLS}) SELECT r.reg, r.sg, "  # nosec B608  # column names from HEADS and code constants; values as params
        f"CASE WHEN NOT ({within} AND abs(r.d - s.d) <= %(window)s) THEN 'mismatch' "
        f"WHEN {zero} AND r.d = s.d THEN 'exact' ELSE 'tolerance' END, r.id, s.id, 100, s.d - r.d, {diffs}, "
        "false, false, r.inside OR s.inside "
        "FROM recon_r r JOIN recon_s s ON r.k = s.k AND r.reg = s.reg AND r.pg = s.pg AND r.kind = s.kind "
        "AND r.norm = s.norm AND r.fy = s.fy AND (r.port = '' OR s.port = '' OR r.port = s.port) "
        f"WHERE {_irn_allows('recon_r', 'recon_s')} "
        "AND NOT EXISTS (SELECT 1 FROM recon_dup x WHERE x.k = r.k) AND NOT EXISTS (SELECT 1 FROM "
        "reconciliation_manuallink m WHERE m.tenant_id = %(tenant)s AND m.kind = 'unlink' "
        "AND m.purchase_id = r.id AND m.document_id = s.id)",
        p,
    )
    lap("exact join")
    # What is left of each side (the residue), for the PAN pass and the matcher.
    for side, col in (("r", "rid"), ("s", "sid")):
        cur.execute(
            f"CREATE TEMP TABLE recon_{side}{side} AS SELECT * FROM recon_{side} "  # nosec B608  # temp table and column names from code
            f"WHERE id NOT IN (SELECT {col} FROM recon_p)"
        )
    lap("residue")
    if rules.pan_fallback and not rules.across_fy:  # across FYs, the matcher weighs PAN against FY pairs
        # The supplier's other registration (same PAN), same number, kind and FY, each key once on each side of
        # what is left, within tolerance and the date window: probable with the PAN fallback (as the matcher).
        key2 = "hashtextextended(concat_ws('|', reg, substr(pg, 3, 10), kind, norm, fy), 0)"
        cur.execute(
            f"WITH rr AS MATERIALIZED (SELECT x.*, {key2} AS k2 FROM recon_rr x), "  # nosec B608  # column names from HEADS and code constants; values as params
            f"ss AS MATERIALIZED (SELECT x.*, {key2} AS k2 FROM recon_ss x), "
            "once AS (SELECT k2 FROM rr GROUP BY k2 HAVING count(*) = 1 INTERSECT "
            "SELECT k2 FROM ss GROUP BY k2 HAVING count(*) = 1) "
            f"INSERT INTO recon_p ({_PAIR_COLS}) SELECT r.reg, r.sg, 'probable', r.id, s.id, 100, s.d - r.d, "
            f"{diffs}, true, false, r.inside OR s.inside "
            "FROM rr r JOIN ss s ON r.k2 = s.k2 AND r.reg = s.reg AND substr(r.pg, 3, 10) = substr(s.pg, 3, 10) "
            "AND r.kind = s.kind AND r.norm = s.norm AND r.fy = s.fy JOIN once o ON o.k2 = r.k2 "
            f"WHERE r.pg <> s.pg AND r.pg <> '' AND {within} AND abs(r.d - s.d) <= %(window)s "
            f"AND {_irn_allows('recon_rr', 'recon_ss')} AND NOT EXISTS (SELECT 1 FROM "
            "reconciliation_manuallink m WHERE m.tenant_id = %(tenant)s AND m.kind = 'unlink' "
            "AND m.purchase_id = r.id AND m.document_id = s.id)",
            p,
        )
        cur.execute("DELETE FROM recon_rr WHERE id IN (SELECT rid FROM recon_p WHERE pan_fallback)")
        cur.execute("DELETE FROM recon_ss WHERE id IN (SELECT sid FROM recon_p WHERE pan_fallback)")
        lap("PAN fallback join")
    if not rules.across_fy:  # across FYs, the matcher weighs a debit note against the other FY's numbers
        _debit_notes_as_purchases(cur, p, within, diffs)
        lap("debit notes as purchases")
    cur.execute(
        f"INSERT INTO {partition_name(run.pk)} ({_OUT_COLS}) SELECT %(tenant)s, %(run)s, reg, sg, outcome, rid, "  # nosec B608  # partition name built from an int; values as params
        "sid, NULL, similarity, days, d_taxable, d_igst, d_cgst, d_sgst, d_cess, pan_fallback, across_fy, '' "
        "FROM recon_p WHERE inside",
        p,
    )
    cur.execute("ANALYZE recon_p (rid, sid)")
    lap("store exact pairs")


def _debit_notes_as_purchases(cur, p: dict, within: str, diffs: str) -> None:
    """A supplier's debit note booked as an ordinary purchase (the register has no debit-note type), within
    tolerance and the date window: probable with that reason, as the matcher pairs it (domain.matching.kind_note) —
    when the number is the only one of its supplier PAN and FY on each side of what is left, so that no other
    candidate (the same number under another GSTIN or recipient, a repeat, a group) could rank before it. The rest
    (beyond tolerance, repeated numbers) is the matcher's. About one pair in seventy of a real register
    (docs/performance.md §3.4): they no longer go through Python."""
    cur.execute(
        "WITH once AS (SELECT substr(pg, 3, 10) AS pan, norm, fy FROM recon_rr WHERE pg <> '' GROUP BY 1, 2, 3 "  # nosec B608  # column names from HEADS and code constants; values as params
        "HAVING count(*) = 1 INTERSECT SELECT substr(pg, 3, 10), norm, fy FROM recon_ss WHERE pg <> '' "
        "GROUP BY 1, 2, 3 HAVING count(*) = 1) "
        f"INSERT INTO recon_p ({_PAIR_COLS}) SELECT r.reg, r.sg, 'probable', r.id, s.id, 100, s.d - r.d, "
        f"{diffs}, false, false, r.inside OR s.inside "
        "FROM recon_rr r JOIN recon_ss s ON r.reg = s.reg AND r.pg = s.pg AND r.norm = s.norm AND r.fy = s.fy "
        "JOIN once o ON o.pan = substr(r.pg, 3, 10) AND o.norm = r.norm AND o.fy = r.fy "
        "WHERE r.kind = 'invoice' AND s.kind = 'debit_note' AND r.cls = '' AND s.cls = '' AND NOT r.neg "
        f"AND r.pg <> '' AND {within} AND abs(r.d - s.d) <= %(window)s "
        f"AND {_irn_allows('recon_rr', 'recon_ss')} AND NOT EXISTS (SELECT 1 FROM "
        "reconciliation_manuallink m WHERE m.tenant_id = %(tenant)s AND m.kind = 'unlink' "
        "AND m.purchase_id = r.id AND m.document_id = s.id)",
        p,
    )
    if cur.rowcount:
        paired = "FROM recon_p WHERE outcome = 'probable' AND NOT pan_fallback"
        cur.execute(f"DELETE FROM recon_rr WHERE id IN (SELECT rid {paired})")  # nosec B608  # a code constant
        cur.execute(f"DELETE FROM recon_ss WHERE id IN (SELECT sid {paired})")  # nosec B608  # a code constant


def _match_residue(cur, run: ReconRun, rules: RuleSet, lap) -> None:
    """What the SQL passes left (the residue), matched in memory (domain.matching.match) and stored."""
    cur.execute(f"SELECT {_SIDE_COLS} FROM recon_rr")  # nosec B608  # column list a code constant
    register = [_doc("R", row) for row in cur.fetchall()]
    cur.execute(f"SELECT {_SIDE_COLS} FROM recon_ss")  # nosec B608  # column list a code constant
    supplier = [_doc("S", row) for row in cur.fetchall()]
    lap(f"fetch residue ({len(register)} + {len(supplier)})")
    inside = {("R", d.id) for d, flag in register if flag} | {("S", d.id) for d, flag in supplier if flag}
    register = [d for d, _flag in register]
    supplier = [d for d, _flag in supplier]
    forbidden = set(
        ManualLink.objects.filter(tenant=run.tenant_id, kind="unlink").values_list(
            "purchase_id", "document_id"
        )
    )
    results = [
        res
        for res in match(register, supplier, rules, forbidden)
        if any(("R", i) in inside for i in res.register_ids)
        or any(("S", i) in inside for i in res.supplier_ids)
    ]
    lap("match residue")
    _write_results(cur, run, results, {d.id: d for d in register}, {d.id: d for d in supplier})
    lap("store residue")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the residue is fetched and matched: those hundreds of thousands of
    objects make no reference cycles, and every collection would walk them all (a fifth of the matcher's time at
    1,000,000 × 1,000,000: docs/performance.md §3.4). Back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(0)


def _execute(run: ReconRun) -> dict[str, int]:
    rules = RuleSet.from_json(run.rules.params)
    lo, hi = scope_dates(run, rules)
    p = {
        "tenant": run.tenant_id,
        "run": run.pk,
        "regs": list(run.registration_ids),
        "from": run.date_from,
        "to": run.date_to,
        "lo": lo,
        "hi": hi,
        "window": rules.date_window,
        "boe_sections": list(BOE_SECTIONS),
        "isd_sections": list(ISD_SECTIONS),
        **{f"{h}_abs": rules.head_abs(h) for h in HEADS},
        **{f"{h}_pct": rules.head_pct(h) for h in HEADS},
    }
    LAST_TIMINGS.clear()
    mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        LAST_TIMINGS[stage] = round(now - mark, 2)
        mark = now

    part = partition_name(run.pk)
    with connection.cursor() as cur:
        with transaction.atomic():
            cur.execute(f"DROP TABLE IF EXISTS {_TEMP}")
            rls.partition(cur, "drop", run.pk)
        with transaction.atomic():
            cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute("SET LOCAL jit = off")
            # The owner's table, the application role's rows, behind the wall like the rest (rls.partition).
            rls.partition(cur, "create", run.pk)
            _load(cur, run, rules, p)
        _progress(run, 10, "loaded")
        lap("load")
        with transaction.atomic():
            cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute("SET LOCAL enable_mergejoin = off")
            # The planner underestimates a join on six correlated columns (1 row for 160,000) and would then
            # probe the repeated keys in a nested loop: hash joins only.
            cur.execute("SET LOCAL enable_nestloop = off")
            cur.execute("SET LOCAL jit = off")
            _pass_sql(cur, run, rules, p, lap)
        _progress(run, 60, "exact pairs stored")
        lap("commit pass 1")
        with transaction.atomic():
            cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute("SET LOCAL enable_nestloop = off")
            cur.execute("SET LOCAL jit = off")
            with _gc_paused():
                _match_residue(cur, run, rules, lap)
            coverage = _limit_to_scope(cur, run, p)
            ReconRun.objects.filter(pk=run.pk).update(coverage=coverage)
            lap("scope")
            cur.execute(
                f"SELECT registration_id, outcome, count(*) FROM {part} GROUP BY 1, 2"  # noqa: S608  # nosec B608  # partition name built from an int
            )
            counts: dict[str, int] = {}
            per_registration: dict[str, dict[str, int]] = {}
            for reg_id, outcome, n in cur.fetchall():
                counts[outcome] = counts.get(outcome, 0) + n
                per_registration.setdefault(str(reg_id), {})[outcome] = n
            ReconRun.objects.filter(pk=run.pk).update(registration_counts=per_registration)
            lap("count")
            _attach(cur, run.pk)
        lap("index and attach")
        cur.execute(f"DROP TABLE IF EXISTS {_TEMP}")
        return counts


def _limit_to_scope(cur, run: ReconRun, p: dict) -> dict[str, list[str]]:
    """ "Only in supplier data" where the register covers it (``run.scope``): a document of a GSTIN the register has
    no line for, or dated outside the periods its lines were booked in (from the first booked month to the end of the
    last one, or the latest posting date), or — scope ``suppliers`` — of a supplier (PAN) the register never books,
    becomes ``outside_scope``: not missing, and no recommended action applies to it. Returns the coverage
    ``{registration id: [first day, last day]}``."""
    cur.execute(
        "CREATE TEMP TABLE recon_cover AS SELECT registration_id AS reg, min(period_booked) AS lo, "
        "max(greatest((period_booked + interval '1 month' - interval '1 day')::date, "
        "coalesce(posting_date, doc_date))) AS hi FROM reconciliation_purchaseline "
        "WHERE tenant_id = %(tenant)s AND registration_id = ANY(%(regs)s) GROUP BY 1",
        p,
    )
    cur.execute("SELECT reg, lo, hi FROM recon_cover ORDER BY reg")
    coverage = {str(reg): [lo.isoformat(), hi.isoformat()] for reg, lo, hi in cur.fetchall()}
    if run.scope == RunScope.ALL:
        return coverage
    outside = "NOT EXISTS (SELECT 1 FROM recon_cover c WHERE c.reg = m.registration_id AND d.doc_date BETWEEN c.lo AND c.hi)"
    if run.scope == RunScope.REGISTER_SUPPLIERS:
        cur.execute(
            "CREATE TEMP TABLE recon_pans AS SELECT DISTINCT registration_id AS reg, substr(supplier_gstin, 3, 10) AS pan "
            "FROM reconciliation_purchaseline WHERE tenant_id = %(tenant)s AND registration_id = ANY(%(regs)s)",
            p,
        )
        outside += (
            " OR NOT EXISTS (SELECT 1 FROM recon_pans x WHERE x.reg = m.registration_id "
            "AND x.pan = substr(d.supplier_gstin, 3, 10))"
        )
    cur.execute(
        f"UPDATE {partition_name(run.pk)} m SET outcome = 'outside_scope' FROM invoices_supplierdocument d "  # nosec B608  # partition name from an int, condition a code literal
        f"WHERE m.outcome = 'missing_in_register' AND d.id = m.document_id AND ({outside})"
    )
    return coverage


def _doc(side: str, row) -> tuple[Doc, bool]:
    id_, reg, sg, kind, norm, _fy, d, taxable, igst, cgst, sgst, cess, inside, num, irn, cls, port, neg = row
    return Doc(
        id_,
        side,
        str(reg),
        sg,
        kind,
        num,
        d,
        taxable,
        igst,
        cgst,
        sgst,
        cess,
        norm=norm,
        irn=irn,
        cls=cls,
        port=port,
        negative=neg,
    ), inside


def _cell(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v)


def _write_results(cur, run: ReconRun, results, reg_docs: dict, sup_docs: dict) -> int:
    """COPY the matcher's results: one row per register line of a result (a group of n lines: n rows with one
    ``group_no``), or one row for a supplier document alone."""
    buf = io.StringIO()
    n = 0
    group = 0
    for res in results:
        diffs = dict(res.diffs)
        common = [res.outcome.value]
        extra = [
            res.similarity,
            res.days,
            *(diffs.get(h) for h in HEADS),
            res.pan_fallback,
            res.across_fy,
            f"{res.duplicate_of[0]}{res.duplicate_of[1]}" if res.duplicate_of else "",
        ]
        pairs: list[tuple] = []
        if len(res.register_ids) > 1 or len(res.supplier_ids) > 1:
            group += 1
            pairs = [(r, s, group) for r in res.register_ids for s in res.supplier_ids]
        elif res.register_ids or res.supplier_ids:
            pairs = [
                (
                    res.register_ids[0] if res.register_ids else None,
                    res.supplier_ids[0] if res.supplier_ids else None,
                    None,
                )
            ]
        for rid, sid, g in pairs:
            doc = reg_docs[rid] if rid is not None else sup_docs[sid]
            vals = [run.tenant_id, run.pk, doc.recipient, doc.supplier_gstin, *common, rid, sid, g, *extra]
            buf.write("\t".join(_cell(v) for v in vals) + "\n")
            n += 1
    with rls.copy_in(cur, f"COPY {partition_name(run.pk)} ({_OUT_COLS}) FROM STDIN") as copy:
        copy.write(buf.getvalue())
    return n


def doc_of_purchase(p: PurchaseLine) -> Doc:
    """The register line as the matcher sees it (as :func:`_load` reads it): a bill of entry by its number and
    date."""
    boe = p.supply_type == "impg" or bool(p.boe_number)
    return Doc(
        p.pk,
        "R",
        str(p.registration_id),
        p.supplier_gstin,
        p.kind,
        p.boe_number or p.doc_number,
        (p.boe_date or p.doc_date) if boe else p.doc_date,
        p.taxable,
        p.igst,
        p.cgst,
        p.sgst,
        p.cess,
        norm=p.number_norm,
        irn=p.irn.lower(),
        cls="boe" if boe else "isd" if p.supply_type == "isd" else "",
        port=p.port_code.upper(),
    )


def doc_of_document(d) -> Doc:
    return Doc(
        d.pk,
        "S",
        str(d.registration_id),
        d.supplier_gstin,
        d.doc_kind,
        d.doc_number,
        d.doc_date,
        d.taxable_value,
        d.igst,
        d.cgst,
        d.sgst,
        d.cess,
        norm=d.doc_number_norm,
        irn=(d.irn or "").lower(),
        cls="boe" if d.section in BOE_SECTIONS else "isd" if d.section in ISD_SECTIONS else "",
        port=(d.port_code or "").upper(),
    )


def latest_run_for(*, tenant, registration_id: int) -> ReconRun | None:
    for run in ReconRun.objects.filter(tenant=tenant, status=JobStatus.DONE).order_by("-pk")[:50]:
        if registration_id in run.registration_ids:
            return run
    return None


def apply_manual(*, tenant, purchase: PurchaseLine, document, linked: bool) -> None:
    """Show a manual link or unlink in the latest run at once (the next run derives the same from ManualLink)."""
    run = latest_run_for(tenant=tenant, registration_id=purchase.registration_id)
    if run is None:
        return
    rows = ReconMatch.objects.filter(run=run).filter(Q(purchase=purchase) | Q(document=document))
    partners_r = {r.purchase_id for r in rows} - {purchase.pk, None}
    partners_s = {r.document_id for r in rows} - {document.pk, None}
    rows.delete()
    base = {"tenant": tenant, "run": run, "registration_id": purchase.registration_id}
    new = []
    for rid in partners_r - set(
        ReconMatch.objects.filter(run=run, purchase_id__in=partners_r).values_list("purchase_id", flat=True)
    ):
        line = PurchaseLine.objects.get(pk=rid)
        new.append(
            ReconMatch(
                **base,
                supplier_gstin=line.supplier_gstin,
                outcome=Outcome.MISSING_IN_SUPPLIER,
                purchase_id=rid,
            )
        )

    for sid in partners_s - set(
        ReconMatch.objects.filter(run=run, document_id__in=partners_s).values_list("document_id", flat=True)
    ):
        doc = SupplierDocument.objects.get(pk=sid)
        new.append(
            ReconMatch(
                **base,
                supplier_gstin=doc.supplier_gstin,
                outcome=Outcome.MISSING_IN_REGISTER,
                document_id=sid,
            )
        )
    if linked:
        r, s = doc_of_purchase(purchase), doc_of_document(document)
        diffs = {h: s.amount(h) - r.amount(h) for h in HEADS}  # supplier − books
        new.append(
            ReconMatch(
                **base,
                supplier_gstin=purchase.supplier_gstin,
                outcome=Outcome.MANUAL,
                purchase=purchase,
                document=document,
                days=(s.date - r.date).days,
                pan_fallback=r.supplier_gstin != s.supplier_gstin,
                across_fy=r.fy != s.fy,
                **{f"d_{h}": (d or None) for h, d in diffs.items()},
            )
        )
    else:
        new.append(
            ReconMatch(
                **base,
                supplier_gstin=purchase.supplier_gstin,
                outcome=Outcome.MISSING_IN_SUPPLIER,
                purchase=purchase,
            )
        )
        new.append(
            ReconMatch(
                **base,
                supplier_gstin=document.supplier_gstin,
                outcome=Outcome.MISSING_IN_REGISTER,
                document=document,
            )
        )
    ReconMatch.objects.bulk_create(new)


def probe(purchase: PurchaseLine, document, rules: RuleSet):
    """ "Why didn't these two match?": the verdict of the rules on any line and document."""
    return compare(doc_of_purchase(purchase), doc_of_document(document), rules)


__all__ = ["execute_run", "apply_manual", "probe", "Decimal"]

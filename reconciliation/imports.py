"""The purchase-register import pipeline, shared by the file import (worker) and the REST upsert.

A file is read once, streamed (python-calamine for workbooks, the csv module for text). Pass 1 checks every row
(:class:`~reconciliation.domain.register_rows.RowChecker`), writes each problem of a row that cannot be read and
each flag of a row that breaks a GST rule (imported all the same) to the report and stages the readable rows in a
temporary table with COPY; rows repeating an ERP reference are one line when they are one bill (amounts added up)
and each their own flagged line when they are different documents (:meth:`Stage.resolve_repeats`). Pass 2 upserts the staged rows in chunks
of :data:`CHUNK` on (tenant, erp_ref) — one INSERT … ON CONFLICT … DO UPDATE … WHERE changed per chunk, each in
its own transaction with one audit event per created or changed line (changes as {field: [old, new]}) and the
job's progress. Then the lines an earlier import of the same file made from rows without an ERP reference
(``<file>#<row>``) that this import no longer has are removed (:func:`remove_missing`). Unchanged lines are not touched and not audited. Progress is written at most once a second.

Rows with problems never stop the good ones (the page says so). A failure half-way through pass 2 leaves the
chunks already committed; importing the file again completes it, since lines are matched by ERP reference.

A file import is claimed with the lease of :mod:`ims_project.leases` (:func:`claim`); its progress is the lease's
heartbeat, and every chunk's transaction starts by renewing it (which locks the job row: a worker that lost its
lease writes nothing more). When a worker dies, a redelivery after the lease expired imports the file again from
the start: the chunks the dead worker committed come out unchanged (no second audit event), and the job's
created/updated counts, committed with those chunks, already include them.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.services import Actor, Event, record, record_many
from gst.copytext import escape as copy_escape
from ims_project import leases, rls
from ims_project.formatting import spreadsheet_safe

from . import register_file
from .domain import register_rows
from .domain.register_rows import flags_json
from .models import JobStatus, RegisterImport

log = logging.getLogger(__name__)
CHUNK = 50_000  # staged rows upserted (and audited) per transaction
COPY_BATCH = 20_000
PROGRESS_SECONDS = 1.0
KEEP_ERRORS = 50  # problems kept on the job for the page; the report has them all
REFUSED = "not imported"
FLAGGED = "imported, flagged"
SUMMED = "imported as one line"
CHECK_SHARE = 60  # % of the progress bar for reading and checking; the rest for writing
COLS = register_rows.CLEAN_COLUMNS
OBJECT_TYPE = "reconciliation.purchaseline"
STAGE = "recon_import_stage"
_NULL = "\\N"  # NULL in COPY text
_AUDITED = [
    c for c in COLS if c not in ("erp_ref", "number_norm", "fy", "source_file")
]  # derived: not "changes"
if COLS != (
    "registration_id",
    "supplier_gstin",
    "kind",
    "doc_number",
    "number_norm",
    "doc_date",
    "fy",
    "taxable",
    "igst",
    "cgst",
    "sgst",
    "cess",
    "pos",
    "reverse_charge",
    "erp_ref",
    "period_booked",
    "itc_claimed",
    "supply_type",
    "irn",
    "posting_date",
    "exempt_value",
    "boe_number",
    "boe_date",
    "port_code",
    "source_file",
    "flags",
):  # an explicit check (an assert vanishes under python -O)
    raise RuntimeError(
        "register_rows.CLEAN_COLUMNS changed: Stage.add formats the columns in the order above"
    )


def _update_sql() -> str:
    """Lines of the chunk whose reference exists and whose values differ: updated, with their changes as JSON
    text (``o`` is the line before the update — the statement's snapshot)."""
    sets = ", ".join(f"{c} = s.{c}" for c in COLS if c != "erp_ref")
    changed = " OR ".join(f"o.{c} IS DISTINCT FROM s.{c}" for c in COLS if c != "erp_ref")
    diffs = ", ".join(
        f"CASE WHEN o.{c} IS DISTINCT FROM s.{c} THEN format('\"{c}\":[%%s,%%s]', "
        f"coalesce(to_json(o.{c}::text)::text, 'null'), coalesce(to_json(s.{c}::text)::text, 'null')) END"
        for c in _AUDITED
    )
    return f"""
        UPDATE reconciliation_purchaseline p SET {sets}, updated_at = %(now)s
        FROM {STAGE} s JOIN reconciliation_purchaseline o ON o.tenant_id = %(tenant)s AND o.erp_ref = s.erp_ref
        WHERE s.n > %(lo)s AND s.n <= %(hi)s AND p.id = o.id AND ({changed})
        RETURNING p.id, false, p.supplier_gstin, p.kind, p.doc_number, p.erp_ref,
                  concat('{{', concat_ws(',', {diffs}), '}}')"""  # nosec B608  # column names from COLS, stage table constant; values as params


def _insert_sql() -> str:
    """Lines of the chunk whose reference is new: inserted. A line another import inserted meanwhile is updated
    (its changes unknown: recorded as none)."""
    cols = ", ".join(COLS)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLS if c != "erp_ref")
    changed = " OR ".join(f"p.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in COLS if c != "erp_ref")
    return f"""
        INSERT INTO reconciliation_purchaseline AS p (tenant_id, created_at, updated_at, {cols})
        SELECT %(tenant)s, %(now)s, %(now)s, {cols} FROM {STAGE} s
        WHERE s.n > %(lo)s AND s.n <= %(hi)s AND NOT EXISTS (
            SELECT 1 FROM reconciliation_purchaseline e WHERE e.tenant_id = %(tenant)s AND e.erp_ref = s.erp_ref)
        ON CONFLICT (tenant_id, erp_ref) DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at WHERE {changed}
        RETURNING id, xmax = 0, supplier_gstin, kind, doc_number, erp_ref, '{{}}'"""  # nosec B608  # column names from COLS, stage table constant; values as params


_UPDATE_SQL, _INSERT_SQL = _update_sql(), _insert_sql()


def _stage_line(n: int, line: int, clean: tuple) -> str:
    """One COPY line of the stage: ``n``, the file's row, the clean values (``CLEAN_COLUMNS`` order)."""
    (
        registration_id,
        supplier,
        kind,
        number,
        norm,
        day,
        fy,
        taxable,
        igst,
        cgst,
        sgst,
        cess,
        pos,
        rc,
        ref,
        period,
        itc,
        supply,
        irn,
        posting,
        exempt,
        boe_number,
        boe_date,
        port,
        source,
        flags,
    ) = clean
    # The checker's GSTIN, kind, state code, IRN and dates hold no tab, newline or backslash; the free text
    # (number, reference, bill of entry, port, file, flag messages) is escaped.
    esc = copy_escape
    posting = _NULL if posting is None else posting
    boe_date = _NULL if boe_date is None else boe_date
    return (
        f"{n}\t{line}\t{registration_id}\t{supplier}\t{kind}\t{esc(number)}\t{esc(norm)}\t"
        f"{day}\t{fy}\t{taxable}\t{igst}\t{cgst}\t{sgst}\t{cess}\t{pos}\t{'t' if rc else 'f'}\t"
        f"{esc(ref)}\t{period}\t{'t' if itc else 'f'}\t{supply}\t{esc(irn)}\t"
        f"{posting}\t{exempt}\t{esc(boe_number)}\t{boe_date}\t{esc(port)}\t{esc(source)}\t{esc(flags)}"
    )


@dataclass(frozen=True)
class Repeat:
    """An ERP reference on several rows: ``merged`` (one document: one line, amounts added up, ``flags`` of the
    sums) or not (different documents: each row its own line, flagged)."""

    ref: str
    lines: list[int]
    merged: bool
    flags: str


class Stage:
    """Good rows of one import (or API call) in a temporary table, numbered ``n`` in the order they came;
    remembers where each ERP reference was seen so repeats are caught. Use as a context manager."""

    def __init__(self):
        self.count = 0  # rows staged (rows of a repeated reference included); ``n`` runs from 1 to it
        self.folded = 0  # rows added up into the line of another row of the same bill (resolve_repeats)
        self._lines: list[str] = []
        self._first: dict[str, int] = {}  # erp_ref -> the row (or index) it was first seen on
        self.repeats: dict[str, list[int]] = {}  # erp_ref -> every row it is on, when more than one
        self.flagged = 0  # rows staged with a GST rule broken
        self._analysed = False
        self._register_estimate = 0.0  # rows the planner thinks the register has (pg_class.reltuples)
        self._inserted = 0  # rows this import inserted since the register's statistics were last taken

    def __enter__(self) -> Stage:
        cols = ", ".join(COLS)
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {STAGE}")
            cur.execute(
                f"CREATE TEMP TABLE {STAGE} AS SELECT {cols} FROM reconciliation_purchaseline WITH NO DATA"  # nosec B608  # column names from COLS, stage table constant
            )
            cur.execute(f"ALTER TABLE {STAGE} ADD COLUMN n integer, ADD COLUMN line integer")
        return self

    def __exit__(self, *exc) -> None:
        if connection.connection is not None and not connection.needs_rollback:
            with contextlib.suppress(DatabaseError), connection.cursor() as cur:  # a rollback drops it anyway
                cur.execute(f"DROP TABLE IF EXISTS {STAGE}")

    def add(self, clean: tuple, line: int) -> None:
        """Stage the clean values of a row (``CLEAN_COLUMNS`` order, as the checker gives them)."""
        ref, flags = clean[register_rows.ERP_REF_INDEX], clean[-1]
        first = self._first.setdefault(ref, line)
        if first != line:
            self.repeats.setdefault(ref, [first]).append(line)
        if flags != "{}":
            self.flagged += 1
        self.count += 1
        self._lines.append(_stage_line(self.count, line, clean))
        if len(self._lines) >= COPY_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        with (
            connection.cursor() as cur,
            cur.cursor.copy(f"COPY {STAGE} (n, line, {', '.join(COLS)}) FROM STDIN") as copy,
        ):
            copy.write("\n".join(self._lines) + "\n")
        self._lines = []

    def resolve_repeats(self, checker: register_rows.RowChecker, what: str = "rows") -> list[Repeat]:
        """What becomes of rows repeating an ERP reference (docs/rules/matching.md §7, "Repeated ERP references"):

        * rows of one document (same GSTINs, type, number and date: the item lines of one voucher) are one line,
          their amounts added up — a row bearing no tax adds its value to the nil-rated/exempt value, outside the
          tax comparison, when another row bears tax — with the flags of the sums;
        * rows of different documents are each their own line, ``<reference>#<row>`` (of the file, replaced when
          it is imported again), flagged ``erp_ref_shared``: nothing is lost and the books are asked to look.

        Returns one :class:`Repeat` per reference."""
        self.flush()
        if not self.repeats:
            return []
        cols = ", ".join(COLS)
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT n, line, {cols} FROM {STAGE} WHERE erp_ref = ANY(%s) ORDER BY n",  # nosec B608  # column names from COLS, stage table constant; values as params
                [list(self.repeats)],
            )
            staged: dict[str, list[tuple[int, int, dict]]] = {}
            for n, line, *values in cur.fetchall():
                clean = dict(zip(COLS, values, strict=True))
                if isinstance(clean["flags"], str):  # Django's connection reads jsonb as text
                    clean["flags"] = json.loads(clean["flags"])
                staged.setdefault(clean["erp_ref"], []).append((n, line, clean))
            cur.execute(f"DELETE FROM {STAGE} WHERE erp_ref = ANY(%s)", [list(self.repeats)])  # nosec B608  # stage table name constant; values as params
        out: list[Repeat] = []
        new: list[str] = []
        for ref, rows in staged.items():
            lines = [line for _n, line, _c in rows]
            self.flagged -= sum(1 for _n, _l, c in rows if c["flags"] not in ({}, None))
            identity = {
                (c["registration_id"], c["supplier_gstin"], c["kind"], c["number_norm"], c["doc_date"])
                for _n, _l, c in rows
            }
            if len(identity) == 1:
                first_n, first_line, merged = rows[0][0], rows[0][1], dict(rows[0][2])
                heads = ("taxable", "igst", "cgst", "sgst", "cess")
                taxed = [c for _n, _l, c in rows if any(c[h] for h in heads[1:])]
                merged["exempt_value"] = sum(c["exempt_value"] for _n, _l, c in rows)
                for h in heads:
                    merged[h] = sum(c[h] for c in (taxed or [c for _n, _l, c in rows]))
                if taxed:
                    merged["exempt_value"] += sum(
                        c["taxable"] for _n, _l, c in rows if not any(c[h] for h in heads[1:])
                    )
                merged["flags"] = checker.flags_of(merged)
                self.flagged += merged["flags"] != "{}"
                new.append(_stage_line(first_n, first_line, tuple(merged[c] for c in COLS)))
                out.append(Repeat(ref, lines, True, merged["flags"]))
                self.folded += len(rows) - 1
            else:
                others = ", ".join(str(x) for x in lines[:10])
                for n, line, c in rows:
                    flags = {
                        **(c["flags"] or {}),
                        "erp_ref_shared": f"ERP reference {ref[:60]!r} is on {what} {others} for different "
                        "documents: each is imported as its own line; check the voucher in the books",
                    }
                    c = {**c, "erp_ref": f"{ref[:90]}#{line}", "flags": flags_json(flags)}
                    if checker.source:
                        c["source_file"] = checker.source
                    self.flagged += 1
                    new.append(_stage_line(n, line, tuple(c[col] for col in COLS)))
                out.append(Repeat(ref, lines, False, ""))
        self._lines = new
        self.flush()
        self.repeats = {}
        return out

    def flagged_line_ids(self, tenant_id: int) -> list[int]:
        """The ids of the register lines of the staged rows that are flagged, once written (for the import page's
        link to this import's flagged lines)."""
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT p.id FROM {STAGE} s JOIN reconciliation_purchaseline p "  # nosec B608  # stage table name constant; values as params
                "ON p.tenant_id = %s AND p.erp_ref = s.erp_ref "
                "WHERE s.flags <> '{}'::jsonb AND p.flags <> '{}'::jsonb ORDER BY p.id",
                [tenant_id],
            )
            return [row[0] for row in cur.fetchall()]

    def _analyse(self, cur) -> None:
        """Statistics for the planner: of the staged rows always, and of the register when it is estimated
        smaller than this import (autovacuum may be off or behind): with a register thought empty the planner
        may join a re-import's lines to it row by row, quadratically."""
        cur.execute(f"ANALYZE {STAGE}")
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'reconciliation_purchaseline'::regclass")
        if cur.fetchone()[0] < self.count:
            rls.analyze(cur, "reconciliation_purchaseline")  # by its owner: ANALYZE by another skips it
        cur.execute(
            "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'reconciliation_purchaseline'::regclass"
        )
        self._register_estimate = cur.fetchone()[0]
        self._analysed = True

    def _grown(self, cur, inserted: int) -> None:
        """Statistics again once this import has more than doubled the register: the planner, still thinking it
        (nearly) empty, scanned it whole for each later chunk (an empty register's first import of 200,000 rows
        took 24 s to upsert instead of 4 s)."""
        self._inserted += inserted
        if self._inserted > 2 * self._register_estimate + 10_000:
            rls.analyze(cur, "reconciliation_purchaseline")  # by its owner: ANALYZE by another skips it
            self._register_estimate += self._inserted
            self._inserted = 0

    def upsert(self, *, tenant_id: int, lo: int, hi: int) -> list[tuple]:
        """Upsert staged rows ``lo < n <= hi``; [(id, inserted, supplier, kind, number, erp_ref, changes JSON)] of
        the lines created or changed. Run inside the transaction that audits them."""
        params = {"lo": lo, "hi": hi, "tenant": tenant_id, "now": timezone.now()}
        with connection.cursor() as cur:
            if not self._analysed:
                self._analyse(cur)
            # The register grows while these statements run. Believing the tenant's lines few (a first import
            # into a new, empty table: no statistics can say otherwise, the table has no page when the statement
            # is planned), the planner read the register by sequential scan once per staged row, and each scan
            # read every line inserted so far: quadratic (20,000 rows into a new database: 24 s for the INSERT,
            # 0.35 s through the index). The register is read through its (tenant, ERP reference) index; the
            # stage, which has no index, is scanned as before.
            cur.execute("SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)")
            seqscan = cur.fetchone()[0]
            cur.execute(_UPDATE_SQL, params)
            rows = cur.fetchall()
            cur.execute(_INSERT_SQL, params)
            inserted = cur.fetchall()
            cur.execute("SELECT set_config('enable_seqscan', %s, true)", [seqscan])
            self._grown(cur, len(inserted))
            return rows + inserted


def line_events(rows: Iterable[tuple]) -> Iterator[Event]:
    """One audit event per created or changed line."""
    loads = json.loads
    for id_, inserted, supplier, kind, number, ref, changes in rows:
        yield Event(
            "register.line_created" if inserted else "register.line_updated",
            OBJECT_TYPE,
            str(id_),
            f"{supplier} {kind} {number}",
            {} if inserted else loads(changes),
            {"erp_ref": ref},
        )


def write_chunk(
    stage: Stage,
    *,
    tenant,
    actor: Actor,
    lo: int,
    hi: int,
    request_id: str,
    lap: Callable[[str], None] = lambda _name: None,
) -> tuple[int, int]:
    """Upsert and audit one chunk (inside the caller's transaction); (created, updated)."""
    rows = stage.upsert(tenant_id=tenant.pk if hasattr(tenant, "pk") else tenant, lo=lo, hi=hi)
    lap("upsert")
    created = sum(1 for r in rows if r[1])
    if rows:
        record_many(tenant=tenant, actor=actor, events=line_events(rows), request_id=request_id)
    lap("audit")
    return created, len(rows) - created


# --- the file import ----------------------------------------------------------------------------------------

_RUNNING = (JobStatus.RUNNING,)
LeaseLost = leases.LeaseLost


def claim(job: RegisterImport) -> bool:
    """Claim a file import for this worker (queued, or running under an expired lease: its worker died). False
    when another delivery has it or it is finished. On success ``job`` is reloaded (status, attempts, counts)."""
    attempt = leases.claim_attempt(RegisterImport, job.pk, running=_RUNNING, new_status_sql="'running'")
    if attempt is None:
        return False
    job.refresh_from_db()
    if attempt > 1:
        log.warning(
            "register import %s: taking over from a dead worker (attempt %s, %s lines written before)",
            job.pk,
            attempt,
            job.created + job.updated,
        )
    return True


class _Progress:
    """Writes the job's progress (a share of ``total``) at most once per :data:`PROGRESS_SECONDS`."""

    def __init__(self, job: RegisterImport):
        self.job, self.last = job, 0.0

    def __call__(self, processed: int, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        self.job.processed, self.job.message = processed, message
        leases.renew(
            RegisterImport,
            self.job.pk,
            self.job.attempts,
            running=_RUNNING,
            processed=processed,
            total=self.job.total,
            message=message,
        )


def import_file(
    job: RegisterImport, *, path: Path, error_path: Path, recipients: dict[str, int], actor: Actor
) -> set[int]:
    """Import the stored file of ``job`` (see the module docstring). Raises RegisterFileError for a file that
    cannot be imported at all (then nothing was written). Returns the GSTINs (registration ids) of the lines an
    earlier import of the same file had and this one removed."""
    clock, timings = time.perf_counter(), {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    data = path.read_bytes()
    headers, rows, count = register_file.open_rows(job.file_name, data)
    lap("open")
    limit = register_file.max_rows()
    if count is not None and count > limit:
        raise register_file.RegisterFileError(f"The file has {count:,} rows; the limit is {limit:,}.")
    missing = [h for h in job.mapping.values() if h not in headers]
    if missing:
        raise register_file.RegisterFileError(
            f"The file has no column {missing[0]!r} any more; upload it again."
        )
    positions = [headers.index(job.mapping[f]) if job.mapping.get(f) else None for f in register_rows.FIELDS]
    job.total = count if count is not None else max(data.count(b"\n") - 1, 1)
    del data
    progress = _Progress(job)
    progress(0, "Checking rows", force=True)
    try:
        checker = register_rows.RowChecker(
            recipients,
            default_recipient=job.default_recipient,
            source=job.file_name,
            labels={f: h for f, h in job.mapping.items() if h},
        )
    except ValueError:
        raise register_file.RegisterFileError(
            f"You may no longer import for {job.default_recipient}, the GSTIN chosen for the upload."
        ) from None
    kept: list[dict] = []
    bad_rows = checked = 0
    request_id = f"register-import-{job.pk}"
    with open(error_path, "w", newline="", encoding="utf-8") as fh, Stage() as stage:
        report = csv.writer(fh)
        report.writerow(["Row", "Column", "Value", "Problem", "Result"])

        def problem(e: register_rows.RowError) -> None:
            # the file's own cell is echoed: neutralised so the report cannot run a formula when opened
            report.writerow((e.row, e.field, spreadsheet_safe(e.value), e.message, REFUSED))
            if len(kept) < KEEP_ERRORS:
                kept.append(e.__dict__)

        def flagged(line: int, flags: str, cells: list | None = None) -> None:
            for column, value, message in checker.flag_cells(flags, cells):
                report.writerow((line, column, spreadsheet_safe(value), message, FLAGGED))

        _check_rows(rows, positions, checker, stage, problem, flagged, limit, progress, job)
        lap("read, check and stage")
        checked, bad_rows = job.total, job.error_count
        refused = 0
        erp_label = checker.labels["erp_ref"]
        for repeat in stage.resolve_repeats(checker):
            shown = ", ".join(str(n) for n in repeat.lines[:10])
            if repeat.merged:
                report.writerow(
                    (
                        repeat.lines[0],
                        erp_label,
                        spreadsheet_safe(repeat.ref[:100]),
                        f"rows {shown} are one bill under one reference: imported as one line, their amounts "
                        "added up",
                        SUMMED,
                    )
                )
                flagged(repeat.lines[0], repeat.flags)  # of the sums: no one cell
            else:
                for n in repeat.lines:
                    report.writerow(
                        (
                            n,
                            erp_label,
                            spreadsheet_safe(repeat.ref[:100]),
                            f"ERP reference {repeat.ref[:60]!r} is on rows {shown} for different documents: "
                            "each is imported as its own line",
                            FLAGGED,
                        )
                    )
        job.error_count = bad_rows
        lap("repeats")
        staged = stage.count
        done_share = checked * CHECK_SHARE // 100 if checked else 0
        for lo in range(0, staged, CHUNK):
            hi = min(lo + CHUNK, staged)
            with transaction.atomic():
                leases.renew(RegisterImport, job.pk, job.attempts, running=_RUNNING)  # locks the job row
                created, updated = write_chunk(
                    stage, tenant=job.tenant, actor=actor, lo=lo, hi=hi, request_id=request_id, lap=lap
                )
                job.created += created
                job.updated += updated
                written = done_share + (checked - done_share) * hi // max(staged, 1)
                RegisterImport.objects.filter(pk=job.pk).update(
                    processed=written,
                    created=job.created,
                    updated=job.updated,
                    error_count=bad_rows,
                    message=f"Writing lines ({hi:,} of {staged:,})",
                )
            lap("commit")
        removed: set[int] = set()
        if checker.source:
            with transaction.atomic():
                leases.renew(RegisterImport, job.pk, job.attempts, running=_RUNNING)
                gone = remove_missing(
                    stage, tenant=job.tenant, actor=actor, source=checker.source, request_id=request_id
                )
            job.removed = len(gone)
            removed = {reg for _id, reg in gone}
            lap("replace")
        job.flagged_lines = stage.flagged_line_ids(job.tenant_id) if stage.flagged else []
    job.flagged = stage.flagged
    good = staged - refused - stage.folded
    job.unchanged = good - job.created - job.updated
    job.processed = job.total
    job.errors = kept
    job.error_file = error_path.name if bad_rows or job.flagged or stage.folded else ""
    if not job.error_file:
        error_path.unlink(missing_ok=True)
    job.message = ""
    job.status, job.finished_at = JobStatus.DONE, timezone.now()
    with transaction.atomic():
        leases.renew(RegisterImport, job.pk, job.attempts, running=_RUNNING)  # done only by the lease holder
        job.save()
        record(
            tenant=job.tenant,
            actor=actor,
            action="register.imported",
            obj=job,
            request_id=request_id,
            metadata={
                "file": job.file_name,
                "rows": job.total,
                "created": job.created,
                "updated": job.updated,
                "unchanged": job.unchanged,
                "rows_with_errors": job.error_count,
                "flagged": job.flagged,
                "removed": job.removed,
            },
        )
    lap("finish")
    log.info(
        "register import %s: %s rows in %.2f s (%s)",
        job.pk,
        job.total,
        sum(timings.values()),
        ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()),
    )
    return removed


def remove_missing(
    stage: Stage, *, tenant, actor: Actor, source: str, request_id: str
) -> list[tuple[int, int]]:
    """Remove the lines an earlier import of file ``source`` made from rows without an ERP reference that this
    import no longer has (a file imported again replaces its own lines), their manual links with them; one audit
    event per line. [(id, registration id)] of the lines removed. Inside the caller's transaction."""
    params = {"tenant": tenant.pk, "source": source}
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT p.id FROM reconciliation_purchaseline p WHERE p.tenant_id = %(tenant)s "  # nosec B608  # stage table name constant; values as params
            f"AND p.source_file = %(source)s AND NOT EXISTS (SELECT 1 FROM {STAGE} s WHERE s.erp_ref = p.erp_ref)",
            params,
        )
        ids = [r[0] for r in cur.fetchall()]
        if not ids:
            return []
        cur.execute(
            "DELETE FROM reconciliation_manuallink WHERE tenant_id = %s AND purchase_id = ANY(%s)",
            [tenant.pk, ids],
        )
        cur.execute(
            "DELETE FROM reconciliation_purchaseline WHERE tenant_id = %s AND id = ANY(%s) "
            "RETURNING id, registration_id, supplier_gstin, kind, doc_number, erp_ref",
            [tenant.pk, ids],
        )
        rows = cur.fetchall()
    record_many(
        tenant=tenant,
        actor=actor,
        events=(
            Event(
                "register.line_removed",
                OBJECT_TYPE,
                str(id_),
                f"{supplier} {kind} {number}",
                {},
                {"erp_ref": ref, "reason": "no longer in the file imported again"},
            )
            for id_, _reg, supplier, kind, number, ref in rows
        ),
        request_id=request_id,
    )
    return [(r[0], r[1]) for r in rows]


def _check_rows(
    rows,
    positions: list[int | None],
    checker: register_rows.RowChecker,
    stage: Stage,
    problem: Callable[[register_rows.RowError], None],
    flagged: Callable[[int, str, list], None],
    limit: int,
    progress: _Progress,
    job: RegisterImport,
) -> None:
    """Pass 1: check each row, report its problems or stage it. Sets job.total (non-empty rows) and
    job.error_count."""
    width = len(positions)
    pairs = list(enumerate(positions))
    blank = [None] * width
    seen = bad = 0
    check, add = checker.check, stage.add
    share = CHECK_SHARE
    for line, row in enumerate(rows, start=2):  # row 1 holds the headings
        size = len(row)
        cells = blank.copy()
        empty = True
        for k, i in pairs:
            if i is not None and i < size:
                v = row[i]
                cells[k] = v
                if empty and v is not None and v != "":
                    empty = False
        if empty:
            continue
        seen += 1
        if seen > limit:
            raise register_file.RegisterFileError(f"The file has more than {limit:,} rows; split it.")
        clean, errors = check(cells, line)
        if errors:
            bad += 1
            for e in errors:
                problem(e)
        else:
            add(clean, line)
            if clean[-1] != "{}":
                flagged(line, clean[-1], cells)
        if not seen % 5000:
            if seen > job.total:
                job.total = seen + 1
            progress(seen * share // 100, f"Checking rows ({seen:,} of about {job.total:,})")
    stage.flush()
    job.total, job.error_count = seen, bad

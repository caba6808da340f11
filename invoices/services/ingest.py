"""Bulk ingest of supplier documents (GETINV records, docs/rules/portal-api.md §2) into one registration's IMS.

Set-based, in one transaction per batch: Python parses each record once into a line of COPY text and its natural
key; the keys are COPYed into a temporary table and probe the natural-key index once each (:func:`_lookup`) —
unless 64 keys spread over a large batch are all new, when the batch is presumed new and the COPY's own unique
check is the probe (a wrong presumption rolls the COPY back to a savepoint and looks the batch up in full).
Documents whose key is new are COPYed straight into the documents table, with ids taken from its sequence first,
so amendments are linked to originals of the same batch and the audit events written without reading anything
back. Only stored documents whose content hash differs (or that had vanished) go through a temporary table to be
diffed field by field and updated (``UPDATE … FROM``); unchanged ones are not touched. Then vanished documents
are marked and amendments that were waiting for an original this batch brought are linked.

:func:`ingest_many` runs many batches (bulk imports, benchmarks), parsing the next batch in a thread while the
database takes the current one's COPY. Measured costs and the floor set by the table's indexes: bench/bench_load.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.errors import UniqueViolation

from audit.services import Actor, Event, canonical_json, record_many
from gst import ims_record
from gst.copytext import escape as copy_escape
from gst.ims_record import LINE_FIELDS, PORTAL_FIELDS, SUPPLIER_FIELDS, RecordError, unescape
from gst.sections import SECTIONS, section_info
from ims_project import rls

OBJECT_TYPE = "invoices.supplierdocument"
_LOCK_NAMESPACE = (
    7_260_002  # pg_advisory_xact_lock(namespace, registration_id): one ingest per GSTIN at a time
)
Progress = Callable[[int, int], None]  # (documents saved so far, documents in the batch)
# Lines per write of a COPY. A write returns once its data is in the socket's buffer, which holds a few thousand
# lines: small writes keep the backend fed while the next lines are formatted, where writes of 20,000 let it run dry
# between them (docs/performance.md §2.1).
_COPY_CHUNK = 2_000
_TEMP = "_ims_ingest"
_KEY = ("supplier_gstin", "section", "doc_number", "fy")
_DOC_COLUMNS = PORTAL_FIELDS + ims_record.DERIVED_FIELDS  # the columns a record sets on supplierdocument
# Fields a record without them leaves as they are (an IRN once known, from the portal or a GSTR-2B import, is kept:
# docs/rules/portal-api.md §2.1).
_KEPT_WHEN_ABSENT = frozenset({"irn", "irn_date"})

_TEMP_TYPES = {
    **{f: "text" for f in LINE_FIELDS},
    **{f: "numeric(15,2)" for f in ims_record._MONEY_FIELDS},
    **{f: "date" for f in ims_record._DATE_FIELDS},
    **{f: "boolean" for f in (*ims_record._BOOL_FIELDS, "supplier_gstin_valid", "is_amendment")},
    "fy": "smallint",
    "orig_fy": "smallint",
}


@dataclass
class IngestResult:
    """What one ingest did. ``errors`` non-empty means nothing was written."""

    created: int = 0
    changed: int = 0
    unchanged: int = 0
    vanished: int = 0
    reappeared: int = 0
    duplicates: int = 0  # records repeating a natural key earlier in the batch (the last one wins)
    linked: int = 0  # amendments linked to their original
    suppliers_created: int = 0
    errors: list[str] = field(default_factory=list)
    # The documents marked vanished: (id, supplier GSTIN, section, number), for a caller that shows what an import
    # would remove before it is confirmed (gst_sync.files.imports).
    vanished_documents: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "vanished": self.vanished,
            "reappeared": self.reappeared,
            "duplicates": self.duplicates,
            "linked": self.linked,
            "suppliers_created": self.suppliers_created,
        }


@dataclass
class ParsedBatch:
    """A batch of records as COPY lines (:data:`ims_record.LINE_FIELDS`), one per natural key, with the key of each
    line ((GSTIN, section, number as COPY text, FY)), the duplicates dropped and every bad record."""

    lines: list[str]
    keys: list[tuple[str, str, str, int]]
    duplicates: int
    errors: list[str]


def parse_batch(records: Mapping[str, Iterable[Mapping[str, Any]]]) -> ParsedBatch:
    """GETINV records by section → COPY lines and natural keys. Every bad record is reported; a later record
    repeating an earlier one's natural key replaces it (counted as a duplicate). Pure Python: no database."""
    lines: list[str] = []
    keys: list[tuple[str, str, str, int]] = []
    where: dict[tuple, int] = {}
    errors: list[str] = []
    duplicates = 0
    for section, section_records in records.items():
        try:
            info = section_info(str(section))
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if isinstance(section_records, Mapping | str | bytes) or not isinstance(section_records, Iterable):
            errors.append(f"{section}: expected a list of records, got {type(section_records).__name__}")
            continue
        parse_line = ims_record.line_parser(info)
        for index, rec in enumerate(section_records, 1):
            try:
                line, key = parse_line(rec)
            except RecordError as exc:
                errors.append(exc.at(f"{info.key.value} record {index}").message)
                continue
            at = where.get(key)
            if at is None:
                where[key] = len(lines)
                lines.append(line)
                keys.append(key)
            else:
                lines[at] = line
                duplicates += 1
    return ParsedBatch(lines, keys, duplicates, errors)


def ingest_documents(
    *,
    tenant,
    registration,
    records: Mapping[str, Iterable[Mapping[str, Any]]],
    actor: Actor,
    source: str,
    complete_sections: Iterable[str] | None = None,
    request_id: str = "",
    supplier_names: Mapping[str, str] | None = None,
    audit_created: bool = True,
    progress: Progress | None = None,
) -> IngestResult:
    """Upsert GETINV ``records`` (``{section: [record, …]}``, section keys or GETINV codes) into ``registration``.

    * All or nothing: if any record is bad, every bad record is reported in ``result.errors`` (section, position,
      field and value) and **none** of the batch is written. Otherwise everything — documents, versions,
      suppliers and audit events — is written in one transaction; an exception leaves the data as it was.
    * Natural key (tenant, registration, supplier GSTIN, section, document number, FY). A record whose portal
      fields hash the same as the stored document writes nothing: a rerun with nothing new makes no row
      updates, no versions and no audit events.
    * A changed document gets a ``DocumentVersion`` with ``{field: [old, new]}`` of the portal fields that
      changed, ``version + 1`` and a new ``last_seen_at``; if it carries a local (not yet pushed) action and the
      supplier's data changed, or the portal's action moved away from the local one, it is flagged
      ``needs_review``.
    * ``complete_sections``: the batch holds *every* document of these sections for this registration; stored
      documents of those sections that are absent get ``vanished_at`` (kept, never deleted). A vanished
      document that comes back has ``vanished_at`` cleared (counted as reappeared).
    * Amendments are linked (``original``) to the original document (same registration and supplier, original
      section, original number, FY of the original date) when it exists, whichever arrives first.
    * Suppliers are created per new GSTIN; ``supplier_names`` (GSTIN → trade name) fills blank names.
    * Audit: one event per created, changed, vanished and reappeared document plus a ``documents.ingested``
      summary. ``audit_created=False`` leaves created documents to the summary's counts (benchmark comparison
      only).
    * A supplier GSTIN failing its check character is stored with ``supplier_gstin_valid = False``.
    * ``progress(saved, total)`` is called as the documents are saved, inside the transaction: once the unchanged
      ones are known (nothing to write), after each ``settings.IMS_SAVE_PROGRESS_EVERY`` new documents written,
      and when every changed one is (the caller makes it visible outside the transaction, e.g. a sync's run).
    """
    _check_registration(tenant, registration)
    return _write(
        tenant,
        registration,
        parse_batch(records),
        actor=actor,
        source=source,
        sections=_section_keys(complete_sections),
        request_id=request_id,
        supplier_names=supplier_names,
        audit_created=audit_created,
        progress=progress,
    )


def ingest_many(
    *,
    tenant,
    registration,
    batches: Iterable[Mapping[str, Iterable[Mapping[str, Any]]]],
    actor: Actor,
    source: str,
    request_id: str = "",
    supplier_names: Mapping[str, str] | None = None,
    audit_created: bool = True,
) -> Iterator[IngestResult]:
    """:func:`ingest_documents` of each batch in turn (each all or nothing, in its own transaction), yielding each
    batch's result as it commits. Once batch N's keys are looked up and the COPY of its new documents (none, for a
    rerun) has begun, a second thread takes batch N+1 from ``batches`` and parses it: the backend is another
    process and a thread waiting on its socket releases the GIL, so on two cores the parsing (and whatever
    produces the batches) overlaps the writing. Not sooner: each of the writer's small round trips before the
    COPY would wait for the parsing thread to let go of the GIL. For loads of many batches (bulk imports,
    benchmarks); a batch with bad records yields its errors and the next batch goes on."""
    _check_registration(tenant, registration)
    batch_iter = iter(batches)

    def parse_next() -> ParsedBatch | None:
        batch = next(batch_iter, None)
        return None if batch is None else parse_batch(batch)

    # Supplier GSTINs an earlier batch of this run committed (created, and named from ``supplier_names``): a later
    # batch does not upsert them again.
    known_suppliers: set[str] = set()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-parse") as pool:
        current: Future[ParsedBatch | None] = pool.submit(parse_next)
        following: list[Future[ParsedBatch | None]] = []  # the next batch's parse, once asked for

        def parse_following() -> None:
            if not following:
                following.append(pool.submit(parse_next))

        while (parsed := current.result()) is not None:
            # The next batch is parsed once this one's COPY has begun, not before: until then the writer makes
            # its small round trips, and each would wait for the parsing thread to let go of the GIL
            # (docs/performance.md §2.1).
            following.clear()
            result = _write(
                tenant,
                registration,
                parsed,
                actor=actor,
                source=source,
                sections=set(),
                request_id=request_id,
                supplier_names=supplier_names,
                audit_created=audit_created,
                known_suppliers=known_suppliers,
                copy_started=parse_following,
            )
            parse_following()
            current = following[0]
            if result.ok:
                known_suppliers.update(key[0] for key in parsed.keys)
            yield result


def _check_registration(tenant, registration) -> None:
    if registration.tenant_id != getattr(tenant, "pk", tenant):
        raise ValueError("the registration does not belong to this tenant")


def _section_keys(names: Iterable[str] | None) -> set[str]:
    return {section_info(name).key.value for name in names or ()}


def _write(
    tenant,
    registration,
    parsed: ParsedBatch,
    *,
    actor: Actor,
    source: str,
    sections: set[str],
    request_id: str,
    supplier_names: Mapping[str, str] | None,
    audit_created: bool,
    progress: Progress | None = None,
    known_suppliers: set[str] | frozenset[str] = frozenset(),
    copy_started: Callable[[], None] | None = None,
) -> IngestResult:
    """Write one parsed batch (see :func:`ingest_documents`). ``copy_started()`` is called once the COPY of the new
    documents has begun (:func:`ingest_many` parses the next batch from then on).

    New natural keys are COPYed straight into the documents table with ids taken from its sequence beforehand,
    so amendments are linked and audit events written without reading anything back; only the stored documents
    whose content hash differs (or that had vanished) go through a temporary table to be diffed and updated."""
    result = IngestResult(duplicates=parsed.duplicates, errors=parsed.errors)
    if parsed.errors:
        return result
    lines, keys = parsed.lines, parsed.keys
    total = len(lines)
    now = timezone.now()
    ctx = {"tenant": tenant.pk, "reg": registration.pk, "now": now, "source": source}
    with transaction.atomic(), connection.cursor() as cur:
        # Sorts and hashes stay in memory; JIT compiling (on by default, triggered by the cost of the natural-key
        # probes of a large batch) costs more than it saves on these statements (docs/performance.md §3.7).
        # One round trip for the three (docs/performance.md §4).
        cur.execute(
            "SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true), "
            "pg_advisory_xact_lock(%s, %s)",
            [_LOCK_NAMESPACE, registration.pk],
        )
        index = {key: i for i, key in enumerate(keys)}
        originals = _original_keys(lines, keys)  # amendment line → its original's key
        wanted = list(keys)
        for key in set(originals.values()):
            if key not in index:
                index[key] = len(wanted)
                wanted.append(key)
        # Position in ``wanted`` → (id, content hash, vanished). A batch whose sampled keys are all new is taken
        # to be new throughout (a first sync of a GSTIN, an import of a new period): only the originals outside the
        # batch are looked up, and the COPY's own unique check on the natural key is the probe.
        presumed_new = _presumably_new(cur, ctx, keys)
        stored = _lookup(cur, ctx, wanted, start=total if presumed_new else 0)
        result.suppliers_created = _upsert_suppliers(cur, ctx, keys, supplier_names or {}, known_suppliers)
        while True:
            new = [i for i in range(total) if i not in stored]
            id_of = {i: row[0] for i, row in stored.items()}
            id_of.update(zip(new, _allocate_ids(cur, len(new)), strict=True))
            stale = [
                lines[i]
                for i, (_id, digest, vanished) in stored.items()
                if i < total and (vanished or digest != _digest(lines[i]))
            ]
            saved = total - len(new) - len(stale)  # unchanged: nothing to write
            if progress is not None:
                progress(saved, total)
            try:
                with transaction.atomic(savepoint=presumed_new):
                    created = _copy_new(
                        cur,
                        ctx,
                        lines,
                        keys,
                        new,
                        id_of,
                        originals,
                        index,
                        result,
                        progress=_offset(progress, saved, total),
                        started=copy_started,
                    )
                break
            except UniqueViolation as exc:
                if not presumed_new or exc.diag.constraint_name != _NATURAL_KEY:
                    raise
                # Some keys were stored after all (the sample missed them): look every key up, as usual.
                presumed_new = False
                stored = _lookup(cur, ctx, wanted)
        saved += len(new)
        _refresh_statistics(cur, ctx, result.created, sum(1 for i in stored if i < total))
        updates: list[_Update] = []
        if stale:
            _load_temp(cur, stale)
            updates = _apply_changes(cur, ctx, _fetch_changed(cur, ctx), result)
            if progress is not None:
                progress(saved + len(stale), total)
        del stale
        vanished = _mark_vanished(cur, ctx, sections, [id_of[i] for i in range(total)]) if sections else []
        result.vanished = len(vanished)
        result.vanished_documents = [tuple(row) for row in vanished]
        if any(i not in originals for i in new):
            result.linked += _link_waiting_amendments(cur, ctx)
        result.unchanged = total - result.created - len(updates)
        if created or updates or vanished or result.linked:
            _merge_pending_numbers(cur)
        if result.created or result.changed or result.vanished or result.reappeared:
            record_many(
                tenant=tenant,
                actor=actor,
                events=_events(created if audit_created else [], updates, vanished, now),
                summary=Event(
                    "documents.ingested",
                    "tenancy.registration",
                    str(registration.pk),
                    str(registration),
                    metadata={"source": source, "registration": registration.gstin, **result.counts()},
                ),
                request_id=request_id,
            )
    return result


def _offset(progress: Progress | None, saved: int, total: int) -> Callable[[int], None] | None:
    """``progress`` of the new documents written so far, counted after the ``saved`` ones of ``total``."""
    if progress is None:
        return None
    return lambda n: progress(saved + n, total)


_AMENDMENT_SECTIONS = frozenset(s.value for s, info in SECTIONS.items() if info.amendment)
_ORIG_NUMBER = LINE_FIELDS.index("orig_doc_number")


def _digest(line: str) -> str:
    """The content hash of a COPY line (the third field from the end)."""
    return line.rsplit("\t", 3)[1]


def _original_keys(lines: list[str], keys: list[tuple]) -> dict[int, tuple[str, str, str, int]]:
    """Line position → natural key of the original it amends, for the amendment lines."""
    out = {}
    for i, key in enumerate(keys):
        if key[1] in _AMENDMENT_SECTIONS:
            parts = lines[i].split("\t")
            out[i] = (key[0], parts[-2], parts[_ORIG_NUMBER], int(parts[-1]))
    return out


@contextmanager
def _planner(cur, **settings: str):
    """Planner settings for the statements inside (restored after, within the transaction)."""
    old = {}
    for name, value in settings.items():
        cur.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
        old[name] = cur.fetchone()[0]
    try:
        yield
    finally:
        for name, value in old.items():
            cur.execute("SELECT set_config(%s, %s, true)", [name, value])


_KEYS_TEMP = "_ims_ingest_keys"


_NATURAL_KEY = "supplierdocument_natural_key"
_SAMPLE = 64  # keys probed to presume a batch new
_SAMPLED_BATCH = 2_000  # smaller batches are looked up in full


def _presumably_new(cur, ctx, keys: list[tuple]) -> bool:
    """Whether none of ``_SAMPLE`` keys spread evenly over a large batch is stored (then the batch is presumed new;
    a wrong presumption costs one COPY rolled back to its savepoint, never a wrong result)."""
    if len(keys) < _SAMPLED_BATCH:
        return False
    step = len(keys) / _SAMPLE
    return not _lookup(cur, ctx, [keys[int(k * step)] for k in range(_SAMPLE)])


def _lookup(cur, ctx, keys: list[tuple], start: int = 0) -> dict[int, tuple[int, str, bool]]:
    """The stored documents of these natural keys (from position ``start`` on): position → (id, content hash,
    vanished).

    The keys are COPYed (their numbers are COPY text already) into a temporary table and each probes the
    natural-key index once: hash and merge joins are off for the statement, or with a million stored documents
    the planner would hash the whole registration to look up one batch. The keys probe in index order, so each
    index page is read once (a rerun of 50,000 documents against 1,000,000: 0.5 s instead of 0.8-0.9 s)."""
    if start >= len(keys):
        return {}
    if len(keys) - start <= _LOOKUP_INLINE_MAX:
        return _lookup_inline(cur, ctx, keys[start:], start)
    cur.execute(f"DROP TABLE IF EXISTS {_KEYS_TEMP}")
    cur.execute(f"CREATE TEMP TABLE {_KEYS_TEMP} (i int, g text, s text, n text, fy smallint) ON COMMIT DROP")
    with cur.cursor.copy(f"COPY {_KEYS_TEMP} FROM STDIN") as copy:
        for first in range(start, len(keys), _COPY_CHUNK):
            copy.write(
                "".join(
                    [
                        f"{i}\t{g}\t{s}\t{n}\t{fy}\n"
                        for i, (g, s, n, fy) in enumerate(keys[first : first + _COPY_CHUNK], first)
                    ]
                )
            )
    with _planner(cur, enable_hashjoin="off", enable_mergejoin="off"):
        cur.execute(
            f"""
            SELECT k.i, d.id, d.content_hash, d.vanished_at IS NOT NULL
            FROM (SELECT * FROM {_KEYS_TEMP} ORDER BY g, s, n, fy) k
            JOIN invoices_supplierdocument d
              ON d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.supplier_gstin = k.g
             AND d.section = k.s AND d.doc_number = k.n AND d.fy = k.fy
            """,  # nosec B608  # temp table name constant; values as params
            ctx,
        )
        return {row[0]: row[1:] for row in cur.fetchall()}


# Up to this many keys are looked up in one statement (arrays as parameters) instead of the temporary table's seven
# round trips: a small GSTIN's daily sync is sixteen sections of a few documents, and those round trips were a
# tenth of its queries (docs/performance.md §3.11).
_LOOKUP_INLINE_MAX = 2000


def _lookup_inline(
    cur: Any, ctx: dict[str, Any], keys: list[tuple[str, str, str, int]], start: int = 0
) -> dict[int, tuple[int, str, bool]]:
    """:func:`_lookup` of a few keys in one statement: the arrays are estimated small, so each key probes the
    natural-key index (a nested loop) as the temporary table's keys do. The keys are COPY text: unescaped here.
    ``keys`` begin at position ``start`` of the caller's list."""
    gstins = [unescape(k[0]) for k in keys]
    sections = [k[1] for k in keys]
    numbers = [unescape(k[2]) for k in keys]
    years = [k[3] for k in keys]
    cur.execute(
        """
        SELECT k.i - 1 + %(start)s, d.id, d.content_hash, d.vanished_at IS NOT NULL
        FROM unnest(%(g)s::text[], %(s)s::text[], %(n)s::text[], %(fy)s::smallint[]) WITH ORDINALITY
             AS k(g, s, n, fy, i)
        JOIN invoices_supplierdocument d
          ON d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.supplier_gstin = k.g
         AND d.section = k.s AND d.doc_number = k.n AND d.fy = k.fy
        """,
        {**ctx, "g": gstins, "s": sections, "n": numbers, "fy": years, "start": start},
    )
    return {row[0]: row[1:] for row in cur.fetchall()}


def _allocate_ids(cur, n: int) -> list[int]:
    if not n:
        return []
    # One row of text rather than n rows: the ids are parsed here in one pass.
    cur.execute(
        "SELECT string_agg(nextval('invoices_supplierdocument_id_seq')::text, ',') FROM generate_series(1, %s)",
        [n],
    )
    return list(map(int, cur.fetchone()[0].split(",")))


_NEW_COLUMNS = (
    "id",
    "tenant_id",
    "registration_id",
    *_DOC_COLUMNS,
    "original_id",
    "local_remarks",
    "local_itc_red_req",
    "version",
    "needs_review",
    "first_seen_at",
    "last_seen_at",
    "source",
)


def _copy_new(
    cur,
    ctx,
    lines,
    keys,
    new: list[int],
    id_of: dict[int, int],
    originals: dict[int, tuple],
    index: dict[tuple, int],
    result: IngestResult,
    progress: Callable[[int], None] | None = None,
    started: Callable[[], None] | None = None,
) -> list[tuple]:
    """COPY the new documents into the documents table; returns (id, GSTIN, section, number) of each.
    An amendment is linked to its original when that is stored or in the batch. ``progress(n)`` after every
    ``settings.IMS_SAVE_PROGRESS_EVERY`` documents sent (and the last); ``started()`` once the COPY has begun."""
    every = max(1, int(settings.IMS_SAVE_PROGRESS_EVERY)) if progress is not None else 0
    now = ctx["now"].isoformat()
    head = f"{int(ctx['tenant'])}\t{int(ctx['reg'])}\t"
    tail = f"\t\t\t1\tf\t{now}\t{now}\t{copy_escape(ctx['source'])}"
    created: list[tuple] = []
    out: list[str] = []
    linked = 0
    with rls.copy_in(cur, f"COPY invoices_supplierdocument ({', '.join(_NEW_COLUMNS)}) FROM STDIN") as copy:
        if started is not None:
            started()
        for i in new:
            doc_id, key = id_of[i], keys[i]
            body = lines[i].rsplit("\t", 2)[0]
            original = ims_record.NULL
            if i in originals:
                at = index.get(originals[i])
                if at is not None and at in id_of:
                    original = id_of[at]
                    linked += 1
            out.append(f"{doc_id}\t{head}{body}\t{original}{tail}")
            created.append((doc_id, key[0], key[1], unescape(key[2])))
            if len(out) == _COPY_CHUNK or (every and len(created) % every == 0):
                copy.write("\n".join(out) + "\n")
                out = []
                if progress is not None and every and len(created) % every == 0:
                    progress(len(created))
        if out:
            copy.write("\n".join(out) + "\n")
    if progress is not None and new and len(created) % every:
        progress(len(created))
    result.created += len(created)
    result.linked += linked
    return created


def _load_temp(cur, lines: list[str]) -> None:
    cols = ", ".join(f"{f} {_TEMP_TYPES[f]}" for f in LINE_FIELDS)
    cur.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    cur.execute(f"CREATE TEMP TABLE {_TEMP} ({cols}) ON COMMIT DROP")
    with cur.cursor.copy(f"COPY {_TEMP} ({', '.join(LINE_FIELDS)}) FROM STDIN") as copy:
        for start in range(0, len(lines), _COPY_CHUNK):
            copy.write("\n".join(lines[start : start + _COPY_CHUNK]) + "\n")
    # Temp tables are never auto-analyzed: without an index and statistics the planner compares every stored
    # document of a section against the whole batch (vanished marking grew with the square of the section).
    cur.execute(f"CREATE INDEX ON {_TEMP} (supplier_gstin, section, doc_number, fy)")
    cur.execute(f"ANALYZE {_TEMP}")


def _key_join(a: str, b: str) -> str:
    return " AND ".join(f"{a}.{k} = {b}.{k}" for k in _KEY)


def _upsert_suppliers(
    cur, ctx, keys: list[tuple], names: Mapping[str, str], known: set[str] | frozenset[str] = frozenset()
) -> int:
    """Create the batch's new supplier GSTINs; fill blank names from ``names``. Existing rows are not touched
    unless a name fills a blank. ``known``: GSTINs an earlier batch of the same run already upserted and named
    (:func:`ingest_many`); they are skipped, and only the names of the others are applied."""
    gstins = sorted(
        {key[0] for key in keys if key[0]} - known
    )  # a bill of entry from overseas names no supplier
    if known:
        names = {g: names[g] for g in gstins if g in names}
    if not gstins and not names:
        return 0
    cur.execute(
        """
        INSERT INTO invoices_supplier (tenant_id, gstin, legal_name, trade_name, emails, gstin_valid, created_at,
                                       updated_at)
        SELECT %(tenant)s, g.gstin, '', '', '[]'::jsonb, g.valid, %(now)s, %(now)s
        FROM unnest(%(gstins)s::text[], %(valid)s::boolean[]) AS g(gstin, valid)
        ON CONFLICT (tenant_id, gstin) DO NOTHING
        """,
        {**ctx, "gstins": gstins, "valid": [ims_record.gstin_valid(g) for g in gstins]},
    )
    created = cur.rowcount
    if names:
        gstins = list(names)
        cur.execute(
            """
            UPDATE invoices_supplier s SET trade_name = left(n.name, 200), updated_at = %(now)s
            FROM unnest(%(gstins)s::text[], %(names)s::text[]) AS n(gstin, name)
            WHERE s.tenant_id = %(tenant)s AND s.gstin = n.gstin AND s.trade_name = '' AND s.legal_name = ''
              AND coalesce(n.name, '') <> ''
            """,
            {**ctx, "gstins": gstins, "names": [names[g] for g in gstins]},
        )
    return created


def _fetch_changed(cur, ctx) -> list[tuple]:
    """Stored documents of the batch whose portal fields differ, or that had vanished: old and new values."""
    old = ", ".join(f"d.{f}" for f in PORTAL_FIELDS)
    new = ", ".join(f"t.{f}" for f in PORTAL_FIELDS)
    cur.execute(
        f"""
        SELECT d.id, d.version, d.local_action, d.vanished_at, d.content_hash = t.content_hash, {old}, {new}
        FROM {_TEMP} t JOIN invoices_supplierdocument d
             ON d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND {_key_join("d", "t")}
        WHERE d.content_hash <> t.content_hash OR d.vanished_at IS NOT NULL
        """,  # nosec B608  # column names from PORTAL_FIELDS; values as params
        ctx,
    )
    return cur.fetchall()


# The original of an amendment row ``t`` of the temporary table: one probe of the natural-key index (a scalar
# subquery is a SubPlan run per row, never joined, so no statistics can turn it into a scan).
_ORIGINAL_OF_T = """(
    SELECT o.id FROM invoices_supplierdocument o
    WHERE o.tenant_id = %(tenant)s AND o.registration_id = %(reg)s AND o.supplier_gstin = t.supplier_gstin
      AND o.section = t.orig_section AND o.doc_number = t.orig_doc_number AND o.fy = t.orig_fy)"""


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@dataclass
class _Update:
    id: int
    repr: str
    changes: dict[str, list]
    reappeared_from: dt.datetime | None


def _apply_changes(cur, ctx, rows: list[tuple], result: IngestResult) -> list[_Update]:
    """Diff the changed rows field by field, update them, write their versions."""
    n = len(PORTAL_FIELDS)
    updates: list[_Update] = []
    ids, bumps, reviews = [], [], []
    versions: list[tuple[int, int, str]] = []
    for row in rows:
        doc_id, version, local_action, vanished_at, _same = row[:5]
        old, new = row[5 : 5 + n], row[5 + n :]
        changes = {
            f: [_json_value(o), _json_value(v)]
            for f, o, v in zip(PORTAL_FIELDS, old, new, strict=True)
            if o != v and not (v is None and f in _KEPT_WHEN_ABSENT)
        }
        review = bool(local_action) and (
            any(f in SUPPLIER_FIELDS for f in changes)
            or ("portal_action" in changes and changes["portal_action"][1] != local_action)
        )
        ids.append(doc_id)
        bumps.append(1 if changes else 0)
        reviews.append(review)
        if changes:
            versions.append((doc_id, version + 1, json.dumps(changes)))
            result.changed += 1
        if vanished_at is not None:
            result.reappeared += 1
        if changes or vanished_at is not None:
            updates.append(_Update(doc_id, f"{new[0]} {new[1]} {new[2]}", changes, vanished_at))
    if not ids:
        return updates
    sets = ", ".join(
        f"{f} = coalesce(t.{f}, d.{f})" if f in _KEPT_WHEN_ABSENT else f"{f} = t.{f}" for f in _DOC_COLUMNS
    )
    cur.execute(
        f"""
        UPDATE invoices_supplierdocument d
        SET {sets}, version = d.version + v.bump, needs_review = d.needs_review OR v.review,
            last_seen_at = CASE WHEN v.bump > 0 OR d.vanished_at IS NOT NULL THEN %(now)s ELSE d.last_seen_at END,
            vanished_at = NULL, source = %(source)s,
            original_id = CASE WHEN d.orig_doc_number = t.orig_doc_number
                                    AND d.orig_doc_date IS NOT DISTINCT FROM t.orig_doc_date
                               THEN d.original_id
                               WHEN t.is_amendment THEN {_ORIGINAL_OF_T} END
        FROM unnest(%(ids)s::bigint[], %(bumps)s::int[], %(reviews)s::boolean[]) AS v(id, bump, review), {_TEMP} t
        WHERE d.id = v.id AND d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND {_key_join("d", "t")}
        RETURNING d.id, d.original_id IS NOT NULL
        """,  # nosec B608  # column names and SQL fragments from code; values as params
        {**ctx, "ids": ids, "bumps": bumps, "reviews": reviews},
    )
    relinked = {u.id for u in updates if "orig_doc_number" in u.changes or "orig_doc_date" in u.changes}
    result.linked += sum(1 for doc_id, linked in cur.fetchall() if linked and doc_id in relinked)
    if versions:
        with rls.copy_in(
            cur,
            "COPY invoices_documentversion (tenant_id, document_id, version, seen_at, source, changes) FROM STDIN",
        ) as copy:
            for doc_id, version, changes in versions:
                copy.write_row((ctx["tenant"], doc_id, version, ctx["now"], ctx["source"], changes))
    return updates


def _mark_vanished(cur, ctx, sections: set[str], present: list[int]) -> list[tuple]:
    """Stored documents of the complete ``sections`` that the batch does not hold (``present``: the ids of its
    documents) get ``vanished_at``."""
    cur.execute(
        """
        UPDATE invoices_supplierdocument d SET vanished_at = %(now)s
        WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.section = ANY(%(sections)s)
          AND d.vanished_at IS NULL AND d.id <> ALL(string_to_array(%(present)s, ',')::bigint[])
        RETURNING d.id, d.supplier_gstin, d.section, d.doc_number
        """,
        {**ctx, "sections": sorted(sections), "present": ",".join(map(str, present))},
    )
    return cur.fetchall()


# The trigram index of document numbers (migration invoices 0008) keeps new entries in a pending list that every
# search reads; its limit is large (migration invoices 0013), so a batch's entries are merged into the index once,
# in bulk, at the end of the batch and in its transaction, rather than a few hundred numbers at a time during the
# COPY (docs/decisions/0011-documents-layout.md).
_NUMBER_TRGM_INDEX = "doc_number_trgm_idx"


def _merge_pending_numbers(cur) -> None:
    """Merge the trigram index's pending list into the index (in bulk; searches read no long list after commit)."""
    rls.clean_pending_list(cur, _NUMBER_TRGM_INDEX)  # only the index's owner may merge its pending list


def _refresh_statistics(cur, ctx, created: int, found: int) -> None:
    """ANALYZE the documents table when statistics have fallen behind the size of the table or of this
    registration, so that the natural-key probes of the next statements and batches keep their index (with the
    statistics of an empty table the planner took a two-column index for them and read the whole batch once per
    amendment: 71 s for a first batch of 50,000) and the list pages plan with statistics of the right shape;
    autovacuum may be off. Behind means: the table was never analyzed, this batch at least doubled it, or the
    planner believes this registration holds fewer than half of the documents this batch created or found (a GSTIN
    loaded after the last ANALYZE looks empty to it). The planner scales its row estimates with the table's
    current size, so loading 1,000,000 documents into one GSTIN in batches of 50,000 analyzes once, after the
    first batch."""
    if created + found < 1000:
        return
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'invoices_supplierdocument'::regclass")
    (estimate,) = cur.fetchone()
    if estimate >= 0 and created <= estimate:
        cur.execute(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM invoices_supplierdocument "
            "WHERE tenant_id = %(tenant)s AND registration_id = %(reg)s",
            ctx,
        )
        plan = cur.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        if plan[0]["Plan"]["Plan Rows"] * 2 >= created + found:
            return
    rls.analyze(cur, "invoices_supplierdocument")  # only the table's owner may analyze it


# The section of an amendment's original, and the FY of its original date, from the amendment's own columns.
_ORIGINAL_SECTION_OF_A = "CASE a.section {} END".format(
    " ".join(
        f"WHEN '{s.value}' THEN '{i.original_section.value}'" for s, i in SECTIONS.items() if i.amendment
    )
)
_ORIGINAL_FY_OF_A = (
    "(extract(year FROM a.orig_doc_date)::int - (extract(month FROM a.orig_doc_date) < 4)::int)::smallint"
)


def _link_waiting_amendments(cur: Any, ctx: dict[str, Any]) -> int:
    """Link the registration's amendments that were waiting for an original this batch brought (a new amendment
    was linked as it was written, a changed one as it was updated). The waiting amendments come from their
    partial index (``doc_unlinked_amendment_idx``, usually empty), each probing the natural-key index once for its
    original (a scalar subquery is a SubPlan run per row, so no statistics can turn it into a scan). A waiting
    amendment's original is never stored before it arrives (it would have been linked then), so the originals
    found are this batch's."""
    cur.execute(
        f"""
        SELECT a.id, (
            SELECT o.id FROM invoices_supplierdocument o
            WHERE o.tenant_id = %(tenant)s AND o.registration_id = %(reg)s AND o.supplier_gstin = a.supplier_gstin
              AND o.section = {_ORIGINAL_SECTION_OF_A} AND o.doc_number = a.orig_doc_number
              AND o.fy = {_ORIGINAL_FY_OF_A})
        FROM invoices_supplierdocument a
        WHERE a.tenant_id = %(tenant)s AND a.registration_id = %(reg)s AND a.is_amendment AND a.original_id IS NULL
        """,  # nosec B608  # SQL fragments from code constants; values as params
        ctx,
    )
    found = [row for row in cur.fetchall() if row[1] is not None]
    if found:
        cur.execute(
            """
            UPDATE invoices_supplierdocument a SET original_id = v.original
            FROM unnest(%(ids)s::bigint[], %(originals)s::bigint[]) AS v(id, original)
            WHERE a.id = v.id AND a.tenant_id = %(tenant)s AND a.registration_id = %(reg)s
            """,
            {**ctx, "ids": [row[0] for row in found], "originals": [row[1] for row in found]},
        )
    return len(found)


# The changes and metadata of a created document's event, encoded once (record_many takes Canonical text; Event
# annotates dicts).
_NONE: Any = canonical_json({})


def _events(
    created: list[tuple[int, str, str, str]],
    updates: list[_Update],
    vanished: list[tuple[Any, ...]],
    now: Any,
) -> Iterator[Event]:
    for doc_id, gstin, section, number in created:
        yield Event("document.created", OBJECT_TYPE, str(doc_id), f"{gstin} {section} {number}", _NONE, _NONE)
    for u in updates:
        if u.changes:
            yield Event("document.changed", OBJECT_TYPE, str(u.id), u.repr, u.changes)
        if u.reappeared_from is not None:
            yield Event(
                "document.reappeared",
                OBJECT_TYPE,
                str(u.id),
                u.repr,
                {"vanished_at": [u.reappeared_from, None]},
            )
    for doc_id, gstin, section, number in vanished:
        yield Event(
            "document.vanished",
            OBJECT_TYPE,
            str(doc_id),
            f"{gstin} {section} {number}",
            {"vanished_at": [None, now]},
        )

"""Bulk ingest of supplier documents (GETINV records, domain.md §3.2) into one registration's IMS.

Set-based: the parsed records are COPYed into a temporary table, then a handful of statements insert the new
documents (``INSERT … ON CONFLICT DO NOTHING`` on the natural key), update the changed ones (``UPDATE … FROM``),
mark the vanished ones and link amendments to their originals. Python touches each record once (parsing into COPY
text); it sees only the rows that changed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, Event, record_many
from invoices.domain import ims_record
from invoices.domain.ims_record import LINE_FIELDS, PORTAL_FIELDS, SUPPLIER_FIELDS, RecordError
from invoices.domain.sections import SECTIONS, section_info

OBJECT_TYPE = "invoices.supplierdocument"
_LOCK_NAMESPACE = 7_260_002  # pg_advisory_xact_lock(namespace, registration_id): one ingest per GSTIN at a time
_COPY_CHUNK = 20_000
_TEMP = "_ims_ingest"
_KEY = ("supplier_gstin", "section", "doc_number", "fy")
_DOC_COLUMNS = PORTAL_FIELDS + ims_record.DERIVED_FIELDS  # the columns a record sets on supplierdocument

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

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created, "changed": self.changed, "unchanged": self.unchanged,
            "vanished": self.vanished, "reappeared": self.reappeared, "duplicates": self.duplicates,
            "linked": self.linked, "suppliers_created": self.suppliers_created,
        }


def parse_batch(records: Mapping[str, Iterable[Mapping[str, Any]]]) -> tuple[list[str], int, list[str]]:
    """GETINV records by section → (COPY lines, duplicates dropped, errors). Every bad record is reported."""
    lines: list[str] = []
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
            else:
                lines[at] = line
                duplicates += 1
    return lines, duplicates, errors


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
    """
    if registration.tenant_id != getattr(tenant, "pk", tenant):
        raise ValueError("the registration does not belong to this tenant")
    sections = set()
    for name in complete_sections or ():
        sections.add(section_info(name).key.value)

    lines, duplicates, errors = parse_batch(records)
    result = IngestResult(duplicates=duplicates, errors=errors)
    if errors:
        return result

    now = timezone.now()
    ctx = {"tenant": tenant.pk, "reg": registration.pk, "now": now, "source": source}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, registration.pk])
        total = len(lines)
        _load_temp(cur, lines)
        del lines
        result.suppliers_created = _upsert_suppliers(cur, ctx, supplier_names or {})
        changed_rows = _fetch_changed(cur, ctx)
        created = _insert_new(cur, ctx, result, returning=audit_created)
        _refresh_statistics(cur, result.created)
        updates = _apply_changes(cur, ctx, changed_rows, result)
        vanished = _mark_vanished(cur, ctx, sections) if sections else []
        result.vanished = len(vanished)
        result.linked += _link_waiting_amendments(cur, ctx)
        result.unchanged = total - result.created - len(updates)
        if result.created or result.changed or result.vanished or result.reappeared:
            record_many(
                tenant=tenant,
                actor=actor,
                events=_events(created, updates, vanished, now),
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


def _upsert_suppliers(cur, ctx, names: Mapping[str, str]) -> int:
    """Create the batch's new supplier GSTINs; fill blank names from ``names``. Existing rows are not touched
    unless a name fills a blank."""
    cur.execute(
        f"""
        INSERT INTO invoices_supplier (tenant_id, gstin, legal_name, trade_name, emails, gstin_valid, created_at,
                                       updated_at)
        SELECT %(tenant)s, t.supplier_gstin, '', '', '[]'::jsonb, bool_and(t.supplier_gstin_valid), %(now)s, %(now)s
        FROM {_TEMP} t GROUP BY t.supplier_gstin
        ON CONFLICT (tenant_id, gstin) DO NOTHING
        """,
        ctx,
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
        """,
        ctx,
    )
    return cur.fetchall()


# The original of an amendment row ``t`` of the temporary table: one probe of the natural-key index (a scalar
# subquery is a SubPlan run per row, never joined, so no statistics can turn it into a scan).
_ORIGINAL_OF_T = """(
    SELECT o.id FROM invoices_supplierdocument o
    WHERE o.tenant_id = %(tenant)s AND o.registration_id = %(reg)s AND o.supplier_gstin = t.supplier_gstin
      AND o.section = t.orig_section AND o.doc_number = t.orig_doc_number AND o.fy = t.orig_fy)"""


def _insert_new(cur, ctx, result: IngestResult, *, returning: bool) -> list[tuple]:
    """Insert the batch's new documents; the created rows (id, GSTIN, section, number) when ``returning``.

    Originals first, then amendments, each linked to its original on the way in (an original of this batch is
    already there then): no amendment row is written twice."""
    cols = ", ".join(_DOC_COLUMNS)
    key = ", ".join(("tenant_id", "registration_id", *_KEY))
    created: list[tuple] = []
    for amendments in (False, True):
        cur.execute(
            f"""
            INSERT INTO invoices_supplierdocument
                (tenant_id, registration_id, {cols}, original_id, local_remarks, local_itc_red_req, version,
                 needs_review, first_seen_at, last_seen_at, source)
            SELECT %(tenant)s, %(reg)s, {cols}, {_ORIGINAL_OF_T if amendments else "NULL"}, '', '', 1,
                   false, %(now)s, %(now)s, %(source)s
            FROM {_TEMP} t WHERE {"" if amendments else "NOT "}t.is_amendment
            ON CONFLICT ({key}) DO NOTHING
            {"RETURNING id, supplier_gstin, section, doc_number, original_id IS NOT NULL" if returning or amendments
             else ""}
            """,
            ctx,
        )
        if returning or amendments:
            rows = cur.fetchall()
            result.created += len(rows)
            result.linked += sum(1 for row in rows if row[4])
            if returning:
                created += [row[:4] for row in rows]
        else:
            result.created += cur.rowcount
    return created


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
        changes = {f: [_json_value(o), _json_value(v)] for f, o, v in zip(PORTAL_FIELDS, old, new, strict=True) if o != v}
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
    sets = ", ".join(f"{f} = t.{f}" for f in _DOC_COLUMNS)
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
        """,
        {**ctx, "ids": ids, "bumps": bumps, "reviews": reviews},
    )
    relinked = {u.id for u in updates if "orig_doc_number" in u.changes or "orig_doc_date" in u.changes}
    result.linked += sum(1 for doc_id, linked in cur.fetchall() if linked and doc_id in relinked)
    if versions:
        with cur.cursor.copy(
            "COPY invoices_documentversion (tenant_id, document_id, version, seen_at, source, changes) FROM STDIN"
        ) as copy:
            for doc_id, version, changes in versions:
                copy.write_row((ctx["tenant"], doc_id, version, ctx["now"], ctx["source"], changes))
    return updates


def _mark_vanished(cur, ctx, sections: set[str]) -> list[tuple]:
    cur.execute(
        f"""
        UPDATE invoices_supplierdocument d SET vanished_at = %(now)s
        WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.section = ANY(%(sections)s)
          AND d.vanished_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM {_TEMP} t WHERE {_key_join("d", "t")})
        RETURNING d.id, d.supplier_gstin, d.section, d.doc_number
        """,
        {**ctx, "sections": sorted(sections)},
    )
    return cur.fetchall()


def _refresh_statistics(cur, created: int) -> None:
    """ANALYZE the documents table when this batch at least doubled it (or it was never analyzed), so the list
    pages plan with statistics of the right shape; autovacuum may be off. Ingest itself does not depend on them:
    every statement here plans the same whatever the statistics (see :func:`_link_waiting_amendments`). Loading
    1,000,000 documents in batches of 50,000 analyzes once instead of five times (about 1 s each)."""
    if created < 1000:
        return
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'invoices_supplierdocument'::regclass")
    (estimate,) = cur.fetchone()
    if estimate < 0 or created > estimate:
        cur.execute("ANALYZE invoices_supplierdocument")


# The section of an amendment's original, and the FY of its original date, from the amendment's own columns.
_ORIGINAL_SECTION_OF_A = "CASE a.section {} END".format(
    " ".join(f"WHEN '{s.value}' THEN '{i.original_section.value}'" for s, i in SECTIONS.items() if i.amendment)
)
_ORIGINAL_FY_OF_A = (
    "(extract(year FROM a.orig_doc_date)::int - (extract(month FROM a.orig_doc_date) < 4)::int)::smallint"
)


def _link_waiting_amendments(cur, ctx) -> int:
    """Link the registration's amendments that were waiting for an original this batch brought (an amendment
    of this batch was linked as it was written). Nested loops are off for the statement: with stale statistics
    the planner took the waiting amendments for one row and rescanned them once per document (other engineers
    saw ingest stall at 50,000 and 850,000 documents). The plans left read each side once, the waiting
    amendments (partial index) and the batch (temp table), then probe the natural key once per linked amendment:
    the cost follows the batch and the waiting amendments, not the table. EXPLAIN at 100,000 documents with
    statistics from 50,000 (the shape does not depend on them):

        Update on invoices_supplierdocument a
          ->  Hash Join  (Hash Cond: a.supplier_gstin = t.supplier_gstin AND CASE a.section … END = t.section
                          AND a.orig_doc_number = t.doc_number AND <FY of a.orig_doc_date> = t.fy)
                ->  Bitmap Heap Scan on invoices_supplierdocument a
                      ->  Bitmap Index Scan on doc_unlinked_amendment_idx
                ->  Hash  ->  HashAggregate  ->  Seq Scan on _ims_ingest t  (Filter: NOT is_amendment)
          SubPlan 1
            ->  Index Scan using supplierdocument_natural_key on invoices_supplierdocument o
    """
    cur.execute("SELECT current_setting('enable_nestloop'), set_config('enable_nestloop', 'off', true)")
    (nestloop, _off) = cur.fetchone()
    cur.execute(
        f"""
        UPDATE invoices_supplierdocument a SET original_id = (
            SELECT o.id FROM invoices_supplierdocument o
            WHERE o.tenant_id = %(tenant)s AND o.registration_id = %(reg)s AND o.supplier_gstin = a.supplier_gstin
              AND o.section = {_ORIGINAL_SECTION_OF_A} AND o.doc_number = a.orig_doc_number
              AND o.fy = {_ORIGINAL_FY_OF_A})
        WHERE a.tenant_id = %(tenant)s AND a.registration_id = %(reg)s AND a.is_amendment AND a.original_id IS NULL
          AND EXISTS (
            SELECT FROM {_TEMP} t
            WHERE NOT t.is_amendment AND t.supplier_gstin = a.supplier_gstin AND t.section = {_ORIGINAL_SECTION_OF_A}
              AND t.doc_number = a.orig_doc_number AND t.fy = {_ORIGINAL_FY_OF_A})
        """,
        ctx,
    )
    linked = cur.rowcount
    cur.execute("SELECT set_config('enable_nestloop', %s, true)", [nestloop])
    return linked


def _events(created: list[tuple], updates: list[_Update], vanished: list[tuple], now) -> Iterator[Event]:
    for doc_id, gstin, section, number in created:
        yield Event("document.created", OBJECT_TYPE, str(doc_id), f"{gstin} {section} {number}")
    for u in updates:
        if u.changes:
            yield Event("document.changed", OBJECT_TYPE, str(u.id), u.repr, u.changes)
        if u.reappeared_from is not None:
            yield Event("document.reappeared", OBJECT_TYPE, str(u.id), u.repr, {"vanished_at": [u.reappeared_from, None]})
    for doc_id, gstin, section, number in vanished:
        yield Event("document.vanished", OBJECT_TYPE, str(doc_id), f"{gstin} {section} {number}",
                    {"vanished_at": [None, now]})

"""Portal files for users without API access: import the IMS JSON and the GSTR-2B JSON, export the pending local
actions as the IMS Offline Tool's upload JSON (SAVE / RESET bodies).

Parsing and validation live in :mod:`gst_sync.files.formats` (pure); this module writes. A bad file raises
``PortalFileError`` before anything is written; a good one is written in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, F, QuerySet, Value
from django.utils import timezone

from audit.services import Actor, record
from ims_project import handoff, rls
from ims_project.handoff import PortalFileImported
from invoices.models import SupplierDocument
from invoices.services.ingest import IngestResult, ingest_documents
from tenancy.models import Registration, Tenant

from ..models import Gstr2bStatement
from ..selectors import UPLOAD_FILTERS, push_queue, push_queue_counts
from . import formats
from .formats import PortalFileError

__all__ = [
    "PortalFileError",
    "RemovalsNeedConfirmation",
    "ImsImportResult",
    "Gstr2bImportResult",
    "import_ims_files",
    "import_gstr2b_files",
    "offline_upload",
    "pending_upload_counts",
    "recent_statements",
]

SOURCE_IMS, SOURCE_2B = "ims_json", "gstr2b_json"
_LOCK_NAMESPACE = 7_260_010  # pg_advisory_xact_lock(namespace, registration_id): one 2B import per GSTIN
_DOC_COLUMNS = (
    "rejected",
    "section",
    "ims_section",
    "supplier_gstin",
    "doc_number",
    "doc_date",
    "fy",
    "note_type",
    "doc_type",
    "orig_doc_number",
    "orig_doc_date",
    "pos",
    "reverse_charge",
    "doc_value",
    "taxable_value",
    "igst",
    "cgst",
    "sgst",
    "cess",
    "itc_available",
    "reason",
    "supplier_period",
    "supplier_filing_date",
    "irn",
    "irn_date",
)


class UploadedFile(Protocol):
    """What the services read: a Django ``UploadedFile`` or ``File`` (name, size, read)."""

    name: str | None
    size: int

    def read(self, *args) -> bytes: ...


def max_upload_bytes() -> int:
    return settings.IMS_PORTAL_FILE_MAX_BYTES


def _read(files: Sequence[UploadedFile]) -> list[tuple[str, bytes]]:
    """Check the upload's size before reading it, then read every file."""
    named = [(str(f.name or "upload").replace("\\", "/").rsplit("/", 1)[-1], f) for f in files]
    if not named:
        raise PortalFileError(["no file uploaded"])
    formats.check_sizes(((name, f.size or 0) for name, f in named), limit=max_upload_bytes())
    return [(name, f.read()) for name, f in named]


def _check_gstin(file_gstin: str, registration: Registration, names: Sequence[str]) -> None:
    if file_gstin and file_gstin != registration.gstin:
        raise PortalFileError(
            [
                f"{', '.join(names)}: the file is for GSTIN {file_gstin}, not {registration.gstin}; "
                "choose the GSTIN the file was downloaded for"
            ]
        )


# --- IMS JSON --------------------------------------------------------------------------------------------------

REMOVALS_SHOWN = 50  # documents listed by name when an import would mark more vanished


class RemovalsNeedConfirmation(PortalFileError):
    """The file would mark stored documents vanished (a section in it is shorter than what is stored, or empty):
    nothing was written; the caller shows what would go and imports again only with ``confirm_removals``."""

    def __init__(self, documents: Sequence[tuple]) -> None:
        self.count = len(documents)
        by_section: dict[str, int] = {}
        for _id, _gstin, section, _number in documents:
            by_section[section] = by_section.get(section, 0) + 1
        self.by_section = dict(sorted(by_section.items()))
        self.documents = [
            {"id": doc_id, "supplier_gstin": gstin, "section": section, "number": number}
            for doc_id, gstin, section, number in sorted(documents, key=lambda d: (d[2], d[1], d[3]))[
                :REMOVALS_SHOWN
            ]
        ]
        sections = ", ".join(f"{section}: {n}" for section, n in self.by_section.items())
        super().__init__(
            [
                f"This file would mark {self.count} stored document(s) as no longer on the portal ({sections}): "
                "they are not in the file. Nothing was imported; confirm the removals to import it."
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "errors": self.errors,
            "removals": self.count,
            "removals_by_section": self.by_section,
            "would_remove": self.documents,
        }


@dataclass
class ImsImportResult:
    gstin: str
    files: list[str]
    file_gstin: str  # "" when the file names no GSTIN
    summary: formats.ImsSummary
    ingest: IngestResult
    complete_sections: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "ims",
            "gstin": self.gstin,
            "files": self.files,
            "file_gstin": self.file_gstin,
            "records": self.summary.records,
            "sections": self.summary.sections,
            "actions": self.summary.actions,
            "totals": {k: str(v) for k, v in self.summary.totals.items()},
            **self.ingest.counts(),
            "complete_sections": self.complete_sections,
        }


def import_ims_files(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    files: Sequence[UploadedFile],
    request_id: str = "",
    confirm_removals: bool = False,
) -> ImsImportResult:
    """Import IMS JSON file(s) (dashboard / Offline Tool download, or GETINV responses) into ``registration``.

    The file's GSTIN (when it names one) must be the registration's. Each section present in the file is taken
    as complete: stored documents of that section missing from the file are marked vanished (kept, not deleted).
    An import that would mark any vanished raises RemovalsNeedConfirmation (what would go, nothing written)
    unless ``confirm_removals``: a file with an empty section must not silently remove the whole section.
    All or nothing: raises PortalFileError naming every problem, and writes nothing, for a bad file.
    """
    parsed = formats.parse_ims_files(_read(files))
    _check_gstin(parsed.gstin, registration, parsed.files)
    sections = sorted(parsed.records)
    with transaction.atomic():  # rolled back by the exceptions below
        result = ingest_documents(
            tenant=tenant,
            registration=registration,
            records=parsed.records,
            actor=actor,
            source=SOURCE_IMS,
            complete_sections=sections,
            request_id=request_id,
        )
        if result.errors:  # the parser validated every record already; kept as a guard
            raise PortalFileError(result.errors)
        if result.vanished and not confirm_removals:
            raise RemovalsNeedConfirmation(result.vanished_documents)
    changed = any(result.counts().get(k) for k in ("created", "changed", "vanished", "reappeared"))
    handoff.announce(
        PortalFileImported(
            tenant=tenant, registration=registration, files=tuple(parsed.files), changed=changed
        )
    )
    return ImsImportResult(registration.gstin, parsed.files, parsed.gstin, parsed.summary, result, sections)


# --- GSTR-2B JSON ----------------------------------------------------------------------------------------------


@dataclass
class Gstr2bImportResult:
    statement: Gstr2bStatement
    parsed: formats.TwobFile
    totals: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    matched: int  # IMS documents now carrying this 2B period
    cleared: int  # IMS documents of this period no longer in the 2B (2B period cleared)
    replaced: int  # documents of an earlier import of the same period, replaced
    rejected: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        s = self.statement
        return {
            "type": "2b",
            "gstin": self.parsed.gstin,
            "period": f"{s.period:%m%Y}",
            "generated_on": s.generated_on.strftime("%d-%m-%Y") if s.generated_on else None,
            "files": self.parsed.files,
            "documents": s.document_count,
            "rejected": self.rejected,
            "sections": self.counts,
            "duplicates": self.parsed.duplicates,
            "not_stored": self.parsed.skipped,
            "matched_ims_documents": self.matched,
            "cleared_ims_documents": self.cleared,
            "replaced": self.replaced,
            "totals": [
                {k: str(v) if k in formats.MONEY_FIELDS else v for k, v in row.items()} for row in self.totals
            ],
            "summary_matches": all(c["matches"] for c in self.checks),
        }


def import_gstr2b_files(
    *,
    tenant: Tenant,
    actor: Actor,
    registration: Registration,
    files: Sequence[UploadedFile],
    period: str = "",
    request_id: str = "",
) -> Gstr2bImportResult:
    """Store the portal's GSTR-2B of one period (one file, or its ``fc`` parts together) for ``registration``.

    * Replaces an earlier import of the same period (statement and documents) in one transaction.
    * IMS documents found in the 2B (same supplier, section, number, FY) get ``twob_period`` and, where the 2B
      gives it, ``supplier_filing_date`` (one ``UPDATE … FROM``); documents that carried this period but are no
      longer in it have their 2B period cleared.
    * ``period`` (MMYYYY), when given, must be the file's. Bad files raise PortalFileError; nothing is written.
    """
    parsed = formats.parse_gstr2b_files(_read(files), period=period)
    _check_gstin(parsed.gstin, registration, parsed.files)
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, registration.pk])
        statement, _ = Gstr2bStatement.objects.update_or_create(
            tenant=tenant,
            registration=registration,
            period=parsed.period,
            defaults={
                "generated_on": parsed.generated_on,
                "version": parsed.version,
                "checksum": parsed.checksum,
                "summary": parsed.summary,
                "skipped": parsed.skipped,
                "file_count": len(parsed.files),
                "document_count": len(parsed.docs),
                "source": SOURCE_2B,
                "imported_at": now,
                "imported_by": actor.id,
            },
        )
        ctx = {"tenant": tenant.pk, "reg": registration.pk, "stmt": statement.pk, "period": parsed.period}
        cur.execute(
            "DELETE FROM gst_sync_gstr2bdocument WHERE tenant_id = %(tenant)s AND statement_id = %(stmt)s",
            ctx,
        )
        replaced = cur.rowcount
        with rls.copy_in(
            cur,
            f"COPY gst_sync_gstr2bdocument (tenant_id, statement_id, {', '.join(_DOC_COLUMNS)}) FROM STDIN",
        ) as copy:
            for doc in parsed.docs:
                copy.write_row((tenant.pk, statement.pk, *(getattr(doc, c) for c in _DOC_COLUMNS)))
        matched, cleared = _link_documents(cur, ctx)
        result = Gstr2bImportResult(
            statement=statement,
            parsed=parsed,
            totals=formats.twob_totals(parsed.docs),
            checks=formats.summary_check(parsed.summary, parsed.docs),
            matched=matched,
            cleared=cleared,
            replaced=replaced,
            rejected=sum(d.rejected for d in parsed.docs),
        )
        for d in parsed.docs:
            result.counts[d.section] = result.counts.get(d.section, 0) + 1
        record(
            tenant=tenant,
            actor=actor,
            action="gstr2b.imported",
            obj=statement,
            object_repr=f"GSTR-2B {parsed.period:%m%Y} {registration.gstin}",
            metadata={
                "registration": registration.gstin,
                "period": f"{parsed.period:%m%Y}",
                "files": parsed.files,
                "documents": len(parsed.docs),
                "rejected": result.rejected,
                "sections": result.counts,
                "not_stored": parsed.skipped,
                "matched": matched,
                "cleared": cleared,
                "replaced": replaced,
            },
            request_id=request_id,
        )
    return result


def _link_documents(cur, ctx) -> tuple[int, int]:
    """Set the 2B period (and filing date) on the IMS documents listed in the stored 2B; clear it on those of
    this period that the 2B no longer lists."""
    cur.execute(
        """
        UPDATE invoices_supplierdocument d
        SET twob_period = %(period)s, supplier_filing_date = coalesce(g.supplier_filing_date, d.supplier_filing_date),
            -- the 2B's IRN where the IMS record gave none (docs/rules/portal-api.md §2.1)
            irn = CASE WHEN coalesce(d.irn, '') = '' AND g.irn <> '' THEN g.irn ELSE d.irn END,
            irn_date = CASE WHEN coalesce(d.irn, '') = '' AND g.irn <> '' THEN g.irn_date ELSE d.irn_date END
        FROM gst_sync_gstr2bdocument g
        WHERE g.tenant_id = %(tenant)s AND g.statement_id = %(stmt)s
          AND d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.supplier_gstin = g.supplier_gstin
          AND d.section = g.ims_section AND d.doc_number = g.doc_number AND d.fy = g.fy
        """,
        ctx,
    )
    matched = cur.rowcount
    cur.execute(
        """
        UPDATE invoices_supplierdocument d SET twob_period = NULL
        WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.twob_period = %(period)s
          AND NOT EXISTS (
              SELECT 1 FROM gst_sync_gstr2bdocument g
              WHERE g.tenant_id = %(tenant)s AND g.statement_id = %(stmt)s AND g.supplier_gstin = d.supplier_gstin
                AND g.ims_section = d.section AND g.doc_number = d.doc_number AND g.fy = d.fy)
        """,
        ctx,
    )
    return matched, cur.rowcount


def recent_statements(*, tenant: Tenant, registrations: QuerySet[Registration]) -> QuerySet[Gstr2bStatement]:
    return (
        Gstr2bStatement.objects.filter(tenant=tenant, registration__in=registrations)
        .select_related("registration")
        .order_by("-period", "registration__gstin")
    )


# --- Offline Tool upload JSON ----------------------------------------------------------------------------------

_UPLOAD_FILTERS = UPLOAD_FILTERS  # SAVE / RESET rows: the same condition on documents and on the push queue
_UPLOAD_FIELDS = (
    "section",
    "supplier_gstin",
    "doc_number",
    "doc_date",
    "orig_doc_number",
    "orig_doc_date",
    "inv_type",
    "src_form",
    "supplier_period",
    "doc_value",
    "pos",
    "taxable_value",
    "igst",
    "cgst",
    "sgst",
    "cess",
    "portal_action",
    "local_action",
    "local_remarks",
    "local_itc_red_req",
    "local_decl_igst",
    "local_decl_cgst",
    "local_decl_sgst",
    "local_decl_cess",
    "port_code",
    "ref_date",
    "itc_eligible",
    "prev_gstin",
)
# What the builder needs to know whether an Accept must carry the ITC-reduction answer (formats.answer_needed):
# the 2B period and, for an amendment, its original's tax and taxable value.
_ANSWER_FIELDS = {
    "orig_tax": F("original__igst") + F("original__cgst") + F("original__sgst") + F("original__cess"),
    "orig_taxable": F("original__taxable_value"),
}


def upload_rows(qs: QuerySet[SupplierDocument], registration: Registration, *extra: str):
    """The rows the SAVE / RESET builder reads (:data:`_UPLOAD_FIELDS`, the 2B period, the original's amounts and
    the GSTIN's filing frequency as ``frequency``), plus ``extra`` columns."""
    return qs.annotate(
        **_ANSWER_FIELDS, frequency=Value(registration.filing_frequency, output_field=CharField())
    ).values(*extra, *_UPLOAD_FIELDS, "twob_period", *_ANSWER_FIELDS, "frequency")


def _pending(*, tenant: Tenant, registration: Registration, kind: str) -> QuerySet[SupplierDocument]:
    """Documents of the GSTIN whose local action a ``kind`` upload carries: the push queue (local action set, not
    vanished; found through ``gst_sync_pushqueue``, not by scanning the documents) less those awaiting approval.
    Documents in a push batch in flight are included: the file is for users without API access."""
    entries = push_queue(tenant=tenant, registrations=[registration], in_flight=True).filter(
        UPLOAD_FILTERS[kind]
    )
    return SupplierDocument.objects.filter(
        tenant=tenant, registration=registration, pk__in=entries.values("document_id")
    )


def offline_upload(*, tenant: Tenant, registration: Registration, kind: str) -> dict[str, Any]:
    """The Offline Tool upload body of the GSTIN's pending local actions: ``kind`` ``"save"`` (Accept / Reject /
    Pending wanted) or ``"reset"`` (back to No action). Reads only."""
    if kind not in UPLOAD_FILTERS:
        raise ValueError(f"kind must be {formats.SAVE!r} or {formats.RESET!r}")
    rows = upload_rows(
        _pending(tenant=tenant, registration=registration, kind=kind).order_by(
            "section", "supplier_gstin", "doc_date", "doc_number"
        ),
        registration,
    )
    return formats.upload_body(rtin=registration.gstin, kind=kind, docs=rows.iterator(chunk_size=5000))


def pending_upload_counts(
    *, tenant: Tenant, registrations: Sequence[Registration]
) -> dict[int, dict[str, int]]:
    """Per registration id: how many rows the SAVE and the RESET upload would hold (from the push queue table)."""
    counts = push_queue_counts(tenant=tenant, registrations=registrations, in_flight=True)
    return {
        reg_id: {formats.SAVE: c[formats.SAVE], formats.RESET: c[formats.RESET]}
        for reg_id, c in counts.items()
    }


def upload_filename(registration: Registration, kind: str, today: dt.date | None = None) -> str:
    today = today or timezone.localdate()
    return f"ims-offline-{kind}-{registration.gstin}-{today:%d-%m-%Y}.json"

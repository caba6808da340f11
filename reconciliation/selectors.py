"""Readers: runs, the summary by outcome (counts and ITC by head), the drill-down and one pair."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL

from gst.gstin import normalise as normalise_gstin
from gst.numbers import normalise_doc_number
from gst.periods import fy_start_year, period_label
from invoices.models import SupplierDocument
from invoices.selectors import documents_for, matching_supplier_gstins
from tenancy.selectors import visible_registrations

from .domain.matching import (
    PAIRED,
    Outcome,
    Verdict,
    compare,
    flag_reasons,
    group_reason,
    kind_note,
    reasons,
)
from .domain.matching import similarity as number_similarity_of
from .domain.register_rows import parse_money
from .domain.rules import RuleSet
from .engine import doc_of_document, doc_of_purchase, latest_run_for
from .models import PurchaseLine, ReconMatch, ReconRun, RegisterImport, RuleSetVersion

PAGE = 100


def runs_for(*, tenant, user, membership=None) -> QuerySet[ReconRun]:
    visible = set(
        visible_registrations(tenant=tenant, user=user, membership=membership).values_list("pk", flat=True)
    )
    ids = [
        r.pk
        for r in ReconRun.objects.filter(tenant=tenant).only("registration_ids")[:200]
        if set(r.registration_ids) <= visible
    ]
    return ReconRun.objects.filter(tenant=tenant, pk__in=ids).select_related("rules")


def matches_for(*, tenant, user, run: ReconRun, membership=None) -> QuerySet[ReconMatch]:
    regs = visible_registrations(tenant=tenant, user=user, membership=membership)
    return ReconMatch.objects.filter(tenant=tenant, run=run, registration__in=regs).select_related(
        "purchase", "document", "registration", "run"
    )


ANY_FLAG = "any"


def with_flag(qs: QuerySet[Any], flag: str, prefix: str = "purchase__") -> QuerySet[Any]:
    """Rows whose register line carries ``flag`` (a code of ``gst.register_checks.FLAG_LABELS``), or any flag
    (:data:`ANY_FLAG`)."""
    if flag == ANY_FLAG:
        return qs.filter(**{f"{prefix}flags__isnull": False}).exclude(**{f"{prefix}flags": {}})
    return qs.filter(**{f"{prefix}flags__has_key": flag})


def flagged_by(qs: QuerySet[PurchaseLine], job: RegisterImport) -> QuerySet[PurchaseLine]:
    """The lines of ``qs`` that import ``job`` left flagged (its ids read in the database, not sent back to it)."""
    return qs.filter(
        pk__in=RawSQL(
            "SELECT unnest(flagged_lines) FROM reconciliation_registerimport WHERE id = %s AND tenant_id = %s",
            [job.pk, job.tenant_id],
        )
    )


def lines_for(*, tenant: Any, user: Any, membership: Any = None) -> QuerySet[PurchaseLine]:
    """The register lines of the GSTINs ``user`` sees."""
    regs = visible_registrations(tenant=tenant, user=user, membership=membership)
    return PurchaseLine.objects.filter(tenant=tenant, registration__in=regs).select_related("registration")


def summary(*, run: ReconRun, registration_ids) -> dict:
    """Per outcome and per (GSTIN, supplier, outcome): lines, documents and ITC by head (the supplier document's
    tax; the register line's where there is no document), credit notes netted against invoices (subtracted,
    whatever sign each side gave them)."""
    sql = """
      SELECT m.registration_id, m.supplier_gstin, m.outcome, count(DISTINCT m.purchase_id), count(DISTINCT m.document_id),
             coalesce(sum(CASE WHEN coalesce(d.doc_kind, p.kind) = 'credit_note' THEN -abs(coalesce(d.igst, p.igst)) ELSE coalesce(d.igst, p.igst) END), 0),
             coalesce(sum(CASE WHEN coalesce(d.doc_kind, p.kind) = 'credit_note' THEN -abs(coalesce(d.cgst, p.cgst)) ELSE coalesce(d.cgst, p.cgst) END), 0),
             coalesce(sum(CASE WHEN coalesce(d.doc_kind, p.kind) = 'credit_note' THEN -abs(coalesce(d.sgst, p.sgst)) ELSE coalesce(d.sgst, p.sgst) END), 0),
             coalesce(sum(CASE WHEN coalesce(d.doc_kind, p.kind) = 'credit_note' THEN -abs(coalesce(d.cess, p.cess)) ELSE coalesce(d.cess, p.cess) END), 0)
      FROM (SELECT DISTINCT ON (coalesce(document_id, -purchase_id), outcome) * FROM reconciliation_reconmatch
            WHERE run_id = %s AND registration_id = ANY(%s)) m
      LEFT JOIN invoices_supplierdocument d ON d.id = m.document_id
      LEFT JOIN reconciliation_purchaseline p ON p.id = m.purchase_id
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
    with connection.cursor() as cur:
        cur.execute(sql, [run.pk, list(registration_ids)])
        rows = cur.fetchall()
    by_outcome: dict[str, dict] = {}
    suppliers: dict[tuple, dict] = {}
    for reg, gstin, outcome, lines, docs, igst, cgst, sgst, cess in rows:
        o = by_outcome.setdefault(
            outcome, {"lines": 0, "documents": 0, "igst": 0, "cgst": 0, "sgst": 0, "cess": 0}
        )
        s = suppliers.setdefault(
            (reg, gstin), {"registration_id": reg, "supplier_gstin": gstin, "outcomes": {}}
        )
        s["outcomes"][outcome] = lines or docs
        for k, v in (
            ("lines", lines),
            ("documents", docs),
            ("igst", igst),
            ("cgst", cgst),
            ("sgst", sgst),
            ("cess", cess),
        ):
            o[k] += v
    return {"outcomes": by_outcome, "suppliers": list(suppliers.values())}


def latest_done_run(*, tenant, user, membership=None) -> ReconRun | None:
    return runs_for(tenant=tenant, user=user, membership=membership).filter(status="done").first()


def outcome_document_ids(*, tenant, user, run: ReconRun, membership=None) -> dict[str, list[int]]:
    """Per outcome, the ids of the supplier documents of ``run`` that ``user`` may see (each once per outcome)."""
    rows = (
        matches_for(tenant=tenant, user=user, membership=membership, run=run)
        .filter(document__isnull=False)
        .values_list("outcome", "document_id")
        .distinct()
        .order_by()
    )
    out: dict[str, list[int]] = {}
    for outcome, doc_id in rows:
        out.setdefault(outcome, []).append(doc_id)
    return {k: sorted(v) for k, v in out.items()}


def reason_list(m) -> list[dict]:
    """Reason codes of a result row ``{code, value, text}``: a pair's differences and the flags of its register
    line that explain them; a duplicate's original; the flags of a register line alone that may explain why no
    document paired with it."""
    line_flags = m.purchase.flags if m.purchase_id is not None and m.purchase is not None else None
    if m.duplicate_of:
        return [{"code": "duplicate_of", "value": m.duplicate_of, "text": f"repeats {m.duplicate_of}"}]
    if m.purchase_id is None or m.document_id is None:
        return flag_reasons(line_flags, alone=True) if m.purchase_id is not None else []
    similarity = m.similarity if m.similarity is not None else 0
    look_alike = (
        similarity < 100
        and m.purchase is not None
        and m.document is not None
        and number_similarity_of(doc_of_purchase(m.purchase), doc_of_document(m.document))[1]
    )
    mine, theirs = (
        (doc_of_purchase(m.purchase), doc_of_document(m.document))
        if m.purchase and m.document
        else (None, None)
    )
    kind = kind_note(mine, theirs) if mine and theirs else ""
    other_recipient = (
        m.purchase is not None
        and m.document is not None
        and m.purchase.registration_id != m.document.registration_id
    )
    found = reasons(
        similarity,
        m.days,
        m.diffs,
        m.pan_fallback,
        m.across_fy,
        confusable=look_alike,
        other_recipient=other_recipient,
        kind_note=kind,
        same_irn=bool(mine and theirs and mine.irn and mine.irn == theirs.irn),
        bill_of_entry=bool(mine and theirs and mine.cls == theirs.cls == "boe"),
        typed=(mine.number, theirs.number) if mine and theirs else None,
    )
    p = m.purchase
    if p is not None and p.period_booked > m.run.date_to:
        booked = period_label(p.period_booked)
        found.append(
            {
                "code": "booked_later",
                "value": p.period_booked.isoformat(),
                "text": f"booked in a later period ({booked}): not in this period's books",
            }
        )
    if m.group_no is not None:
        found.append(group_reason(m.group_no))
    if m.group_no is not None and p is not None and not (p.igst or p.cgst or p.sgst or p.cess):
        found.append(
            {
                "code": "nil_line",
                "value": None,
                "text": "a nil-rated, exempt or non-GST line of the bill: left out of the tax comparison",
            }
        )
    return found + flag_reasons(
        line_flags, similarity=similarity, days=m.days, diffs=m.diffs, pan_fallback=m.pan_fallback
    )


def differing_fields(m: ReconMatch) -> list[str]:
    """The fields a pair differs in, named as the API names them: the amounts that differ, and ``doc_number``,
    ``doc_date``, ``supplier_gstin``, ``recipient_gstin``, ``kind`` where they do."""
    if m.purchase_id is None or m.document_id is None or m.purchase is None or m.document is None:
        return []
    p, d = m.purchase, m.document
    mine, theirs = doc_of_purchase(p), doc_of_document(d)  # a bill of entry: by its number and date
    out = [h for h in ("taxable", "igst", "cgst", "sgst", "cess") if getattr(m, f"d_{h}")]
    if mine.key_number != theirs.key_number:
        out.append("doc_number")
    if mine.date != theirs.date:
        out.append("doc_date")
    if mine.party != theirs.party:
        out.append("supplier_gstin")
    if p.registration_id != d.registration_id:
        out.append("recipient_gstin")
    if p.kind != d.doc_kind:
        out.append("kind")
    return out


COMPARE_LIMIT = 500
_COMPARE_SQL = """
    WITH a AS (
        SELECT DISTINCT ON (k) k, outcome, id FROM (
            SELECT coalesce('S' || document_id, 'R' || purchase_id) AS k, outcome, id
            FROM reconciliation_reconmatch WHERE run_id = %(a)s AND registration_id = ANY(%(regs)s)) x
        ORDER BY k, id),
    b AS (
        SELECT DISTINCT ON (k) k, outcome, id FROM (
            SELECT coalesce('S' || document_id, 'R' || purchase_id) AS k, outcome, id
            FROM reconciliation_reconmatch WHERE run_id = %(b)s AND registration_id = ANY(%(regs)s)) x
        ORDER BY k, id)
    SELECT a.outcome, b.outcome, a.id, b.id FROM a FULL JOIN b ON a.k = b.k
    WHERE a.outcome IS DISTINCT FROM b.outcome ORDER BY coalesce(b.id, a.id) LIMIT %(limit)s"""


@dataclass(frozen=True)
class Change:
    """A document (or a register line alone) whose outcome differs between two runs: ``before`` (run A's row) and
    ``after`` (run B's), either None when the run did not have it."""

    before: ReconMatch | None
    after: ReconMatch | None

    @property
    def row(self) -> ReconMatch:
        return self.after or self.before  # type: ignore[return-value]

    @property
    def why(self) -> list[dict[str, Any]]:
        """Run B's reasons for its outcome (a pair's differences, a later booking, a flag)."""
        return reason_list(self.after) if self.after is not None else []


def compare_runs(*, tenant: Any, user: Any, membership: Any = None, a: ReconRun, b: ReconRun) -> list[Change]:
    """What changed between runs ``a`` and ``b`` for the GSTINs the user sees: every supplier document (and register
    line alone) whose outcome differs, in ``b``'s order, at most :data:`COMPARE_LIMIT`."""
    regs = list(
        visible_registrations(tenant=tenant, user=user, membership=membership).values_list("pk", flat=True)
    )
    with connection.cursor() as cur:
        cur.execute(_COMPARE_SQL, {"a": a.pk, "b": b.pk, "regs": regs, "limit": COMPARE_LIMIT})
        rows = cur.fetchall()
    before = matches_for(tenant=tenant, user=user, membership=membership, run=a).in_bulk(
        [r[2] for r in rows if r[2]]
    )
    after = matches_for(tenant=tenant, user=user, membership=membership, run=b).in_bulk(
        [r[3] for r in rows if r[3]]
    )
    return [Change(before.get(ia), after.get(ib)) for _oa, _ob, ia, ib in rows]


def writeback_for(*, tenant: Any, user: Any, membership: Any = None, run: ReconRun) -> QuerySet[ReconMatch]:
    """Rows of ``run`` the ERP may correct from: pairs whose register line has another number or date than the
    supplier's document, and documents only in supplier data (inside what the register covers)."""
    differs = ~Q(purchase__doc_number=F("document__doc_number")) | ~Q(
        purchase__doc_date=F("document__doc_date")
    )
    paired = (
        Q(outcome__in=[o.value for o in PAIRED], purchase__isnull=False, document__isnull=False) & differs
    )
    return matches_for(tenant=tenant, user=user, membership=membership, run=run).filter(
        paired | Q(outcome=Outcome.MISSING_IN_REGISTER)
    )


def writeback_key(m: ReconMatch) -> str:
    """The idempotency key of a write-back proposal: the same for the same correction in every run (a document and
    the line it corrects, or the document to add), so the ERP applies it once however often it is offered or sent."""
    return f"writeback-{m.document_id}-{m.purchase_id or 'new'}"


def writeback_proposal(m: ReconMatch) -> dict[str, Any]:
    """A correction the ERP may apply (the write-back API's item and the webhook's payload): the supplier's number
    and date for a line booked otherwise (``correct_line``), or a new purchase line for a document only in supplier
    data (``new_line``)."""
    p, d = m.purchase, m.document
    if d is None:
        raise ValueError(f"result {m.pk} names no supplier document: nothing to write back")
    return {
        "id": m.pk,
        "run": m.run_id,
        "type": "new_line" if m.purchase_id is None else "correct_line",
        "idempotency_key": writeback_key(m),
        "outcome": m.outcome,
        "line": None
        if p is None
        else {"erp_ref": p.erp_ref, "doc_number": p.doc_number, "doc_date": p.doc_date.isoformat()},
        "supplier_document": {
            "id": d.pk,
            "recipient_gstin": m.registration.gstin,
            "supplier_gstin": d.supplier_gstin,
            "kind": d.doc_kind,
            "doc_number": d.doc_number,
            "doc_date": d.doc_date.isoformat(),
            "taxable": str(d.taxable_value),
            "igst": str(d.igst),
            "cgst": str(d.cgst),
            "sgst": str(d.sgst),
            "cess": str(d.cess),
            "pos": d.pos,
        },
    }


SEARCH_LIMIT = 20
CANDIDATES = 10
_PAN = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
_AMOUNT = re.compile(r"(?:₹|RS\.?|INR)?\s*-?[0-9][0-9,]*(?:\.[0-9]{1,2})?")


def search(
    *, tenant: Any, user: Any, membership: Any = None, q: str
) -> tuple[list[PurchaseLine], list[SupplierDocument]]:
    """Register lines and supplier documents the user sees that a person's search names, without internal ids: a
    supplier GSTIN or PAN, a supplier's name, an amount (taxable value or total tax within ₹1), or a number (its normalised key
    contained in theirs). A bare number is tried as both number and amount."""
    text = (q or "").strip()
    lines = lines_for(tenant=tenant, user=user, membership=membership)
    docs = documents_for(tenant=tenant, user=user, membership=membership).filter(vanished_at__isnull=True)
    key = normalise_gstin(text)
    if len(key) == 15 and key.isalnum():
        line_q, doc_q = Q(supplier_gstin=key), Q(supplier_gstin=key)
    elif _PAN.fullmatch(key):
        line_q, doc_q = Q(supplier_gstin__contains=key), Q(supplier_gstin__contains=key)
    else:
        norm = normalise_doc_number(text)
        line_q = Q(number_norm__contains=norm) if norm else Q(pk__in=[])
        doc_q = Q(doc_number_norm__contains=norm) if norm else Q(pk__in=[])
        if sum(ch.isalpha() for ch in text) >= 3:  # a supplier's name, or part of it
            named = matching_supplier_gstins(tenant=tenant, text=text)
            line_q |= Q(supplier_gstin__in=named)
            doc_q |= Q(supplier_gstin__in=named)
        if _AMOUNT.fullmatch(text.upper()):
            try:
                amount = abs(parse_money(text))
            except ValueError:
                amount = None
            if amount:
                near = (amount - 1, amount + 1)
                lines = lines.annotate(tax=F("igst") + F("cgst") + F("sgst") + F("cess"))
                docs = docs.annotate(tax=F("igst") + F("cgst") + F("sgst") + F("cess"))
                line_q |= Q(taxable__range=near) | Q(taxable__range=(-near[1], -near[0])) | Q(tax__range=near)
                doc_q |= Q(taxable_value__range=near) | Q(tax__range=near)
    return (
        list(lines.filter(line_q).order_by("-doc_date", "-pk")[:SEARCH_LIMIT]),
        list(docs.filter(doc_q).select_related("registration").order_by("-doc_date", "-pk")[:SEARCH_LIMIT]),
    )


def candidates(
    *, tenant: Any, user: Any, membership: Any = None, line: PurchaseLine, rules: RuleSet
) -> list[tuple[SupplierDocument, Verdict]]:
    """The supplier documents most likely to be ``line``'s, each with the rules' verdict (its outcome, or what
    blocks the pair): documents of the same GSTIN from the same supplier PAN, with the same or a near number, or a
    near amount (±10 % within 45 days), best first."""
    pan = line.supplier_gstin[2:12]
    days = dt.timedelta(days=45)
    near = abs(line.taxable) * Decimal("0.10") + 1
    wanted = Q(doc_number_norm=line.number_norm) | Q(
        taxable_value__range=(abs(line.taxable) - near, abs(line.taxable) + near),
        doc_date__range=(line.doc_date - days, line.doc_date + days),
    )
    if pan:
        wanted |= Q(supplier_gstin__contains=pan)
    if line.boe_number:  # a bill of entry: by the bill's number, whatever supplier the line names
        day = line.boe_date or line.doc_date
        wanted |= Q(doc_number_norm=normalise_doc_number(line.boe_number, fy_start_year(day)))
    docs = (
        documents_for(tenant=tenant, user=user, membership=membership)
        .filter(registration_id=line.registration_id, vanished_at__isnull=True)
        .filter(wanted)
        .order_by("-doc_date", "-pk")[:300]
    )
    mine = doc_of_purchase(line)
    scored = [(d, compare(mine, doc_of_document(d), rules)) for d in docs]
    scored.sort(key=lambda t: (t[1].outcome is None, t[1].rank(), t[0].pk))
    return scored[:CANDIDATES]


__all__ = [
    "runs_for",
    "matches_for",
    "summary",
    "latest_run_for",
    "latest_done_run",
    "outcome_document_ids",
    "reason_list",
    "differing_fields",
    "with_flag",
    "search",
    "candidates",
    "compare_runs",
    "writeback_for",
    "writeback_proposal",
    "writeback_key",
    "lines_for",
    "ANY_FLAG",
    "PAGE",
]


def rule_history(*, tenant, user, limit: int = 50) -> list[dict]:
    """The tenant's rule versions, newest first, each with who saved it, when, and what changed from the version
    before (``{rule: [old, new]}``)."""
    versions = list(RuleSetVersion.objects.filter(tenant=tenant).order_by("-version")[: limit + 1])
    out = []
    for current, previous in zip(versions, [*versions[1:], None], strict=True):
        if len(out) == limit:
            break
        before = RuleSet.from_json(previous.params).as_json() if previous else {}
        after = RuleSet.from_json(current.params).as_json()
        changes = {k: [before.get(k), v] for k, v in after.items() if previous and before.get(k) != v}
        out.append(
            {
                "version": current.version,
                "created_by": current.created_by,
                "created_at": current.created_at,
                "changes": changes,
            }
        )
    return out

"""Readers: runs, the summary by outcome (counts and ITC by head), the drill-down and one pair."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from tenancy.selectors import visible_registrations

from .domain.matching import reasons
from .domain.rules import RuleSet
from .engine import latest_run_for
from .models import ReconMatch, ReconRun, RuleSetVersion

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
        "purchase", "document", "registration"
    )


def summary(*, run: ReconRun, registration_ids) -> dict:
    """Per outcome and per (GSTIN, supplier, outcome): lines, documents and ITC by head (the supplier document's
    tax; the register line's where there is no document)."""
    sql = """
      SELECT m.registration_id, m.supplier_gstin, m.outcome, count(DISTINCT m.purchase_id), count(DISTINCT m.document_id),
             coalesce(sum(coalesce(d.igst, p.igst)), 0), coalesce(sum(coalesce(d.cgst, p.cgst)), 0),
             coalesce(sum(coalesce(d.sgst, p.sgst)), 0), coalesce(sum(coalesce(d.cess, p.cess)), 0)
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
    """Reason codes of a result row ``{code, value, text}``: a pair's differences; a duplicate's original."""
    if m.duplicate_of:
        return [{"code": "duplicate_of", "value": m.duplicate_of, "text": f"repeats {m.duplicate_of}"}]
    if m.purchase_id is None or m.document_id is None:
        return []
    return reasons(
        m.similarity if m.similarity is not None else 0, m.days, m.diffs, m.pan_fallback, m.across_fy
    )


__all__ = [
    "runs_for",
    "matches_for",
    "summary",
    "latest_run_for",
    "latest_done_run",
    "outcome_document_ids",
    "reason_list",
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

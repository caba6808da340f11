"""The set-based reconciliation engine.

1. Load the run's scope into two temporary tables (register lines, supplier documents: the latest version of an
   amended document, vanished ones left out), amounts made absolute when the rules say so.
2. Manual links become manual matches; manual unlinks are pairs that never pair.
3. Pass 1, in SQL: a hash join on the stored key (recipient, supplier GSTIN, kind, normalised number, FY) of the keys
   that occur once on each side; pairs within tolerance are written straight from SQL (INSERT … SELECT).
4. Pass 2, in memory: the residue (duplicates, mismatches, fuzzy numbers, PAN fallback, groups, missing) goes
   through the pure matcher :func:`reconciliation.domain.matching.match`, written back with COPY.

Each pass is its own transaction, so the run's progress is visible while it works.
"""

from __future__ import annotations

import io
import time
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, record
from tenancy.scoping import scopes_disabled, tenant_scope

from .domain.matching import Doc, Outcome, compare, match
from .domain.rules import HEADS, RuleSet
from .models import JobStatus, ManualLink, PurchaseLine, ReconMatch, ReconRun

_OUT_COLS = ("tenant_id, run_id, registration_id, supplier_gstin, outcome, purchase_id, document_id, group_no, "
             "similarity, days, d_taxable, d_igst, d_cgst, d_sgst, d_cess, pan_fallback, across_fy, duplicate_of")
_SIDE_COLS = "id, reg, sg, kind, norm, fy, d, taxable, igst, cgst, sgst, cess"


def _progress(run_id: int, percent: int, stage: str) -> None:
    ReconRun.objects.filter(pk=run_id).update(progress=percent, stage=stage)


def execute_run(*, run_id: int) -> ReconRun | None:
    """Run a queued reconciliation (claimed with a conditional update, so a twin delivery does nothing)."""
    with scopes_disabled():
        run = ReconRun.objects.filter(pk=run_id).select_related("tenant", "rules").first()
    if run is None:
        return None
    with tenant_scope(run.tenant):
        if not ReconRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING):
            return ReconRun.objects.get(pk=run_id)
        started = time.monotonic()
        try:
            counts = _execute(run)
        except Exception as exc:
            ReconRun.objects.filter(pk=run_id).update(status=JobStatus.FAILED, error=str(exc)[:500],
                                                      finished_at=timezone.now())
            with connection.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS recon_r, recon_s")
            raise
        run.refresh_from_db()
        run.status, run.progress, run.stage, run.counts = JobStatus.DONE, 100, "done", counts
        run.seconds, run.finished_at = round(time.monotonic() - started, 2), timezone.now()
        with transaction.atomic():
            run.save()
            _drop_older_results(run)
            record(tenant=run.tenant, actor=Actor(run.actor_type, run.actor_label, run.user_id),
                   action="recon.run_completed", obj=run, metadata={"counts": counts, "seconds": run.seconds})
        return run


def _drop_older_results(run: ReconRun) -> None:
    """Results are kept for the latest run of each GSTIN only (runs keep their counts)."""
    mine = set(run.registration_ids)
    older = [r.pk for r in ReconRun.objects.filter(tenant=run.tenant_id, pk__lt=run.pk).only("registration_ids")
             if mine & set(r.registration_ids)]
    if older:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM reconciliation_reconmatch WHERE run_id = ANY(%s)", [older])


def _execute(run: ReconRun) -> dict[str, int]:
    rules = RuleSet.from_json(run.rules.params)
    amt = "abs({0})" if rules.absolute_amounts else "{0}"
    p = {"tenant": run.tenant_id, "run": run.pk, "regs": list(run.registration_ids), "from": run.date_from,
         "to": run.date_to, "window": rules.date_window, "abs": rules.amount_abs, "pct": rules.amount_pct}
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS recon_r, recon_s")
        with transaction.atomic():
            cur.execute("SET LOCAL work_mem = '256MB'")
            heads_r = ", ".join(amt.format(h) + f" AS {h}" for h in HEADS)
            cur.execute(
                f"CREATE TEMP TABLE recon_r AS SELECT id, registration_id AS reg, supplier_gstin AS sg, kind, "
                f"number_norm AS norm, fy, doc_date AS d, {heads_r} FROM reconciliation_purchaseline "
                "WHERE tenant_id = %(tenant)s AND registration_id = ANY(%(regs)s) "
                "AND doc_date BETWEEN %(from)s AND %(to)s", p)
            heads_s = ", ".join(amt.format(f"d.{'taxable_value' if h == 'taxable' else h}") + f" AS {h}"
                                for h in HEADS)
            cur.execute(
                f"CREATE TEMP TABLE recon_s AS SELECT d.id, d.registration_id AS reg, d.supplier_gstin AS sg, "
                f"d.doc_kind AS kind, d.doc_number_norm AS norm, d.fy, d.doc_date AS d, {heads_s} "
                "FROM invoices_supplierdocument d WHERE d.tenant_id = %(tenant)s AND d.registration_id = ANY(%(regs)s) "
                "AND d.doc_date BETWEEN %(from)s AND %(to)s AND d.vanished_at IS NULL AND NOT EXISTS "
                "(SELECT 1 FROM invoices_supplierdocument a WHERE a.original_id = d.id AND a.vanished_at IS NULL)", p)
            cur.execute("ANALYZE recon_r")
            cur.execute("ANALYZE recon_s")
        _progress(run.pk, 10, "loaded")
        with transaction.atomic():
            cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute("SET LOCAL enable_mergejoin = off")
            diffs = ", ".join(f"r.{h} - s.{h}" for h in HEADS)
            cur.execute(
                f"INSERT INTO reconciliation_reconmatch ({_OUT_COLS}) SELECT %(tenant)s, %(run)s, r.reg, r.sg, "
                f"'manual', r.id, s.id, NULL, NULL, r.d - s.d, {diffs}, r.sg <> s.sg, r.fy <> s.fy, '' "
                "FROM reconciliation_manuallink m JOIN recon_r r ON r.id = m.purchase_id "
                "JOIN recon_s s ON s.id = m.document_id AND s.reg = r.reg "
                "WHERE m.tenant_id = %(tenant)s AND m.kind = 'link'", p)
            _remove_matched(cur, run.pk)
            within = " AND ".join(f"abs(r.{h} - s.{h}) <= greatest(%(abs)s, abs(s.{h}) * %(pct)s / 100)"
                                  for h in HEADS)
            zero = " AND ".join(f"r.{h} = s.{h}" for h in HEADS)
            nullif = ", ".join(f"NULLIF(r.{h} - s.{h}, 0)" for h in HEADS)
            cur.execute(
                "WITH rk AS (SELECT r.*, count(*) OVER (PARTITION BY reg, sg, kind, norm, fy) AS c FROM recon_r r), "
                "sk AS (SELECT s.*, count(*) OVER (PARTITION BY reg, sg, kind, norm, fy) AS c FROM recon_s s) "
                f"INSERT INTO reconciliation_reconmatch ({_OUT_COLS}) SELECT %(tenant)s, %(run)s, r.reg, r.sg, "
                f"CASE WHEN {zero} AND r.d = s.d THEN 'exact' ELSE 'tolerance' END, r.id, s.id, NULL, 100, "
                f"r.d - s.d, {nullif}, false, false, '' "
                "FROM rk r JOIN sk s ON r.reg = s.reg AND r.sg = s.sg AND r.kind = s.kind AND r.norm = s.norm "
                "AND r.fy = s.fy WHERE r.c = 1 AND s.c = 1 AND abs(r.d - s.d) <= %(window)s "
                f"AND {within} AND NOT EXISTS (SELECT 1 FROM reconciliation_manuallink m WHERE "
                "m.tenant_id = %(tenant)s AND m.kind = 'unlink' AND m.purchase_id = r.id AND m.document_id = s.id)",
                p)
            _remove_matched(cur, run.pk)
        _progress(run.pk, 60, "exact pairs stored")
        with transaction.atomic():
            cur.execute(f"SELECT {_SIDE_COLS} FROM recon_r")
            register = [_doc("R", row) for row in cur.fetchall()]
            cur.execute(f"SELECT {_SIDE_COLS} FROM recon_s")
            supplier = [_doc("S", row) for row in cur.fetchall()]
            forbidden = set(ManualLink.objects.filter(tenant=run.tenant_id, kind="unlink").filter(
                Q(purchase_id__in=[d.id for d in register]) | Q(document_id__in=[d.id for d in supplier])
            ).values_list("purchase_id", "document_id"))
            results = match(register, supplier, rules, forbidden)
            _write_results(cur, run, results, {d.id: d for d in register}, {d.id: d for d in supplier})
        cur.execute("DROP TABLE IF EXISTS recon_r, recon_s")
        cur.execute("SELECT outcome, count(*) FROM reconciliation_reconmatch WHERE run_id = %s GROUP BY outcome",
                    [run.pk])
        return dict(cur.fetchall())


def _remove_matched(cur, run_id: int) -> None:
    cur.execute("DELETE FROM recon_r r USING reconciliation_reconmatch m WHERE m.run_id = %s AND m.purchase_id = r.id",
                [run_id])
    cur.execute("DELETE FROM recon_s s USING reconciliation_reconmatch m WHERE m.run_id = %s AND m.document_id = s.id",
                [run_id])


def _doc(side: str, row) -> Doc:
    id_, reg, sg, kind, norm, _fy, d, taxable, igst, cgst, sgst, cess = row
    return Doc(id_, side, str(reg), sg, kind, norm, d, taxable, igst, cgst, sgst, cess, norm=norm)


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
        extra = [res.similarity, res.days, *(diffs.get(h) for h in HEADS), res.pan_fallback, res.across_fy,
                 f"{res.duplicate_of[0]}{res.duplicate_of[1]}" if res.duplicate_of else ""]
        pairs: list[tuple] = []
        if len(res.register_ids) > 1 or len(res.supplier_ids) > 1:
            group += 1
            pairs = [(r, s, group) for r in res.register_ids for s in res.supplier_ids]
        elif res.register_ids or res.supplier_ids:
            pairs = [(res.register_ids[0] if res.register_ids else None,
                      res.supplier_ids[0] if res.supplier_ids else None, None)]
        for rid, sid, g in pairs:
            doc = reg_docs[rid] if rid is not None else sup_docs[sid]
            vals = [run.tenant_id, run.pk, doc.recipient, doc.supplier_gstin, *common, rid, sid, g, *extra]
            buf.write("\t".join(_cell(v) for v in vals) + "\n")
            n += 1
    with cur.cursor.copy(f"COPY reconciliation_reconmatch ({_OUT_COLS}) FROM STDIN") as copy:
        copy.write(buf.getvalue())
    return n


def doc_of_purchase(p: PurchaseLine) -> Doc:
    return Doc(p.pk, "R", str(p.registration_id), p.supplier_gstin, p.kind, p.doc_number, p.doc_date,
               p.taxable, p.igst, p.cgst, p.sgst, p.cess, norm=p.number_norm)


def doc_of_document(d) -> Doc:
    return Doc(d.pk, "S", str(d.registration_id), d.supplier_gstin, d.doc_kind, d.doc_number, d.doc_date,
               d.taxable_value, d.igst, d.cgst, d.sgst, d.cess, norm=d.doc_number_norm)


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
    for rid in partners_r - set(ReconMatch.objects.filter(run=run, purchase_id__in=partners_r)
                                .values_list("purchase_id", flat=True)):
        line = PurchaseLine.objects.get(pk=rid)
        new.append(ReconMatch(**base, supplier_gstin=line.supplier_gstin, outcome=Outcome.MISSING_IN_SUPPLIER,
                              purchase_id=rid))
    from invoices.models import SupplierDocument

    for sid in partners_s - set(ReconMatch.objects.filter(run=run, document_id__in=partners_s)
                                .values_list("document_id", flat=True)):
        doc = SupplierDocument.objects.get(pk=sid)
        new.append(ReconMatch(**base, supplier_gstin=doc.supplier_gstin, outcome=Outcome.MISSING_IN_REGISTER,
                              document_id=sid))
    if linked:
        r, s = doc_of_purchase(purchase), doc_of_document(document)
        diffs = {h: r.amount(h) - s.amount(h) for h in HEADS}
        new.append(ReconMatch(**base, supplier_gstin=purchase.supplier_gstin, outcome=Outcome.MANUAL,
                              purchase=purchase, document=document, days=(r.date - s.date).days,
                              pan_fallback=r.supplier_gstin != s.supplier_gstin, across_fy=r.fy != s.fy,
                              **{f"d_{h}": (d or None) for h, d in diffs.items()}))
    else:
        new.append(ReconMatch(**base, supplier_gstin=purchase.supplier_gstin,
                              outcome=Outcome.MISSING_IN_SUPPLIER, purchase=purchase))
        new.append(ReconMatch(**base, supplier_gstin=document.supplier_gstin,
                              outcome=Outcome.MISSING_IN_REGISTER, document=document))
    ReconMatch.objects.bulk_create(new)


def probe(purchase: PurchaseLine, document, rules: RuleSet):
    """"Why didn't these two match?": the verdict of the rules on any line and document."""
    return compare(doc_of_purchase(purchase), doc_of_document(document), rules)


__all__ = ["execute_run", "apply_manual", "probe", "Decimal"]

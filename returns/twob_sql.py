"""The GSTR-2B placement of :func:`returns.twob.place` as one SQL expression, so a preview of 500,000 documents is
a few set-based queries instead of a Python loop (bench/bench_twob.py). :mod:`returns.twob` stays the reference:
tests/returns/test_twob_sql.py checks both agree on every kind of case; the per-document explanation (``why``) is
still worded by :func:`returns.twob.place` for the few documents a diff lists.

Rules are those of ``DEFAULT_RULES`` (what :func:`returns.services.compute` uses).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import psycopg
from django.db import connection, transaction

from invoices.domain.duedates import Frequency
from invoices.domain.periods import add_months
from invoices.domain.rule_data import DEFAULT_RULES, RuleSet
from invoices.domain.sections import SECTIONS, DocKind

from .twob import QUARTERLY_SRC_FORMS, Part


def _sections_values() -> str:
    rows = []
    for key, info in SECTIONS.items():
        group = "othersup" if info.kind == DocKind.CREDIT_NOTE else "nonrevsup"
        nttyp = {DocKind.CREDIT_NOTE: "C", DocKind.DEBIT_NOTE: "D"}.get(info.kind, "")
        rows.append(f"('{key.value}', '{group}', '{info.twob_section}', '{nttyp}', "
                    f"{str(info.kind == DocKind.CREDIT_NOTE).lower()}, {str(bool(info.amendment)).lower()})")
    return "(VALUES " + ", ".join(rows) + ") AS sec(section, grp, twob_section, nttyp, is_cn, is_amendment)"


def placement_sql(rules: RuleSet = DEFAULT_RULES) -> str:
    """SELECT of every candidate document with its placement: period, part, reason, grp, twob_section, nttyp,
    the ITC the summary counts (itc_igst..itc_cess) and the tax, plus id, supplier, supplier_period, filing_date
    (as known), supplier name. Parameters: tenant, reg, months, first, last, until, state, quarterly."""
    iff = ", ".join(f"'{f}'" for f in sorted(QUARTERLY_SRC_FORMS))
    lim_m, lim_d = rules.itc_limit_month_day
    old_m, old_d = rules.itc_limit_month_day_before
    decl = "CASE WHEN d.local_action IS NOT NULL THEN d.local_decl_{0} ELSE d.portal_decl_{0} END"
    return f"""
    WITH m AS (
      SELECT d.id, d.section, d.supplier_gstin, d.supplier_period, d.supplier_filing_date AS filing_date, d.pos,
             d.taxable_value, d.igst, d.cgst, d.sgst, d.cess, coalesce(d.local_action, d.portal_action) AS action,
             upper(CASE WHEN d.local_action IS NOT NULL THEN d.local_itc_red_req ELSE d.portal_itc_red_req END)
               AS red_req,
             {decl.format('igst')} AS di, {decl.format('cgst')} AS dc, {decl.format('sgst')} AS ds,
             {decl.format('cess')} AS dx,
             CASE WHEN sec.is_amendment AND d.orig_doc_date IS NOT NULL THEN d.orig_doc_date ELSE d.doc_date END
               AS itc_date,
             sec.grp, sec.twob_section, sec.nttyp, sec.is_cn, d.tenant_id,
             CASE WHEN d.twob_period IS NOT NULL THEN d.twob_period
                  WHEN d.supplier_filing_date IS NOT NULL THEN greatest(
                    (date_trunc('month', d.supplier_filing_date::timestamp)
                     - CASE WHEN extract(day FROM d.supplier_filing_date) <= CASE WHEN upper(d.src_form) IN ({iff})
                             THEN {int(rules.twob_cutoff_day_iff)} ELSE {int(rules.twob_cutoff_day)} END
                            THEN interval '1 month' ELSE interval '0' END)::date,
                    d.supplier_period)
                  ELSE d.supplier_period END AS month
      FROM invoices_supplierdocument d JOIN {_sections_values()} ON sec.section = d.section
      WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.vanished_at IS NULL
        AND d.supplier_filing_status = 'filed'
        AND (d.twob_period = ANY(%(months)s)
             OR (d.twob_period IS NULL AND (
                   (d.supplier_filing_date IS NULL AND d.supplier_period = ANY(%(months)s))
                OR (d.supplier_filing_date >= %(first)s AND d.supplier_filing_date < %(until)s
                    AND d.supplier_period <= %(last)s))))
    ), p AS (
      SELECT m.*,
             CASE WHEN %(quarterly)s THEN (date_trunc('quarter', m.month::timestamp) + interval '2 months')::date
                  ELSE date_trunc('month', m.month::timestamp)::date END AS period,
             CASE WHEN left(m.supplier_gstin, 2) = m.pos AND m.pos <> %(state)s THEN 'P'
                  WHEN NOT m.is_cn AND coalesce(m.filing_date,
                         (date_trunc('month', m.month::timestamp) + interval '1 month')::date
                         + {int(rules.twob_cutoff_day) - 1})
                       > make_date(fy.y + 1, CASE WHEN fy.y >= {int(rules.itc_limit_from_fy)} THEN {lim_m}
                                                  ELSE {old_m} END,
                                   CASE WHEN fy.y >= {int(rules.itc_limit_from_fy)} THEN {lim_d} ELSE {old_d} END)
                    THEN 'C'
                  ELSE '' END AS reason
      FROM m CROSS JOIN LATERAL (SELECT extract(year FROM m.itc_date)::int
                                        - CASE WHEN extract(month FROM m.itc_date) < 4 THEN 1 ELSE 0 END AS y) fy
    ), q AS (
      SELECT p.*,
             CASE WHEN p.reason <> '' THEN '{Part.UNAVAILABLE.value}'
                  WHEN p.action = 'P' THEN '{Part.PENDING.value}'
                  WHEN p.action = 'R' THEN '{Part.REJECTED.value}'
                  ELSE '{Part.AVAILABLE.value}' END AS part,
             p.is_cn AND p.reason = '' AND p.action IS DISTINCT FROM 'P' AND p.action IS DISTINCT FROM 'R'
               AND (p.red_req = 'N' OR num_nonnulls(p.di, p.dc, p.ds, p.dx) > 0) AS reduced
      FROM p
    )
    SELECT q.id, q.part, q.reason, q.grp, q.twob_section, q.nttyp, q.section, q.supplier_gstin, q.supplier_period,
           q.filing_date, q.taxable_value, q.igst, q.cgst, q.sgst, q.cess, q.tenant_id,
           {", ".join(_itc(h, k) for h, k in (("igst", "di"), ("cgst", "dc"), ("sgst", "ds"), ("cess", "dx")))}
    FROM q WHERE q.period = %(period)s
    """


def _itc(head: str, declared: str) -> str:
    # Python: v or ZERO — a declared 0.00 counts as the scale-less Decimal("0"), like a nil reduction.
    return (f"CASE WHEN NOT q.reduced THEN q.{head} WHEN q.red_req = 'N' OR coalesce(q.{declared}, 0) = 0 "
            f"THEN 0::numeric ELSE q.{declared} END AS itc_{head}")


def params(*, tenant_id: int, registration_id: int, state_code: str, frequency: str, period: dt.date,
           months: Sequence[dt.date]) -> dict:
    first, last = min(months), max(months)
    return {"tenant": tenant_id, "reg": registration_id, "months": list(months), "first": first, "last": last,
            "until": add_months(last, 1).replace(day=14), "state": state_code,
            "quarterly": frequency == Frequency.QRMP, "period": period}


_GROUPED = """
    SELECT g.*, coalesce(nullif(s.trade_name, ''), s.legal_name, '') FROM (
      SELECT x.part, x.grp, x.twob_section, x.reason, x.nttyp, x.supplier_gstin, x.supplier_period, x.filing_date,
             count(*), sum(x.taxable_value), sum(x.igst), sum(x.cgst), sum(x.sgst), sum(x.cess),
             sum(x.itc_igst), sum(x.itc_cgst), sum(x.itc_sgst), sum(x.itc_cess)
      FROM ({placed}) x
      GROUP BY x.part, x.grp, x.twob_section, x.reason, x.nttyp, x.supplier_gstin, x.supplier_period,
               x.filing_date) g
    LEFT JOIN invoices_supplier s ON s.tenant_id = %(tenant)s AND s.gstin = g.supplier_gstin
"""


_ENTRIES = """
    SELECT x.part || '/' || x.grp || '/' || x.twob_section || '/' || x.reason, array_agg(x.id),
           array_agg(trunc((x.itc_igst + x.itc_cgst + x.itc_sgst + x.itc_cess) * 100)::bigint)
    FROM ({placed}) x GROUP BY 1
"""


def _fetch(sql: str, p: dict) -> list[tuple]:
    connection.ensure_connection()
    with transaction.atomic(), psycopg.Cursor(connection.connection) as cur:  # server-side binding: binary results
        # hash the groups in memory: the row estimate is far too low and a text sort costs more than the scan
        cur.execute("SET LOCAL work_mem = '256MB'; SET LOCAL enable_sort = off")
        cur.execute(sql.format(placed=placement_sql()), p, binary=True)
        return cur.fetchall()


def grouped(p: dict) -> list[tuple]:
    """One row per (part, grp, twob_section, reason, nttyp, supplier, supplier period, filing date as known):
    count, txval, tax ×4, ITC ×4, supplier name."""
    return _fetch(_GROUPED, p)


def bucket_entries(p: dict) -> list[tuple[str, list[int], list[int]]]:
    """(bucket name, document ids, ITC in paise) for every bucket."""
    return _fetch(_ENTRIES, p)

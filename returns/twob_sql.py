"""The GSTR-2B placement of :func:`returns.twob.place` as one SQL expression, so a preview of 500,000 documents is
one set-based statement instead of a Python loop (bench/bench_twob.py). :mod:`returns.twob` stays the reference:
tests/returns/test_twob_sql.py checks both agree on every kind of case (cut-offs, carry-forward past filed GSTR-3Bs,
the one-period Pending limit, itcrev) and that the deadline queue ranked here equals the Python ranking; the
per-document explanation (``why``) is still worded by :func:`returns.twob.place` for the few documents a diff lists.

The preview (:func:`aggregates`): the placement runs once, in parallel workers, into a MATERIALIZED CTE; the
entries (ids and ITC per bucket), ``itcsumm`` (GROUPING SETS), ``cpsumm`` (built as JSON text in the database) and
the counts are aggregated from it in the same statement, with ``work_mem`` 256 MB (hash aggregates), JIT off and
sorts discouraged, all SET LOCAL. The deadline queue (:func:`deadlines`) ranks with ORDER BY score, id and a keyset
cursor, LIMIT n.

Rules are those of ``DEFAULT_RULES`` (what :func:`returns.services.compute` uses); dates that depend on notified
rules (GSTR-3B due dates, Pending deadlines) are computed in Python and passed as arrays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import psycopg
from django.conf import settings
from django.db import connection, transaction

from gst.duedates import Frequency, gstr3b_due_date, return_period
from gst.periods import add_months
from gst.rule_data import DEFAULT_RULES, RuleSet
from gst.rules import pending_deadline
from gst.sections import SECTIONS, DocKind

from .documents import DIRECTION, carry_since
from .twob import ITCREV, QUARTERLY_SRC_FORMS, REVERSIBLE, Part


def _sections_values() -> str:
    rows = []
    for key, info in SECTIONS.items():
        group = "othersup" if info.kind == DocKind.CREDIT_NOTE else "nonrevsup"
        nttyp = {DocKind.CREDIT_NOTE: "C", DocKind.DEBIT_NOTE: "D"}.get(info.kind, "")
        rows.append(
            f"('{key.value}', '{group}', '{info.twob_section}', '{nttyp}', "
            f"{str(info.kind == DocKind.CREDIT_NOTE).lower()}, {str(bool(info.amendment)).lower()})"
        )
    return "(VALUES " + ", ".join(rows) + ") AS sec(section, grp, twob_section, nttyp, is_cn, is_amendment)"


def _return_period(expr: str) -> str:
    return (
        f"CASE WHEN %(quarterly)s THEN (date_trunc('quarter', ({expr})::timestamp) + interval '2 months')::date "
        f"ELSE date_trunc('month', ({expr})::timestamp)::date END"
    )


def _specified_sql(rules: RuleSet) -> str:
    """The rules' ``pending_restricted`` table as a predicate on m.section / m.direction / m.orig_action /
    m.orig_filed, a row fitting when each of its conditions holds or is unknown (NULL) — as
    :func:`gst.rules.match_record` with its "maybe" rows."""
    rows = []
    for row in rules.pending_restricted:
        conds = ["m.section IN (" + ", ".join(f"'{s.value}'" for s in sorted(row.sections)) + ")"]
        if row.direction is not None:
            conds.append(f"(m.direction IS NULL OR m.direction = '{row.direction.value}')")
        if row.original_actions is not None:
            acts = ", ".join(f"'{a.value}'" for a in sorted(row.original_actions))
            conds.append(f"(m.orig_action IS NULL OR m.orig_action IN ({acts}))")
        if row.original_3b_filed is not None:
            conds.append(f"(m.orig_filed IS NULL OR m.orig_filed = {str(row.original_3b_filed).lower()})")
        rows.append("(" + " AND ".join(conds) + ")")
    return " OR ".join(rows) or "false"


def placement_sql(
    rules: RuleSet = DEFAULT_RULES, *, filings: bool = False, carry: bool = False, all_periods: bool = False
) -> str:
    """SELECT of every candidate document with its placement (mirroring :func:`returns.twob.place`, with the
    carry-forward past filed GSTR-3Bs, the one-period Pending limit and the itcrev reversals): id, part, reason,
    grp, twob_section, nttyp, section, supplier, supplier_period, filing_date (as known), taxable value and tax,
    tenant, the ITC the summary counts (itc_igst..itc_cess), the action applied, natural and landing period, the
    lapsed deadline, and for a rejected amendment whose original's ITC is to be reversed (itcrev) the section of
    the reversal (rev_section, else NULL), the original's id and tax (o_igst..o_cess).

    Parameters: see :func:`params`. ``filings``: the GSTIN has filed GSTR-3Bs (documents may move to a later
    period); ``carry``: documents of earlier periods may be carried forward (there are
    filed GSTR-3Bs before the period). ``all_periods``: every filed document of supplier periods from
    %(since)s on or pending (the deadline queue), not only the period's."""
    iff = ", ".join(f"'{f}'" for f in sorted(QUARTERLY_SRC_FORMS))
    lim_m, lim_d = rules.itc_limit_month_day
    old_m, old_d = rules.itc_limit_month_day_before
    decl = "CASE WHEN d.local_action IS NOT NULL THEN d.local_decl_{0} ELSE d.portal_decl_{0} END"
    step = "CASE WHEN %(quarterly)s THEN interval '3 months' ELSE interval '1 month' END"
    rev_sections = {
        key.value: SECTIONS[info.original_section].twob_section
        for key, info in SECTIONS.items()
        if key.value in REVERSIBLE
    }
    rev_case = (
        "CASE q.section "
        + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in sorted(rev_sections.items()))
        + " END"
    )
    if all_periods:
        where = """(d.supplier_period >= %(since)s OR coalesce(d.local_action, d.portal_action) = 'P')"""
    else:
        where = """(d.twob_period = ANY(%(months)s)
             OR (d.twob_period IS NULL AND (
                   (d.supplier_filing_date IS NULL AND d.supplier_period = ANY(%(months)s))
                OR (d.supplier_filing_date >= %(first)s AND d.supplier_filing_date < %(until)s
                    AND d.supplier_period <= %(last)s))))"""
        if carry:
            where = f"""({where}
             OR (d.supplier_period < %(first)s
                 AND (coalesce(d.local_action, d.portal_action) = 'P' OR d.local_updated_at >= %(carry_since)s)))"""
    landing = (
        "n.nat_period"
        if not filings
        else f"""CASE WHEN n.reason = '' AND n.nat_period = ANY(%(filed_p)s) THEN (
               SELECT min(g.p)::date FROM generate_series(n.nat_period::timestamp, %(carry_bound)s::timestamp,
                                                          {step}) g(p)
               WHERE NOT EXISTS (
                 SELECT 1 FROM unnest(%(filed_p)s::date[], %(filed_on)s::date[]) f(p, filed_on)
                 WHERE f.p = g.p::date AND CASE WHEN n.action = 'P' THEN n.lapsed IS NULL OR n.lapsed >= f.filed_on
                                                ELSE n.changed_on IS NOT NULL AND n.changed_on > f.filed_on END)
             ) ELSE n.nat_period END"""
    )
    period_filter = "" if all_periods else "WHERE q.period = %(period)s"
    return f"""
    WITH m AS (
      SELECT d.id, d.section, d.supplier_gstin, d.supplier_period, d.supplier_filing_date AS filing_date, d.pos,
             d.taxable_value, d.igst, d.cgst, d.sgst, d.cess, coalesce(d.local_action, d.portal_action) AS action,
             upper(CASE WHEN d.local_action IS NOT NULL THEN d.local_itc_red_req ELSE d.portal_itc_red_req END)
               AS red_req,
             {decl.format("igst")} AS di, {decl.format("cgst")} AS dc, {decl.format("sgst")} AS ds,
             {decl.format("cess")} AS dx,
             CASE WHEN sec.is_amendment AND d.orig_doc_date IS NOT NULL THEN d.orig_doc_date ELSE d.doc_date END
               AS itc_date,
             sec.grp, sec.twob_section, sec.nttyp, sec.is_cn, d.tenant_id,
             (d.local_updated_at AT TIME ZONE %(tz)s)::date AS changed_on,
             {DIRECTION} AS direction, coalesce(o.local_action, o.portal_action) AS orig_action,
             CASE WHEN o.id IS NOT NULL THEN o.twob_period IS NOT NULL
                  AND {_return_period("o.twob_period")} = ANY(%(filed_p)s) END AS orig_filed,
             CASE WHEN o.twob_period IS NOT NULL AND o.action IN ('A', 'N') THEN
               coalesce((o.local_updated_at AT TIME ZONE %(tz)s)::date
                          <= (%(filed_on)s::date[])[array_position(%(filed_p)s::date[],
                                                                   {_return_period("o.twob_period")})],
                        {_return_period("o.twob_period")} = ANY(%(filed_p)s)) END AS orig_settled,
             CASE WHEN o.twob_period IS NOT NULL THEN {_return_period("o.twob_period")} END AS orig_period,
             o.id AS orig_id, o.igst AS o_igst, o.cgst AS o_cgst, o.sgst AS o_sgst, o.cess AS o_cess,
             CASE WHEN d.twob_period IS NOT NULL THEN d.twob_period
                  WHEN d.supplier_filing_date IS NOT NULL THEN greatest(
                    (date_trunc('month', d.supplier_filing_date::timestamp)
                     - CASE WHEN extract(day FROM d.supplier_filing_date) <= CASE WHEN upper(d.src_form) IN ({iff})
                             THEN {int(rules.twob_cutoff_day_iff)} ELSE {int(rules.twob_cutoff_day)} END
                            THEN interval '1 month' ELSE interval '0' END)::date,
                    d.supplier_period)
                  ELSE d.supplier_period END AS month
      FROM invoices_supplierdocument d JOIN {_sections_values()} ON sec.section = d.section
      LEFT JOIN (  -- the linked originals of pending or rejected amendments (few): one small hash join
        SELECT a.id AS amendment_id, o.id, o.igst, o.cgst, o.sgst, o.cess, o.taxable_value, o.local_action,
               o.portal_action, o.twob_period, o.local_updated_at,
               coalesce(o.local_action, o.portal_action) AS action
        FROM invoices_supplierdocument a
        JOIN invoices_supplierdocument o ON o.id = a.original_id AND o.tenant_id = a.tenant_id
        WHERE a.original_id IS NOT NULL AND a.tenant_id = %(tenant)s AND a.registration_id = %(reg)s
          AND coalesce(a.local_action, a.portal_action) IN ('P', 'R')) o ON o.amendment_id = d.id
      WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.vanished_at IS NULL
        AND d.supplier_filing_status = 'filed' AND {where}
    ), n AS (
      SELECT m.*, {_return_period("m.month")} AS nat_period,
             CASE WHEN m.action = 'P' THEN ({_specified_sql(rules)}) END AS specified,  -- (only pending ones need it)
             CASE WHEN m.action = 'P' AND ({_specified_sql(rules)})
                  THEN (%(lapse_d)s::date[])[array_position(%(lapse_m)s::date[], m.month)] END AS lapsed
      FROM m
    ), l AS (
      SELECT n.*, CASE WHEN n.lapsed IS NOT NULL THEN 'N' ELSE n.action END AS applied
      FROM n
    ), p AS (
      SELECT l.*,
             CASE WHEN left(l.supplier_gstin, 2) = l.pos AND l.pos <> %(state)s THEN 'P'
                  WHEN NOT l.is_cn AND coalesce(l.filing_date,
                         (date_trunc('month', l.month::timestamp) + interval '1 month')::date
                         + {int(rules.twob_cutoff_day) - 1}) > fy.itc_last
                    THEN 'C'
                  ELSE '' END AS reason, fy.itc_last
      FROM l CROSS JOIN LATERAL (  -- section 16(4) last date of the document the ITC pertains to
        SELECT make_date(z.y + 1, CASE WHEN z.y >= {int(rules.itc_limit_from_fy)} THEN {lim_m} ELSE {old_m} END,
                         CASE WHEN z.y >= {int(rules.itc_limit_from_fy)} THEN {lim_d} ELSE {old_d} END) AS itc_last
        FROM (SELECT extract(year FROM l.itc_date)::int
                     - CASE WHEN extract(month FROM l.itc_date) < 4 THEN 1 ELSE 0 END AS y) z) fy
    ), q AS (
      SELECT n.*, {landing} AS period,
             CASE WHEN n.reason <> '' THEN '{Part.UNAVAILABLE.value}'
                  WHEN n.applied = 'P' THEN '{Part.PENDING.value}'
                  WHEN n.applied = 'R' THEN '{Part.REJECTED.value}'
                  ELSE '{Part.AVAILABLE.value}' END AS part,
             n.is_cn AND n.reason = '' AND n.applied IS DISTINCT FROM 'P' AND n.applied IS DISTINCT FROM 'R'
               AND (n.red_req = 'N' OR num_nonnulls(n.di, n.dc, n.ds, n.dx) > 0) AS reduced
      FROM p AS n
    )
    SELECT q.id, q.part, q.reason, q.grp, q.twob_section, q.nttyp, q.section, q.supplier_gstin, q.supplier_period,
           q.filing_date, q.taxable_value, q.igst, q.cgst, q.sgst, q.cess, q.tenant_id,
           {", ".join(f"{_itc_case(h, k)} AS itc_{h}" for h, k in _DECLARED)},
           q.applied, q.nat_period, q.period, q.lapsed,
           CASE WHEN %(itcrev)s AND q.part = '{Part.REJECTED.value}' AND q.orig_id IS NOT NULL
                     AND q.orig_settled AND q.orig_period < q.period THEN {rev_case} END AS rev_section,
           q.orig_id, q.o_igst, q.o_cgst, q.o_sgst, q.o_cess, q.month, q.specified, q.is_cn, q.itc_last,
           trunc(({" + ".join(_itc_case(h, k) for h, k in _DECLARED)}) * 100)::bigint AS itc_paise
    FROM q {period_filter}
    """


_DECLARED = (("igst", "di"), ("cgst", "dc"), ("sgst", "ds"), ("cess", "dx"))


def _itc_case(head: str, declared: str) -> str:
    # Python: v or ZERO — a declared 0.00, like a nil reduction, counts 0.00.
    return (
        f"CASE WHEN NOT q.reduced THEN q.{head} WHEN q.red_req = 'N' OR coalesce(q.{declared}, 0) = 0 "
        f"THEN 0.00::numeric ELSE q.{declared} END"
    )


def lapse_table(
    *, frequency: str, state_code: str, as_of: dt.date, rules: RuleSet = DEFAULT_RULES
) -> tuple[list[dt.date], list[dt.date]]:
    """(2B months, their one-period Pending deadline) for every month from the cut-over whose deadline has passed
    on ``as_of`` (later months cannot have passed: the deadline is after the month)."""
    months, deadlines = [], []
    month = rules.pending_one_period_from
    while month <= as_of:
        deadline = pending_deadline(month, frequency, state_code, rules=rules)
        if deadline < as_of:
            months.append(month)
            deadlines.append(deadline)
        month = add_months(month, 1)
    return months, deadlines


def params(
    *,
    tenant_id: int,
    registration_id: int,
    state_code: str,
    frequency: str,
    period: dt.date | None,
    months: Sequence[dt.date] = (),
    filed_3b: dict[dt.date, dt.date] | None = None,
    as_of: dt.date | None = None,
    itcrev: bool = True,
    since: dt.date | None = None,
) -> dict:
    """Parameters of :func:`placement_sql` (``period`` None with ``since``: the deadline queue's every period)."""
    filed_3b = filed_3b or {}
    lapse_m, lapse_d = (
        lapse_table(frequency=frequency, state_code=state_code, as_of=as_of) if as_of else ([], [])
    )
    step = 3 if frequency == Frequency.QRMP else 1
    out = {
        "tenant": tenant_id,
        "reg": registration_id,
        "state": state_code,
        "quarterly": frequency == Frequency.QRMP,
        "period": period,
        "tz": settings.TIME_ZONE,
        "filed_p": sorted(filed_3b),
        "filed_on": [filed_3b[p] for p in sorted(filed_3b)],
        "lapse_m": lapse_m,
        "lapse_d": lapse_d,
        "itcrev": itcrev,
        "since": since,
        "carry_bound": add_months(max(filed_3b), step) if filed_3b else None,
    }
    if months:
        first, last = min(months), max(months)
        out.update(
            months=list(months),
            first=first,
            last=last,
            until=add_months(last, 1).replace(day=14),
            carry_since=carry_since(filed_3b, first),
        )
    return out


def carries(p: dict) -> bool:
    return p.get("carry_since") is not None


# One statement: the placement is computed once (a MATERIALIZED CTE), then aggregated four ways into rows
# (kind, key, json text, bigint[], bigint[]):
#   e — per bucket, the document ids and their ITC in paise (Entries);
#   i — itcsumm totals per (part, grp, section) and per (part, grp) (GROUPING SETS);
#   c — the whole cpsumm as JSON, per section ordered as returns.twob.Summary.cpsumm orders it;
#   n — document counts per part.
_AGGREGATES = """
WITH x AS MATERIALIZED (
  SELECT y.id, y.part COLLATE "C" AS part, y.reason, y.grp COLLATE "C" AS grp,
         y.twob_section COLLATE "C" AS twob_section, y.nttyp COLLATE "C" AS nttyp,
         y.supplier_gstin COLLATE "C" AS supplier_gstin, y.supplier_period, y.filing_date,
         y.taxable_value, y.igst, y.cgst, y.sgst, y.cess, y.itc_igst, y.itc_cgst, y.itc_sgst, y.itc_cess,
         y.rev_section, y.orig_id, y.o_igst, y.o_cgst, y.o_sgst, y.o_cess, y.itc_paise
  FROM ({placed}) y
), r AS (  -- an original is reversed once, however many of its amendments were rejected
  SELECT DISTINCT ON (x.orig_id) x.orig_id, x.rev_section, x.o_igst, x.o_cgst, x.o_sgst, x.o_cess
  FROM x WHERE x.rev_section IS NOT NULL ORDER BY x.orig_id, x.id
), g AS MATERIALIZED (  -- counter-party groups, hashed (their count is unknown to the planner)
  SELECT x.twob_section, x.supplier_gstin, x.nttyp, to_char(x.supplier_period, 'MMYYYY') AS supprd,
         coalesce(to_char(x.filing_date, 'DD-MM-YYYY'), '') AS supfildt, count(*) AS n,
         sum(x.taxable_value) AS txval, sum(x.igst) AS igst, sum(x.cgst) AS cgst, sum(x.sgst) AS sgst,
         sum(x.cess) AS cess
  FROM x WHERE x.part IN ('itcavl', 'itcunavl')
  GROUP BY x.twob_section, x.supplier_gstin, x.nttyp, x.supplier_period, x.filing_date
), e AS (
  SELECT x.part, x.grp, x.twob_section, x.reason, x.id, x.itc_paise AS paise FROM x
  UNION ALL
  SELECT '{itcrev}', 'nonrevsup', r.rev_section, '', r.orig_id,
         trunc((r.o_igst + r.o_cgst + r.o_sgst + r.o_cess) * 100)::bigint
  FROM r
), i AS (
  SELECT x.part, x.grp, x.twob_section, x.itc_igst, x.itc_cgst, x.itc_sgst, x.itc_cess
  FROM x WHERE x.part IN ('itcavl', 'itcunavl', 'itcRejected')
  UNION ALL
  SELECT '{itcrev}', 'nonrevsup', r.rev_section, r.o_igst, r.o_cgst, r.o_sgst, r.o_cess FROM r
)
SELECT 'e' AS kind, e.part || '/' || e.grp || '/' || e.twob_section || '/' || e.reason AS key, NULL::text AS j,
       array_agg(e.id) AS ids, array_agg(e.paise) AS paise
FROM e GROUP BY e.part, e.grp, e.twob_section, e.reason
UNION ALL
SELECT 'i', i.part || '/' || i.grp || '/' || coalesce(i.twob_section, ''),
       '["' || sum(i.itc_igst) || '","' || sum(i.itc_cgst) || '","' || sum(i.itc_sgst) || '","'
         || sum(i.itc_cess) || '"]', NULL::bigint[], NULL::bigint[]
FROM i GROUP BY GROUPING SETS ((i.part, i.grp, i.twob_section), (i.part, i.grp))
UNION ALL
SELECT 'c', NULL, '{{' || coalesce(string_agg(to_json(t.twob_section) || ':[' || t.rows || ']', ','), '') || '}}',
       NULL, NULL
FROM (
  SELECT g.twob_section, string_agg(
           '{{"ctin":' || to_json(g.supplier_gstin) || ',"trdnm":'
           || to_json(coalesce(nullif(s.trade_name, ''), s.legal_name, '')) || ',"supprd":"' || g.supprd
           || '","supfildt":"' || g.supfildt || '"' || CASE WHEN g.nttyp <> '' THEN ',"nttyp":"' || g.nttyp || '"'
           ELSE '' END || ',"ttldocs":' || g.n || ',"txval":"' || g.txval || '","igst":"' || g.igst
           || '","cgst":"' || g.cgst || '","sgst":"' || g.sgst || '","cess":"' || g.cess || '"}}', ','
           ORDER BY g.supplier_gstin COLLATE "C", g.nttyp COLLATE "C", g.supprd COLLATE "C",
                    g.supfildt COLLATE "C") AS rows
  FROM g
  LEFT JOIN invoices_supplier s ON s.tenant_id = %(tenant)s AND s.gstin = g.supplier_gstin
  GROUP BY g.twob_section) t
UNION ALL
SELECT 'n', x.part, count(*)::text, NULL, NULL FROM x GROUP BY x.part
"""


def aggregates(p: dict) -> list[tuple]:
    """The rows of :data:`_AGGREGATES` for the parameters ``p`` (one scan of the documents)."""
    sql = _AGGREGATES.format(
        placed=placement_sql(filings=bool(p["filed_p"]), carry=carries(p)), itcrev=ITCREV
    )
    connection.ensure_connection()
    with (
        transaction.atomic(),
        psycopg.Cursor(connection.connection) as cur,
    ):  # server-side binding: binary results
        # the groups hash in memory; JIT compiles for longer than these queries run (docs/decisions/0006-jit-off.md)
        cur.execute("SET LOCAL work_mem = '256MB'; SET LOCAL jit = off; SET LOCAL enable_sort = off")
        cur.execute(sql, p, binary=True)
        return cur.fetchall()


def _month_index(expr: str, first: str, step) -> str:
    """1-based index of the month ``expr`` in an array of periods starting at ``first``, ``step`` months apart
    (arithmetic instead of array_position: a row costs no array scan)."""
    return (
        f"((date_part('year', {expr})::int * 12 + date_part('month', {expr})::int"
        f" - date_part('year', {first}::date)::int * 12 - date_part('month', {first}::date)::int) / {step} + 1)"
    )


# The deadline queue (returns.selectors.deadline_queue): every document of the GSTIN with a clock, ranked by ITC at
# stake ÷ days left (× days overdue once late), keyset-paginated on (score, id).
_DEADLINES = f"""
WITH c AS (
  SELECT x.id, x.part, x.igst + x.cgst + x.sgst + x.cess AS stake,
         CASE WHEN x.part = 'pending' THEN
                CASE WHEN x.specified AND x.month >= %(cutover)s THEN 'Pending limit'
                     WHEN x.is_cn THEN NULL ELSE 'Section 16(4)' END
              WHEN x.period = ANY(%(filed_p)s) THEN NULL
              ELSE 'GSTR-3B due' END AS clock,
         x.month, x.period, x.itc_last
  FROM ({{placed}}) x WHERE x.part IN ('itcavl', 'itcRejected', 'pending')
), d AS (
  SELECT c.*, CASE c.clock
                WHEN 'Pending limit' THEN (%(pd_d)s::date[])[{_month_index("c.month", "%(pd_first)s", 1)}]
                WHEN 'Section 16(4)' THEN c.itc_last
                ELSE (%(due_d)s::date[])[{_month_index("c.period", "%(due_first)s", "%(step)s")}] END AS due
  FROM c WHERE c.clock IS NOT NULL
), s AS (
  SELECT d.*, d.due - %(today)s AS days,
         CASE WHEN d.due >= %(today)s THEN d.stake / greatest(d.due - %(today)s, 1)
              ELSE d.stake * (1 - (d.due - %(today)s)) END AS score
  FROM d
)
SELECT s.id, s.part, s.clock, s.due, s.days, s.stake, s.score FROM s
WHERE s.due IS NOT NULL {{keyset}}
ORDER BY s.score DESC, s.id DESC LIMIT %(limit)s
"""


def deadline_params(
    *,
    tenant_id: int,
    registration_id: int,
    state_code: str,
    frequency: str,
    today: dt.date,
    filed_3b: dict[dt.date, dt.date],
    since: dt.date,
    limit: int,
    after: tuple | None = None,
    rules: RuleSet = DEFAULT_RULES,
) -> dict:
    """Parameters of the deadline query: the placement's (every period, as of ``today``) plus the GSTR-3B due
    dates of every return period and the one-period Pending deadlines of every 2B month that can occur."""
    p = params(
        tenant_id=tenant_id,
        registration_id=registration_id,
        state_code=state_code,
        frequency=frequency,
        period=None,
        filed_3b=filed_3b,
        as_of=today,
        since=since,
    )
    step = 3 if frequency == Frequency.QRMP else 1
    first = return_period(dt.date(2017, 7, 1), frequency)
    horizon = add_months(today, 36)
    due_p = []
    period = first
    while period <= horizon:
        due_p.append(period)
        period = add_months(period, step)
    pd_m = []
    month = rules.pending_one_period_from
    while month <= horizon:
        pd_m.append(month)
        month = add_months(month, 1)
    p.update(
        today=today,
        cutover=rules.pending_one_period_from,
        due_p=due_p,
        due_first=due_p[0],
        pd_first=pd_m[0],
        step=step,
        due_d=[gstr3b_due_date(x, frequency, state_code, rules=rules) for x in due_p],
        pd_m=pd_m,
        pd_d=[pending_deadline(m, frequency, state_code, rules=rules) for m in pd_m],
        limit=limit,
        after_score=after[0] if after else None,
        after_id=after[1] if after else None,
    )
    return p


def deadlines(p: dict) -> list[tuple]:
    """(id, part, clock, due, days left, ITC at stake, score) of the most urgent documents, best first."""
    keyset = "AND (s.score, s.id) < (%(after_score)s, %(after_id)s)" if p["after_score"] is not None else ""
    sql = _DEADLINES.format(placed=placement_sql(filings=bool(p["filed_p"]), all_periods=True), keyset=keyset)
    connection.ensure_connection()
    with transaction.atomic(), psycopg.Cursor(connection.connection) as cur:
        cur.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        cur.execute(sql, p)
        return cur.fetchall()

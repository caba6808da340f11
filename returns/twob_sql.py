"""The GSTR-2B placement of :func:`returns.twob.place` as one SQL expression, so a preview of 500,000 documents is
one set-based statement instead of a Python loop (bench/bench_twob.py). :mod:`returns.twob` stays the reference:
tests/returns/test_twob_sql.py checks both agree on every kind of case (cut-offs, carry-forward past filed GSTR-3Bs,
the one-period Pending limit, the Rule 37A itcrev) and that the deadline queue ranked here equals the Python ranking; the
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
import zoneinfo
from collections.abc import Sequence
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import connection, transaction

from gst.duedates import Frequency, gstr3b_due_date, return_period
from gst.periods import add_months
from gst.rule_data import DEFAULT_RULES, RuleSet
from gst.rules import pending_deadline
from gst.sections import SECTIONS, DocKind
from ims_project import rls

from .documents import DIRECTION, carry_since
from .twob import ITCREV, QUARTERLY_SRC_FORMS, RECLAIM, AtRisk, Part


def _sections_values() -> str:
    rows = []
    for key, info in SECTIONS.items():
        group = info.twob_group
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


_DOC = "invoices.supplierdocument"
_ACTION_EVENTS = "('ims.action_set', 'ims.action_pushed')"


def _nullable(field: str, cast: str = "") -> str:
    """A field as of %(as_of_ts)s: the old value of its first change after then (``ver.old``), else today's."""
    value = f"(ver.old->>'{field}'){cast}"
    return f"CASE WHEN ver.old ? '{field}' THEN {value} ELSE d.{field} END AS {field}"


def _local(field: str, cast: str = "", empty: str = "NULL") -> str:
    """A local field as of %(as_of_ts)s for a document whose action changed since: the new value of the last action
    event before then (none, or a push: the local action had been cleared)."""
    return (
        f"CASE WHEN lt.id IS NULL THEN d.{field} WHEN la.action = 'ims.action_set' AND la.changes ? '{field}' "
        f"THEN (la.changes->'{field}'->>1){cast} ELSE {empty} END AS {field}"
    )


# The documents of the GSTIN as they stood at %(as_of_ts)s (docs/rules/gstr2b.md §10), from the history the
# product keeps: the supplier's fields and the portal's action rolled back through the document versions and the
# pushes after then; the local action, answer and declaration of the last action event before then (for the
# documents acted on since); documents that vanished after then present; documents first seen after then left
# out unless a 2B, a filing date, or (filed, no date known) the 2B cut-off of their period (the 13th of the next
# month, as the placement assumes) places them on or before then.
AS_OF_DOCUMENTS = f"""(
  WITH chg AS (
    SELECT v.document_id AS id, e.key AS k, v.seen_at AS at, e.value->0 AS old
    FROM invoices_documentversion v CROSS JOIN jsonb_each(v.changes) e
    WHERE v.tenant_id = %(tenant)s AND v.seen_at > %(as_of_ts)s
    UNION ALL
    SELECT a.object_id::bigint, 'portal_action', a.occurred_at, a.changes->'portal_action'->0
    FROM audit_auditevent a
    WHERE a.tenant_id = %(tenant)s AND a.occurred_at > %(as_of_ts)s AND a.object_type = '{_DOC}'
      AND a.action = 'ims.action_pushed'
  ), ver AS (
    SELECT f.id, jsonb_object_agg(f.k, f.old) AS old
    FROM (SELECT DISTINCT ON (chg.id, chg.k) chg.id, chg.k, chg.old FROM chg ORDER BY chg.id, chg.k, chg.at) f
    GROUP BY f.id
  ), lt AS (
    SELECT DISTINCT a.object_id AS id FROM audit_auditevent a
    WHERE a.tenant_id = %(tenant)s AND a.occurred_at > %(as_of_ts)s AND a.object_type = '{_DOC}'
      AND a.action IN {_ACTION_EVENTS}
  ), la AS (
    SELECT DISTINCT ON (a.object_id) a.object_id AS id, a.action, a.changes, a.occurred_at
    FROM audit_auditevent a JOIN lt ON lt.id = a.object_id
    WHERE a.tenant_id = %(tenant)s AND a.object_type = '{_DOC}' AND a.action IN {_ACTION_EVENTS}
      AND a.occurred_at <= %(as_of_ts)s
    ORDER BY a.object_id, a.seq DESC
  )
  SELECT d.id, d.tenant_id, d.registration_id, d.section, d.supplier_gstin, d.original_id, d.doc_date,
         d.orig_doc_date, d.src_form, d.itc_eligible, d.twob_period, d.supplier_filing_date,
         CASE WHEN d.vanished_at > %(as_of_ts)s THEN NULL ELSE d.vanished_at END AS vanished_at,
         {_nullable("supplier_period", "::date")}, {_nullable("supplier_filing_status")}, {_nullable("pos")},
         {_nullable("taxable_value", "::numeric")}, {_nullable("igst", "::numeric")},
         {_nullable("cgst", "::numeric")}, {_nullable("sgst", "::numeric")}, {_nullable("cess", "::numeric")},
         {_nullable("portal_action")}, {_nullable("portal_itc_red_req")},
         {_nullable("portal_decl_igst", "::numeric")}, {_nullable("portal_decl_cgst", "::numeric")},
         {_nullable("portal_decl_sgst", "::numeric")}, {_nullable("portal_decl_cess", "::numeric")},
         {_local("local_action")}, {_local("local_itc_red_req", empty="''")},
         {_local("local_decl_igst", "::numeric")}, {_local("local_decl_cgst", "::numeric")},
         {_local("local_decl_sgst", "::numeric")}, {_local("local_decl_cess", "::numeric")},
         CASE WHEN lt.id IS NULL THEN d.local_updated_at WHEN la.action = 'ims.action_set' THEN la.occurred_at
         END AS local_updated_at
  FROM invoices_supplierdocument d
  LEFT JOIN ver ON ver.id = d.id
  LEFT JOIN lt ON lt.id = d.id::text
  LEFT JOIN la ON la.id = d.id::text
  WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s
    AND (d.first_seen_at <= %(as_of_ts)s OR d.twob_period IS NOT NULL OR d.supplier_filing_date <= %(as_of)s
         OR (d.supplier_filing_date IS NULL AND d.supplier_filing_status = 'filed'
             AND (d.supplier_period + interval '1 month 12 days')::date <= %(as_of)s))
)"""  # nosec B608  # a constant of the code


def placement_sql(
    rules: RuleSet = DEFAULT_RULES,
    *,
    filings: bool = False,
    carry: bool = False,
    all_periods: bool = False,
    rule37a: bool = False,
    history: bool = False,
    only: bool = False,
) -> str:
    """SELECT of every candidate document with its placement (mirroring :func:`returns.twob.place`, with the
    carry-forward past filed GSTR-3Bs, the one-period Pending limit and Rule 37A): id, part, reason,
    grp, twob_section, nttyp, section, supplier, supplier_period, filing_date (as known), taxable value and tax,
    tenant, the ITC the summary counts (itc_igst..itc_cess), the action applied, natural and landing period, the
    lapsed deadline, and for an available document whose supplier's return period is at risk under Rule 37A
    (the ``r37_*`` arrays of :func:`params`, from :func:`returns.twob.rule37a_at_risk`) the 2B period whose itcrev
    reverses it (r37_period), the return period it is re-availed in (r37_reavail) and the reverse-by day
    (r37_due); ``here``: the document itself is placed in %(period)s.

    Parameters: see :func:`params`. ``filings``: the GSTIN has filed GSTR-3Bs (documents may move to a later
    period); ``carry``: documents of earlier periods may be carried forward (there are
    filed GSTR-3Bs before the period). ``all_periods``: every filed document of supplier periods from
    %(since)s on or pending (the deadline queue), not only the period's. ``rule37a``: some supplier periods are at
    risk (without, the statement has no Rule 37A join: a third of the deadline query's time at 500,000 documents).
    ``history``: the documents as they stood at %(as_of_ts)s (:data:`AS_OF_DOCUMENTS`), not as they are now.
    ``only``: the documents %(only_ids)s only (a refresh of the deadline queue's changed entries)."""
    iff = ", ".join(f"'{f}'" for f in sorted(QUARTERLY_SRC_FORMS))
    lim_m, lim_d = rules.itc_limit_month_day
    old_m, old_d = rules.itc_limit_month_day_before
    decl = "CASE WHEN d.local_action IS NOT NULL THEN d.local_decl_{0} ELSE d.portal_decl_{0} END"
    step = "CASE WHEN %(quarterly)s THEN interval '3 months' ELSE interval '1 month' END"
    r37_sections = ", ".join(f"'{s.value}'" for s in sorted(rules.rule37a_sections))
    r37_cols = "NULL::date AS r37_base, NULL::date AS r37_reavail_base, NULL::date AS r37_due"
    r37_join = ""
    if rule37a:
        r37_cols = "s37.reversal AS r37_base, s37.reavail AS r37_reavail_base, s37.reverse_by AS r37_due"
        r37_join = f"""LEFT JOIN unnest(%(r37_gstin)s::text[], %(r37_period)s::date[], %(r37_reversal)s::date[],
                       %(r37_reavail)s::date[], %(r37_due)s::date[]) AS s37(gstin, period, reversal, reavail, reverse_by)
        ON s37.gstin = d.supplier_gstin AND s37.period = d.supplier_period AND d.section IN ({r37_sections})"""
    if all_periods:
        where = """(d.supplier_period >= %(since)s OR coalesce(d.local_action, d.portal_action) = 'P'"""
        where += " OR s37.gstin IS NOT NULL)" if rule37a else ")"
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
        if rule37a:
            where = f"({where} OR (s37.gstin IS NOT NULL AND s37.reversal <= %(period)s))"
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
             ) ELSE n.nat_period END"""  # nosec B608  # interval expression a code literal; values as params
    )
    period_filter = (
        ""
        if all_periods
        else "WHERE r.period = %(period)s OR r.r37_period = %(period)s "
        "OR (r.r37_period IS NOT NULL AND r.r37_reavail_base = %(period)s)"
    )
    return f"""
    WITH m AS (
      SELECT d.id, d.section, d.supplier_gstin, d.supplier_period, d.supplier_filing_date AS filing_date, d.pos,
             d.itc_eligible,
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
             {r37_cols},
             CASE WHEN d.twob_period IS NOT NULL THEN d.twob_period
                  WHEN d.supplier_filing_date IS NOT NULL THEN greatest(
                    (date_trunc('month', d.supplier_filing_date::timestamp)
                     - CASE WHEN extract(day FROM d.supplier_filing_date) <= CASE WHEN upper(d.src_form) IN ({iff})
                             THEN {int(rules.twob_cutoff_day_iff)} ELSE {int(rules.twob_cutoff_day)} END
                            THEN interval '1 month' ELSE interval '0' END)::date,
                    d.supplier_period)
                  ELSE d.supplier_period END AS month
      FROM {AS_OF_DOCUMENTS if history else "invoices_supplierdocument"} d
      JOIN {_sections_values()} ON sec.section = d.section
      LEFT JOIN (  -- the linked originals of pending or rejected amendments (few): one small hash join
        SELECT a.id AS amendment_id, o.id, o.igst, o.cgst, o.sgst, o.cess, o.taxable_value, o.local_action,
               o.portal_action, o.twob_period, o.local_updated_at,
               coalesce(o.local_action, o.portal_action) AS action
        FROM invoices_supplierdocument a
        JOIN invoices_supplierdocument o ON o.id = a.original_id AND o.tenant_id = a.tenant_id
        WHERE a.original_id IS NOT NULL AND a.tenant_id = %(tenant)s AND a.registration_id = %(reg)s
          AND coalesce(a.local_action, a.portal_action) IN ('P', 'R')) o ON o.amendment_id = d.id
      {r37_join}
      WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.vanished_at IS NULL
        AND d.supplier_filing_status = 'filed' AND {where}{" AND d.id = ANY(%(only_ids)s)" if only else ""}
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
             CASE WHEN l.pos <> '' AND left(l.supplier_gstin, 2) = l.pos AND l.pos <> %(state)s THEN 'P'
                  WHEN l.itc_eligible = 'N' THEN 'I'
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
    ), r AS (
      SELECT q.*, CASE WHEN q.part = '{Part.AVAILABLE.value}' AND q.r37_base IS NOT NULL
                       THEN greatest(q.r37_base, q.period) END AS r37_period  -- (greatest skips NULLs)
      FROM q
    )
    SELECT r.id, r.part, r.reason, r.grp, r.twob_section, r.nttyp, r.section, r.supplier_gstin, r.supplier_period,
           r.filing_date, r.taxable_value, r.igst, r.cgst, r.sgst, r.cess, r.tenant_id,
           {", ".join(f"{_itc_case(h, k, 'r')} AS itc_{h}" for h, k in _DECLARED)},
           r.applied, r.nat_period, r.period, r.lapsed,
           r.r37_period, CASE WHEN r.r37_period IS NOT NULL AND r.r37_reavail_base IS NOT NULL
                                THEN greatest(r.r37_reavail_base, r.r37_period) END
             AS r37_reavail, CASE WHEN r.r37_period IS NOT NULL THEN r.r37_due END AS r37_due,
           r.period IS NOT DISTINCT FROM %(period)s AS here, r.month, r.specified, r.is_cn, r.itc_last,
           trunc(({" + ".join(_itc_case(h, k, "r") for h, k in _DECLARED)}) * 100)::bigint AS itc_paise
    FROM r {period_filter}
    """  # nosec B608  # SQL fragments from code; values as params


_DECLARED = (("igst", "di"), ("cgst", "dc"), ("sgst", "ds"), ("cess", "dx"))


def _itc_case(head: str, declared: str, t: str = "q") -> str:
    # Python: v or ZERO — a declared 0.00, like a nil reduction, counts 0.00.
    return (
        f"CASE WHEN NOT {t}.reduced THEN {t}.{head} WHEN {t}.red_req = 'N' OR coalesce({t}.{declared}, 0) = 0 "
        f"THEN 0.00::numeric ELSE {t}.{declared} END"
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
    at_risk: Sequence[AtRisk] = (),
    since: dt.date | None = None,
    history: bool = False,
) -> dict:
    """Parameters of :func:`placement_sql` (``period`` None with ``since``: the deadline queue's every period).
    ``at_risk``: the suppliers' return periods at risk under Rule 37A (:func:`returns.twob.rule37a_at_risk`),
    each once."""
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
        "r37_gstin": [a.supplier_gstin for a in at_risk],
        "r37_period": [a.period for a in at_risk],
        "r37_reversal": [a.reversal for a in at_risk],
        "r37_reavail": [a.reavail for a in at_risk],
        "r37_due": [a.reverse_by for a in at_risk],
        "since": since,
        "carry_bound": add_months(max(filed_3b), step) if filed_3b else None,
        # history: the end of the day ``as_of`` (local time) the documents are read as of
        "as_of": as_of,
        "as_of_ts": end_of_day(as_of) if history and as_of else None,
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


def end_of_day(day: dt.date) -> dt.datetime:
    """The last moment of ``day`` in the product's time zone (Asia/Kolkata), aware."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone) - dt.timedelta(
        microseconds=1
    )


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
         y.here, y.r37_period = %(period)s AS reversed, y.r37_reavail = %(period)s AS reavailed, y.itc_paise
  FROM ({placed}) y
), g AS MATERIALIZED (  -- counter-party groups, hashed (their count is unknown to the planner)
  SELECT x.twob_section, x.supplier_gstin, x.nttyp, to_char(x.supplier_period, 'MMYYYY') AS supprd,
         coalesce(to_char(x.filing_date, 'DD-MM-YYYY'), '') AS supfildt, count(*) AS n,
         sum(x.taxable_value) AS txval, sum(x.igst) AS igst, sum(x.cgst) AS cgst, sum(x.sgst) AS sgst,
         sum(x.cess) AS cess
  FROM x WHERE x.here AND x.part IN ('itcavl', 'itcunavl')
  GROUP BY x.twob_section, x.supplier_gstin, x.nttyp, x.supplier_period, x.filing_date
), e AS (  -- one entry per document: its own placement, else its Rule 37A reversal, else its re-availment
  SELECT x.part, x.grp, x.twob_section, x.reason, x.id, x.itc_paise AS paise FROM x WHERE x.here
  UNION ALL
  SELECT '{itcrev}', 'nonrevsup', x.twob_section, '', x.id, x.itc_paise FROM x WHERE x.reversed AND NOT x.here
  UNION ALL
  SELECT '{reclaim}', 'nonrevsup', x.twob_section, '', x.id, x.itc_paise FROM x
  WHERE x.reavailed AND NOT x.here AND x.reversed IS NOT TRUE
), i AS (
  SELECT x.part, x.grp, x.twob_section, x.itc_igst, x.itc_cgst, x.itc_sgst, x.itc_cess
  FROM x WHERE x.here AND x.part IN ('itcavl', 'itcunavl', 'itcRejected')
  UNION ALL
  SELECT '{itcrev}', 'nonrevsup', x.twob_section, x.itc_igst, x.itc_cgst, x.itc_sgst, x.itc_cess
  FROM x WHERE x.reversed
  UNION ALL
  SELECT '{reclaim}', 'nonrevsup', x.twob_section, x.itc_igst, x.itc_cgst, x.itc_sgst, x.itc_cess
  FROM x WHERE x.reavailed
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
SELECT 'n', x.part, count(*)::text, NULL, NULL FROM x WHERE x.here GROUP BY x.part
"""


def aggregates(p: dict) -> list[tuple]:
    """The rows of :data:`_AGGREGATES` for the parameters ``p`` (one scan of the documents)."""
    sql = _AGGREGATES.format(
        placed=placement_sql(
            filings=bool(p["filed_p"]),
            carry=carries(p),
            rule37a=bool(p["r37_gstin"]),
            history=p.get("as_of_ts") is not None,
        ),
        itcrev=ITCREV,
        reclaim=RECLAIM,
    )
    rls.ensure_connection()  # before a raw psycopg cursor: the tenant set
    with (
        transaction.atomic(),
        psycopg.Cursor(connection.connection) as cur,
    ):  # server-side binding: binary results
        # the groups hash in memory; JIT compiles for longer than these queries run (docs/decisions/0006-jit-off.md)
        # no merge join: the Rule 37A join would sort every document by supplier and period; a hash join does not
        cur.execute(
            "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off; SET LOCAL enable_sort = off; "
            "SET LOCAL enable_mergejoin = off"
        )
        if p.get("as_of_ts") is not None:
            # the history's pieces (documents acted on or changed since) are estimated at one row each: a nested
            # loop over them ran once per document (3x the preview at 20,000 documents); hash them
            cur.execute("SET LOCAL enable_nestloop = off")
        cur.execute(sql, p, binary=True)
        return cur.fetchall()


def _month_index(expr: str, first: str, step) -> str:
    """1-based index of the month ``expr`` in an array of periods starting at ``first``, ``step`` months apart
    (arithmetic instead of array_position: a row costs no array scan)."""
    return (
        f"((date_part('year', {expr})::int * 12 + date_part('month', {expr})::int"
        f" - date_part('year', {first}::date)::int * 12 - date_part('month', {first}::date)::int) / {step} + 1)"
    )


# The deadline queue (returns.selectors.deadline_queue): every document of the GSTIN that still needs a decision,
# with its clock (docs/rules/gstr3b.md §1.4), ranked by ITC at stake ÷ days left (× days overdue once late),
# keyset-paginated on (score, id). Settled, so left out: a document of a period whose GSTR-3B is filed (it left IMS)
# and one whose action counts (accepted or rejected; a pending one still needs a decision, as does one with no
# action or deemed accepted past its Pending limit). An available document whose ITC is to be reversed under
# Rule 37A and not yet re-availed is in it whatever its period, with the reverse-by day as its clock.
# {{filters}} narrow it (section, supplier, days left, ITC).
_DEADLINE_ROWS = f"""
WITH c AS (
  SELECT x.id, x.part, x.section, x.supplier_gstin, x.igst + x.cgst + x.sgst + x.cess AS stake,
         CASE WHEN x.r37_period IS NOT NULL AND x.r37_reavail IS NULL THEN 'Rule 37A'
              WHEN x.part = 'pending' THEN
                CASE WHEN x.specified AND x.month >= %(cutover)s THEN 'Pending limit'
                     WHEN x.is_cn THEN NULL ELSE 'Section 16(4)' END
              WHEN x.period = ANY(%(filed_p)s) THEN NULL
              WHEN x.applied <> 'N' THEN NULL
              ELSE 'GSTR-3B due' END AS clock,
         x.month, x.period, x.itc_last, x.r37_due
  FROM ({{placed}}) x WHERE x.part IN ('itcavl', 'itcRejected', 'pending')
), d AS (
  SELECT c.*, CASE c.clock
                WHEN 'Pending limit' THEN (%(pd_d)s::date[])[{_month_index("c.month", "%(pd_first)s", 1)}]
                WHEN 'Section 16(4)' THEN c.itc_last
                WHEN 'Rule 37A' THEN c.r37_due
                ELSE (%(due_d)s::date[])[{_month_index("c.period", "%(due_first)s", "%(step)s")}] END AS due
  FROM c WHERE c.clock IS NOT NULL
), s AS (
  SELECT d.*, d.due - %(today)s AS days,
         CASE WHEN d.due >= %(today)s THEN d.stake / greatest(d.due - %(today)s, 1)
              ELSE d.stake * (1 - (d.due - %(today)s)) END AS score
  FROM d
)
"""  # nosec B608  # SQL fragments from code; filters are code literals, values as params
# The queue is kept as a table (``returns_deadlineentry``, models.DeadlineEntry): every entry of a GSTIN with its
# clock, due day, ITC at stake and score for the day it was computed, so a page is an index range. A read first
# makes it fresh (:func:`_fresh`): the whole GSTIN when the day changed or something broad changed (stale: a filing,
# a supplier's GSTR-3B status, an ingest), else only the documents changed since (dirty, noted by triggers on the
# documents table; migration returns 0006).
_DEADLINE_STORE = (
    _DEADLINE_ROWS
    + """INSERT INTO returns_deadlineentry (document_id, tenant_id, registration_id, part, section, supplier_gstin,
                                      clock, due, stake, score)
SELECT s.id, %(tenant)s, %(reg)s, s.part, s.section, s.supplier_gstin, s.clock, s.due, s.stake, s.score
FROM s WHERE s.due IS NOT NULL
"""  # nosec B608  # code constants; values as params
)
_ENTRY_COLUMNS = "e.document_id, e.part, e.clock, e.due, e.due - %(today)s AS days, e.stake, e.score"
_DEADLINES = f"""SELECT {_ENTRY_COLUMNS} FROM returns_deadlineentry e
WHERE e.tenant_id = %(tenant)s AND e.registration_id = %(reg)s {{filters}} {{keyset}}
ORDER BY e.score DESC, e.document_id DESC LIMIT %(limit)s"""  # nosec B608  # column list constant; filters are code literals, values as params
_DEADLINE_TOTALS = """SELECT count(*), coalesce(sum(e.stake), 0) FROM returns_deadlineentry e
WHERE e.tenant_id = %(tenant)s AND e.registration_id = %(reg)s {filters}"""
_DEADLINE_IDS = """SELECT e.document_id FROM returns_deadlineentry e
WHERE e.tenant_id = %(tenant)s AND e.registration_id = %(reg)s {filters}"""
_DEADLINE_LOCK = (
    7_260_011  # pg_advisory_xact_lock(namespace, registration id): one refresh of a queue at a time
)
DIRTY_AT_MOST = 50_000  # more dirty documents than this: the whole GSTIN is recomputed


def _deadline_filters(p: dict) -> str:
    """The queue's filters as SQL on the entries ``e`` (each only when its parameter is given)."""
    out = []
    if p.get("f_sections"):
        out.append("AND e.section = ANY(%(f_sections)s)")
    if p.get("f_suppliers") is not None:
        out.append("AND e.supplier_gstin = ANY(%(f_suppliers)s)")
    if p.get("f_days_max") is not None:
        out.append("AND e.due - %(today)s <= %(f_days_max)s")
    if p.get("f_min_itc") is not None:
        out.append("AND e.stake >= %(f_min_itc)s")
    if p.get("f_clock"):
        out.append("AND e.clock = %(f_clock)s")
    return " ".join(out)


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
    sections: Sequence[str] = (),
    suppliers: Sequence[str] | None = None,
    days_max: int | None = None,
    min_itc: Decimal | None = None,
    clock: str = "",
    at_risk: Sequence[AtRisk] = (),
) -> dict:
    """Parameters of the deadline query: the placement's (every period, as of ``today``) plus the GSTR-3B due
    dates of every return period and the one-period Pending deadlines of every 2B month that can occur, and the
    queue's filters: ``sections`` (IMS section keys), ``suppliers`` (supplier GSTINs; None = any), ``days_max``
    (days left at most; overdue ones are negative), ``min_itc`` (ITC at stake at least), ``clock`` (one clock:
    "GSTR-3B due", "Pending limit", "Section 16(4)" or "Rule 37A"; "" = any)."""
    p = params(
        tenant_id=tenant_id,
        registration_id=registration_id,
        state_code=state_code,
        frequency=frequency,
        period=None,
        filed_3b=filed_3b,
        as_of=today,
        since=since,
        at_risk=at_risk,
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
        f_sections=list(sections or []),
        f_suppliers=list(suppliers) if suppliers is not None else None,
        f_days_max=days_max,
        f_min_itc=min_itc,
        f_clock=clock,
    )
    return p


def deadlines(p: dict) -> list[tuple]:
    """(id, part, clock, due, days left, ITC at stake, score) of the most urgent documents, best first."""
    keyset = (
        "AND (e.score, e.document_id) < (%(after_score)s, %(after_id)s)"
        if p["after_score"] is not None
        else ""
    )
    return _read(_DEADLINES.format(filters=_deadline_filters(p), keyset=keyset), p)


def deadline_totals(p: dict) -> tuple[int, Decimal]:
    """(documents, ITC at stake) of the whole filtered queue of one GSTIN (every page)."""
    count, stake = _read(_DEADLINE_TOTALS.format(filters=_deadline_filters(p)), p)[0]
    return int(count), Decimal(stake)


def deadline_ids(p: dict) -> list[int]:
    """The ids of every document of the filtered queue of one GSTIN ("all matching" of a bulk action)."""
    return [row[0] for row in _read(_DEADLINE_IDS.format(filters=_deadline_filters(p)), p)]


def _read(sql: str, p: dict) -> list[tuple]:
    _fresh(p)
    rls.ensure_connection()  # before a raw psycopg cursor: the tenant set
    with psycopg.Cursor(connection.connection) as cur:
        cur.execute(sql, p)
        return cur.fetchall()


def _fresh(p: dict) -> None:
    """Make the GSTIN's stored queue that of ``p["today"]``: recompute it whole when it was computed for another
    day, never, or something broad changed since (stale); else recompute the entries of the documents changed since
    (dirty). One refresh per GSTIN at a time (an advisory lock); a no-op when nothing changed."""
    reg, tenant = p["reg"], p["tenant"]
    rls.ensure_connection()  # before a raw psycopg cursor: the tenant set
    with transaction.atomic(), psycopg.Cursor(connection.connection) as cur:
        cur.execute("SELECT computed_for, stale FROM returns_deadlinestate WHERE registration_id = %s", [reg])
        state = cur.fetchone()
        if state is not None and state[0] == p["today"] and not state[1]:
            cur.execute("SELECT 1 FROM returns_deadlinedirty WHERE registration_id = %s LIMIT 1", [reg])
            if cur.fetchone() is None:
                return  # the common case: fresh
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_DEADLINE_LOCK, reg])
        cur.execute(
            "SELECT computed_for, stale FROM returns_deadlinestate WHERE registration_id = %s FOR UPDATE",
            [reg],
        )
        state = cur.fetchone()
        cur.execute(
            "DELETE FROM returns_deadlinedirty WHERE registration_id = %s RETURNING document_id", [reg]
        )
        dirty = [row[0] for row in cur.fetchall()]
        whole = state is None or state[0] != p["today"] or state[1] or len(dirty) > DIRTY_AT_MOST
        if not whole and not dirty:
            return  # another reader refreshed it meanwhile
        cur.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL enable_mergejoin = off")
        placed = placement_sql(
            filings=bool(p["filed_p"]), all_periods=True, rule37a=bool(p["r37_gstin"]), only=not whole
        )
        if whole:
            cur.execute("DELETE FROM returns_deadlineentry WHERE registration_id = %s", [reg])
        else:
            # the changed documents and the amendments of the changed originals (their direction may change)
            cur.execute(
                """SELECT array_agg(id) FROM (
                     SELECT unnest(%(ids)s::bigint[]) AS id
                     UNION SELECT d.id FROM invoices_supplierdocument d
                     WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s
                       AND d.original_id = ANY(%(ids)s)) x""",
                {"ids": dirty, "tenant": tenant, "reg": reg},
            )
            dirty = cur.fetchone()[0] or []
            cur.execute("DELETE FROM returns_deadlineentry WHERE document_id = ANY(%s)", [dirty])
        cur.execute(_DEADLINE_STORE.format(placed=placed), {**p, "only_ids": dirty})
        if whole:  # fresh statistics, or the planner (estimating a handful of rows) sorts the GSTIN's entries
            rls.analyze(cur, "returns_deadlineentry")  # by its owner: ANALYZE by another skips it
        cur.execute(
            """INSERT INTO returns_deadlinestate (registration_id, tenant_id, computed_for, stale)
               VALUES (%s, %s, %s, false)
               ON CONFLICT (registration_id) DO UPDATE SET computed_for = EXCLUDED.computed_for, stale = false""",
            [reg, tenant, p["today"]],
        )

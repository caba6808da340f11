"""Read the IMS documents of one GSTIN that may fall in a 2B period, as :class:`returns.twob.Doc` (streamed with a
server-side cursor, so 500,000 documents never sit in memory as model instances)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from django.conf import settings
from django.db import connection, transaction

from gst.periods import add_months
from gst.rule_data import DEFAULT_RULES
from ims_project import rls

from .twob import AtRisk, Doc

_EFFECTIVE = "CASE WHEN d.local_action IS NOT NULL THEN d.local_{0} ELSE d.portal_{0} END"
_TAX = "({0}.igst + {0}.cgst + {0}.sgst + {0}.cess)"
# Amendment direction against the linked original (as actions.facts: total tax, then taxable value).
DIRECTION = f"""CASE WHEN o.id IS NULL THEN NULL
    WHEN {_TAX.format("d")} > {_TAX.format("o")} THEN 'up' WHEN {_TAX.format("d")} < {_TAX.format("o")} THEN 'down'
    WHEN d.taxable_value > o.taxable_value THEN 'up' WHEN d.taxable_value < o.taxable_value THEN 'down'
    ELSE 'unchanged' END"""
_SELECT = f"""
    SELECT d.section, d.supplier_gstin, d.doc_number, d.doc_date, d.supplier_period,
           d.supplier_filing_status = 'filed', d.pos, d.doc_value, d.taxable_value, d.igst, d.cgst, d.sgst, d.cess,
           coalesce(d.local_action, d.portal_action), d.supplier_filing_date, d.twob_period, d.src_form, d.inv_type,
           d.orig_doc_number, d.orig_doc_date, {_EFFECTIVE.format("itc_red_req")},
           {_EFFECTIVE.format("decl_igst")}, {_EFFECTIVE.format("decl_cgst")}, {_EFFECTIVE.format("decl_sgst")},
           {_EFFECTIVE.format("decl_cess")}, d.id, coalesce(nullif(s.trade_name, ''), s.legal_name, ''),
           (d.local_updated_at AT TIME ZONE %(tz)s)::date, {DIRECTION}, coalesce(o.local_action, o.portal_action),
           o.twob_period, o.id, o.igst, o.cgst, o.sgst, o.cess, (o.local_updated_at AT TIME ZONE %(tz)s)::date,
           d.itc_eligible, d.port_code, d.ref_date
    FROM invoices_supplierdocument d
    LEFT JOIN invoices_supplier s ON s.tenant_id = d.tenant_id AND s.gstin = d.supplier_gstin
    LEFT JOIN invoices_supplierdocument o ON o.id = d.original_id AND o.tenant_id = d.tenant_id
    WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.vanished_at IS NULL
"""  # nosec B608  # SQL fragments from code constants
_PERIOD_FILTER = """
      AND (d.twob_period = ANY(%(months)s)
           OR (d.twob_period IS NULL AND d.supplier_filing_status = 'filed' AND (
                 (d.supplier_filing_date IS NULL AND d.supplier_period = ANY(%(months)s))
              OR (d.supplier_filing_date >= %(first)s AND d.supplier_filing_date < %(until)s
                  AND d.supplier_period <= %(last)s))))
"""
# Documents of earlier periods that may have been carried forward past a filed GSTR-3B (returns.twob): pending
# ones, and those whose local action changed after the earliest filing.
CARRY_FILTER = """
      OR (d.supplier_filing_status = 'filed' AND d.supplier_period < %(first)s
          AND (coalesce(d.local_action, d.portal_action) = 'P' OR d.local_updated_at >= %(carry_since)s))
"""


# Documents of suppliers' return periods at risk under Rule 37A (returns.twob.rule37a_at_risk): their reversal or
# re-availment may fall in any later period.
RULE37A_FILTER = """
      OR (d.supplier_filing_status = 'filed' AND d.section = ANY(%(r37_sections)s)
          AND (d.supplier_gstin, d.supplier_period) IN (
                SELECT * FROM unnest(%(r37_gstin)s::text[], %(r37_period)s::date[])))
"""


def _at_risk_params(at_risk: Sequence[AtRisk]) -> dict:
    return {
        "r37_gstin": [a.supplier_gstin for a in at_risk],
        "r37_period": [a.period for a in at_risk],
        "r37_sections": sorted(s.value for s in DEFAULT_RULES.rule37a_sections),
    }


def tz() -> str:
    return settings.TIME_ZONE


def _doc(row) -> Doc:
    orig_tax = tuple(row[32:36]) if row[31] is not None else None
    return Doc(*row[:21], tuple(row[21:25]), *row[25:32], orig_tax, row[36], *row[37:40])


def _stream(sql: str, params: dict, chunk: int = 5000) -> Iterator[Doc]:
    rls.ensure_connection()  # before a raw psycopg cursor: the tenant set
    with transaction.atomic(), connection.connection.cursor(name="twob_docs") as cur:
        cur.itersize = chunk
        cur.execute(sql, params)
        for row in cur:
            yield _doc(row)


def carry_since(filed_3b: dict[dt.date, dt.date], before: dt.date) -> dt.date | None:
    """The earliest filing date of a GSTR-3B of a period before ``before`` (None: nothing can be carried)."""
    dates = [on for period, on in filed_3b.items() if period < before]
    return min(dates) if dates else None


def candidate_documents(
    *,
    tenant_id: int,
    registration_id: int,
    months: Sequence[dt.date],
    filed_3b: dict[dt.date, dt.date] | None = None,
    at_risk: Sequence[AtRisk] = (),
) -> Iterator[Doc]:
    """Every live document that may land in the 2B of ``months`` (a superset: :func:`returns.twob.place` decides),
    including those of earlier periods that may have been carried forward past a filed GSTR-3B, and those whose
    Rule 37A reversal or re-availment may fall in it (``at_risk``)."""
    first, last = min(months), max(months)
    params = {
        "tenant": tenant_id,
        "reg": registration_id,
        "months": list(months),
        "first": first,
        "last": last,
        "until": add_months(last, 1).replace(day=14),
        "tz": tz(),
    }
    since = carry_since(filed_3b or {}, first)
    more = ""
    if since is not None:
        params["carry_since"] = since
        more += CARRY_FILTER
    relevant = [a for a in at_risk if a.reversal <= last]
    if relevant:
        params.update(_at_risk_params(relevant))
        more += RULE37A_FILTER
    where = f" AND ({_PERIOD_FILTER.strip()[4:]} {more})" if more else _PERIOD_FILTER
    return _stream(_SELECT + where, params)


def pending_amendments(
    *, tenant_id: int, registration_id: int, periods: Sequence[dt.date], sections: Sequence[str]
) -> list[Doc]:
    """The live amendments of ``sections`` and supplier ``periods`` kept pending (found by the partial index of
    amendments by supplier period, ``doc_amendment_period_idx``)."""
    with connection.cursor() as cur:
        cur.execute(
            _SELECT
            + """ AND d.is_amendment AND d.supplier_period = ANY(%(periods)s) AND d.section = ANY(%(sections)s)
                 AND coalesce(d.local_action, d.portal_action) = 'P'""",
            {
                "tenant": tenant_id,
                "reg": registration_id,
                "periods": list(periods),
                "sections": list(sections),
                "tz": tz(),
            },
        )
        return [_doc(r) for r in cur.fetchall()]


def documents_by_id(*, tenant_id: int, registration_id: int, ids: Sequence[int]) -> list[Doc]:
    with connection.cursor() as cur:
        cur.execute(
            _SELECT + " AND d.id = ANY(%(ids)s)",
            {"tenant": tenant_id, "reg": registration_id, "ids": list(ids), "tz": tz()},
        )
        return [_doc(r) for r in cur.fetchall()]


def open_documents(
    *, tenant_id: int, registration_id: int, since: dt.date, at_risk: Sequence[AtRisk] = ()
) -> Iterator[Doc]:
    """Live, filed documents of supplier periods from ``since`` on, or pending, or of a supplier's return period
    at risk under Rule 37A (the deadline queue's input)."""
    sql = (
        _SELECT
        + """ AND d.supplier_filing_status = 'filed'
        AND (d.supplier_period >= %(since)s OR coalesce(d.local_action, d.portal_action) = 'P'"""
        + (RULE37A_FILTER if at_risk else "")
        + ")"
    )
    params = {
        "tenant": tenant_id,
        "reg": registration_id,
        "since": since,
        "tz": tz(),
        **_at_risk_params(at_risk),
    }
    return _stream(sql, params)


def rule37a_documents(
    *, tenant_id: int, registration_id: int, pairs: Sequence[tuple[str, dt.date]]
) -> list[Doc]:
    """Live, filed invoices and debit notes (Rule 37A's sections) of the given (supplier GSTIN, return period)
    pairs (the Rule 37A watch)."""
    if not pairs:
        return []
    params = {
        "tenant": tenant_id,
        "reg": registration_id,
        "tz": tz(),
        "r37_gstin": [g for g, _p in pairs],
        "r37_period": [p for _g, p in pairs],
        "r37_sections": sorted(s.value for s in DEFAULT_RULES.rule37a_sections),
    }
    sql = (
        _SELECT
        + " AND (false "
        + RULE37A_FILTER
        + ") ORDER BY d.supplier_gstin, d.supplier_period, d.doc_date, d.id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [_doc(r) for r in cur.fetchall()]

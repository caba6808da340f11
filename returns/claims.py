"""The ITC claim period of each document (docs/rules/gstr3b.md §6): the return period whose GSTR-3B claims its ITC.

* The 2B period the document lands in (the placement of :mod:`returns.twob_sql`, carry-forward included), or the
  period it was booked in when that is later (bookings come from the purchase register through
  :data:`BOOKINGS`, filled by the reconciliation app; none registered: the 2B period alone);
* **deferred** while its action is Reject or Pending (read from the action, so a change shows at once);
* **fixed** once the GSTR-3B of that period is filed (read from the filings);
* none when it is in no 2B yet (the supplier has not filed) or its ITC is not available (POS rules, section
  16(4), an ISD's ineligible ITC).

The period itself is stored on the document (``SupplierDocument.itc_claim_period``, so the list filters and exports
it at any size) and refreshed set-based: after a sync, a GSTR-3B filing recorded or a reconciliation, and daily.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connection, transaction

from gst.periods import format_period, period_label
from invoices.models import SupplierDocument
from tenancy.models import Registration

from . import services, twob_sql
from .models import Gstr3bFiling
from .twob import Part, rule37a_table

# Each gives the SQL of rows (document_id, booked_on date) for the GSTIN %(reg)s of tenant %(tenant)s (no other
# parameters): the day a document was booked in the purchase register. The claim period is the later of the 2B
# period and the return period of that day.
BOOKINGS: list[Callable[[], str]] = []
SINCE = dt.date(2017, 7, 1)  # GST began: every document of the GSTIN is placed

DEFERRED, OPEN, FIXED, NONE = "deferred", "open", "fixed", "none"
STATE_LABELS = {
    DEFERRED: "Deferred (rejected or pending)",
    OPEN: "Claimable",
    FIXED: "Claimed (GSTR-3B filed)",
    NONE: "Not in a 2B yet, or ITC not available",
}


def _claim(frequency: str) -> str:
    """The claim period expression over the placement ``y`` and the bookings ``bk`` (:func:`_bookings`)."""
    if not BOOKINGS:
        return "y.period"
    booked = (
        "(date_trunc('quarter', bk.booked_on::timestamp) + interval '2 months')::date"
        if frequency == "Q"
        else "date_trunc('month', bk.booked_on::timestamp)::date"
    )
    return f"greatest(y.period, {booked})"  # greatest skips a NULL (not booked)


def _bookings(p: dict) -> tuple[list[int], list[dt.date]]:
    """(document ids, the day each was booked) of the GSTIN, read before the refresh's transaction, in a statement of
    its own: the reconciliation results it reads are not held locked while the documents are updated (a
    reconciliation's ATTACH PARTITION of its results waits for every reader of them, and every later reader waits
    behind it: docs/performance.md §3.11). A booking written meanwhile queues another refresh (pipeline.flows)."""
    if not BOOKINGS:
        return [], []
    rows = " UNION ALL ".join(fn() for fn in BOOKINGS)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT b.document_id, max(b.booked_on) FROM ({rows}) b GROUP BY b.document_id",  # nosec B608  # booking SQL from registered code functions
            p,
        )
        found = cur.fetchall()
    return [r[0] for r in found], [r[1] for r in found]


def refresh_claim_periods(*, registration: Registration, today: dt.date | None = None) -> int:
    """Recompute the ITC claim period of every document of ``registration`` in two statements; returns how many
    documents changed. Safe to run any time (idempotent)."""
    recipient = services.recipient_of(registration, as_of=today)
    p = twob_sql.params(
        tenant_id=registration.tenant_id,
        registration_id=registration.pk,
        state_code=recipient.state_code,
        frequency=recipient.frequency,
        period=None,
        filed_3b=dict(recipient.filed_3b),
        as_of=recipient.as_of,
        since=SINCE,
        at_risk=rule37a_table(recipient),
    )
    placed = twob_sql.placement_sql(
        all_periods=True, filings=bool(p["filed_p"]), rule37a=bool(p["r37_gstin"])
    )
    claim = _claim(recipient.frequency)
    p["bk_ids"], p["bk_on"] = _bookings(p)
    booked = (
        "LEFT JOIN unnest(%(bk_ids)s::bigint[], %(bk_on)s::date[]) AS bk(document_id, booked_on) "
        "ON bk.document_id = y.id"
        if BOOKINGS
        else ""
    )
    with transaction.atomic(), connection.cursor() as cur:
        # Every document of the GSTIN is placed: hash joins. A GSTIN synced into a table whose statistics predate
        # it is estimated at one row, and the nested loops planned on that ran once per document per document
        # (5.8 s for 131 documents, minutes for a few thousand; 28 ms hashed: docs/performance.md §3.11).
        cur.execute(
            "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL enable_mergejoin = off; "
            "SET LOCAL enable_nestloop = off"
        )
        cur.execute(
            f"""
            UPDATE invoices_supplierdocument d SET itc_claim_period = c.claim
            FROM (SELECT y.id, CASE WHEN y.part = '{Part.UNAVAILABLE.value}' THEN NULL ELSE {claim} END AS claim
                  FROM ({placed}) y {booked}) c
            WHERE d.id = c.id AND d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s
              AND d.itc_claim_period IS DISTINCT FROM c.claim
            """,  # nosec B608  # SQL fragments from code and an enum value; values as params
            p,
        )
        changed = cur.rowcount
        cur.execute(
            """UPDATE invoices_supplierdocument SET itc_claim_period = NULL
               WHERE tenant_id = %s AND registration_id = %s AND itc_claim_period IS NOT NULL
                 AND (supplier_filing_status <> 'filed' OR vanished_at IS NOT NULL)""",
            [registration.tenant_id, registration.pk],
        )
        changed += cur.rowcount
    return changed


def claim_state(document: SupplierDocument, filed_periods: set[dt.date]) -> str:
    """:data:`DEFERRED`, :data:`OPEN`, :data:`FIXED` or :data:`NONE` for a document (its stored period, its
    effective action, the GSTIN's filed GSTR-3B periods)."""
    if document.effective_action in ("R", "P"):
        return DEFERRED
    if document.itc_claim_period is None:
        return NONE
    return FIXED if document.itc_claim_period in filed_periods else OPEN


def claim_panel(*, tenant, document) -> dict:
    """The document page's "ITC claim period" line (``invoices.panels``)."""
    filed = set(
        Gstr3bFiling.objects.filter(tenant=tenant, registration_id=document.registration_id).values_list(
            "period", flat=True
        )
    )
    state = claim_state(document, filed)
    period = document.itc_claim_period
    return {
        "itc_claim": {
            "state": state,
            "label": STATE_LABELS[state],
            "period": period_label(period) if period and state != DEFERRED else "",
            "period_text": format_period(period) if period else "",
        }
    }

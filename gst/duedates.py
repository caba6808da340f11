"""GSTR-3B due dates, GSTR-2B periods and the section 16(4) time limit (docs/rules/gstr3b.md §1, §3; docs/rules/gstr2b.md §2; docs/rules/documents.md §4).

Periods are dates (the first of the month, as in periods.py). A QRMP taxpayer's return period is a quarter,
named here by its last month (June, September, December, March). Every day number and state group comes from
:mod:`gst.rule_data`, so a notification that moves a date is a data change. Pure: no ORM, no Django.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from .periods import add_months, fy_start_year, month_start, quarter_last_period
from .rule_data import DEFAULT_RULES, RuleSet


class Frequency(StrEnum):
    """The recipient's return frequency (tenancy.models.FilingFrequency uses the same values)."""

    MONTHLY = "M"
    QRMP = "Q"


def return_period(period: dt.date, frequency: str) -> dt.date:
    """The return period containing ``period``: its month (monthly) or its quarter's last month (QRMP)."""
    return quarter_last_period(period) if frequency == Frequency.QRMP else month_start(period)


def next_return_period(period: dt.date, frequency: str, count: int = 1) -> dt.date:
    """The return period ``count`` periods after the one containing ``period`` (months, or quarters for QRMP)."""
    step = 3 if frequency == Frequency.QRMP else 1
    return add_months(return_period(period, frequency), step * count)


def qrmp_due_day(state_code: str | None, *, rules: RuleSet = DEFAULT_RULES) -> int | None:
    """The QRMP GSTR-3B due day (22 or 24) of a state; None when the state is in no group."""
    for day, states in rules.gstr3b_qrmp_due_days:
        if state_code in states:
            return day
    return None


def gstr3b_due_date(
    period: dt.date, frequency: str, state_code: str | None = None, *, rules: RuleSet = DEFAULT_RULES
) -> dt.date:
    """Due date of the GSTR-3B for the return period containing ``period``.

    Monthly: the 20th of the next month. QRMP: the 22nd or 24th (by the state of registration,
    ``state_code`` = the GSTIN's first two digits) of the month after the quarter; a state in no group gets the
    earlier day. A notified extension in ``rules.gstr3b_extensions`` wins.
    """
    frequency = Frequency(frequency)
    own = return_period(period, frequency)
    for ext in rules.gstr3b_extensions:
        if (
            ext.period == own
            and ext.frequency == frequency
            and (ext.states is None or state_code in ext.states)
        ):
            return ext.due_date
    if frequency == Frequency.QRMP:
        day = qrmp_due_day(state_code, rules=rules) or rules.gstr3b_qrmp_unknown_state_due_day
    else:
        day = rules.gstr3b_monthly_due_day
    following = add_months(own, 1)
    return following.replace(day=day)


def twob_period_of_filing(
    filing_date: dt.date, *, iff: bool = False, rules: RuleSet = DEFAULT_RULES
) -> dt.date:
    """The GSTR-2B month a document filed on ``filing_date`` lands in (docs/rules/gstr2b.md §2.1 cut-offs).

    Monthly GSTR-1: filed from the 12th of M to the 11th of M+1 → period M. IFF / quarterly GSTR-1: the 14th
    to the 13th. A document lands in the next open 2B whatever its own date; a QRMP recipient's 2B is the
    quarter containing this month (:func:`return_period`).
    """
    cutoff = rules.twob_cutoff_day_iff if iff else rules.twob_cutoff_day
    month = month_start(filing_date)
    return add_months(month, -1) if filing_date.day <= cutoff else month


def open_twob_period(today: dt.date, *, rules: RuleSet = DEFAULT_RULES) -> dt.date:
    """The earliest GSTR-2B month a document filed from ``today`` on can still land in (the later cut-off)."""
    return twob_period_of_filing(today, iff=True, rules=rules)


def section_16_4_last_date(
    itc_document_date: dt.date,
    *,
    annual_return_filed_on: dt.date | None = None,
    rules: RuleSet = DEFAULT_RULES,
) -> dt.date:
    """Last date to take ITC on a document (section 16(4), docs/rules/gstr3b.md §3).

    ``itc_document_date`` is the date of the invoice or debit note the ITC pertains to: for a debit note its own
    date (not its invoice's, since 01-01-2021); for an amendment, the original document's date (our reading:
    an amendment does not extend the limit). The limit is 30 November after the end of that financial year, or
    the filing of the annual return if earlier.
    """
    fy = fy_start_year(itc_document_date)
    month, day = (
        rules.itc_limit_month_day if fy >= rules.itc_limit_from_fy else rules.itc_limit_month_day_before
    )
    limit = dt.date(fy + 1, month, day)
    if annual_return_filed_on is not None and annual_return_filed_on < limit:
        return annual_return_filed_on
    return limit


__all__ = [
    "Frequency",
    "gstr3b_due_date",
    "next_return_period",
    "open_twob_period",
    "qrmp_due_day",
    "return_period",
    "section_16_4_last_date",
    "twob_period_of_filing",
]

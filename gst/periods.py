"""Tax periods (MMYYYY at the edges, a date — first of the month — inside), portal dates (DD-MM-YYYY),
Indian financial years (1 April – 31 March, label YYYY-YY) and QRMP quarters (docs/rules/documents.md §4).
Pure module: no ORM."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

_PERIOD_RE = re.compile(r"([0-9]{2})([0-9]{4})")
_DATE_RE = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
_FY_RE = re.compile(r"([0-9]{4})[-/]([0-9]{2}|[0-9]{4})")

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# GST began on 01-07-2017: no tax period precedes July 2017.
FIRST_PERIOD = dt.date(2017, 7, 1)


class PeriodError(ValueError):
    pass


# --- tax periods (MMYYYY) -------------------------------------------------------------------------------


def parse_period(value: str) -> dt.date:
    """``"102025"`` → ``date(2025, 10, 1)``. Raises PeriodError with a message fit for a form field."""
    text = (value or "").strip()
    m = _PERIOD_RE.fullmatch(text)
    if not m:
        raise PeriodError(f"tax period {value!r} must be MMYYYY, e.g. 102025 for October 2025")
    month, year = int(m[1]), int(m[2])
    if not 1 <= month <= 12:
        raise PeriodError(f"tax period {value!r}: month {m[1]} must be 01-12")
    if (year, month) < (FIRST_PERIOD.year, FIRST_PERIOD.month):
        raise PeriodError(f"tax period {value!r} is before GST began (072017)")
    return dt.date(year, month, 1)


def format_period(period: dt.date) -> str:
    """``date(2025, 10, 1)`` → ``"102025"`` (any day of the month gives its period)."""
    return f"{period.month:02d}{period.year:04d}"


def period_label(period: dt.date) -> str:
    """``date(2025, 10, 1)`` → ``"Oct 2025"`` (English month names whatever the locale)."""
    return f"{MONTH_ABBR[period.month - 1]} {period.year}"


def month_start(day: dt.date) -> dt.date:
    """The tax period (first of the month) that contains ``day``."""
    return dt.date(day.year, day.month, 1)


def add_months(period: dt.date, months: int) -> dt.date:
    """The period ``months`` after (or before, if negative) the period of ``period``."""
    index = period.year * 12 + period.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def periods_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every period from ``first`` to ``last``, both included; empty when ``last`` is earlier."""
    start, end = month_start(first), month_start(last)
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    return [add_months(start, i) for i in range(max(count, 0))]


# --- portal dates (DD-MM-YYYY) ----------------------------------------------------------------------------


def parse_portal_date(value: str) -> dt.date:
    """``"05-10-2025"`` (DD-MM-YYYY, the portal's format) → ``date(2025, 10, 5)``."""
    text = (value or "").strip()
    m = _DATE_RE.fullmatch(text)
    if not m:
        raise PeriodError(f"date {value!r} must be DD-MM-YYYY, e.g. 05-10-2025")
    try:
        return dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        raise PeriodError(f"date {value!r} is not a calendar date") from None


def format_portal_date(value: dt.date) -> str:
    """``date(2025, 10, 5)`` → ``"05-10-2025"``."""
    return f"{value.day:02d}-{value.month:02d}-{value.year:04d}"


# --- financial years (1 April – 31 March) -----------------------------------------------------------------


def fy_start_year(day: dt.date) -> int:
    """Start year of the Indian financial year (1 April – 31 March) containing ``day`` (a date or a period)."""
    return day.year if day.month >= 4 else day.year - 1


def fy_label(start_year: int) -> str:
    """2025 → ``"2025-26"`` (the portal's YYYY-YY)."""
    return f"{start_year:04d}-{(start_year + 1) % 100:02d}"


def fy_label_of(day: dt.date) -> str:
    """The label of the financial year containing ``day``: ``date(2026, 3, 1)`` → ``"2025-26"``."""
    return fy_label(fy_start_year(day))


def parse_fy(value: str) -> int:
    """``"2025-26"`` (also ``2025-2026``, ``2025/26``) → 2025, the start year."""
    m = _FY_RE.fullmatch((value or "").strip())
    if not m:
        raise PeriodError(f"financial year {value!r} must be YYYY-YY, e.g. 2025-26")
    start, end = int(m[1]), m[2]
    if end != f"{start + 1:04d}"[-len(end) :]:
        raise PeriodError(
            f"financial year {value!r} must end in the year after {start}, e.g. {fy_label(start)}"
        )
    return start


def fy_first_period(start_year: int) -> dt.date:
    """April of the financial year."""
    return dt.date(start_year, 4, 1)


def fy_last_period(start_year: int) -> dt.date:
    """March of the financial year."""
    return dt.date(start_year + 1, 3, 1)


def fy_periods(start_year: int) -> list[dt.date]:
    """The twelve periods April … March of the financial year."""
    return periods_between(fy_first_period(start_year), fy_last_period(start_year))


# --- QRMP quarters (Apr-Jun, Jul-Sep, Oct-Dec, Jan-Mar) -------------------------------------------------


def quarter_of(period: dt.date) -> int:
    """The quarter of the financial year, 1-4: Apr-Jun is 1, Jul-Sep 2, Oct-Dec 3, Jan-Mar 4."""
    return (period.month - 4) % 12 // 3 + 1


def quarter_first_period(period: dt.date) -> dt.date:
    """The first period of the quarter containing ``period`` (April, July, October or January)."""
    return add_months(month_start(period), -((period.month - 4) % 3))


def quarter_last_period(period: dt.date) -> dt.date:
    """The last period of the quarter containing ``period`` (June, September, December or March)."""
    return add_months(quarter_first_period(period), 2)


def quarter_periods(period: dt.date) -> list[dt.date]:
    """The three periods of the quarter containing ``period``."""
    return periods_between(quarter_first_period(period), quarter_last_period(period))


def is_quarter_end(period: dt.date) -> bool:
    """True for June, September, December and March: the period a QRMP taxpayer files GSTR-1 / gets 2B for."""
    return period.month % 3 == 0


def quarter_label(period: dt.date) -> str:
    """``"Oct-Dec 2025"``; ``"Jan-Mar 2026"``."""
    first, last = quarter_first_period(period), quarter_last_period(period)
    return f"{MONTH_ABBR[first.month - 1]}-{MONTH_ABBR[last.month - 1]} {first.year}"


INDIA = ZoneInfo("Asia/Kolkata")


def india_today() -> dt.date:
    """Today's date in India (Asia/Kolkata), whatever the machine's time zone: the portal's calendar."""
    return dt.datetime.now(INDIA).date()

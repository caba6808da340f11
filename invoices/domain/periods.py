"""Tax periods (MMYYYY at the edges, a date — first of the month — inside) and Indian financial years.
Pure module: no ORM."""

from __future__ import annotations

import datetime as dt
import re

_PERIOD_RE = re.compile(r"^(0[1-9]|1[0-2])(\d{4})$")


class PeriodError(ValueError):
    pass


def parse_period(value: str) -> dt.date:
    """``"102025"`` → ``date(2025, 10, 1)``."""
    m = _PERIOD_RE.match((value or "").strip())
    if not m:
        raise PeriodError(f"tax period {value!r} must be MMYYYY, e.g. 102025 for October 2025")
    return dt.date(int(m[2]), int(m[1]), 1)


def format_period(period: dt.date) -> str:
    return period.strftime("%m%Y")


def parse_portal_date(value: str) -> dt.date:
    """``"05-10-2025"`` (DD-MM-YYYY, the portal's format) → ``date(2025, 10, 5)``."""
    try:
        return dt.datetime.strptime((value or "").strip(), "%d-%m-%Y").date()
    except ValueError:
        raise PeriodError(f"date {value!r} must be DD-MM-YYYY") from None


def format_portal_date(value: dt.date) -> str:
    return value.strftime("%d-%m-%Y")


def fy_start_year(day: dt.date) -> int:
    """Start year of the Indian financial year (1 April – 31 March) containing ``day``."""
    return day.year if day.month >= 4 else day.year - 1


def fy_label(start_year: int) -> str:
    """2025 → ``"2025-26"`` (the portal's YYYY-YY)."""
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(period: dt.date, months: int) -> dt.date:
    index = period.year * 12 + period.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)

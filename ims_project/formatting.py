"""Display formats for Indian users. Pure module (used by the template filters in invoices/templatetags/ims.py)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from zoneinfo import ZoneInfo

INDIA = ZoneInfo("Asia/Kolkata")
_PAIRS = re.compile(r"(\d)(?=(\d{2})+$)")  # a digit followed by whole pairs of digits up to the end


def format_inr(value, *, symbol: bool = True, decimals: int = 2) -> str:
    """₹1,23,45,678.90 — Indian digit grouping (last three digits, then pairs); negatives as -₹1,000.00;
    rounding half up. Accepts Decimal, int, str (and float, via its shortest repr). Blank for None, "" and
    anything that is not a finite number, as a template filter should be."""
    if value is None or value == "" or isinstance(value, bool):
        return ""
    if type(value) is Decimal and value.is_finite() and value.as_tuple().exponent == -decimals:
        amount = value  # a money field's value as the database gives it: nothing to round (a list writes 150)
    else:
        try:
            with localcontext(prec=100):
                amount = Decimal(str(value).strip()).quantize(
                    Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP
                )
        except (InvalidOperation, ValueError):
            return ""
        if not amount.is_finite():
            return ""
    sign = "-" if amount < 0 else ""
    whole, _, frac = f"{amount.copy_abs():.{decimals}f}".partition(".")
    if len(whole) > 3:
        whole = _PAIRS.sub(r"\1,", whole[:-3]) + "," + whole[-3:]
    return f"{sign}{'₹' if symbol else ''}{whole}{'.' + frac if decimals else ''}"


def format_date(value: dt.date | dt.datetime | str | None) -> str:
    """DD-MM-YYYY, the portal's date format. An aware datetime shows its date in Asia/Kolkata; an ISO date
    string (as dates sit in JSON) is read first; any other string is shown unchanged."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(INDIA)
    return f"{value.day:02d}-{value.month:02d}-{value.year:04d}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A value for a CSV cell that a spreadsheet will not run as a formula: text starting with = + - @ (or a tab or
    carriage return) gets a leading apostrophe, shown as the text itself. Other values are returned unchanged.
    (The product's .xlsx files hold text as inline strings, which are never formulas.)"""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value

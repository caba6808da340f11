"""Display formats for Indian users. Pure module."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal


def format_inr(value, *, symbol: bool = True, decimals: int = 2) -> str:
    """₹1,23,45,678.90 — Indian digit grouping (last three digits, then pairs); negatives as -₹1,000.00."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):.{decimals}f}"
    whole, _, frac = text.partition(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        pairs = []
        while len(head) > 2:
            pairs.insert(0, head[-2:])
            head = head[:-2]
        if head:
            pairs.insert(0, head)
        whole = ",".join(pairs + [tail])
    out = f"{'₹' if symbol else ''}{whole}"
    if decimals:
        out += f".{frac}"
    return sign + out


def format_date(value: dt.date | dt.datetime | None) -> str:
    """DD-MM-YYYY, the portal's date format."""
    if value is None:
        return ""
    return value.strftime("%d-%m-%Y")

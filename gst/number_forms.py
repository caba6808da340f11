"""How people actually type document numbers, for matching (docs/rules/matching.md §4). Pure module: no ORM.

:func:`loose_number` is the stored key of :func:`gst.numbers.normalise_doc_number` with the financial year removed
in every form books and suppliers write it — ``2023-24``, ``2023/24``, ``2023-2024``, ``23-24``, ``2324``,
``202324``, ``20232024``, ``FY24``, ``FY2024``, ``FY23-24``, ``FY 2023-24`` — as a whole token, and only when a
digit remains without it (``INV/2324`` keeps its ``2324``: it may be the serial).

:func:`confusable_key` maps the characters people confuse when they copy a number by eye (O/0, I/l/1, S/5, B/8,
Z/2) to one spelling: two numbers with the same confusable key but different keys are *probably* the same document,
never certainly.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .numbers import normalise_doc_number

_CONFUSABLE = str.maketrans("OQILSBZ", "0011582")
CONFUSABLE_PAIRS = "O/0, I/1/l, S/5, B/8, Z/2"


@lru_cache(maxsize=64)
def _fy_any(fy_start: int) -> re.Pattern[str]:
    y1, y2 = fy_start, fy_start + 1
    s1, s2 = f"{y1 % 100:02d}", f"{y2 % 100:02d}"
    sep = r"[-/.\s]?"
    pairs = [f"{y1}{sep}{y2}", f"{y1}{sep}{s2}", f"{s1}{sep}{s2}"]
    plain = r"(?<![0-9])(?:" + "|".join(pairs) + r")(?![0-9])"
    with_fy = r"(?<![A-Z0-9])F\.?Y\.?\s*[-/:.]?\s*(?:" + "|".join([*pairs, str(y2), s2]) + r")(?![0-9])"
    return re.compile(with_fy + "|" + plain)


def loose_number(number: str, fy_start: int) -> str:
    """The normalised key of ``number`` (FY ``fy_start``) with the FY removed in any of its forms (module doc)."""
    text = (number or "").upper()
    stripped = _fy_any(fy_start).sub(" ", text)
    if stripped != text and any(ch.isdigit() for ch in stripped):
        text = stripped
    return normalise_doc_number(text, fy_start)


def confusable_key(key: str) -> str:
    """``key`` (a normalised number) with O/Q→0, I/L→1, S→5, B→8, Z→2 and the zeros that then start a run of
    digits dropped: ``INVO42``, ``1NV042`` and ``INV42`` share ``1NV42``."""
    return normalise_doc_number((key or "").upper().translate(_CONFUSABLE))


def look_alike_key(number: str, fy_start: int) -> str:
    """The key of ``number`` read with its look-alike characters made one (O/Q→0, I/L→1, S→5, B→8, Z→2) *before* it
    is normalised, so a mistyped year (``2O25-26``) or a letter among the zeros of a serial (``I005``) reads as the
    supplier's number: ``INV/2O25-26/00040`` and ``INV/2025-26/40`` share ``1NV40``."""
    return loose_number((number or "").upper().translate(_CONFUSABLE), fy_start)


def confusable(a: str, b: str) -> bool:
    """Two different keys that are one under :func:`confusable_key`."""
    return a != b and bool(a) and confusable_key(a) == confusable_key(b)

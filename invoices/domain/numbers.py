"""Invoice-number normalisation for matching (domain.md §5.3, §7.3). Pure module: no ORM."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s/\-_.\\]+")


def _fy_tokens(fy_start: int) -> list[str]:
    y1, y2 = fy_start, fy_start + 1
    s1, s2 = f"{y1 % 100:02d}", f"{y2 % 100:02d}"
    return [f"{y1}{sep}{y2}" for sep in "-/"] + [f"{y1}{sep}{s2}" for sep in "-/"] + [f"{s1}{sep}{s2}" for sep in "-/"]


def normalise_doc_number(number: str, fy_start: int | None = None) -> str:
    """Upper-case; drop FY tokens of the document's year (2025-26, 2025/2026, 25-26, …); drop separators
    (``/``, ``-``, spaces); drop leading zeros of each remaining part.

    ``"INV/2025-26/0042"`` and ``"inv-42"`` both become ``"INV42"``.
    """
    text = (number or "").upper().strip()
    if fy_start is not None:
        for token in _fy_tokens(fy_start):
            text = text.replace(token, " ")
    parts = [p.lstrip("0") or "0" for p in _SEPARATORS.split(text) if p]
    return "".join(parts)[:20]

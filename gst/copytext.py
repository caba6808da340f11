"""PostgreSQL ``COPY … FROM STDIN`` text format, written by hand on the bulk paths (ingest, audit events, register
import) because psycopg's per-value adaptation costs more than the rest of those paths."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"[\\\t\n\r]").search
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape(text: str) -> str:
    """``text`` as a COPY text field: backslash, tab, newline and carriage return escaped (most text has none)."""
    return text.translate(_ESCAPES) if _SPECIAL(text) else text

"""Ids from query strings and form fields (issue #13: ``?run=x`` reached ``int()``; ``"²".isdigit()`` is true yet
``int("²")`` fails, and 5,000 digits pass ``isdigit()`` but not ``int()``: 500s)."""

from __future__ import annotations

import re

from django.core.exceptions import BadRequest

_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only, and within PostgreSQL's bigint


def as_id(value: object) -> int | None:
    """``value`` as an id when it is one (1 to 18 ASCII digits), else None."""
    text = value if isinstance(value, str) else str(value if value is not None else "")
    return int(text) if _ID.fullmatch(text) else None


def is_id(value: object) -> bool:
    return as_id(value) is not None


def id_param(params, name: str) -> int | None:
    """The id in query or form field ``name`` of ``params`` (a QueryDict or dict): None when absent or empty, and a
    400 naming the field (Django's BadRequest, ims_project.errors) when it is not an id."""
    value = params.get(name)
    if value in (None, ""):
        return None
    found = as_id(value)
    if found is None:
        raise BadRequest(f"The field {name!r} must be an id (digits only).")
    return found

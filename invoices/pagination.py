"""Keyset pagination for the document list page: (sort key…, id) with an opaque cursor; no OFFSET, no COUNT(*).

A cursor names a row position in one sort order; the next page is the rows strictly after it, the previous page
the rows strictly before it (read in reverse and flipped). Every row is reachable and appears exactly once, ties on
the sort key included, because ``id`` ends every key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django import forms
from django.db.models import Q, QuerySet

# sort name → ((field, descending), …); every key ends with id so the order is total.
SORTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "-date": (("doc_date", True), ("id", True)),
    "date": (("doc_date", False), ("id", False)),
    "-value": (("doc_value", True), ("id", True)),
    "value": (("doc_value", False), ("id", False)),
    "supplier": (("supplier_gstin", False), ("doc_date", True), ("id", True)),
}
SORT_CHOICES = [
    ("-date", "Date, newest first"),
    ("date", "Date, oldest first"),
    ("-value", "Value, highest first"),
    ("value", "Value, lowest first"),
    ("supplier", "Supplier GSTIN"),
]
DEFAULT_SORT = "-date"
PAGE_SIZES = (50, 100, 200)
COUNT_CAP = 10_000

_PARSERS = {
    "doc_date": dt.date.fromisoformat,
    "doc_value": Decimal,
    "id": int,
    "supplier_gstin": lambda v: str(v)[:15],
}


class CursorError(ValueError):
    pass


class ListOptionsForm(forms.Form):
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)
    per_page = forms.TypedChoiceField(
        choices=[(n, f"{n} rows") for n in PAGE_SIZES], coerce=int, required=False, empty_value=PAGE_SIZES[0]
    )
    cursor = forms.CharField(required=False, max_length=400)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"

    def clean_sort(self):
        return self.cleaned_data.get("sort") or DEFAULT_SORT

    def clean(self):
        data = super().clean()
        token = data.get("cursor")
        data["position"] = None
        if token and "sort" in data:
            try:
                data["position"] = decode_cursor(token, data["sort"])
            except CursorError:
                self.add_error(
                    "cursor", "This page link is out of date or damaged: start again from the first page."
                )
        return data


def _to_json(value):
    if isinstance(value, dt.date | Decimal):
        return str(value)
    return value


def encode_cursor(sort: str, values, backwards: bool = False) -> str:
    raw = json.dumps(
        {"s": sort, "k": [_to_json(v) for v in values], "b": int(backwards)}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str) -> tuple[list, bool]:
    """(key values, backwards) from a cursor made for ``sort``; CursorError on anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        keys = SORTS[sort]
        if data["s"] != sort or len(data["k"]) != len(keys):
            raise CursorError("cursor belongs to another sort order")
        values = [_PARSERS[field](v) for (field, _), v in zip(keys, data["k"], strict=True)]
        if any(isinstance(v, Decimal) and not v.is_finite() for v in values):
            raise CursorError("bad number in cursor")
        return values, bool(data.get("b"))
    except (binascii.Error, ValueError, TypeError, KeyError, InvalidOperation, AttributeError) as exc:
        raise CursorError(str(exc)) from None


def _beyond(keys, values, backwards: bool) -> Q:
    """Rows strictly after the position in the sort order (strictly before it when ``backwards``)."""
    first_field, first_desc = keys[0]
    down = first_desc != backwards
    # A plain bound on the leading key lets the index start at the position.
    condition = Q(**{f"{first_field}__{'lte' if down else 'gte'}": values[0]})
    beyond = None
    equal = Q()
    for (field, desc), value in zip(keys, values, strict=True):
        step = Q(**{f"{field}__{'lt' if desc != backwards else 'gt'}": value})
        beyond = (equal & step) if beyond is None else beyond | (equal & step)
        equal &= Q(**{field: value})
    return condition & beyond


def _ordering(keys, backwards: bool) -> list[str]:
    return [f"-{f}" if desc != backwards else f for f, desc in keys]


@dataclass
class KeysetPage:
    rows: list
    sort: str
    per_page: int
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def is_first(self) -> bool:
        return self.prev_cursor is None


def paginate(
    queryset: QuerySet,
    *,
    sort: str = DEFAULT_SORT,
    per_page: int = PAGE_SIZES[0],
    position: tuple[list, bool] | None = None,
) -> KeysetPage:
    """One page of ``queryset`` in ``sort`` order after (or, backwards, before) ``position``."""
    keys = SORTS[sort]
    backwards = bool(position and position[1])
    qs = queryset
    if position:
        qs = qs.filter(_beyond(keys, position[0], backwards))
    rows = list(qs.order_by(*_ordering(keys, backwards))[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()

    def key_of(row):
        return [getattr(row, f) for f, _ in keys]

    if not rows:
        return KeysetPage(rows, sort, per_page, None, None)
    if backwards:
        prev_cursor = encode_cursor(sort, key_of(rows[0]), backwards=True) if more else None
        next_cursor = encode_cursor(sort, key_of(rows[-1]))
    else:
        next_cursor = encode_cursor(sort, key_of(rows[-1])) if more else None
        prev_cursor = encode_cursor(sort, key_of(rows[0]), backwards=True) if position else None
    return KeysetPage(rows, sort, per_page, next_cursor, prev_cursor)


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows match, counting at most ``cap`` + 1: (n, more_than_cap)."""
    n = queryset.order_by()[: cap + 1].count()
    return min(n, cap), n > cap

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
        data["index"] = None
        if token and "sort" in data:
            try:
                data["position"] = decode_cursor(token, data["sort"])
                data["index"] = cursor_index(token, data["sort"])
            except CursorError:
                self.add_error(
                    "cursor", "This page link is out of date or damaged: start again from the first page."
                )
        return data


def _to_json(value):
    if isinstance(value, dt.date | Decimal):
        return str(value)
    return value


def encode_cursor(sort: str, values, backwards: bool = False, index: int | None = None) -> str:
    """A cursor at the row with key ``values``; ``index``: that row's 0-based place in the list, when known (the
    page then says which rows it shows, "601–650 of 5,000")."""
    data = {"s": sort, "k": [_to_json(v) for v in values], "b": int(backwards)}
    if index is not None:
        data["i"] = index
    raw = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, sort: str) -> tuple[list, bool, int | None]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        keys = SORTS[sort]
        if data["s"] != sort or len(data["k"]) != len(keys):
            raise CursorError("cursor belongs to another sort order")
        values = [_PARSERS[field](v) for (field, _), v in zip(keys, data["k"], strict=True)]
        if any(isinstance(v, Decimal) and not v.is_finite() for v in values):
            raise CursorError("bad number in cursor")
        index = data.get("i")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise CursorError("bad row index in cursor")
        return values, bool(data.get("b")), index
    except (binascii.Error, ValueError, TypeError, KeyError, InvalidOperation, AttributeError) as exc:
        raise CursorError(str(exc)) from None


def decode_cursor(token: str, sort: str) -> tuple[list, bool]:
    """(key values, backwards) from a cursor made for ``sort``; CursorError on anything else."""
    values, backwards, _index = _decode(token, sort)
    return values, backwards


def cursor_index(token: str, sort: str) -> int | None:
    """The 0-based place of a cursor's row in the list, when the cursor knows it; CursorError when damaged."""
    return _decode(token, sort)[2]


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
    first: int | None = 0  # 0-based place of the first row in the list; None when not known

    @property
    def is_first(self) -> bool:
        return self.prev_cursor is None

    @property
    def start(self) -> int | None:
        """1-based number of the first row shown ("601" of "601–650"), when known."""
        return self.first + 1 if self.first is not None and self.rows else None

    @property
    def end(self) -> int | None:
        return self.first + len(self.rows) if self.first is not None and self.rows else None


def paginate(
    queryset: QuerySet,
    *,
    sort: str = DEFAULT_SORT,
    per_page: int = PAGE_SIZES[0],
    position: tuple[list, bool] | None = None,
    index: int | None = None,
) -> KeysetPage:
    """One page of ``queryset`` in ``sort`` order after (or, backwards, before) ``position``; ``index``: the
    position row's 0-based place in the list when known (carried in the cursors, so pages can be numbered)."""
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

    if not position:
        first: int | None = 0
    elif index is None:
        first = None
    elif backwards:
        first = 0 if not more else max(index - len(rows), 0)
    else:
        first = index + 1
    if not rows:
        return KeysetPage(rows, sort, per_page, None, None, first)
    last = first + len(rows) - 1 if first is not None else None
    if backwards:
        prev_cursor = encode_cursor(sort, key_of(rows[0]), backwards=True, index=first) if more else None
        next_cursor = encode_cursor(sort, key_of(rows[-1]), index=last)
    else:
        next_cursor = encode_cursor(sort, key_of(rows[-1]), index=last) if more else None
        prev_cursor = encode_cursor(sort, key_of(rows[0]), backwards=True, index=first) if position else None
    return KeysetPage(rows, sort, per_page, next_cursor, prev_cursor, first)


def neighbours(queryset: QuerySet, *, sort: str, row) -> tuple[object | None, object | None]:
    """The rows just before and just after ``row`` in ``sort`` order (``row`` itself need not match
    ``queryset``: a document just acted on may have left the filter)."""
    keys = SORTS[sort]
    values = [getattr(row, f) for f, _ in keys]
    before = queryset.filter(_beyond(keys, values, True)).order_by(*_ordering(keys, True)).first()
    after = queryset.filter(_beyond(keys, values, False)).order_by(*_ordering(keys, False)).first()
    return before, after


def rows_before(queryset: QuerySet, *, sort: str, row, cap: int = COUNT_CAP) -> int | None:
    """How many rows of ``queryset`` come before ``row`` in ``sort`` order; None beyond ``cap``."""
    keys = SORTS[sort]
    values = [getattr(row, f) for f, _ in keys]
    n, more = capped_count(queryset.filter(_beyond(keys, values, True)), cap)
    return None if more else n


def cursor_at(sort: str, row, index: int | None = None) -> str:
    """A cursor whose next page starts just after ``row`` (at place ``index`` + 1 when known)."""
    return encode_cursor(sort, [getattr(row, f) for f, _ in SORTS[sort]], index=index)


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows match, counting at most ``cap`` + 1: (n, more_than_cap)."""
    n = queryset.order_by()[: cap + 1].count()
    return min(n, cap), n > cap

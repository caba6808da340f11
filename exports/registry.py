"""What can be exported. An app registers one function per list:

    register("documents", documents_export)

where ``fn(*, tenant, user, params) -> (title, headers, rows, total)``: ``rows`` a lazy iterable of sequences
(use ``.values_list(...).iterator(chunk_size=2000)``), ``total`` the row count or None if unknown. The function
re-checks the user's access (a queued job runs later) and raises ``ExportError`` (a message safe to show) or
``PermissionDenied`` when it cannot run. It is called inside the tenant's scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

ExportResult = tuple[str, Sequence[str], Iterable[Sequence[Any]], int | None]
ExportFn = Callable[..., ExportResult]

_REGISTRY: dict[str, ExportFn] = {}
_DESCRIBERS: dict[str, Callable[[dict], list[tuple[str, str]]]] = {}


class ExportError(ValueError):
    """An export that cannot run; the message is safe to show to the user."""


def register(kind: str, fn: ExportFn | None = None, *, describe=None):
    """Register ``fn`` for ``kind`` (also usable as ``@register("kind")``). Re-registering replaces.

    ``describe(params) -> [(label, text)]`` states the export's filters in words for the file's "About" sheet
    (without it, the title is taken to say what was exported)."""
    if fn is None:
        return lambda f: register(kind, f, describe=describe)
    _REGISTRY[kind] = fn
    if describe is not None:
        _DESCRIBERS[kind] = describe
    return fn


def describe(kind: str, params: dict) -> list[tuple[str, str]]:
    """The filters of an export of ``kind`` in words (empty when the kind registered no describer)."""
    fn = _DESCRIBERS.get(kind)
    return fn(params or {}) if fn is not None else []


def get(kind: str) -> ExportFn:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ExportError(f"Unknown export {kind!r}.") from None


def kinds() -> list[str]:
    return sorted(_REGISTRY)

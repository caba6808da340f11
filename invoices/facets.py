"""Filters of the documents list whose data lives in an app above invoices.

The documents list (page, API, exports, "all matching" bulk actions and the auto-action rules, which all use
``invoices.filters.DocumentFilter``) can filter by what the latest reconciliation said about each document. That
data belongs to the reconciliation app, which sits above invoices and so cannot be imported here; instead it
registers a :class:`Facet` when Django starts (``AppConfig.ready``). Without one, the filter accepts no value.
The same goes for "not yet pushed", which reads the push queue that gst_sync keeps, and for "in the deadline queue",
which the returns app computes (so a bulk action can act on all documents matching the queue's filters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import QuerySet


def _as_given(values: Sequence[str]) -> list[str]:
    return list(values)


@dataclass(frozen=True)
class Facet:
    apply: Callable[..., QuerySet]  # (queryset, *, tenant, values) -> the documents that match
    choices: Sequence[tuple[str, str]] = ()  # every value the filter accepts, with its label
    options: Sequence[tuple[str, str]] = ()  # the checkboxes the list page shows
    expand: Callable[[Sequence[str]], list[str]] = (
        _as_given  # values -> the options they tick; ValueError if unknown
    )


_FACETS: dict[str, Facet] = {}


def register(name: str, facet: Facet) -> Facet:
    _FACETS[name] = facet
    return facet


def get(name: str) -> Facet | None:
    return _FACETS.get(name)


class Choices(Sequence[tuple[str, str]]):
    """The choices of facet ``name``, read from the registry whenever they are used (forms, the API schema): the
    FilterSet class is built before the apps that register facets are ready."""

    def __init__(self, name: str):
        self.name = name

    def _choices(self) -> Sequence[tuple[str, str]]:
        facet = _FACETS.get(self.name)
        return facet.choices if facet else ()

    def __getitem__(self, index):
        return self._choices()[index]

    def __len__(self) -> int:
        return len(self._choices())

"""What apps above invoices add to a document's page (its portal pushes, its reconciliation pair, a declaration
suggested from the books).

invoices sits below the apps that know these things, so it cannot import them; instead each such app registers a
panel when Django starts (in its ``AppConfig.ready``)::

    panels.register("pushes", pushes_panel)

where ``fn(*, tenant, document) -> dict`` returns template context for ``invoices/detail.html``. The document
page calls every registered panel; the caller has already checked that the user may see the document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Panel = Callable[..., dict[str, Any]]

_PANELS: dict[str, Panel] = {}


def register(name: str, fn: Panel) -> Panel:
    """Register ``fn`` under ``name`` (re-registering a name replaces it)."""
    _PANELS[name] = fn
    return fn


def context_for(*, tenant, document) -> dict[str, Any]:
    """The template context of every registered panel for ``document``."""
    context: dict[str, Any] = {}
    for fn in _PANELS.values():
        context.update(fn(tenant=tenant, document=document))
    return context

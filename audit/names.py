"""Names of the things ledger events point at, provided by the apps that own them (so the audit trail can say
"INV/001 of Patel Plastics" without importing those apps). An app registers in its ``AppConfig.ready``:

    names.register("supplier", fn)   # fn(*, tenant, keys: set[str]) -> {key: name}
"""

from __future__ import annotations

from collections.abc import Callable

NameFn = Callable[..., dict[str, str]]
_PROVIDERS: dict[str, NameFn] = {}


def register(kind: str, fn: NameFn) -> None:
    _PROVIDERS[kind] = fn


def names(kind: str, *, tenant, keys) -> dict[str, str]:
    """``{key: name}`` for the ``keys`` the provider of ``kind`` knows (empty when none is registered)."""
    keys = {k for k in keys if k}
    fn = _PROVIDERS.get(kind)
    if fn is None or not keys:
        return {}
    return fn(tenant=tenant, keys=keys)

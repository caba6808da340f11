"""Tenant scope helpers around django-scopes.

Every tenant-owned model uses ``ScopedManager(tenant="tenant")``: a query with no active tenant scope raises
``django_scopes.ScopeError`` (fail closed). Web and API requests open the scope in ``TenantMiddleware``; Celery
tasks and commands open it with :func:`tenant_scope`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django_scopes import scope, scopes_disabled

__all__ = ["tenant_scope", "scopes_disabled", "ScopeError"]

from django_scopes.exceptions import ScopeError


@contextmanager
def tenant_scope(tenant) -> Iterator[None]:
    """Open the scope of one tenant (a Tenant or its id)."""
    tenant_id = getattr(tenant, "pk", tenant)
    with scope(tenant=tenant_id):
        yield

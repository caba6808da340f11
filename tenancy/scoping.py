"""Tenant scope helpers around django-scopes.

Every tenant-owned model uses ``ScopedManager(tenant="tenant")``: a query with no active tenant scope raises
``django_scopes.ScopeError`` (fail closed). Web and API requests open the scope in ``TenantMiddleware``; Celery
tasks and commands open it with :func:`tenant_scope`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django_scopes import scope, scopes_disabled
from django_scopes.state import state

__all__ = ["tenant_scope", "scopes_disabled", "system_scope", "ScopeError"]

from django_scopes.exceptions import ScopeError


@contextmanager
def tenant_scope(tenant) -> Iterator[None]:
    """Open the scope of one tenant (a Tenant or its id)."""
    tenant_id = getattr(tenant, "pk", tenant)
    with scope(tenant=tenant_id):
        yield


@contextmanager
def system_scope() -> Iterator[None]:
    """Step outside the open tenant: the ORM's scoping off and the database's row-level security set to every
    tenant (ims_project.rls). Only for the look-ups that decide whether the caller belongs to the tenant of the URL
    at all (an API token's), which must see the caller's rows of any tenant; ``scopes_disabled()`` alone keeps the
    database to the open tenant."""
    token = state.set({"_enabled": False})
    try:
        yield
    finally:
        state.reset(token)

"""API tokens for tests: a real token (tenancy.tokens) of a member in one tenant, as request headers."""

from __future__ import annotations

from types import SimpleNamespace

from tenancy.models import Membership, Tenant
from tenancy.roles import Scope
from tenancy.tokens import create_token
from tests.factories import SYSTEM

ALL_SCOPES = tuple(Scope)


def token_key(user, tenant: Tenant | None = None, scopes=ALL_SCOPES, **kwargs) -> str:
    """A new token of ``user`` for ``tenant`` (default: the user's first organisation) with ``scopes``."""
    if tenant is None:
        tenant = Membership.objects.filter(user=user).select_related("tenant").order_by("pk").first().tenant
    _token, key = create_token(
        tenant=tenant, actor=SYSTEM, user=user, name=kwargs.pop("name", "test"), scopes=scopes, **kwargs
    )
    return key


def token_header(user, tenant: Tenant | None = None, scopes=ALL_SCOPES, **kwargs) -> dict:
    """``client.get(url, **token_header(alice))``."""
    return {"HTTP_AUTHORIZATION": f"Token {token_key(user, tenant, scopes, **kwargs)}"}


def api_token(user, tenant: Tenant | None = None, scopes=ALL_SCOPES, **kwargs) -> SimpleNamespace:
    """A new token as an object with ``key`` (what ``rest_framework.authtoken``'s Token offered the older tests)."""
    return SimpleNamespace(key=token_key(user, tenant, scopes, **kwargs))

"""REST API plumbing for tenancy: token authentication, the membership and token-scope permissions every API view
has, the per-token rate limit and a tenant mixin. Named in REST_FRAMEWORK's settings, so this module must not import
``rest_framework.views`` (a circular import); the endpoint that makes a token is in ``tenancy.token_api``.

``TenantMiddleware`` resolves ``/api/v1/t/<slug>/`` to ``request.tenant`` (404 for an unknown slug) and opens its
scope; authentication happens inside DRF, so membership is checked here, after it. Tokens: docs/access.md §1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from audit.services import Actor

from . import tokens
from .models import ApiToken, Membership, Tenant
from .roles import Capability, Scope, can
from .scoping import system_scope

log = logging.getLogger(__name__)


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>``: the key's hash must name a token that is neither revoked nor expired, of an
    active user. Which tenant it opens is checked by :class:`IsTenantMember`; its scopes by :class:`HasTokenScope`.
    Records the last use (at most once a minute per token)."""

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Give the token as `Authorization: Token <key>`.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeError:
            raise AuthenticationFailed("Invalid token.") from None
        with system_scope():  # a token of another tenant is found, and refused with 404 by IsTenantMember
            token = tokens.find_token(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.revoked_at is not None:
            raise AuthenticationFailed("This token was revoked: make a new one on the API access page.")
        if token.expires_at <= now:
            raise AuthenticationFailed("This token has expired: make a new one on the API access page.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        with system_scope():
            tokens.note_use(token, now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsTenantMember(BasePermission):
    """On tenant API paths the user must be a member of ``request.tenant``, and a token must be one made for that
    tenant; otherwise 404 (the tenant's existence is not revealed). Sets ``request.membership``. Paths outside a
    tenant (token, schema) pass through."""

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return True
        token = request.auth
        if isinstance(token, ApiToken) and token.tenant_id != tenant.pk:
            raise NotFound("No such organisation.")  # a token opens its own tenant only
        user = request.user
        membership = (
            Membership.objects.filter(tenant=tenant, user=user).first()
            if user and user.is_authenticated
            else None
        )
        if membership is None or not can(membership.role, Capability.VIEW):
            raise NotFound("No such organisation.")
        request.membership = membership
        request._request.membership = membership
        return True


class TenantAPIMixin:
    """For API views under ``/api/v1/t/<slug>/``: ``self.tenant``, ``self.membership`` and the actor."""

    @property
    def tenant(self) -> Tenant:
        return self.request.tenant

    @property
    def membership(self) -> Membership:
        return self.request.membership

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)


# --- token scopes ------------------------------------------------------------------------------------------
# Every API view declares ``token_scopes``: the scope a token needs for each HTTP method the view has, e.g.
# ``{"GET": Scope.READ, "POST": Scope.ACT}`` (HEAD and OPTIONS need what GET needs, or read). A view anyone may call
# says ``token_public = True``. tests/tenancy/test_api_tokens.py walks every API route and checks both.

ScopeMap = Mapping[str, Scope]


def required_scope(view, method: str) -> Scope | None:
    """The scope a token needs for ``method`` on ``view``; None if the view declares none for it."""
    declared: ScopeMap = getattr(view, "token_scopes", None) or {}
    method = method.upper()
    if method in ("HEAD", "OPTIONS"):
        return declared.get("GET", Scope.READ)
    return declared.get(method)


class HasTokenScope(BasePermission):
    """A request made with a token needs the scope its view declares for the method (403 naming it otherwise). A
    view that declares none for the method refuses tokens: an endpoint is never opened by being forgotten. Session
    requests are left to the role checks."""

    code = "token_scope"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken) or getattr(view, "token_public", False):
            return True
        if not hasattr(view, request.method.lower()):
            return True  # a method the view does not have: 405 follows, whoever asks
        needed = required_scope(view, request.method)
        if needed is None:
            self.message = f"{request.method} on this endpoint is not open to API tokens."
            return False
        if needed not in token.scopes:
            self.message = (
                f"This token lacks the “{needed}” scope, which {request.method} on this endpoint needs "
                f"(it has: {', '.join(token.scopes)}). Make a token with that scope on the API access page."
            )
            return False
        return True


class ApiTokenRateThrottle(SimpleRateThrottle):
    """At most ``API_TOKEN_RATE`` requests per token (e.g. ``600/min``), counted in the cache every web process
    shares (``API_TOKEN_THROTTLE_CACHE``); 429 with Retry-After beyond it. Session requests are not counted. A cache
    that cannot be reached lets the request through (the limit protects the service; it must not stop it)."""

    scope = "api_token"

    def __init__(self):
        self.cache = caches[settings.API_TOKEN_THROTTLE_CACHE]
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.API_TOKEN_RATE or None

    def get_cache_key(self, request, view) -> str | None:
        token = request.auth
        if not isinstance(token, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.key_hash[:32]}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - a cache outage must not take the API down with it
            log.warning("API token rate limit skipped: the cache could not be reached", exc_info=True)
            return True

"""REST API plumbing for tenancy: the membership permission every API view has, a tenant mixin, API tokens.

``TenantMiddleware`` resolves ``/api/v1/t/<slug>/`` to ``request.tenant`` (404 for an unknown slug) and opens its
scope; authentication happens inside DRF, so membership is checked here, after it.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from audit.services import Actor, record

from .models import Membership, Tenant
from .roles import Capability, can


class IsTenantMember(BasePermission):
    """On tenant API paths the user must be a member of ``request.tenant``; otherwise 404 (the tenant's existence
    is not revealed). Sets ``request.membership``. Paths outside a tenant (token, schema) pass through."""

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return True
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


def api_token_for(*, user) -> Token | None:
    return Token.objects.filter(user=user).first()


def rotate_api_token(*, tenant: Tenant, actor: Actor, user) -> Token:
    """Replace ``user``'s API token with a new one (the old one stops working at once); audited in ``tenant``."""
    with transaction.atomic():
        existed = Token.objects.filter(user=user).delete()[0] > 0
        token = Token.objects.create(user=user)
        record(
            tenant=tenant,
            actor=actor,
            action="api_token.rotated" if existed else "api_token.created",
            object_type="auth.user",
            object_id=str(user.pk),
            object_repr=user.get_username(),
        )
    return token

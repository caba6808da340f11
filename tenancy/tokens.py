"""API tokens: made per member and tenant with scopes and an expiry, stored hashed, revoked and audited
(docs/access.md §1). The authentication, scope permission and rate limit that read them are in ``tenancy.api``."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, record

from .errors import TenancyError
from .models import ApiToken, Membership, Tenant
from .roles import Scope

KEY_PREFIX = "ims_"
PREFIX_LENGTH = 12  # "ims_" and 8 characters of the random part: enough to tell a user's tokens apart
LAST_USED_EVERY = dt.timedelta(minutes=1)  # last_used_at is written at most this often per token


def hash_key(key: str) -> str:
    """The stored form of a key. A key is 256 random bits, so a fast hash is enough (no guessing, no salt)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = {str(s) for s in scopes}
    unknown = sorted(wanted - set(Scope))
    if unknown:
        raise TenancyError(
            f"Unknown scope {', '.join(unknown)}: choose from {', '.join(Scope)}.",
            field="scopes",
            code="invalid",
        )
    if not wanted:
        raise TenancyError("Choose at least one scope.", field="scopes", code="required")
    return [s.value for s in Scope if s.value in wanted]  # canonical order


def _expiry(days: int | None) -> dt.datetime:
    longest = settings.API_TOKEN_MAX_DAYS
    days = settings.API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= longest:
        raise TenancyError(f"A token lasts 1 to {longest} days.", field="days", code="invalid")
    return timezone.now() + dt.timedelta(days=days)


def create_token(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    name: str,
    scopes: Iterable[str],
    days: int | None = None,
) -> tuple[ApiToken, str]:
    """Make a token of ``user`` for ``tenant`` (they must be a member); returns it and its key, which is never
    stored and cannot be shown again. Expires after ``days`` (default ``API_TOKEN_DAYS``). Audited
    ``api_token.created``."""
    name = (name or "").strip()
    if not name:
        raise TenancyError("Give the token a name (what uses it).", field="name", code="required")
    if len(name) > 100:
        raise TenancyError("A token's name has at most 100 characters.", field="name", code="max_length")
    clean = _clean_scopes(scopes)
    expires_at = _expiry(days)
    if not user.is_active or not Membership.objects.filter(tenant=tenant, user=user).exists():
        raise TenancyError(
            "Only an active member of this organisation can have a token here.", code="not_member"
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            tenant=tenant,
            user=user,
            name=name,
            prefix=key[:PREFIX_LENGTH],
            key_hash=hash_key(key),
            scopes=clean,
            expires_at=expires_at,
        )
        record(
            tenant=tenant,
            actor=actor,
            action="api_token.created",
            obj=token,
            changes={"name": [None, name], "scopes": [None, clean]},
            metadata={"user": user.get_username(), "expires_at": expires_at.isoformat()},
        )
    return token, key


def revoke_token(*, token: ApiToken, actor: Actor, reason: str) -> bool:
    """Revoke one token now (False if it already was). Audited ``api_token.revoked`` with the reason."""
    with transaction.atomic():
        now = timezone.now()
        done = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_reason=reason[:40]
        )
        if not done:
            return False
        token.revoked_at, token.revoked_reason = now, reason[:40]
        record(
            tenant=token.tenant_id,
            actor=actor,
            action="api_token.revoked",
            obj=token,
            changes={"revoked_at": [None, now.isoformat()]},
            metadata={"reason": reason, "user_id": token.user_id},
        )
    return True


def revoke_tokens(*, user, actor: Actor, reason: str, tenant: Tenant | None = None) -> int:
    """Revoke every live token of ``user`` (in ``tenant`` only, when given), each audited in its own tenant."""
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now())
    if tenant is not None:
        tokens = tokens.filter(tenant=tenant)
    with transaction.atomic():
        return sum(revoke_token(token=t, actor=actor, reason=reason) for t in tokens.select_for_update())


def tokens_of(*, tenant: Tenant, user) -> list[ApiToken]:
    """``user``'s tokens in ``tenant``, newest first (revoked and expired ones too, for the record)."""
    return list(ApiToken.objects.filter(tenant=tenant, user=user))


def token_of(*, tenant: Tenant, user, pk: int) -> ApiToken | None:
    return ApiToken.objects.filter(tenant=tenant, user=user, pk=pk).first()


def find_token(key: str) -> ApiToken | None:
    return ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()


def note_use(token: ApiToken, now: dt.datetime) -> None:
    """Record that ``token`` was used, at most once a minute: no write at all when the last record is recent, and
    a conditional update otherwise (two requests at the same moment write once)."""
    since = now - LAST_USED_EVERY
    if token.last_used_at is not None and token.last_used_at > since:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=since)
    ).update(last_used_at=now)
    token.last_used_at = now

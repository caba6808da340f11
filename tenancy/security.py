"""Sign-in security (docs/access.md §3): two-factor sign-in with an authenticator app and recovery codes
(django-otp), the list of the user's signed-in sessions with "log out everywhere", and the account events
(sign-in, sign-out, failed sign-in, second-factor changes) in the audit trail.

A user is not a tenant's: an account event is written to the audit trail of every organisation the user is a member
of, so each organisation's auditors see the sign-ins of its members.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import Actor, record
from ims_project.client_limits import client_address

from .models import Membership, Tenant, UserSession

PENDING_KEY = "two_factor_pending"  # session: signed in with the password, the second factor still to give
SEEN_KEY = "session_seen_at"  # session: when UserSession.last_seen_at was last written (epoch seconds)
SEEN_EVERY = dt.timedelta(minutes=5)
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"


class SecurityError(Exception):
    """A refused sign-in security change, with a message for the user."""


# --- audit ------------------------------------------------------------------------------------------------------


def record_account_event(
    user, action: str, *, actor: Actor | None = None, metadata: dict | None = None
) -> None:
    """Write ``action`` (``account.…``) about ``user`` to the audit trail of each organisation the user is in."""
    tenant_ids = list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))
    if not tenant_ids:
        return
    actor = actor or Actor.user(user)
    with transaction.atomic():
        for tenant_id in tenant_ids:
            record(
                tenant=tenant_id,
                actor=actor,
                action=action,
                object_type="user",
                object_id=str(user.pk),
                object_repr=user.get_username(),
                metadata=metadata or {},
            )


def user_for_login(username: str):
    """The active user a login form's "E-mail or username" names, or None."""
    if not username:
        return None
    users = get_user_model()._default_manager.filter(is_active=True)
    return users.filter(Q(username__iexact=username) | Q(email__iexact=username)).order_by("pk").first()


# --- sessions ---------------------------------------------------------------------------------------------------


def _client(request) -> tuple[str, str]:
    return (client_address(request) or "")[:45], request.META.get("HTTP_USER_AGENT", "")[:300]


def session_started(request, user) -> None:
    """At sign-in: remember the session, and ask for the second factor when the user has one."""
    session: SessionBase = request.session
    if session.session_key is None:
        session.save()
    now = timezone.now()
    address, agent = _client(request)
    UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={"user": user, "last_seen_at": now, "client_address": address, "user_agent": agent},
    )
    session[SEEN_KEY] = int(now.timestamp())
    if user_has_device(user):
        session[PENDING_KEY] = True


def session_seen(request) -> None:
    """Refresh the session's "last seen" at most every few minutes (no query on the other requests)."""
    session: SessionBase = request.session
    now = timezone.now()
    seen = session.get(SEEN_KEY)
    if seen is not None and now.timestamp() - seen < SEEN_EVERY.total_seconds():
        return
    session[SEEN_KEY] = int(now.timestamp())
    if session.session_key:
        UserSession.objects.filter(session_key=session.session_key, ended_at__isnull=True).update(
            last_seen_at=now
        )


def session_ended(session_key: str | None, reason: str) -> None:
    if session_key:
        UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_reason=reason
        )


def live_sessions(user):
    """The user's sessions still signed in (expired ones are dropped from the list as they are found)."""
    sessions = list(UserSession.objects.filter(user=user, ended_at__isnull=True))
    store = _session_store()
    expired = [s.session_key for s in sessions if not store.exists(s.session_key)]
    if expired:
        UserSession.objects.filter(session_key__in=expired, ended_at__isnull=True).update(
            ended_at=timezone.now(), ended_reason="expired"
        )
    return [s for s in sessions if s.session_key not in expired]


def _session_store():
    from importlib import import_module  # noqa: PLC0415

    return import_module(settings.SESSION_ENGINE).SessionStore()


def end_sessions(user, *, keep: str | None = None, actor: Actor | None = None) -> int:
    """Sign the user out of every session but ``keep`` (None: of all). Returns how many were ended."""
    store_class = type(_session_store())
    ended = 0
    with transaction.atomic():
        for s in UserSession.objects.select_for_update().filter(user=user, ended_at__isnull=True):
            if s.session_key == keep:
                continue
            store_class(s.session_key).delete()
            s.ended_at, s.ended_reason = timezone.now(), "ended_by_user"
            s.save(update_fields=["ended_at", "ended_reason"])
            ended += 1
        record_account_event(
            user,
            "account.sessions_ended",
            actor=actor,
            metadata={"sessions": ended, "this_session_kept": keep is not None},
        )
    return ended


# --- two-factor sign-in -----------------------------------------------------------------------------------------


def has_two_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def start_setup(user) -> TOTPDevice:
    """A new, unconfirmed authenticator for ``user`` (replacing an earlier unconfirmed one)."""
    if has_two_factor(user):
        raise SecurityError(
            "Two-factor sign-in is already on. Turn it off first to use another authenticator app."
        )
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


def pending_setup(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an inline SVG QR code (no image request, nothing leaves the page)."""
    import qrcode  # noqa: PLC0415
    import qrcode.image.svg  # noqa: PLC0415

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def secret_text(device: TOTPDevice) -> str:
    """The key as people type it into an app: base32 in groups of four."""
    from base64 import b32encode  # noqa: PLC0415

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def _new_codes(user) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.IMS_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


@dataclass
class Enabled:
    recovery_codes: list[str]


def confirm_setup(request, token: str) -> Enabled:
    """Turn two-factor sign-in on with the first code of the new authenticator; returns the recovery codes."""
    user = request.user
    device = pending_setup(user)
    if device is None:
        raise SecurityError("Start again: the set-up was not found.")
    token = _clean(token)
    with transaction.atomic():
        if not device.verify_token(token):
            raise SecurityError(
                "That code is not right. Check the time on your phone and enter the current code."
            )
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_codes(user)
        record_account_event(user, "account.two_factor_enabled")
    otp_login(request, device)
    request.session.pop(PENDING_KEY, None)
    return Enabled(codes)


def regenerate_codes(request, token: str) -> list[str]:
    """New recovery codes (the old ones stop working), after a current authenticator code."""
    user = request.user
    app = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if app is None:
        raise SecurityError("Two-factor sign-in is off.")
    with transaction.atomic():
        if not app.verify_token(_clean(token)):
            raise SecurityError("That code is not right.")
        codes = _new_codes(user)
        record_account_event(user, "account.recovery_codes_renewed")
    return codes


def disable(request, token: str) -> None:
    """Turn two-factor sign-in off, after a current authenticator or recovery code."""
    user = request.user
    if not has_two_factor(user):
        raise SecurityError("Two-factor sign-in is already off.")
    if _matching_device(user, _clean(token)) is None:
        raise SecurityError("That code is not right.")
    blocking = list(
        Tenant.objects.filter(memberships__user=user, require_two_factor=True).values_list("name", flat=True)
    )
    if blocking:
        raise SecurityError(
            "Two-factor sign-in cannot be turned off: " + ", ".join(blocking) + " requires it of its members."
        )
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        record_account_event(user, "account.two_factor_disabled")


def verify(request, token: str) -> None:
    """The second step of signing in: an authenticator code or a recovery code (used once). Raises
    :class:`SecurityError` with what to do when the code is refused."""
    user = request.user
    device = _matching_device(user, _clean(token))
    if device is None:
        record_account_event(user, "account.two_factor_failed")
        raise SecurityError("That code is not right. Try the current code, or a recovery code.")
    otp_login(request, device)
    request.session.pop(PENDING_KEY, None)
    if isinstance(device, StaticDevice):
        left = StaticToken.objects.filter(device=device).count()
        record_account_event(user, "account.recovery_code_used", metadata={"codes_left": left})


def _matching_device(user, token: str):
    """The confirmed device ``token`` is valid for (a recovery code is used up by this), or None. Each device
    throttles its own failures (django-otp's ThrottlingMixin: after a wrong code the next try waits 1 s, then 2, 4…),
    so guessing gets slower; a throttled device is not tried (even with the right code) until its wait is over."""
    if not token:
        return None
    throttled = False
    for device in devices_for_user(user, confirmed=True):
        if not device.verify_is_allowed()[0]:
            throttled = True
        elif device.verify_token(token):
            return device
    if throttled:
        raise SecurityError("Too many wrong codes: wait a few seconds, then enter the current code.")
    return None


def _clean(token: str) -> str:
    return "".join((token or "").split()).replace("-", "").lower()[:16]


def set_required(tenant: Tenant, required: bool, actor: Actor) -> None:
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(require_two_factor=required)
        tenant.require_two_factor = required
        record(
            tenant=tenant,
            actor=actor,
            action="tenant.two_factor_required" if required else "tenant.two_factor_optional",
            obj=tenant,
            changes={"require_two_factor": [not required, required]},
        )

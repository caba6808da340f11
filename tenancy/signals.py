"""A user's API tokens end with the reason they were given (docs/access.md §1): when the password is changed or
reset (by the user, a reset link, an admin or ``changepassword``) or made unusable, and when the user is
deactivated, every live token of theirs is revoked, in every organisation, each revocation audited there.

Connected in ``TenancyConfig.ready``. A password rehash at login (a new hasher or more iterations; same password)
changes the stored hash without ``set_password`` being given a new password by anyone: it revokes nothing.

Signing in, signing out and a failed sign-in are account events in the audit trail (tenancy.security).
"""

from __future__ import annotations

from audit.services import Actor

from . import security, tokens

_REASON = "_api_token_revoke_reason"


def note_user_change(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    """pre_save of the user model: remember whether this save changes the password or deactivates the user."""
    setattr(instance, _REASON, None)
    if raw or instance.pk is None:
        return
    fields = set(update_fields) if update_fields is not None else None
    if fields is not None and not fields & {"password", "is_active"}:
        return  # e.g. last_login at each login: no query
    if getattr(instance, "_password", None) is not None and (fields is None or "password" in fields):
        setattr(instance, _REASON, "password_changed")  # set_password() since the last save
        return
    old = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if old is None:
        return
    if old["is_active"] and not instance.is_active and (fields is None or "is_active" in fields):
        setattr(instance, _REASON, "user_deactivated")
    elif old["password"] != instance.password and not instance.has_usable_password():
        setattr(instance, _REASON, "password_unset")


def revoke_after_user_change(sender, instance, raw=False, **kwargs) -> None:
    """post_save of the user model: revoke the user's tokens if :func:`note_user_change` found a reason."""
    reason = getattr(instance, _REASON, None)
    if raw or not reason:
        return
    setattr(instance, _REASON, None)
    tokens.revoke_tokens(user=instance, actor=Actor.system(reason.replace("_", " ")), reason=reason)


def signed_in(sender, request, user, **kwargs) -> None:
    """user_logged_in: the session joins the user's list; the second factor is asked for when the user has one."""
    if request is None or not hasattr(request, "session"):
        return
    security.session_started(request, user)
    security.record_account_event(
        user, "account.signed_in", metadata={"address": security.client_address(request) or ""}
    )


def signed_out(sender, request, user, **kwargs) -> None:
    """user_logged_out (before the session is flushed)."""
    if user is None:
        return
    if request is not None and hasattr(request, "session"):
        security.session_ended(request.session.session_key, "signed_out")
    security.record_account_event(user, "account.signed_out")


def sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    """user_login_failed: written to the organisations of the account the username names, if there is one (the
    answer to the person signing in never says whether it exists)."""
    user = security.user_for_login((credentials or {}).get("username", ""))
    if user is None:
        return
    address = (security.client_address(request) or "") if request is not None else ""
    security.record_account_event(
        user, "account.sign_in_failed", actor=Actor.system("sign-in form"), metadata={"address": address}
    )

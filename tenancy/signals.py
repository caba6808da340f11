"""A user's API tokens end with the reason they were given (docs/access.md §1): when the password is changed or
reset (by the user, a reset link, an admin or ``changepassword``) or made unusable, and when the user is
deactivated, every live token of theirs is revoked, in every organisation, each revocation audited there.

Connected in ``TenancyConfig.ready``. A password rehash at login (a new hasher or more iterations; same password)
changes the stored hash without ``set_password`` being given a new password by anyone: it revokes nothing.
"""

from __future__ import annotations

from audit.services import Actor

from . import tokens

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

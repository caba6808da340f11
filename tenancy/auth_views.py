"""Password reset with limits: at most PASSWORD_RESET_LIMIT_PER_ADDRESS requests from one client address and
PASSWORD_RESET_LIMIT_PER_ACCOUNT for one e-mail address an hour, so that the form cannot be used to flood a
mailbox or send mail in bulk. The e-mail address is counted whether or not an account has it: the answers never
tell whether an account exists."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import caches
from django.http import HttpResponse

from ims_project.client_limits import client_address

log = logging.getLogger(__name__)
WINDOW_SECONDS = 3600
TOO_MANY_FROM_ADDRESS = (
    "Too many password-reset requests from your network in the last hour. Please try again later."
)
TOO_MANY_FOR_ACCOUNT = (
    "Too many password-reset requests for this e-mail address in the last hour. If an account has this address, "
    "a reset link is already on its way: check the inbox and the spam folder, or try again later."
)


def _count(key: str) -> int:
    """Add one request to ``key``'s count in this hour's window and return the count (0 when the cache is down:
    a Redis outage must not stop people from resetting their password)."""
    cache = caches["limits"]
    try:
        cache.add(key, 0, WINDOW_SECONDS)
        return cache.incr(key)
    except Exception:  # any cache backend's connection error
        log.warning("password-reset limits unavailable (cache %r)", key, exc_info=True)
        return 0


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LimitedPasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        address = client_address(self.request) or "unknown"
        if _count(f"password-reset:address:{_digest(address)}") > settings.PASSWORD_RESET_LIMIT_PER_ADDRESS:
            return self._refuse(form, TOO_MANY_FROM_ADDRESS)
        email = form.cleaned_data["email"].strip().lower()
        if _count(f"password-reset:account:{_digest(email)}") > settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT:
            return self._refuse(form, TOO_MANY_FOR_ACCOUNT)
        return super().form_valid(form)

    def _refuse(self, form, message: str) -> HttpResponse:
        form.add_error(None, message)
        response = self.render_to_response(self.get_context_data(form=form))
        response.status_code = 429
        return response

"""Who the client is, and how many failed logins it may have (django-axes).

The client address is the TCP peer (``REMOTE_ADDR``) unless ``BEHIND_PROXY`` is on; then it is the address the
trusted TLS proxy appended to ``X-Forwarded-For`` — the right-most entry, the only one the client cannot forge
(entries to its left are whatever the client sent).

Failed logins lock a username at one address after ``AXES_FAILURE_LIMIT`` failures there
(``AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]``), so that failures with many usernames from one address
(every user behind a company's NAT or the proxy) lock nobody else out; and a username everywhere after
``AXES_USERNAME_FAILURE_LIMIT`` failures from any addresses within the cool-off, so that an attacker spreading
guesses over many addresses is stopped too. django-axes has one failure limit, so the handler below reports a
username past its own limit as at the per-address limit.
"""

from __future__ import annotations

import ipaddress

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address: the proxy-appended X-Forwarded-For entry behind the proxy, else the peer address."""
    peer = request.META.get("REMOTE_ADDR")
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            appended = _address(forwarded.split(",")[-1])
            if appended:
                return appended
    return peer


class LoginLimitsHandler(AxesDatabaseHandler):
    """Axes' database handler with a second limit on a username alone, summed over every address."""

    def username_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        attempts = AccessAttempt.objects.filter(username=username)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        if self.username_failures(request, credentials) >= settings.AXES_USERNAME_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures

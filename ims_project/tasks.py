"""Project-level Celery tasks: a health ping that proves a worker consumes from the configured broker."""

from __future__ import annotations

import re

from celery import shared_task
from django.conf import settings
from django.utils import timezone

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def ping_marker(token: str):
    """Where :func:`ping` leaves its answer for ``token`` (under the var/ folder)."""
    if not _TOKEN.match(token):
        raise ValueError("A ping token is 1-64 letters, digits, '-' or '_'.")
    return settings.VAR_DIR / "ping" / token


@shared_task(name="ims.ping", ignore_result=True)
def ping(token: str | None = None) -> str:
    """Answer "pong"; with ``token``, also write the worker's time to ``var/ping/<token>``.

    ``make run`` and the tests send it through the broker and wait for that file: a round trip that needs no
    result backend (the filesystem broker used without Redis has none).
    """
    if token:
        marker = ping_marker(token)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(timezone.now().isoformat())
    return "pong"

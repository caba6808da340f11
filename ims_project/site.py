"""Absolute links for what leaves the site (e-mails): the configured ``SITE_URL`` (scheme and host, no trailing
path), since a worker sending mail has no request to take the host from."""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    """``/t/acme/approvals/3/`` → ``https://ims.example.com/t/acme/approvals/3/``; an empty path or a URL that
    already has a scheme is returned as it is."""
    if not path or "://" in path:
        return path
    return f"{settings.SITE_URL.rstrip('/')}/{path.lstrip('/')}"

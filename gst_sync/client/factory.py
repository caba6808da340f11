"""Build the portal adapter from settings. The only place that knows where the GSP is."""

from __future__ import annotations

import functools
from urllib.parse import urlparse

import httpx
from django.conf import settings

from gst_sync.limits import portal_throttle

from . import GstnAdapter, GstnConfig
from .errors import Transient

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def portal_config(**overrides) -> GstnConfig:
    base_url = overrides.pop("base_url", settings.IMS_GSP_BASE_URL)
    cert_path = settings.IMS_GSP_GSTN_CERT_PATH or None
    certificate = None
    if cert_path is None and (urlparse(base_url).hostname in _LOOPBACK or settings.IMS_GSP_SANDBOX):
        # The sandbox portal publishes its own certificate; a real GSP's comes from IMS_GSP_GSTN_CERT_PATH.
        # A sandbox that is down is the portal being unreachable, a PortalError like any other.
        try:
            response = httpx.get(f"{base_url.rstrip('/')}/__sandbox__/certificate", timeout=5)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Transient(f"Could not reach the portal ({type(exc).__name__}).", code="CONNECT") from exc
        certificate = response.content
    values = dict(
        base_url=base_url,
        client_id=settings.IMS_GSP_CLIENT_ID,
        client_secret=settings.IMS_GSP_CLIENT_SECRET,
        gstn_certificate=certificate,
        gstn_certificate_path=cert_path,
    )
    values.update(overrides)
    return GstnConfig(**values)


def make_adapter(**overrides) -> GstnAdapter:
    """The adapter of the configured GSP, under the portal-call limits every worker shares (gst_sync/limits.py)."""
    return GstnAdapter(portal_config(**overrides), throttle=portal_throttle())


def owns_adapter(service):
    """For services taking ``adapter=None``: build one from settings when none is given, and close its HTTP
    connections when the service returns (a worker runs thousands of tasks)."""

    @functools.wraps(service)
    def wrapped(*args, adapter=None, **kwargs):
        if adapter is not None:
            return service(*args, adapter=adapter, **kwargs)
        with make_adapter() as own:
            return service(*args, adapter=own, **kwargs)

    return wrapped

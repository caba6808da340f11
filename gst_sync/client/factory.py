"""Build the portal adapter from settings. The only place that knows where the GSP is."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import httpx
from django.conf import settings

from gst_sync.limits import portal_throttle

from . import GstnAdapter, GstnConfig
from .errors import Transient
from .gstn import tls_context

_Service = TypeVar("_Service", bound=Callable[..., Any])

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def portal_config(**overrides) -> GstnConfig:
    base_url = overrides.pop("base_url", settings.IMS_GSP_BASE_URL)
    cert_path = settings.IMS_GSP_GSTN_CERT_PATH or None
    certificate = None
    if cert_path is None and (urlparse(base_url).hostname in _LOOPBACK or settings.IMS_GSP_SANDBOX):
        # The sandbox portal publishes its own certificate; a real GSP's comes from IMS_GSP_GSTN_CERT_PATH.
        # A sandbox that is down is the portal being unreachable, a PortalError like any other.
        certificate = _sandbox_certificate(base_url)
    values = dict(
        base_url=base_url,
        client_id=settings.IMS_GSP_CLIENT_ID,
        client_secret=settings.IMS_GSP_CLIENT_SECRET,
        gstn_certificate=certificate,
        gstn_certificate_path=cert_path,
    )
    values.update(overrides)
    return GstnConfig(**values)


_CERTIFICATES: dict[str, tuple[float, bytes]] = {}
CERTIFICATE_SECONDS = 300.0  # a restarted sandbox has a new key pair: ask again after this long


def _sandbox_certificate(base_url: str) -> bytes:
    """The sandbox's certificate, asked once per process and base URL every few minutes (not once per task)."""
    cached = _CERTIFICATES.get(base_url)
    if cached is not None and time.monotonic() - cached[0] < CERTIFICATE_SECONDS:
        return cached[1]
    try:
        response = httpx.get(
            f"{base_url.rstrip('/')}/__sandbox__/certificate", timeout=5, verify=tls_context()
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise Transient(f"Could not reach the portal ({type(exc).__name__}).", code="CONNECT") from exc
    _CERTIFICATES[base_url] = (time.monotonic(), response.content)
    return response.content


def make_adapter(**overrides) -> GstnAdapter:
    """The adapter of the configured GSP, under the portal-call limits every worker shares (gst_sync/limits.py)."""
    return GstnAdapter(portal_config(**overrides), throttle=portal_throttle())


def owns_adapter(service: _Service) -> _Service:
    """For services taking ``adapter=None``: build one from settings when none is given, and close its HTTP
    connections when the service returns (a worker runs thousands of tasks)."""

    @functools.wraps(service)
    def wrapped(*args, adapter=None, **kwargs):
        if adapter is not None:
            return service(*args, adapter=adapter, **kwargs)
        with make_adapter() as own:
            return service(*args, adapter=own, **kwargs)

    return cast(_Service, wrapped)

"""Outgoing webhook requests may reach public addresses only (no SSRF into the deployment's own network).

A URL's host is resolved and every address it resolves to is checked: loopback, private (RFC 1918, unique local),
shared (100.64/10), link-local (incl. cloud metadata 169.254.169.254), multicast, reserved and unspecified
addresses are refused, as are IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``). With ``allow_private`` (the
setting ``IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK``, for on-premise deployments whose receivers live on the LAN, and for
tests) loopback, private and shared addresses are allowed; link-local, multicast, reserved and unspecified never.

The check runs twice: when a URL is saved (:func:`check_url`), and at each delivery inside the connection itself
(:class:`GuardedBackend`, an httpcore network backend): the name is resolved once, the addresses are checked, and
the socket connects to a checked address, so a DNS answer that changes between the check and the connection
(DNS rebinding) cannot slip through. TLS still verifies the certificate against the host name. Redirects are
never followed and proxies from the environment are ignored (see :func:`client`).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class UnsafeAddress(ValueError):
    """The URL's host is (or resolves to) an address webhooks may not reach; the message says which and why."""


def refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why ``ip`` may not be reached (None: it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if wrapped is not None:
            return refusal(wrapped, allow_private=allow_private)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        if ip.is_reserved:
            return "a reserved address"
        return None if allow_private else "a private-network address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself). Raises ``socket.gaierror``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The addresses of ``host``, all of them allowed; raises :class:`UnsafeAddress` if any is not."""
    addresses = resolve(host, port)
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise UnsafeAddress(f"{shown} is {reason}: webhooks may only be sent to public addresses.")
    return addresses


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host is or resolves to an address webhooks may not reach. A host name that does not
    resolve now is accepted (it is checked again at every delivery)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeAddress("The port is not a number between 0 and 65535.") from None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        reason = refusal(literal, allow_private=allow_private)
        if reason is not None:
            raise UnsafeAddress(f"{host} is {reason}: webhooks may only be sent to public addresses.")
        return
    try:
        checked_addresses(host, port, allow_private=allow_private)
    except (socket.gaierror, UnicodeError):
        return


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's synchronous network backend, connecting only to checked addresses."""

    def __init__(self, *, allow_private: bool):
        self.allow_private = allow_private
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = checked_addresses(host, port, allow_private=self.allow_private)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        except UnsafeAddress as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover - never used
        raise httpcore.ConnectError("webhooks do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool uses :class:`GuardedBackend` (no proxy)."""

    def __init__(self, *, allow_private: bool, **kwargs):
        super().__init__(**kwargs)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=GuardedBackend(allow_private=allow_private),
        )


def client(*, allow_private: bool, timeout: float) -> httpx.Client:
    """An httpx client for webhook deliveries: guarded connections, no redirects, no proxies from the env."""
    return httpx.Client(
        transport=GuardedTransport(allow_private=allow_private),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


__all__ = [
    "GuardedBackend",
    "UnsafeAddress",
    "check_url",
    "checked_addresses",
    "client",
    "refusal",
    "resolve",
]

"""The operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (docs/operations.md).

On the web they are answered by ``OpsEndpointsMiddleware``, placed before the security, session and host checks:
a probe or a scraper reaches the container by its address (no host name from ALLOWED_HOSTS, plain HTTP behind the
TLS proxy), and an answer must not depend on a session or a tenant. The proxy in front of the site should not
route these paths from the internet (docs/operations.md).

The worker serves the same three paths on ``IMS_WORKER_HTTP_PORT`` (off when 0) from a thread of its main process
(``start_worker_server``, on Celery's ``worker_ready`` signal).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from . import health, metrics

log = logging.getLogger(__name__)

PATHS = ("/healthz", "/readyz", "/metrics")


def _answer(path: str, query: dict[str, str], *, role: str) -> tuple[int, str, bytes]:
    if path == "/healthz":
        return 200, "application/json", json.dumps({"status": "alive", "role": role}).encode()
    if path == "/readyz":
        report = health.readiness(require_beat=query.get("require_beat") == "1")
        report["role"] = role
        return (200 if report["ready"] else 503), "application/json", json.dumps(report).encode()
    # /metrics: the worker exposes its processes' counters; the tables and queues are the web's to report, so a
    # scrape of both does not count them twice.
    return 200, CONTENT_TYPE_LATEST, metrics.exposition(with_tables=role == "web")


class OpsEndpointsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info.rstrip("/") or "/"
        if path not in PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"detail": "GET only."}, status=405)
        status, content_type, body = _answer(path, request.GET.dict(), role="web")
        response = HttpResponse(body, status=status, content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response


def worker_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The worker's WSGI app: the same three paths, anything else 404."""
    path = (environ.get("PATH_INFO") or "/").rstrip("/") or "/"
    if path not in PATHS:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    try:
        status, content_type, body = _answer(path, query, role="worker")
    finally:
        connection.close()  # this thread's own connection: never left open between probes
    reason = {200: "OK", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Cache-Control", "no-store")])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("worker http: " + format, *args)


def start_worker_server(host: str, port: int) -> WSGIServer:
    server = make_server(host, port, worker_app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="ims-worker-http", daemon=True)
    thread.start()
    log.info("worker health and metrics on http://%s:%d/{healthz,readyz,metrics}", host, server.server_port)
    return server

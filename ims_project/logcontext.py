"""Who and what a log line is about (docs/operations.md §3): request id, tenant and user on every record.

``RequestContextMiddleware`` (first in the chain) gives each request an id (the proxy's ``X-Request-ID`` when it is
a sane token, else a new one), answers it in ``X-Request-ID``, and logs one ``request`` line when the response is
ready (method, path, status, duration). ``ContextFilter`` copies the id, the tenant's slug and the user's id onto
every record logged while the request runs, read when the record is made (the tenant and user are known only after
the authentication and tenant middleware ran). A Celery task's records carry its task id as ``request_id``
(``bind_task``, from Celery's signals). The records are written as JSON by python-json-logger when
``LOG_FORMAT=json`` (docker-compose), as text otherwise.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import empty

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("ims_request", default=None)
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("ims_request_id", default="")
_task: contextvars.ContextVar[str] = contextvars.ContextVar("ims_task", default="")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
access_log = logging.getLogger("ims.request")
_QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}


def current_request_id() -> str:
    return _request_id.get()


def bind_task(task_id: str, task_name: str) -> None:
    """A Celery task starts: its records carry its id (Celery's task_prerun signal)."""
    _request_id.set(task_id or "")
    _task.set(task_name or "")


def unbind_task() -> None:
    _request_id.set("")
    _task.set("")


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", None)
    if wrapped is empty:  # never evaluated in this request: do not query the database from a log call
        return None
    target = wrapped if wrapped is not None else user
    return target.pk if getattr(target, "is_authenticated", False) else None


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``tenant``, ``user_id`` (and ``task`` in a worker) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request.get()
        record.request_id = getattr(record, "request_id", None) or _request_id.get() or None
        tenant = getattr(request, "tenant", None) if request is not None else None
        record.tenant = getattr(tenant, "slug", None)
        record.user_id = _user_id(request) if request is not None else None
        record.task = _task.get() or None
        return True


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        tokens = (_request.set(request), _request_id.set(request_id))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            extra: dict[str, Any] = {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            # Probes and scrapes (every few seconds) only at DEBUG: the log keeps the requests people and clients make.
            level = logging.DEBUG if request.path.rstrip("/") in _QUIET_PATHS else logging.INFO
            access_log.log(level, "%s %s %s", request.method, request.path, response.status_code, extra=extra)
            return response
        finally:
            _request.reset(tokens[0])
            _request_id.reset(tokens[1])

"""Project-level Celery tasks: a health ping that proves a worker consumes from the configured broker, beat's tick,
and the worker's signal handlers (log context, task metrics, its health and metrics endpoints)."""

from __future__ import annotations

import os
import re
import time

from celery import shared_task, signals
from django.conf import settings
from django.db import connections
from django.utils import timezone
from prometheus_client import multiprocess

from . import health, logcontext, metrics, ops_http, priority

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


@shared_task(name="ims.beat_tick", ignore_result=True)
def beat_tick() -> None:
    """Beat's heartbeat (every IMS_BEAT_TICK_SECONDS): its time, read by the readiness checks (ims_project.health)."""
    health.record_beat_tick()


# --- Worker signals: log context, task metrics, the worker's health and metrics endpoints --------------------------
# Connected here because the worker imports this module at start-up (CELERY_IMPORTS), before it forks its pool.

_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_starts(task_id=None, task=None, **_kwargs) -> None:
    logcontext.bind_task(task_id or "", getattr(task, "name", "") or "")
    _started[task_id or ""] = time.perf_counter()


@signals.task_postrun.connect
def _task_ends(task_id=None, task=None, state=None, **_kwargs) -> None:
    began = _started.pop(task_id or "", None)
    name = getattr(task, "name", "") or "-"
    if began is not None:
        metrics.CELERY_TASK_SECONDS.labels(task=name).observe(time.perf_counter() - began)
    metrics.CELERY_TASKS.labels(task=name, state=(state or "unknown").lower()).inc()
    logcontext.unbind_task()


@signals.task_retry.connect
def _task_retries(sender=None, **_kwargs) -> None:
    metrics.CELERY_TASKS.labels(task=getattr(sender, "name", "-") or "-", state="retried").inc()


@signals.worker_init.connect
def _worker_starts(**_kwargs) -> None:
    """Lower the worker's CPU priority before it forks its pool (IMS_WORKER_NICE), its database sessions' too where
    the server has the prioritize extension: a reconciliation or a sync on a host shared with the web then takes the
    cores only when pages leave them (ims_project.priority)."""
    priority.lower_this_process(settings.IMS_WORKER_NICE, connections)


@signals.worker_ready.connect
def _worker_ready(**_kwargs) -> None:
    if settings.IMS_WORKER_HTTP_PORT:
        ops_http.start_worker_server(settings.IMS_WORKER_HTTP_HOST, settings.IMS_WORKER_HTTP_PORT)


@signals.worker_process_shutdown.connect
def _pool_process_ends(pid=None, **_kwargs) -> None:
    if settings.PROMETHEUS_MULTIPROC_DIR:
        multiprocess.mark_process_dead(pid or os.getpid())

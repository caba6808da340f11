"""Health and readiness (docs/operations.md §1): what ``/healthz``, ``/readyz``, the worker's own endpoints and
``manage.py health`` report.

- Liveness (``/healthz``): the process answers. No database, no broker: a restart would not fix either.
- Readiness (``/readyz``): the database answers a query and the broker a connection (both required: 503 without
  one), with beat's last tick and the depth of every queue reported beside them. A beat tick older than
  ``IMS_BEAT_STALE_SECONDS`` marks ``beat`` not ok; it fails readiness only where beat is required
  (``manage.py health --require-beat``, beat's own healthcheck): the web serves pages without beat.

Beat's last tick is a timestamp the ``ims.beat_tick`` task (every ``IMS_BEAT_TICK_SECONDS``) writes in Redis, or in a
file under var/ when there is no Redis (``make run``'s filesystem broker).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from kombu.exceptions import ChannelError

from . import priority
from .celery import app as celery_app

BEAT_KEY = "ims:beat:last-tick"
# Queues always reported (the ones the compose worker consumes); any others Celery is configured with are added.
BASE_QUEUES = ("default", "sync", "reconcile", "exports")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def _beat_key() -> str:
    # The broker's key prefix (tests give each worker its own), so two stacks on one Redis never share the tick.
    return settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "") + BEAT_KEY


def _beat_file() -> Path:
    return Path(settings.VAR_DIR) / "beat-last-tick"


def record_beat_tick(now: float | None = None) -> float:
    """Write beat's last tick (seconds since the epoch); the ``ims.beat_tick`` task calls it."""
    now = time.time() if now is None else now
    if settings.REDIS_URL:
        client = _redis()
        try:
            client.set(_beat_key(), repr(now))
        finally:
            client.close()
    else:
        path = _beat_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(repr(now))
        tmp.replace(path)
    return now


def last_beat_tick() -> float | None:
    try:
        if settings.REDIS_URL:
            client = _redis()
            try:
                raw = client.get(_beat_key())
            finally:
                client.close()
            return float(raw) if raw else None
        path = _beat_file()
        return float(path.read_text()) if path.exists() else None
    except Exception:
        return None


def beat_tick_age() -> float | None:
    tick = last_beat_tick()
    return None if tick is None else max(0.0, time.time() - tick)


def queue_names() -> list[str]:
    """The queues to report: the compose worker's, the ones Celery is configured with, and those tasks route to."""
    app = celery_app
    names = set(BASE_QUEUES) | {app.conf.task_default_queue or "celery"}
    names |= set(app.amqp.queues.keys())
    routes = app.conf.task_routes
    if isinstance(routes, dict):
        for route in routes.values():
            queue = route.get("queue") if isinstance(route, dict) else None
            if isinstance(queue, str):
                names.add(queue)
    for task in list(app.tasks.values()):
        queue = getattr(task, "queue", None)
        if isinstance(queue, str):
            names.add(queue)
    return sorted(names)


def queue_depths() -> dict[str, int]:
    """Messages waiting in each queue, from the broker (raises when the broker is unreachable)."""
    app = celery_app
    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        channel = conn.default_channel
        # kombu's virtual transports (Redis, filesystem) count a queue with _size; a passive declare says the same
        # elsewhere, but on Redis it forgets the broker's global_keyprefix when it checks that the queue exists.
        size = getattr(channel, "_size", None)
        for name in queue_names():
            try:
                depths[name] = (
                    int(size(name)) if size else channel.queue_declare(queue=name, passive=True).message_count
                )
            except ChannelError:  # a queue nobody declared yet holds nothing
                depths[name] = 0
    return depths


def check_database() -> dict[str, Any]:
    """The database answers a query. In a worker, also what its session is named and the niceness its backend runs
    at (``background``; the niceness None where the server lacks the prioritize extension: docs/operations.md §9)."""
    started = time.perf_counter()
    background = None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
            if priority.background_nice():
                background = priority.session_state(cursor)
    except Exception as exc:
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}
    out: dict[str, Any] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if background is not None:
        out["background"] = background
    return out


def check_broker() -> tuple[dict[str, Any], dict[str, int] | None]:
    started = time.perf_counter()
    try:
        depths = queue_depths()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}, None
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}, depths


def check_beat() -> dict[str, Any]:
    age = beat_tick_age()
    stale = settings.IMS_BEAT_STALE_SECONDS
    if age is None:
        return {"ok": False, "last_tick_age_s": None, "error": "beat has never ticked"}
    return {"ok": age <= stale, "last_tick_age_s": round(age, 1), "stale_after_s": stale}


def readiness(*, require_beat: bool = False) -> dict[str, Any]:
    """The readiness report: ``ready`` is true when the database and the broker answer (and beat, if required)."""
    database = check_database()
    broker, depths = check_broker()
    beat = check_beat()
    ready = database["ok"] and broker["ok"] and (beat["ok"] or not require_beat)
    return {
        "status": "ready" if ready else "not ready",
        "ready": ready,
        "checks": {"database": database, "broker": broker, "beat": beat},
        "queues": depths,
    }

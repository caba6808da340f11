"""Prometheus metrics (docs/operations.md §2), with prometheus_client and django-prometheus: no hand-written counters.

- Requests: django-prometheus' middleware (``django_http_requests_*``: by view, method and status, with latency).
- Jobs by kind and state: read from the job tables at scrape time (``ims_jobs{kind,state}``), so the figure is the
  same whichever process answers the scrape, and a worker that died cannot leave it wrong. The worker also counts
  the Celery tasks it ran (``ims_celery_tasks_total{task,state}``, from Celery's signals) and their duration.
- Queue depths: read from the broker at scrape time (``ims_queue_depth{queue}``).
- Beat: the age of beat's last tick (``ims_beat_last_tick_age_seconds``).
- Portal calls: counted where the GSTN client sends them (``ims_portal_calls_total{action,outcome}`` and
  ``ims_portal_call_seconds``), in the worker or the web process that made them.

Counters and histograms of processes that fork (gunicorn workers, Celery's prefork pool) are shared through
prometheus_client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (docker-compose sets it per
container); without it each process reports its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db import connection
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from . import health

log = logging.getLogger(__name__)

# The job tables, by kind, named by model label (resolved through the app registry: this room imports none of
# them, like urls.py). Each has a ``status`` column holding ims_project.jobs.JobStatus values (SyncRun and PushBatch
# have their own states; they are reported as stored).
JOB_MODELS: dict[str, str] = {
    "sync": "gst_sync.SyncRun",
    "push": "gst_sync.PushBatch",
    "export": "exports.ExportJob",
    "bulk_action": "actions.BulkActionRun",
    "reconcile": "reconciliation.ReconRun",
    "register_import": "reconciliation.RegisterImport",
    "rebuild": "returns.PreviewRebuild",
}

PORTAL_CALLS = Counter(
    "ims_portal_calls",
    "Requests sent to the GST portal (GSP), by API action and outcome (HTTP status, or the transport error).",
    ["action", "outcome"],
)
PORTAL_CALL_SECONDS = Histogram(
    "ims_portal_call_seconds",
    "Time one request to the GST portal took, by API action.",
    ["action"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CELERY_TASKS = Counter(
    "ims_celery_tasks",
    "Celery tasks a worker finished, by task name and state (succeeded, failed, retried).",
    ["task", "state"],
)
CELERY_TASK_SECONDS = Histogram(
    "ims_celery_task_seconds",
    "Time a Celery task ran in a worker, by task name.",
    ["task"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)


def observe_portal_call(action: str, outcome: str, seconds: float) -> None:
    PORTAL_CALLS.labels(action=action or "-", outcome=outcome).inc()
    PORTAL_CALL_SECONDS.labels(action=action or "-").observe(seconds)


class JobsCollector(Collector):
    """``ims_jobs{kind,state}``: rows of each job table by status; ``ims_queue_depth{queue}``; beat's age."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "ims_jobs", "Jobs in the job tables, by kind and state.", labels=["kind", "state"]
        )
        for kind, label in JOB_MODELS.items():
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT status, count(*) FROM {table} GROUP BY status")  # noqa: S608  # nosec B608  # quoted model table name, no values
                    for state, count in cursor.fetchall():
                        jobs.add_metric([kind, str(state)], count)
            except Exception:  # a scrape never fails on one table: the others still count
                log.warning("metrics: could not count %s", label, exc_info=True)
        yield jobs

        depth = GaugeMetricFamily(
            "ims_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        try:
            for queue, count in health.queue_depths().items():
                depth.add_metric([queue], count)
        except Exception:
            log.warning("metrics: broker unreachable for queue depths", exc_info=True)
        yield depth

        age = health.beat_tick_age()
        beat = GaugeMetricFamily(
            "ims_beat_last_tick_age_seconds", "Seconds since Celery beat last ran its tick task (-1: never)."
        )
        beat.add_metric([], -1 if age is None else age)
        yield beat


_SCRAPE_REGISTRY = CollectorRegistry(auto_describe=False)
_SCRAPE_REGISTRY.register(JobsCollector())


def process_registry() -> CollectorRegistry:
    """The registry of the counters and histograms: every process's together in multiprocess mode."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(*, with_tables: bool = True) -> bytes:
    """The text a scrape of ``/metrics`` answers: the processes' metrics, then the tables' and the broker's."""
    text = generate_latest(process_registry())
    if with_tables:
        text += generate_latest(_SCRAPE_REGISTRY)
    return text

"""gunicorn settings read by docker-compose's web service (``gunicorn -c python:ims_project.gunicorn_conf``).

With ``PROMETHEUS_MULTIPROC_DIR`` set, each gunicorn worker writes its metrics to that folder and any worker
answers ``/metrics`` for all of them (ims_project/metrics.py); a worker that exits is marked dead so its live
gauges stop counting (its counters stay in the totals, as Prometheus expects)."""

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)

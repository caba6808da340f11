from celery import shared_task

from ims_project import leases

from . import engine, services
from .models import JobStatus, ReconRun, RegisterImport


@shared_task(queue="reconcile", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def run_import_task(import_id: int) -> None:

    services.run_import(import_id=import_id)


@shared_task(queue="reconcile", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def run_recon_task(run_id: int) -> None:

    engine.execute_run(run_id=run_id)


def requeue_stale_jobs() -> dict[str, int]:
    """Deliver again the reconciliation runs and register imports whose worker died (running, heartbeat older than
    ``IMS_SYNC_LEASE_SECONDS``) or whose delivery was lost (queued that long); the claim re-checks the lease, so
    a twin of a live job does nothing. As ``gst_sync.services.requeue_stale_runs`` does for portal syncs."""

    found = {}
    for key, model, task in (
        ("runs", ReconRun, run_recon_task),
        ("imports", RegisterImport, run_import_task),
    ):
        found[key] = leases.sweep(model, task, running=(JobStatus.RUNNING,))  # also those handed back
    return found


@shared_task(queue="default")
def sweep_stale_jobs() -> dict[str, int]:
    return requeue_stale_jobs()

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from tenancy.scoping import scopes_disabled

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

    cutoff = timezone.now() - dt.timedelta(seconds=settings.IMS_SYNC_LEASE_SECONDS)
    found = {}
    for key, model, task in (
        ("runs", ReconRun, run_recon_task),
        ("imports", RegisterImport, run_import_task),
    ):
        with scopes_disabled():
            ids = set(
                model.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
                    "id", flat=True
                )
            )
            ids |= set(
                model.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff).values_list(
                    "id", flat=True
                )
            )
        for pk in sorted(ids):
            task.delay(pk)
        found[key] = len(ids)
    return found


@shared_task(queue="default")
def sweep_stale_jobs() -> dict[str, int]:
    return requeue_stale_jobs()

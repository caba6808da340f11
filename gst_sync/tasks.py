from celery import shared_task

from . import push, services


@shared_task(queue="sync", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def sync_section(run_id: int) -> None:
    services.run_sync(run_id)


@shared_task(queue="sync", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def sync_job(job_id: int) -> None:
    """All the sections of a small GSTIN's sync under one lease (gst_sync.models.SyncJob)."""
    services.run_job(job_id)


@shared_task(queue="default")
def daily_sync() -> int:
    return services.queue_daily_syncs()


@shared_task(queue="default")
def sweep_stale_runs() -> int:
    return services.requeue_stale_runs()


@shared_task(queue="push", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def push_batch(batch_id: int) -> None:

    push.run_push(batch_id)


@shared_task(queue="default")
def sweep_stale_pushes() -> int:

    return push.requeue_stale_pushes()

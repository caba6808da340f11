from celery import shared_task

from . import services


@shared_task(name="exports.run_export", queue="exports", acks_late=True, reject_on_worker_lost=True)
def run_export_task(job_id: int) -> str | None:
    """Write an export job's file; a second delivery is a no-op (the job row is claimed first).
    Returns the job's final status (None if there is no such job)."""
    job = services.run_export(job_id)
    return job.status if job is not None else None


@shared_task(name="exports.sweep_stale_jobs", queue="default")
def sweep_stale_jobs() -> int:
    """Every few minutes (beat): export jobs whose worker died or whose delivery was lost are sent again."""
    return services.requeue_stale_jobs()

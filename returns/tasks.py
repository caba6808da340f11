from celery import shared_task

from . import digest, services


@shared_task(name="returns.rebuild_previews", queue="default", acks_late=True, reject_on_worker_lost=True)
def rebuild_previews() -> int:
    """Every 24 hours (beat): rebuild the GSTR-2B previews of every GSTIN (previous and current period)."""
    return services.rebuild_all()


@shared_task(name="returns.deadline_digest", queue="default", acks_late=True, reject_on_worker_lost=True)
def deadline_digest() -> int:
    """Every morning: email each responsible member the most urgent documents of their GSTINs."""

    return digest.send_all()


@shared_task(name="returns.rebuild_preview", queue="default", acks_late=True, reject_on_worker_lost=True)
def rebuild_preview(rebuild_id: int) -> str:
    """One on-demand rebuild (page or API); the tenant scope is opened from the rebuild's own ids."""
    job = services.run_rebuild(rebuild_id)
    return job.status if job else "skipped"

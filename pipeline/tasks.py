from celery import shared_task

from ims_project.jobs import JobStatus

from . import batches


@shared_task(name="pipeline.advance_batch", queue="default", acks_late=True, reject_on_worker_lost=True)
def advance_batch(batch_id: int) -> str | None:
    """One tick of a client batch (pipeline.batches); ticks again while the batch runs."""
    batch = batches.advance(batch_id)
    if batch is not None and batch.status == JobStatus.RUNNING:
        batches.schedule_tick(batch_id)
    return batch.status if batch is not None else None

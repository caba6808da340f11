from celery import shared_task

from . import services


@shared_task(name="actions.run_bulk_action", queue="default", acks_late=True, reject_on_worker_lost=True)
def run_bulk_action_task(run_id: int) -> str | None:
    """Apply a large bulk action in chunks of thousands of documents (one transaction each, progress on the run);
    a redelivered task resumes after the last committed chunk. Returns the run's final status."""
    return services.run_bulk_action(run_id=run_id)


@shared_task(name="actions.sweep_stale_runs", queue="default")
def sweep_stale_runs() -> int:
    """Every few minutes (beat): bulk-action runs whose worker died or whose delivery was lost are sent again."""
    return services.requeue_stale_runs()

from celery import shared_task


@shared_task(queue="default", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def run_import_task(import_id: int) -> None:
    from .services import run_import

    run_import(import_id=import_id)


@shared_task(queue="reconcile", acks_late=True, reject_on_worker_lost=True, time_limit=3600)
def run_recon_task(run_id: int) -> None:
    from .engine import execute_run

    execute_run(run_id=run_id)

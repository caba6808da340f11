from celery import shared_task

from . import digest, services


@shared_task(name="returns.rebuild_previews", queue="rebuild", acks_late=True, reject_on_worker_lost=True)
def rebuild_previews() -> int:
    """Every 24 hours (beat): rebuild the GSTR-2B previews of every GSTIN (previous and current period)."""
    return services.rebuild_all()


@shared_task(
    name="returns.deadline_digest", queue="notifications", acks_late=True, reject_on_worker_lost=True
)
def deadline_digest() -> int:
    """Every morning: email each responsible member the most urgent documents of their GSTINs."""

    return digest.send_all()


@shared_task(name="returns.rebuild_preview", queue="rebuild", acks_late=True, reject_on_worker_lost=True)
def rebuild_preview(rebuild_id: int) -> str:
    """One on-demand rebuild (page or API); the tenant scope is opened from the rebuild's own ids."""
    job = services.run_rebuild(rebuild_id)
    return job.status if job else "skipped"


@shared_task(
    name="returns.refresh_supplier_filings",
    queue="sync",
    acks_late=True,
    reject_on_worker_lost=True,
    bind=True,
    max_retries=6,
)
def refresh_supplier_filings(self, tenant_id: int = 0, registration_id: int | None = None) -> dict:
    """The suppliers' GSTR-3B filings from the portal's return tracking (Rule 37A): after a sync (one tenant and
    GSTIN) and daily (every tenant, ``tenant_id`` 0). Calls that failed are asked again an hour later."""
    result = services.refresh_supplier_filings_job(tenant_id, registration_id)
    if result.failed:
        raise self.retry(countdown=3600)
    return {"asked": result.asked, "failed": result.failed, "written": result.written}


@shared_task(
    name="returns.refresh_claim_periods", queue="rebuild", acks_late=True, reject_on_worker_lost=True
)
def refresh_claim_periods(registration_id: int) -> int:
    """The ITC claim periods of one GSTIN's documents (returns.claims): after a sync, a GSTR-3B filing recorded,
    corrected or deleted, or a reconciliation."""
    return services.refresh_claims_job(registration_id)


@shared_task(name="returns.sweep_stale_rebuilds", queue="default")
def sweep_stale_rebuilds() -> int:
    """Every few minutes (beat): 2B preview rebuilds whose worker died or whose delivery was lost are sent again."""
    return services.requeue_stale_rebuilds()

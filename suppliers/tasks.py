from celery import shared_task

from tenancy.scoping import scopes_disabled

from . import services
from .models import DeliveryStatus, WebhookDelivery


@shared_task(
    queue="notifications", acks_late=True, reject_on_worker_lost=True, time_limit=120, soft_time_limit=110
)
def deliver_webhook_task(delivery_id: int) -> str | None:
    """One attempt; while the delivery is still pending, the next attempt is scheduled with backoff."""
    status = services.deliver_webhook(delivery_id=delivery_id)
    if status == DeliveryStatus.PENDING:
        with scopes_disabled():
            attempts = (
                WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempts", flat=True).first() or 1
            )
        deliver_webhook_task.apply_async((delivery_id,), countdown=services.retry_delay(attempts))
    return status

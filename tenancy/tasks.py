"""The organisation's data export, written by a worker (docs/operations.md §5)."""

from celery import shared_task

from audit.services import Actor

from . import services
from .models import Tenant
from .scoping import tenant_scope


@shared_task(name="tenancy.export_tenant_data", queue="default", acks_late=True, reject_on_worker_lost=True)
def export_tenant_data(tenant_id: int, file_name: str) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id, deleted_at__isnull=True).first()
    if tenant is None:
        return
    with tenant_scope(tenant):
        services.write_tenant_export(
            tenant=tenant,
            actor=Actor.task("tenancy.export_tenant_data"),
            target=services.tenant_export_path(tenant, file_name),
        )

"""Readers of the supplier directory, notifications and webhooks."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from invoices.models import Supplier, SupplierDocument
from invoices.selectors import visible_registration_ids
from tenancy.models import Membership, Tenant

from .models import SupplierNotification, WebhookDelivery, WebhookEndpoint


def supplier_directory(
    *, tenant: Tenant, user, membership: Membership | None = None, query: str = ""
) -> QuerySet[Supplier]:
    """The suppliers ``user`` may see: all of the tenant's for owners and admins; for others, those with at least
    one document on a GSTIN granted to them. ``query`` matches a GSTIN prefix, a name or an e-mail."""
    qs = Supplier.objects.filter(tenant=tenant)
    reg_ids = visible_registration_ids(tenant=tenant, user=user, membership=membership)
    if reg_ids is not None:
        qs = qs.filter(
            Exists(
                SupplierDocument.objects.filter(
                    tenant=tenant, registration_id__in=reg_ids, supplier_gstin=OuterRef("gstin")
                )
            )
        )
    text = (query or "").strip()
    if text:
        qs = qs.filter(
            Q(gstin__startswith=text.upper().replace(" ", ""))
            | Q(legal_name__icontains=text)
            | Q(trade_name__icontains=text)
            | Q(emails__icontains=text.lower())
        )
    return qs.order_by("gstin")


def supplier_detail(*, tenant: Tenant, user, membership: Membership | None = None, pk: int) -> Supplier:
    """One visible supplier; raises Supplier.DoesNotExist otherwise (another tenant's, or not visible)."""
    return supplier_directory(tenant=tenant, user=user, membership=membership).get(pk=pk)


def notifications(*, tenant: Tenant) -> QuerySet[SupplierNotification]:
    return SupplierNotification.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def webhook_endpoints(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(tenant=tenant).order_by("url", "id")


def webhook_deliveries(
    *, tenant: Tenant, endpoint: WebhookEndpoint | None = None
) -> QuerySet[WebhookDelivery]:
    qs = WebhookDelivery.objects.filter(tenant=tenant).select_related("endpoint")
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    return qs.order_by("-created_at", "-id")

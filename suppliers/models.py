"""Notifications to suppliers: the e-mail digests sent, and the tenant's webhook endpoints with their deliveries.

The directory itself is ``invoices.Supplier`` (GSTIN, names, contact e-mails): filled by ingest, edited and
imported here."""

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager


class NotificationStatus(models.TextChoices):
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped (no contact e-mail)"
    FAILED = "failed", "Failed"


class SupplierNotification(models.Model):
    """One e-mail digest to one supplier: the documents rejected or kept pending with a remark."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    supplier_gstin = models.CharField(max_length=15)
    emails = models.JSONField(default=list, blank=True)
    document_ids = models.JSONField(default=list)
    document_count = models.IntegerField(default=0)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="suppliernotif_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.supplier_gstin} {self.status} ({self.document_count})"


class WebhookEvent(models.TextChoices):
    DOCUMENTS_FLAGGED = "supplier.documents_flagged", "Documents rejected or kept pending with a remark"
    RECON_WRITEBACK = "reconciliation.writeback", "Corrections for the ERP sent from a reconciliation"


class WebhookEndpoint(models.Model):
    """A URL of the tenant that receives events as JSON POSTs signed with HMAC-SHA256 of its secret. The secret
    is stored sealed (``suppliers.sealing``), shown once when made; ``secret_hint`` is its last characters."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    url = models.URLField(max_length=500)
    sealed_secret = models.TextField()
    secret_hint = models.CharField(max_length=8, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    events = models.JSONField(default=list, help_text="Event names delivered to this URL")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["url", "id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (will retry)"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event to one endpoint: each attempt updates it; at most ``IMS_WEBHOOK_MAX_ATTEMPTS`` attempts."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.SmallIntegerField(default=0)
    response_code = models.SmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "endpoint", "-created_at"], name="webhookdelivery_ep_idx")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"

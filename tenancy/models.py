from __future__ import annotations

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager

from .roles import ROLE_LABELS, Role


class Tenant(models.Model):
    """An organisation: a company with its GSTINs, or a CA firm serving several clients."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FilingFrequency(models.TextChoices):
    MONTHLY = "M", "Monthly"
    QRMP = "Q", "Quarterly (QRMP)"


class Registration(models.Model):
    """A GSTIN of the tenant: the recipient side of IMS."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="registrations")
    gstin = models.CharField(max_length=15)
    legal_name = models.CharField(max_length=200)
    trade_name = models.CharField(max_length=200, blank=True)
    state_code = models.CharField(max_length=2)
    filing_frequency = models.CharField(
        max_length=1, choices=FilingFrequency.choices, default=FilingFrequency.MONTHLY
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["gstin"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "gstin"], name="registration_tenant_gstin_uniq")
        ]
        permissions = [("access_registration", "Can see and act on the documents of this GSTIN")]

    def __str__(self) -> str:
        return f"{self.gstin} {self.trade_name or self.legal_name}"

    @property
    def display_name(self) -> str:
        return self.trade_name or self.legal_name


class Membership(models.Model):
    """A user's role in a tenant. Not scoped: it is the gate that opens the tenant scope."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=[(r.value, ROLE_LABELS[r]) for r in Role])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant__name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_uniq")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"

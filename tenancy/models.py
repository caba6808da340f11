from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django_scopes import ScopedManager

from .roles import ROLE_LABELS, SCOPE_LABELS, Role, Scope


class Tenant(models.Model):
    """An organisation: a company with its GSTINs, or a CA firm serving several clients."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every member must sign in with a second factor before any page of this organisation opens (docs/access.md §3).
    require_two_factor = models.BooleanField(default=False)
    # Set when the organisation was deleted (tenancy.services.delete_tenant): its data is gone, this row and its
    # audit ledger stay (docs/operations.md §6).
    deleted_at = models.DateTimeField(null=True, blank=True)

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
    active = models.BooleanField(
        default=True,
        help_text="A deactivated GSTIN (added by mistake, or no longer used) is hidden from every list, picker and "
        "sync; its documents and history are kept, and an owner or admin can reactivate it",
    )

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


class ApiToken(models.Model):
    """An API token of one member in one tenant, with scopes and an expiry (docs/access.md §1).

    Only a SHA-256 hash of the key is stored: the key is shown once, when the token is made. ``prefix`` (the key's
    first characters) names the token in lists. A token stops working when it expires, is revoked (by its user, or
    when the user's password changes or the user or their membership goes), or the user is inactive.
    Not tenant-scoped (like :class:`Membership`): it is looked up before a tenant scope is open, and the API checks
    that its tenant is the one in the URL.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=[(s.value, SCOPE_LABELS[s]) for s in Scope]))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "user"], name="apitoken_tenant_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_active_at(self, when) -> bool:
        return self.revoked_at is None and self.expires_at > when


class UserSession(models.Model):
    """A signed-in browser session of a user, for the "where you are signed in" list and "log out everywhere"
    (docs/access.md §3). Written at login; ``last_seen_at`` is refreshed at most every few minutes; ``ended_at`` is
    set at logout or when the user ends it from another session. The session itself lives in Django's session store
    under ``session_key``. Not tenant-scoped: a session is the user's, in every organisation.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    client_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["user", "ended_at"], name="usersession_user_ended_idx")]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager


class ActorType(models.TextChoices):
    USER = "user", "User"
    API = "api", "API token"
    TASK = "task", "Background task"
    SYSTEM = "system", "System"


class AuditEvent(models.Model):
    """One entry of a tenant's append-only, hash-chained ledger.

    ``hash = sha256(prev_hash + canonical JSON of the event)``; ``seq`` counts from 1 per tenant. The database
    refuses UPDATE and DELETE on this table (trigger in migration 0002). Written only through
    ``audit.services`` in the same transaction as the change it records.
    """

    # Checked once per statement by a trigger, not row by row; (tenant, seq) serves as its index (migration 0003).
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    seq = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)  # user id; no FK so users can be removed
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="auditevent_tenant_seq_uniq")]
        indexes = [
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_tenant_object_idx"),
            models.Index(fields=["tenant", "action", "seq"], name="audit_tenant_action_idx"),
            models.Index(fields=["tenant", "actor_id", "seq"], name="audit_tenant_actor_idx"),
            models.Index(fields=["tenant", "occurred_at"], name="audit_tenant_time_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

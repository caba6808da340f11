"""Records of IMS actions at scale. The actions themselves live on the document (``SupplierDocument.local_*``);
these tables hold what the rules and the bulk machinery need around them."""

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from ims_project.jobs import JobStatus

RunStatus = JobStatus  # the states every background job shares (ims_project.jobs)


class BulkActionRun(models.Model):
    """One bulk action (accept / reject / pending / reset over selected ids or every document matching a filter).

    Small ones are applied in the request and saved here already done; large ones are applied by a worker in
    chunks (``cursor`` = last document id done, ``max_id`` = the largest id when the run started, so documents
    that arrive later are not swept in). ``refused`` keeps the first refusals (id, number, code, message);
    ``refused_count`` counts all of them."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    user_id = models.BigIntegerField()  # no FK: removing a user keeps the history
    actor_type = models.CharField(max_length=8)
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=1)
    params = models.JSONField(
        default=dict, help_text="target (ids or filter) and the request (remarks, declaration)"
    )
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    total = models.BigIntegerField(default=0)
    processed = models.BigIntegerField(default=0)
    applied = models.BigIntegerField(default=0)
    already = models.BigIntegerField(default=0)
    refused_count = models.BigIntegerField(default=0)
    refused = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=dict, blank=True)
    max_id = models.BigIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker's lease (ims_project.leases): claims so far, and the last sign of life of the running one.
    attempts = models.IntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="bulkactionrun_tenant_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.status == RunStatus.DONE:
            return 100
        return min(99, int(self.processed * 100 / self.total)) if self.total else 0


class IdempotencyKey(models.Model):
    """An API client's ``Idempotency-Key`` for a bulk action: the same key with the same body returns the stored
    response without acting again; with another body it is refused. Claimed in the transaction of the action."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    user_id = models.BigIntegerField()
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the canonical request body")
    status_code = models.SmallIntegerField(default=200)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user_id", "key"], name="idempotencykey_uniq")
        ]

    def __str__(self) -> str:
        return self.key

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from ims_project.jobs import JobStatus


class Stage(models.TextChoices):
    """Where one client GSTIN of a batch is: sync → reconciliation → GSTR-2B preview → recommended actions."""

    SYNCING = "syncing", "Syncing from the portal"
    RECONCILING = "reconciling", "Reconciling"
    PREVIEWING = "previewing", "Building the GSTR-2B preview"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ClientBatch(models.Model):
    """A CA firm's "sync all → reconcile all → recommended actions" over its clients' GSTINs (pipeline.batches)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    started_by = models.BigIntegerField(null=True, blank=True)  # user id; None for the system
    actor_label = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.RUNNING)
    date_from = models.DateField()
    date_to = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="clientbatch_tenant_idx")]

    def __str__(self) -> str:
        return f"client batch #{self.pk}"


class ClientBatchItem(models.Model):
    """One GSTIN of a batch and its progress; the ids of the jobs it waits on at each stage."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(ClientBatch, on_delete=models.CASCADE, related_name="items")
    registration = models.ForeignKey("tenancy.Registration", on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.SYNCING)
    sync_run_ids = models.JSONField(default=list, blank=True)
    recon_run_id = models.BigIntegerField(null=True, blank=True)
    rebuild_id = models.BigIntegerField(null=True, blank=True)
    documents = models.IntegerField(default=0)  # downloaded by the sync
    recommended = models.JSONField(default=dict, blank=True)  # {"A": n, "R": n, "P": n}: documents per action
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["batch", "stage"], name="clientbatchitem_stage_idx")]

    def __str__(self) -> str:
        return f"batch #{self.batch_id} GSTIN {self.registration_id}"

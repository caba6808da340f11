from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from ims_project.jobs import JobStatus

ExportStatus = JobStatus  # the states every background job shares (ims_project.jobs)


class ExportJob(models.Model):
    """One "Export to Excel" of a list, written by a worker (``exports.services.run_export``).

    ``kind`` names a function of ``exports.registry``; ``params`` are its (JSON) filters. The file lives under
    ``settings.EXPORT_DIR`` at ``file_name`` and may be downloaded only by the user who asked for it.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    user_id = models.BigIntegerField()  # no FK: removing a user keeps the job history
    kind = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True, help_text="Path relative to EXPORT_DIR")
    size_bytes = models.BigIntegerField(null=True, blank=True, help_text="Size of the file made")
    direct = models.BooleanField(default=False, help_text="Downloaded at once (small list); no file kept")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last progress; a stale running job may be reclaimed"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)  # the worker's lease (ims_project.leases): claims so far

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "user_id", "-created_at"], name="exportjob_tenant_user_idx")
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (ExportStatus.DONE, ExportStatus.FAILED)

    @property
    def percent(self) -> int | None:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return None
        return min(99, int(self.rows_done * 100 / self.rows_total))

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from ims_project.jobs import JobStatus


class PreviewTrigger(models.TextChoices):
    BEAT = "beat", "Daily rebuild"
    MANUAL = "manual", "On demand (page)"
    API = "api", "On demand (API)"


class TwobPreview(models.Model):
    """One build of the GSTR-2B preview of a GSTIN and return period (a snapshot, never updated).

    ``summary`` holds the official ``itcsumm`` and ``cpsumm`` plus the counts per part; ``buckets`` names the
    (part, group, section, reason) combinations; ``entries`` is the compact per-document list (zlib of document
    ids, bucket indexes and ITC in paise, see :mod:`returns.snapshots`) that the next build diffs against and the
    drill-down reads. ``diff`` is what changed since ``previous``."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    period = models.DateField(help_text="Return period (first of the month; QRMP: the quarter's last month)")
    built_at = models.DateTimeField()
    trigger = models.CharField(max_length=8, choices=PreviewTrigger.choices)
    built_by = models.CharField(max_length=150, blank=True)
    summary = models.JSONField(default=dict)
    buckets = models.JSONField(default=list)
    entries = models.BinaryField()
    document_count = models.IntegerField(default=0)
    diff = models.JSONField(default=dict)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    duration_ms = models.IntegerField(default=0)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-built_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "registration", "period", "-built_at"], name="twob_preview_idx")
        ]

    def __str__(self) -> str:
        return f"2B preview {self.period:%m%Y} of registration {self.registration_id} at {self.built_at}"


RebuildStatus = JobStatus  # the states every background job shares (ims_project.jobs)


ACTIVE_REBUILD = [RebuildStatus.QUEUED, RebuildStatus.RUNNING]


class PreviewRebuild(models.Model):
    """One on-demand rebuild of a GSTIN's 2B preview, run by the ``returns.rebuild_preview`` task. At most one is
    queued or running per (registration, period); the worker claims it with a conditional UPDATE. The requester
    (``actor_*``) is who the built snapshot's audit event names."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    period = models.DateField()
    trigger = models.CharField(max_length=8, choices=PreviewTrigger.choices)
    status = models.CharField(max_length=8, choices=RebuildStatus.choices, default=RebuildStatus.QUEUED)
    actor_type = models.CharField(max_length=16)
    actor_label = models.CharField(max_length=150, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    preview = models.ForeignKey(
        TwobPreview, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The worker's lease (ims_project.leases): claims so far, and the last sign of life of the running one.
    attempts = models.IntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "period"],
                condition=models.Q(status__in=ACTIVE_REBUILD),
                name="twob_rebuild_one_active",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "registration", "period", "-created_at"], name="twob_rebuild_idx")
        ]

    def __str__(self) -> str:
        return f"2B rebuild {self.period:%m%Y} of registration {self.registration_id}: {self.status}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_REBUILD


class FilingSource(models.TextChoices):
    MANUAL = "manual", "Recorded by hand"
    PORTAL = "portal", "Portal (return tracking)"


class Gstr3bFiling(models.Model):
    """The GSTR-3B of one return period of a GSTIN has been filed: accepted and rejected records
    of that GSTR-2B period leave IMS and their action can no longer change.

    ``period`` is the return period as :func:`gst.duedates.return_period` names it: the month
    (monthly filers) or the quarter's last month (QRMP)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey("tenancy.Registration", on_delete=models.PROTECT, related_name="+")
    period = models.DateField()
    filed_on = models.DateField()
    source = models.CharField(max_length=8, choices=FilingSource.choices, default=FilingSource.MANUAL)
    arn = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["registration", "-period"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "registration", "period"], name="gstr3bfiling_uniq")
        ]

    def __str__(self) -> str:
        return f"GSTR-3B {self.period:%m%Y} filed {self.filed_on}"


class CreditReversalBalance(models.Model):
    """The balance of a GSTIN's Electronic Credit Reversal and Re-claimed Statement available to the GSTR-3B of
    one return period, head by head (recorded by hand: docs/rules/gstr3b.md §2.3). The portal refuses a GSTR-3B
    whose 4(D)(1) re-claim exceeds it; the Table 4 preview warns."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey("tenancy.Registration", on_delete=models.PROTECT, related_name="+")
    period = models.DateField(help_text="Return period the balance is available to (first of the month)")
    igst = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    cgst = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    sgst = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    cess = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["registration", "-period"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "registration", "period"], name="creditreversalbal_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"Credit reversal balance {self.period:%m%Y} of registration {self.registration_id}"


class SupplierGstr3bStatus(models.Model):
    """Whether a supplier GSTIN filed the GSTR-3B of one return period, as the portal's return tracking (RETTRACK)
    said when last asked (``fetched_at``): the input of Rule 37A (docs/rules/gstr2b.md §7). ``period`` is the
    month of the supplier's documents (a quarterly filer's quarter-end filing covers its quarter's months)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    supplier_gstin = models.CharField(max_length=15)
    period = models.DateField(help_text="Return period (first of the month)")
    filed = models.BooleanField(default=False)
    filed_on = models.DateField(null=True, blank=True)
    arn = models.CharField(max_length=40, blank=True)
    fetched_at = models.DateTimeField()

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["supplier_gstin", "-period"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "supplier_gstin", "period"], name="supplier3bstatus_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(filed=False, filed_on__isnull=True)
                | models.Q(filed=True, filed_on__isnull=False),
                name="supplier3bstatus_filed_on",
            ),
        ]

    def __str__(self) -> str:
        state = f"filed {self.filed_on}" if self.filed else "not filed"
        return f"{self.supplier_gstin} GSTR-3B {self.period:%m%Y}: {state}"


class DeadlineEntry(models.Model):
    """One document of a GSTIN's deadline queue with its clock, due day, ITC at stake and score for the day it was
    computed (docs/rules/gstr3b.md §5): the queue kept as a table so a page is an index range, not a placement of
    every document (returns.twob_sql). Written only by returns.twob_sql; kept fresh through
    :class:`DeadlineState` and :class:`DeadlineDirty`."""

    document = models.OneToOneField(
        "invoices.SupplierDocument",
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="+",
        db_constraint=False,
    )
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    registration = models.ForeignKey(
        "tenancy.Registration",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    part = models.CharField(max_length=12)
    section = models.CharField(max_length=8)
    supplier_gstin = models.CharField(max_length=15)
    clock = models.CharField(max_length=16)
    due = models.DateField()
    stake = models.DecimalField(max_digits=15, decimal_places=2)
    score = models.DecimalField(max_digits=24, decimal_places=6)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        db_table = "returns_deadlineentry"
        db_table_comment = "The deadline queue of each GSTIN, ranked for the day it was computed"
        indexes = [
            models.Index(fields=["tenant", "registration", "-score", "-document"], name="deadline_rank_idx")
        ]

    def __str__(self) -> str:
        return f"{self.document_id} {self.clock} {self.due}"


class DeadlineState(models.Model):
    """How fresh a GSTIN's :class:`DeadlineEntry` rows are: computed for which day, and whether something other than
    a few documents changed since (a filing, a supplier's GSTR-3B status, a large batch of documents): then the
    next read recomputes the whole queue. Set stale by triggers (migration 0006)."""

    registration = models.OneToOneField(
        "tenancy.Registration",
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="+",
        db_constraint=False,
    )
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    computed_for = models.DateField(null=True)
    stale = models.BooleanField(default=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        db_table = "returns_deadlinestate"

    def __str__(self) -> str:
        return f"{self.registration_id} for {self.computed_for}{' (stale)' if self.stale else ''}"


class DeadlineDirty(models.Model):
    """A document changed since its GSTIN's queue was computed (written by triggers on the documents table): the
    next read recomputes these documents' entries only."""

    document_id = models.BigIntegerField(primary_key=True)
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )

    objects = ScopedManager(tenant="tenant")

    class Meta:
        db_table = "returns_deadlinedirty"

    def __str__(self) -> str:
        return str(self.document_id)

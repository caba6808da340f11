from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django_scopes import ScopedManager


class ConnectionStatus(models.TextChoices):
    NOT_CONNECTED = "not_connected", "Not connected"
    OTP_SENT = "otp_sent", "OTP sent"
    CONNECTED = "connected", "Connected"
    EXPIRED = "expired", "Session expired"


class PortalConnection(models.Model):
    """A GSTIN's taxpayer-API session. The session (auth token, session key) is stored sealed with Fernet
    (settings.IMS_SESSION_KEY); only its expiry and state are readable."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.OneToOneField(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="portal"
    )
    username = models.CharField(max_length=100, blank=True, help_text="Portal username of the GSTIN")
    status = models.CharField(
        max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.NOT_CONNECTED
    )
    session_blob = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    def __str__(self) -> str:
        return f"{self.registration.gstin} ({self.status})"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


# The text of a sync run's save step (its progress also says how many documents are saved: the portal page shows
# "x of y documents", gst_sync.selectors).
SAVING = "Saving the documents"


class LeasedSync(models.Model):
    """What a sync run and a sync job share: the lease of ims_project.leases (status, attempts, heartbeat) and
    what the portal page shows of it (progress, times)."""

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=10, default="user")  # user | api | schedule | batch
    attempts = models.IntegerField(default=0)
    # What it is doing now, written with a heartbeat: {"text": "Downloading the portal's file, part 2 of 3",
    # "done": 1, "total": 3} (done / total may be null).
    progress = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class SyncJob(LeasedSync):
    """All the sections of one small GSTIN's sync, done by one task under one lease (docs/performance.md §3.11):
    one claim, one heartbeat, one progress record and one completion event for the GSTIN, where each section run
    would have had its own. Its section runs (``SyncRun.job``) still say, each, how their section went: a failed
    section keeps its data as it was and is retried alone (a single-section sync is never a job)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey("tenancy.Registration", on_delete=models.PROTECT, related_name="+")

    class Meta(LeasedSync.Meta):
        indexes = [models.Index(fields=["tenant", "registration", "-created_at"], name="syncjob_reg_idx")]

    def __str__(self) -> str:
        return f"sync job {self.registration_id} {self.status}"

    @property
    def request_id(self) -> str:
        return f"syncjob:{self.pk}"


class SyncRun(LeasedSync):
    """One download of one IMS section of one GSTIN. At most one active run per (GSTIN, section): two clicks or
    two beat ticks never run the same sync twice (partial unique constraint). Its diff is the ledger's events
    with ``request_id = "syncrun:<id>"``."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="sync_runs"
    )
    section = models.CharField(max_length=8)
    # The job that does this section with the GSTIN's other sections (a small GSTIN), or None: a task of its own.
    job = models.ForeignKey(SyncJob, on_delete=models.PROTECT, null=True, blank=True, related_name="runs")
    requested_by = models.BigIntegerField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)

    class Meta(LeasedSync.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "section"],
                condition=Q(status__in=["queued", "running"]),
                name="syncrun_one_active_per_section",
            )
        ]
        indexes = [models.Index(fields=["tenant", "registration", "-created_at"], name="syncrun_reg_idx")]

    def __str__(self) -> str:
        return f"sync {self.registration_id}/{self.section} {self.status}"

    @property
    def request_id(self) -> str:
        return f"syncrun:{self.pk}"


MONEY = {"max_digits": 15, "decimal_places": 2}


class Gstr2bStatement(models.Model):
    """The portal's GSTR-2B of one GSTIN and period, as imported (GET2B JSON). Re-importing the period replaces
    it and its documents in one transaction. ``summary`` keeps the portal's ``itcsumm`` and ``cpsumm`` as sent."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="gstr2b_statements", db_index=False
    )
    period = models.DateField(help_text="2B period (first day of the month)")
    generated_on = models.DateField(null=True, blank=True, help_text="gendt")
    version = models.CharField(max_length=10, blank=True)
    checksum = models.CharField(max_length=128, blank=True)
    summary = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder
    )  # amounts with decimals: str
    skipped = models.JSONField(
        default=dict, blank=True, help_text="2B lists not stored (ISD, imports): counts"
    )
    file_count = models.SmallIntegerField(default=1)
    document_count = models.IntegerField(default=0)
    source = models.CharField(max_length=16, default="gstr2b_json")
    imported_at = models.DateTimeField()
    imported_by = models.BigIntegerField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-period", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "registration", "period"], name="gstr2b_statement_period_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"GSTR-2B {self.period:%m%Y} of registration {self.registration_id}"


class Gstr2bDocument(models.Model):
    """One document of a stored GSTR-2B (compact: what a 2B preview compares against). Written with COPY."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    statement = models.ForeignKey(
        Gstr2bStatement, on_delete=models.CASCADE, related_name="documents", db_index=False
    )
    rejected = models.BooleanField(default=False, help_text="In docRejdata (rejected in IMS)")
    section = models.CharField(max_length=5)  # b2b, b2ba, cdnr, cdnra, ecom, ecoma
    ims_section = models.CharField(max_length=8)
    supplier_gstin = models.CharField(max_length=15)
    doc_number = models.CharField(max_length=20)
    doc_date = models.DateField()
    fy = models.SmallIntegerField()
    note_type = models.CharField(max_length=1, blank=True)
    doc_type = models.CharField(max_length=8, blank=True)
    orig_doc_number = models.CharField(max_length=20, blank=True)
    orig_doc_date = models.DateField(null=True, blank=True)
    pos = models.CharField(max_length=2, blank=True)
    reverse_charge = models.BooleanField(default=False)
    doc_value = models.DecimalField(**MONEY)
    taxable_value = models.DecimalField(**MONEY)
    igst = models.DecimalField(**MONEY)
    cgst = models.DecimalField(**MONEY)
    sgst = models.DecimalField(**MONEY)
    cess = models.DecimalField(**MONEY)
    itc_available = models.CharField(max_length=1, blank=True)
    reason = models.CharField(max_length=8, blank=True)
    supplier_period = models.DateField(null=True, blank=True)
    supplier_filing_date = models.DateField(null=True, blank=True)
    irn = models.CharField(
        "IRN", max_length=64, blank=True
    )  # an e-invoice's ``irn`` (docs/rules/portal-api.md §2.1)
    irn_date = models.DateField("IRN date", null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["statement", "section", "supplier_gstin", "doc_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "statement", "ims_section", "supplier_gstin", "doc_number", "fy"],
                name="gstr2b_document_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.supplier_gstin} {self.section} {self.doc_number}"


class PushStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    POLLING = "polling", "Waiting for the portal"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE_PUSH_STATUSES = (PushStatus.QUEUED, PushStatus.SENDING, PushStatus.POLLING)


class PushBatch(models.Model):
    """One SAVE or RESETIMS request for one GSTIN, holding at most settings.IMS_PUSH_BATCH_SIZE records.

    Crash-safe: the request is sent only after the batch and its items are committed; ``reference_id`` is stored
    the moment the portal answers; a batch re-claimed after a crash without a reference first re-reads the portal
    so that what already went through is not sent twice."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="push_batches"
    )
    kind = models.CharField(max_length=5)  # save | reset
    status = models.CharField(max_length=10, choices=PushStatus.choices, default=PushStatus.QUEUED)
    reference_id = models.CharField(max_length=64, blank=True)
    attempts = models.IntegerField(default=0)
    item_count = models.IntegerField(default=0)
    saved_count = models.IntegerField(default=0)
    failed_count = models.IntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    requested_by = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "registration", "-created_at"], name="pushbatch_reg_idx")]

    def __str__(self) -> str:
        return f"push {self.kind} #{self.pk} ({self.status})"


class PushItemResult(models.TextChoices):
    SENT = "sent", "Sent"
    SAVED = "saved", "Saved on the portal"
    FAILED = "failed", "Refused by the portal"
    CONFLICT = "conflict", "Changed on the portal: review"


class PushItem(models.Model):
    """One document in a push batch, with what was sent and what the portal answered."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(PushBatch, on_delete=models.CASCADE, related_name="items")
    document = models.ForeignKey(
        "invoices.SupplierDocument", on_delete=models.PROTECT, related_name="push_items"
    )
    section = models.CharField(max_length=8)
    action = models.CharField(max_length=1)  # what the portal should end with (N for a reset)
    prev_status = models.CharField(max_length=1)
    record = models.JSONField()
    result = models.CharField(max_length=10, choices=PushItemResult.choices, default=PushItemResult.SENT)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["batch", "id"]
        indexes = [models.Index(fields=["tenant", "document"], name="pushitem_doc_idx")]

    def __str__(self) -> str:
        return f"{self.document_id} → {self.action} ({self.result})"


class OutwardDocument(models.Model):
    """The seller's side of IMS: one of the tenant's own outward documents with the recipient's action on it,
    refreshed with each sync (rejected and pending ones are what the supplier must follow up)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        "tenancy.Registration", on_delete=models.PROTECT, related_name="outward_docs"
    )
    recipient_gstin = models.CharField(max_length=15)
    section = models.CharField(max_length=8)
    doc_number = models.CharField(max_length=20)
    doc_date = models.DateField()
    fy = models.SmallIntegerField()
    supplier_period = models.DateField(null=True, blank=True)
    doc_value = models.DecimalField(max_digits=15, decimal_places=2)
    taxable_value = models.DecimalField(max_digits=15, decimal_places=2)
    igst = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    cgst = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    sgst = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    cess = models.DecimalField(max_digits=15, decimal_places=2, default=0)
    recipient_action = models.CharField(max_length=1, default="N")
    remarks = models.CharField(max_length=500, blank=True)
    itc_red_req = models.CharField(max_length=1, blank=True)
    action_seen_at = models.DateTimeField(help_text="When the current recipient action was first seen")
    last_seen_at = models.DateTimeField()
    vanished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["registration", "recipient_gstin", "doc_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "registration", "recipient_gstin", "section", "doc_number", "fy"],
                name="outward_document_key",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "registration", "recipient_action"], name="outward_action_idx")
        ]

    def __str__(self) -> str:
        return f"{self.recipient_gstin} {self.section} {self.doc_number} ({self.recipient_action})"


class PushQueueEntry(models.Model):
    """One document of the push queue: a local action waiting to reach the portal (``local_action`` set, not
    vanished). A narrow copy kept by database triggers on ``invoices_supplierdocument`` (migration
    ``0005_pq_push_queue``), so every writer — actions, approvals, push results, ingest, raw SQL — keeps it right in
    its own transaction; nothing in Python writes it.

    Why: a bulk action updates the documents in place (HOT) only while no index names a ``local_*`` column
    (``invoices`` migration 0006), so the documents table cannot find its pending rows by index; this table can.
    Documents in a batch in flight or held for approval stay here and are excluded by the readers
    (``gst_sync.push.pending_push``, ``gst_sync.files.imports``). No foreign key constraints: the columns are copied
    from the document row (which has them), and a checked reference would cost a lookup per row in bulk actions;
    a DELETE trigger removes the entry of a deleted document."""

    document = models.OneToOneField(
        "invoices.SupplierDocument",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    registration = models.ForeignKey(
        "tenancy.Registration",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    local_action = models.CharField(max_length=1)  # A / R / P (a SAVE) or N (a RESETIMS)
    portal_action = models.CharField(
        max_length=1
    )  # the prev_status: an N wanted over a portal N needs no push

    objects = ScopedManager(tenant="tenant")

    class Meta:
        db_table = "gst_sync_pushqueue"
        db_table_comment = (
            "Documents with a local action not yet on the portal; kept by triggers on documents"
        )
        indexes = [models.Index(fields=["tenant", "registration"], name="pushqueue_reg_idx")]

    def __str__(self) -> str:
        return f"{self.document_id} → {self.local_action}"

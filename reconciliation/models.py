"""Purchase register, matching rules, reconciliation runs and their results, manual links."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django_scopes import ScopedManager

from gst.register_checks import SUPPLY_TYPE_LABELS, SupplyType
from gst.sections import DOC_KIND_CHOICES
from ims_project.jobs import JobStatus

from .domain.matching import OUTCOME_LABELS

MONEY = {"max_digits": 15, "decimal_places": 2}
SUPPLY_TYPE_CHOICES = [(k.value, v) for k, v in SUPPLY_TYPE_LABELS.items()]
OUTCOME_CHOICES = [(k.value, v) for k, v in OUTCOME_LABELS.items()]


class PurchaseLine(models.Model):
    """A line of the tenant's purchase register (books), as imported from the ERP. Natural key: ``erp_ref``;
    re-importing it updates the line. A file row without an ERP reference is its own line, ``<file>#<row>``
    (``source_file`` names the file: importing that file again replaces its lines); an API line without one gets
    a reference built from supplier, kind, number and FY.

    ``flags``: {code: message} of the GST rules the line breaks as booked (``gst.register_checks``): such a line is
    imported as the books say and flagged, never refused."""

    # Checked once per statement by triggers, not row by row (migration 0010; docs/decisions/0011-documents-layout.md).
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    registration = models.ForeignKey(
        "tenancy.Registration",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    supplier_gstin = models.CharField(max_length=15)
    kind = models.CharField(max_length=12, choices=DOC_KIND_CHOICES)
    doc_number = models.CharField(max_length=64)
    number_norm = models.CharField(max_length=20)
    doc_date = models.DateField()
    fy = models.SmallIntegerField()
    taxable = models.DecimalField(**MONEY)
    igst = models.DecimalField(**MONEY, default=0)
    cgst = models.DecimalField(**MONEY, default=0)
    sgst = models.DecimalField(**MONEY, default=0)
    cess = models.DecimalField(**MONEY, default=0)
    pos = models.CharField(max_length=2, blank=True)
    reverse_charge = models.BooleanField(default=False)
    erp_ref = models.CharField(max_length=100)
    period_booked = models.DateField(help_text="Period the line was booked in (first day of the month)")
    itc_claimed = models.BooleanField(default=True)
    supply_type = models.CharField(max_length=8, choices=SUPPLY_TYPE_CHOICES, default=SupplyType.REGULAR)
    irn = models.CharField(max_length=64, blank=True)
    posting_date = models.DateField(null=True, blank=True)
    exempt_value = models.DecimalField(
        **MONEY, default=0, help_text="Nil-rated, exempt and non-GST value of the line (outside the tax)"
    )
    boe_number = models.CharField(max_length=20, blank=True)
    boe_date = models.DateField(null=True, blank=True)
    port_code = models.CharField(max_length=10, blank=True)
    source_file = models.CharField(max_length=80, blank=True)
    flags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-doc_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "erp_ref"], name="purchaseline_erp_ref_uniq")
        ]
        indexes = [
            models.Index(fields=["tenant", "registration", "doc_date"], name="purchaseline_reg_date_idx"),
            models.Index(
                fields=["tenant", "source_file"],
                name="purchaseline_source_idx",
                condition=~Q(source_file=""),
            ),
            # Bills of entry pair on the bill's date (reconciliation.engine): only the lines that have one.
            models.Index(
                fields=["tenant", "registration", "boe_date"],
                name="purchaseline_boe_date_idx",
                condition=Q(boe_date__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_gstin} {self.kind} {self.doc_number}"

    @property
    def total_tax(self):
        return self.igst + self.cgst + self.sgst + self.cess

    @property
    def flag_list(self) -> list[tuple[str, str]]:
        return sorted((self.flags or {}).items())


class ColumnMapping(models.Model):
    """The register file's column headings the tenant used last time: ``{field: heading}``."""

    tenant = models.OneToOneField("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    def __str__(self) -> str:
        return f"column mapping of {self.tenant_id}"


class RegisterImport(models.Model):
    """One upload of a register file, imported by a worker with progress. ``errors`` keeps the first problems;
    the full list is the error report (CSV) in ``error_file``."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    user_id = models.BigIntegerField()
    actor_type = models.CharField(max_length=8)
    actor_label = models.CharField(max_length=200)
    file_name = models.CharField(max_length=200)
    stored_name = models.CharField(max_length=200)
    mapping = models.JSONField(default=dict)
    default_recipient = models.CharField(max_length=15, blank=True)  # GSTIN of rows that name none
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.IntegerField(default=0)
    processed = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    error_count = models.IntegerField(default=0)
    flagged = models.IntegerField(default=0)  # rows imported with a GST rule broken (``PurchaseLine.flags``)
    removed = models.IntegerField(default=0)  # lines of an earlier import of the same file no longer in it
    # The register lines this import left flagged (ids): the import page's link to them, not to every flagged line.
    flagged_lines = ArrayField(models.BigIntegerField(), default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)
    error_file = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker's lease (ims_project.leases): claims so far, and the last sign of life of the running one.
    attempts = models.IntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.file_name}"

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        return min(99, self.processed * 100 // self.total) if self.total else 0


class RuleSetVersion(models.Model):
    """A version of the tenant's matching rules (``reconciliation.domain.rules.RuleSet`` as JSON). The newest is
    in force; runs keep the version they used."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    version = models.IntegerField()
    params = models.JSONField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["tenant", "version"], name="rulesetversion_uniq")]

    def __str__(self) -> str:
        return f"rules v{self.version}"


class RunScope(models.TextChoices):
    """What "only in supplier data" is limited to: a supplier document nothing in the books pairs with is "missing
    in the register" only where the register covers it; elsewhere it is ``outside_scope``."""

    REGISTER = "register", "The register's GSTINs and booked periods"
    REGISTER_SUPPLIERS = "suppliers", "…and only suppliers present in the register"
    ALL = "all", "Every document (no limit)"


class ReconRun(models.Model):
    """One reconciliation of some GSTINs over a date range (document dates, both sides). ``scope`` limits "only in
    supplier data" (:class:`RunScope`); ``coverage`` is what the register covered when the run was made:
    ``{registration id: [first booked day, last booked day]}`` (ISO dates)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    user_id = models.BigIntegerField()
    actor_type = models.CharField(max_length=8)
    actor_label = models.CharField(max_length=200)
    registration_ids = models.JSONField()
    date_from = models.DateField()
    date_to = models.DateField()
    rules = models.ForeignKey(RuleSetVersion, on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=10, choices=RunScope.choices, default=RunScope.REGISTER)
    coverage = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.SmallIntegerField(default=0)
    stage = models.CharField(max_length=60, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    # {registration id: {outcome: rows}}: the counts per GSTIN (the dashboard's exceptions per GSTIN)
    registration_counts = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)  # the worker's lease (ims_project.leases), as on RegisterImport
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="reconrun_tenant_idx")]

    def __str__(self) -> str:
        return f"reconciliation #{self.pk}"


class ReconMatch(models.Model):
    """One result row of a run: a pair, one member of a group (rows share ``group_no``), or a document alone.
    Differences (and days) are supplier − books; reasons are derived from the columns (``domain.matching.reasons``)."""

    # No foreign-key constraints in the database: a run writes up to millions of rows from ids it has just read,
    # and a constraint check per row and column costs more than the matching (docs/decisions/0002-reconciliation-results-partitions.md). The ORM still
    # cascades and protects; the rows are replaced by the next run.
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    run = models.ForeignKey(
        ReconRun, on_delete=models.CASCADE, related_name="matches", db_index=False, db_constraint=False
    )
    registration = models.ForeignKey(
        "tenancy.Registration",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    supplier_gstin = models.CharField(max_length=15)
    outcome = models.CharField(max_length=20, choices=OUTCOME_CHOICES)
    purchase = models.ForeignKey(
        PurchaseLine,
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    document = models.ForeignKey(
        "invoices.SupplierDocument",
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    group_no = models.IntegerField(null=True)
    similarity = models.SmallIntegerField(null=True)
    days = models.IntegerField(null=True)
    d_taxable = models.DecimalField(**MONEY, null=True)
    d_igst = models.DecimalField(**MONEY, null=True)
    d_cgst = models.DecimalField(**MONEY, null=True)
    d_sgst = models.DecimalField(**MONEY, null=True)
    d_cess = models.DecimalField(**MONEY, null=True)
    pan_fallback = models.BooleanField(default=False)
    across_fy = models.BooleanField(default=False)
    duplicate_of = models.CharField(max_length=24, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "outcome", "id"], name="reconmatch_run_outcome_idx"),
            models.Index(
                fields=["run", "purchase"],
                name="reconmatch_run_purchase_idx",
                condition=Q(purchase__isnull=False),
            ),
            models.Index(
                fields=["run", "document"],
                name="reconmatch_run_document_idx",
                condition=Q(document__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} R{self.purchase_id} S{self.document_id}"

    @property
    def diffs(self) -> dict:
        return {
            h: getattr(self, f"d_{h}")
            for h in ("taxable", "igst", "cgst", "sgst", "cess")
            if getattr(self, f"d_{h}")
        }


class LinkKind(models.TextChoices):
    LINK = "link", "Linked by hand"
    UNLINK = "unlink", "Never pair"


class ManualLink(models.Model):
    """A user's decision on a pair, kept across runs: ``link`` pairs them whatever the rules say; ``unlink``
    forbids the engine to pair them."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    purchase = models.ForeignKey(PurchaseLine, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey("invoices.SupplierDocument", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=6, choices=LinkKind.choices)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "purchase", "document"], name="manuallink_pair_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} R{self.purchase_id} S{self.document_id}"


# Recommended IMS action per outcome ("" = none). "Only in books" has no supplier document to act on.
DEFAULT_OUTCOME_ACTIONS = {
    "exact": "A",
    "tolerance": "A",
    "probable": "",
    "mismatch": "P",
    "manual": "A",
    "duplicate": "",
    "missing_in_register": "P",
}
RECOMMENDED_ACTIONS = [("", "No recommendation"), ("A", "Accept"), ("R", "Reject"), ("P", "Pending")]


class OutcomeActionMap(models.Model):
    """The tenant's recommended IMS action per outcome: ``{outcome: "A" | "R" | "P" | ""}`` (defaults where
    an outcome is absent)."""

    tenant = models.OneToOneField("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    mapping = models.JSONField(default=dict)
    updated_by = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    def __str__(self) -> str:
        return f"outcome actions of {self.tenant_id}"


class WritebackSent(models.Model):
    """A correction sent to the ERP through the organisation's webhooks (docs/rules/matching.md §3.3), once per
    ``idempotency_key``: sending it again is refused as already sent; the ERP gets the same key on every delivery
    attempt."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=100)
    run_id = models.BigIntegerField()
    document_id = models.BigIntegerField()
    purchase_id = models.BigIntegerField(null=True)
    payload = models.JSONField()
    sent_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="writebacksent_key_uniq")
        ]

    def __str__(self) -> str:
        return self.idempotency_key

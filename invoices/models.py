from __future__ import annotations

from django.db import models
from django.db.models import Q
from django_scopes import ScopedManager

from gst.sections import ACTION_CHOICES, DOC_KIND_CHOICES, SECTION_CHOICES

MONEY = {"max_digits": 15, "decimal_places": 2}


class Supplier(models.Model):
    """A supplier GSTIN as the tenant knows it (names, contacts). Filled from documents; editable."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    gstin = models.CharField(max_length=15)
    legal_name = models.CharField(max_length=200, blank=True)
    trade_name = models.CharField(max_length=200, blank=True)
    emails = models.JSONField(default=list, blank=True)
    gstin_valid = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["gstin"]
        constraints = [models.UniqueConstraint(fields=["tenant", "gstin"], name="supplier_tenant_gstin_uniq")]

    def __str__(self) -> str:
        return f"{self.gstin} {self.display_name}".strip()

    @property
    def display_name(self) -> str:
        return self.trade_name or self.legal_name


class FilingStatus(models.TextChoices):
    FILED = "filed", "Filed"
    NOT_FILED = "not_filed", "Not filed"


class SupplierDocument(models.Model):
    """A document in the recipient's IMS (invoice, credit or debit note, or an amendment of one).

    Natural key: (tenant, registration = recipient GSTIN, supplier GSTIN, section, document number, FY).
    ``portal_action`` is what the portal last said (the ``prev_status`` of the next save); ``local_action`` is
    what the user wants and has not yet been confirmed on the portal (null: nothing to push). Amounts are as the
    portal reports them (positive, credit notes included). Written in bulk by ``invoices.services.ingest``.
    """

    # No single-column indexes on the foreign keys: every index below leads with tenant (and registration), and
    # each extra index costs bulk ingest about a tenth of its speed (docs/performance.md §3.1).
    # No row-by-row database foreign keys for these two: triggers of migration 0015 check each statement's new rows
    # at once (the (registration, tenant) pair must be a registration's, whose rows are locked against deletion as a
    # foreign key's check would) and keep a registration that documents name from being deleted; bulk ingest paid
    # two checks per row before (docs/decisions/0011-documents-layout.md). The tenant's row is protected through its
    # registrations' own foreign key.
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    registration = models.ForeignKey(
        "tenancy.Registration",
        on_delete=models.PROTECT,
        related_name="documents",
        db_index=False,
        db_constraint=False,
    )
    supplier_gstin = models.CharField(max_length=15)
    supplier_gstin_valid = models.BooleanField(default=True)
    section = models.CharField(max_length=8, choices=SECTION_CHOICES)
    doc_kind = models.CharField(max_length=12, choices=DOC_KIND_CHOICES)
    is_amendment = models.BooleanField(default=False)
    doc_number = models.CharField(max_length=20)
    doc_number_norm = models.CharField(max_length=20)
    doc_date = models.DateField()
    fy = models.SmallIntegerField(help_text="Start year of the document's financial year (2025 = FY 2025-26)")
    orig_doc_number = models.CharField(max_length=20, blank=True)
    orig_doc_date = models.DateField(null=True, blank=True)
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="amendments", db_index=False
    )
    inv_type = models.CharField(max_length=8, blank=True)
    src_form = models.CharField(max_length=8, blank=True)
    supplier_period = models.DateField(help_text="Supplier's return period (first day of the month)")
    supplier_filing_status = models.CharField(max_length=10, choices=FilingStatus.choices)
    supplier_filing_date = models.DateField(null=True, blank=True)
    pos = models.CharField(max_length=2)
    doc_value = models.DecimalField(**MONEY)
    taxable_value = models.DecimalField(**MONEY)
    igst = models.DecimalField(**MONEY, default=0)
    cgst = models.DecimalField(**MONEY, default=0)
    sgst = models.DecimalField(**MONEY, default=0)
    cess = models.DecimalField(**MONEY, default=0)

    # What the portal says.
    portal_action = models.CharField(max_length=1, choices=ACTION_CHOICES, default="N")
    pending_blocked = models.BooleanField(default=False)
    remarks_blocked = models.BooleanField(default=False)
    itc_red_blocked = models.BooleanField(default=False)
    portal_remarks = models.CharField(max_length=500, blank=True)
    portal_itc_red_req = models.CharField(max_length=1, blank=True)  # "Y", "N" or "" (not declared)
    portal_decl_igst = models.DecimalField(**MONEY, null=True, blank=True)
    portal_decl_cgst = models.DecimalField(**MONEY, null=True, blank=True)
    portal_decl_sgst = models.DecimalField(**MONEY, null=True, blank=True)
    portal_decl_cess = models.DecimalField(**MONEY, null=True, blank=True)
    portal_hash = models.CharField(max_length=64, blank=True)
    # ``ItcAvailabilityCheck`` as the portal sends it ("Y"/"N" for a boolean); meaning not documented
    # (docs/rules/portal-api.md §2.1). Null: not sent.
    itc_availability_check = models.CharField(max_length=20, null=True, blank=True)
    # Bills of entry and ISD documents (docs/rules/sections.md §4); null on every other section.
    port_code = models.CharField(max_length=6, null=True, blank=True)
    ref_date = models.DateField(null=True, blank=True, help_text="ICEGATE reference date of a bill of entry")
    itc_eligible = models.CharField(max_length=1, null=True, blank=True)  # ISD ``itcelg``: "Y" / "N"
    prev_gstin = models.CharField(
        max_length=15, null=True, blank=True, help_text="GSTIN the bill of entry was amended from"
    )
    # The e-invoice's IRN and its date as the portal sends them (``irn``, ``irngendate``; docs/rules/portal-api.md
    # §2.1); null when not sent. Reconciliation pairs on the IRN first (docs/rules/matching.md).
    irn = models.CharField("IRN", max_length=64, null=True, blank=True)
    irn_date = models.DateField("IRN date", null=True, blank=True)

    # What the user wants (not yet on the portal).
    local_action = models.CharField(max_length=1, choices=ACTION_CHOICES, null=True, blank=True)
    local_remarks = models.CharField(max_length=500, blank=True)
    local_itc_red_req = models.CharField(max_length=1, blank=True)
    local_decl_igst = models.DecimalField(**MONEY, null=True, blank=True)
    local_decl_cgst = models.DecimalField(**MONEY, null=True, blank=True)
    local_decl_sgst = models.DecimalField(**MONEY, null=True, blank=True)
    local_decl_cess = models.DecimalField(**MONEY, null=True, blank=True)
    local_updated_at = models.DateTimeField(null=True, blank=True)
    local_updated_by = models.BigIntegerField(null=True, blank=True)

    twob_period = models.DateField(null=True, blank=True, help_text="GSTR-2B period once known")
    # The return period whose GSTR-3B claims this ITC (docs/rules/gstr3b.md §6), kept by returns.claims; deferred
    # while the action is Reject or Pending (read from the action). Null: in no 2B yet, or ITC not available.
    itc_claim_period = models.DateField(null=True, blank=True)
    content_hash = models.CharField(
        max_length=32, help_text="Digest of the portal fields; skips no-op updates"
    )
    version = models.IntegerField(default=1)
    needs_review = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    vanished_at = models.DateTimeField(
        null=True, blank=True, help_text="No longer on the portal (kept, never deleted)"
    )
    source = models.CharField(
        max_length=16, default="portal"
    )  # portal | ims_json | gstr2b_json | demo | bench

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-doc_date", "-id"]
        db_table_comment = "Supplier documents as the recipient's IMS shows them"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "registration", "supplier_gstin", "section", "doc_number", "fy"],
                name="supplierdocument_natural_key",
            ),
            models.CheckConstraint(
                condition=Q(portal_action__in=["A", "R", "P", "N"]),
                name="supplierdocument_portal_action_valid",
            ),
        ]
        # One index per sort order, at tenant level: a page of some GSTINs (a preparer's, or a GSTIN filter) reads
        # the tenant's index past the other GSTINs' rows when its GSTINs hold a fair share of the documents, or
        # fetches their rows through the natural key (tenant, registration, …) and sorts them when they hold few;
        # the registration-level twins of these indexes cost bulk ingest a sixth of its speed and were dropped
        # (migration 0015, docs/decisions/0011-documents-layout.md).
        indexes = [
            models.Index(fields=["tenant", "-doc_date", "-id"], name="doc_tenant_date_idx"),
            # Keyset pages sorted by value (pagination.SORTS "-value" / "value", read backwards).
            models.Index(fields=["tenant", "-doc_value", "-id"], name="doc_tenant_value_idx"),
            models.Index(fields=["tenant", "registration", "supplier_period"], name="doc_reg_period_idx"),
            models.Index(
                fields=["tenant", "supplier_gstin", "-doc_date", "-id"], name="doc_supplier_date_idx"
            ),
            models.Index(fields=["tenant", "doc_number_norm"], name="doc_tenant_number_idx"),
            # No index may name a local_* column, not even in a partial index's condition: a bulk action updates
            # only those columns, and PostgreSQL updates a row in place (HOT, no index entries written) only when no
            # indexed column changes. The table keeps free space in each page for that (fillfactor, migration
            # 0006_blk_action_hot). The push queue finds its documents by registration instead.
            # Amendments of a document (small: only linked amendments).
            models.Index(fields=["original"], name="doc_original_idx", condition=Q(original__isnull=False)),
            # Amendments still waiting for their original (ingest links them when it arrives).
            models.Index(
                fields=["tenant", "registration"],
                name="doc_unlinked_amendment_idx",
                condition=Q(is_amendment=True, original__isnull=True),
            ),
            # Amendments by supplier period (few): the dashboard checks those kept pending against their original
            # for the one-period Pending limit (returns/today.py).
            models.Index(
                fields=["tenant", "registration", "supplier_period"],
                name="doc_amendment_period_idx",
                condition=Q(is_amendment=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_gstin} {self.section} {self.doc_number}"

    @property
    def effective_action(self) -> str:
        return self.local_action or self.portal_action

    @property
    def total_tax(self):
        return self.igst + self.cgst + self.sgst + self.cess


class DocumentVersion(models.Model):
    """A change the supplier made to a document, as seen by a sync or import: field → [old, new]."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey(SupplierDocument, on_delete=models.CASCADE, related_name="versions")
    version = models.IntegerField()
    seen_at = models.DateTimeField()
    source = models.CharField(max_length=16)
    changes = models.JSONField()

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["document", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "document", "version"], name="documentversion_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.document_id} v{self.version}"


# The documents list's saved views live in their own module; importing them here registers the model.
from .saved_views import SavedView as SavedView  # noqa: E402
from .summary import DocSummary as DocSummary  # noqa: E402
from .summary import DocSummaryDelta as DocSummaryDelta  # noqa: E402

"""Maker-checker approvals of IMS actions and in-app notifications.

A tenant's :class:`ApprovalPolicy` rows say which actions need a second person. When ``actions.services`` applies
an action that a policy catches, the document's local action is written as usual but held: an
:class:`ApprovalItem` in state ``held`` (one per document at most) keeps it out of the push queue until an approver
approves its :class:`ApprovalRequest`. Returned (or withdrawn) requests put the documents' local actions back to
what they were before the proposal.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django_scopes import ScopedManager

from gst.sections import ACTION_CHOICES, SECTION_CHOICES
from invoices.models import FilingStatus

MONEY = {"max_digits": 15, "decimal_places": 2}


class ApprovalPolicy(models.Model):
    """Actions that need approval: ``action`` on documents of at least ``min_value`` (document value, tax
    included), in ``sections``, from suppliers with ``supplier_filing_status``, among ``supplier_gstins``. An empty
    condition matches everything."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=120)
    action = models.CharField(max_length=1, choices=ACTION_CHOICES)
    min_value = models.DecimalField(**MONEY, null=True, blank=True, help_text="Document value at least (₹)")
    sections = ArrayField(models.CharField(max_length=8, choices=SECTION_CHOICES), default=list, blank=True)
    supplier_filing_status = models.CharField(max_length=10, choices=FilingStatus.choices, blank=True)
    supplier_gstins = ArrayField(models.CharField(max_length=15), default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return self.name

    def matches(
        self, *, action: str | None, value, section: str, filing_status: str, supplier_gstin: str
    ) -> bool:
        return (
            self.enabled
            and action == self.action
            and (self.min_value is None or value >= self.min_value)
            and (not self.sections or section in self.sections)
            and (not self.supplier_filing_status or filing_status == self.supplier_filing_status)
            and (not self.supplier_gstins or supplier_gstin in self.supplier_gstins)
        )


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Awaiting approval"
    APPROVED = "approved", "Approved"
    RETURNED = "returned", "Returned"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ApprovalRequest(models.Model):
    """A batch of held actions proposed by one person (one single-document action, or one bulk action)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    action = models.CharField(max_length=1, choices=ACTION_CHOICES)
    params = models.JSONField(default=dict, help_text="The action request (remarks, declaration)")
    run_id = models.BigIntegerField(null=True, blank=True, help_text="The bulk action run that proposed it")
    proposed_by_id = models.BigIntegerField(null=True, blank=True)  # no FK: removing a user keeps the history
    proposed_by_label = models.CharField(max_length=200)
    registration_ids = ArrayField(models.BigIntegerField(), default=list)
    policy_names = ArrayField(models.CharField(max_length=120), default=list)
    item_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    decided_by_label = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="approvalrequest_status_idx"),
            models.Index(
                fields=["tenant", "run_id"], name="approvalrequest_run_idx", condition=Q(run_id__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"Approval #{self.pk}"

    @property
    def is_pending(self) -> bool:
        return self.status == RequestStatus.PENDING


class ItemState(models.TextChoices):
    HELD = "held", "Awaiting approval"
    APPROVED = "approved", "Approved"
    RETURNED = "returned", "Returned"
    SUPERSEDED = "superseded", "Superseded by a later action"


class ApprovalItem(models.Model):
    """One document of a request: the local action it proposes and the local state it replaced (restored when the
    request is returned or withdrawn)."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="items")
    document = models.ForeignKey(
        "invoices.SupplierDocument", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    registration_id = models.BigIntegerField()
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.HELD)
    action = models.CharField(max_length=1, choices=ACTION_CHOICES)
    policy_name = models.CharField(max_length=120, blank=True)
    prev_action = models.CharField(max_length=1, choices=ACTION_CHOICES, null=True, blank=True)
    prev_remarks = models.CharField(max_length=500, blank=True)
    prev_itc_red_req = models.CharField(max_length=1, blank=True)
    prev_decl_igst = models.DecimalField(**MONEY, null=True, blank=True)
    prev_decl_cgst = models.DecimalField(**MONEY, null=True, blank=True)
    prev_decl_sgst = models.DecimalField(**MONEY, null=True, blank=True)
    prev_decl_cess = models.DecimalField(**MONEY, null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["request", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "document"],
                condition=Q(state="held"),
                name="approvalitem_one_held_per_document",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "registration_id"], name="approvalitem_held_idx", condition=Q(state="held")
            )
        ]

    def __str__(self) -> str:
        return f"{self.document_id} {self.action} ({self.state})"

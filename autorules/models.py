"""Tenant-defined auto-action rules and the record of each time they ran."""

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

ITC_ANSWERS = [
    ("Y", "Yes: reduce ITC in full"),
    ("N", "No: leave ITC as it is"),
    ("books", "As the purchase register suggests (in full where nothing is paired)"),
]
RULE_ACTIONS = [("A", "Accept"), ("R", "Reject"), ("P", "Keep pending")]


class AutoRule(models.Model):
    """When every condition holds for a document that has no action yet, take ``action`` on it.

    A rule acts with the authority of ``owner_id`` (the member who last saved it): only on the GSTINs that member
    may see, and only while their role may take IMS actions. Its actions go through
    ``actions.services.bulk_set_action`` like a person's (same rules, same approvals) with the actor
    ``autorule:<id>``."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower runs first")
    conditions = models.JSONField(default=list)
    action = models.CharField(max_length=1, choices=RULE_ACTIONS)
    remarks = models.CharField(max_length=500, blank=True)
    # An Accept of a credit note or downward amendment carries the answer to "Whether ITC needs to be reduced?"
    # (docs/rules/ims-actions.md §4.4): Y (in full, the portal's default), N, or the amount the purchase register
    # suggests where the latest reconciliation paired the document (in full where it did not).
    itc_answer = models.CharField(max_length=5, choices=ITC_ANSWERS, default="Y")
    owner_id = models.BigIntegerField(help_text="User whose access and role the rule acts with")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["priority", "id"]
        indexes = [models.Index(fields=["tenant", "priority"], name="autorule_tenant_idx")]

    def __str__(self) -> str:
        return self.name


class RuleRunStatus(models.TextChoices):
    DONE = "done", "Done"
    QUEUED = "queued", "Queued for a worker"
    NOTHING = "nothing", "Nothing matched"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class AutoRuleRun(models.Model):
    """One run of one rule (after a sync, or by hand), with what it did and the bulk action runs it made."""

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(AutoRule, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16)  # sync | manual | reconciliation
    source = models.CharField(max_length=40, blank=True, help_text="What triggered it, e.g. recon:<run id>")
    registration = models.ForeignKey(
        "tenancy.Registration", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=8, choices=RuleRunStatus.choices)
    matched = models.IntegerField(default=0)
    applied = models.IntegerField(default=0)
    already = models.IntegerField(default=0)
    refused = models.IntegerField(default=0)
    suggested = models.IntegerField(default=0, help_text="Accepts that took their ITC answer from the books")
    bulk_runs = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "rule", "-created_at"], name="autorulerun_rule_idx"),
            models.Index(
                fields=["tenant", "source"], name="autorulerun_source_idx", condition=~models.Q(source="")
            ),
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} {self.status}"

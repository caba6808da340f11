"""Forms of the approval pages: a policy, and the approver's decision."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from gst.gstin import validate_gstin
from gst.sections import SECTION_CHOICES
from invoices.models import FilingStatus

ACTIONS = [("A", "Accept"), ("R", "Reject"), ("P", "Pending"), ("N", "Reset to no action")]


class GstinListField(forms.CharField):
    """GSTINs separated by commas, spaces or new lines; each one checked (the message names the bad one)."""

    widget = forms.Textarea(attrs={"rows": 2})

    def to_python(self, value):
        values = [v for v in re.split(r"[\s,;]+", (value or "").strip().upper()) if v]
        errors = [f"{v}: {validate_gstin(v).message}" for v in values if not validate_gstin(v).valid]
        if errors:
            raise ValidationError(errors)
        return sorted(set(values))

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=120)
    action = forms.ChoiceField(choices=ACTIONS, label="Action that needs approval")
    min_value = forms.DecimalField(
        required=False,
        max_digits=15,
        decimal_places=2,
        min_value=0,
        label="Document value at least (₹)",
        help_text="Empty: any value",
    )
    sections = forms.MultipleChoiceField(
        choices=SECTION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every section",
    )
    supplier_filing_status = forms.ChoiceField(
        choices=[("", "Any"), *FilingStatus.choices], required=False, label="Supplier's return"
    )
    supplier_gstins = GstinListField(
        required=False, label="Only these suppliers (GSTINs)", help_text="Empty: every supplier"
    )
    enabled = forms.BooleanField(required=False, initial=True)

    @classmethod
    def for_policy(cls, policy, data=None):
        initial = {k: getattr(policy, k) for k in cls.base_fields}
        initial["min_value"] = policy.min_value
        return cls(data, initial=initial)

    def values(self) -> dict:
        return dict(self.cleaned_data)


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

"""Forms of the supplier pages: they parse input; suppliers.services applies the rules."""

from __future__ import annotations

from django import forms

from .models import WebhookEvent
from .sheet import MAX_FILE_BYTES, split_emails


class SupplierForm(forms.Form):
    legal_name = forms.CharField(max_length=200, required=False)
    trade_name = forms.CharField(max_length=200, required=False)
    emails = forms.CharField(
        required=False,
        label="Contact e-mails",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One or more addresses, separated by commas or new lines (at most 10).",
    )

    def clean_emails(self) -> list[str]:
        return split_emails(self.cleaned_data.get("emails") or "")


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Excel file (.xlsx)",
        help_text="First row: GSTIN, Legal name, Trade name, Emails. Up to 50,000 rows.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        return upload


class WebhookForm(forms.Form):
    url = forms.CharField(
        max_length=500, label="URL", widget=forms.URLInput(attrs={"placeholder": "https://"})
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        initial=[WebhookEvent.DOCUMENTS_FLAGGED],
        widget=forms.CheckboxSelectMultiple,
    )

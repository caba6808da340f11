from __future__ import annotations

import datetime as dt

from django import forms

DATE_FORMATS = ["%d-%m-%Y", "%Y-%m-%d"]


class LedgerFilterForm(forms.Form):
    """Filters of the audit page and its export. Dates as DD-MM-YYYY (or ISO YYYY-MM-DD)."""

    actor = forms.CharField(required=False, max_length=200, label="Actor (username)")
    action = forms.CharField(required=False, max_length=64)
    object_type = forms.CharField(required=False, max_length=64, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    date_from = forms.DateField(
        required=False,
        input_formats=DATE_FORMATS,
        label="From",
        error_messages={"invalid": "Enter a date as DD-MM-YYYY."},
    )
    date_to = forms.DateField(
        required=False,
        input_formats=DATE_FORMATS,
        label="To",
        error_messages={"invalid": "Enter a date as DD-MM-YYYY."},
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> dict:
        """The selector's keyword filters (strings stripped, dates as dates)."""
        data = self.cleaned_data
        out = {k: (data.get(k) or "").strip() for k in ("actor", "action", "object_type", "object_id")}
        out.update(date_from=data.get("date_from"), date_to=data.get("date_to"))
        return out

    @staticmethod
    def to_params(filters: dict) -> dict:
        """JSON-safe filters (dates ISO) for an export job."""
        return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in filters.items() if v}

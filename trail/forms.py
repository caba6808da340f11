from __future__ import annotations

import datetime as dt

from django import forms

from .words import ACTION_CHOICES, OBJECT_TYPES

DATE_FORMATS = ["%d-%m-%Y", "%Y-%m-%d"]


class LedgerFilterForm(forms.Form):
    """Filters of the audit page and its export. Dates as DD-MM-YYYY (or ISO YYYY-MM-DD)."""

    # Dropdowns offer the known values in words; any other value (a link, an old bookmark) still filters.
    actor = forms.CharField(required=False, max_length=200, label="Who", widget=forms.Select)
    action = forms.CharField(
        required=False,
        max_length=64,
        label="What happened",
        widget=forms.Select(choices=[("", "Anything"), *ACTION_CHOICES]),
    )
    object_type = forms.CharField(
        required=False,
        max_length=64,
        label="About",
        widget=forms.Select(choices=[("", "Anything"), *OBJECT_TYPES.items()]),
    )
    object_id = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
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

    def __init__(self, *args, actors=(), **kwargs):
        super().__init__(*args, **kwargs)
        chosen = (self.data.get("actor") or "").strip() if self.is_bound else ""
        names = sorted({*actors, *([chosen] if chosen else [])}, key=str.lower)
        self.fields["actor"].widget.choices = [("", "Anyone"), *((n, n) for n in names)]

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

"""Forms of the returns pages: a GSTR-3B filing recorded by hand, a credit-reversal statement balance."""

from __future__ import annotations

from django import forms

from gst.periods import PeriodError, parse_period

DATE_INPUT_FORMATS = ["%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y"]
MONEY = {"max_digits": 15, "decimal_places": 2, "min_value": 0}


class PeriodField(forms.CharField):
    """A return period typed as MMYYYY (as the portal names it); cleaned to the first of the month."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 7)
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("placeholder", "MMYYYY")

    def clean(self, value):
        text = super().clean(value)
        try:
            return parse_period(text)
        except PeriodError as exc:
            raise forms.ValidationError(str(exc)) from None


class _Styled(forms.Form):
    def __init__(self, *args, registrations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if "registration" in self.fields and registrations is not None:
            self.fields["registration"].queryset = registrations
        for field in self.fields.values():
            css = (
                "form-select form-select-sm"
                if isinstance(field.widget, forms.Select)
                else "form-control form-control-sm"
            )
            field.widget.attrs.setdefault("class", css)


class FilingForm(_Styled):
    registration = forms.ModelChoiceField(queryset=None, label="GSTIN", to_field_name="pk")
    period = PeriodField(label="Return period (MMYYYY; QRMP: the quarter's last month)")
    filed_on = forms.DateField(label="Filed on (DD-MM-YYYY)", input_formats=DATE_INPUT_FORMATS)
    arn = forms.CharField(label="ARN (optional)", max_length=40, required=False)


class FilingCorrectionForm(_Styled):
    filed_on = forms.DateField(label="Filed on (DD-MM-YYYY)", input_formats=DATE_INPUT_FORMATS)
    arn = forms.CharField(label="ARN (optional)", max_length=40, required=False)


class BalanceForm(_Styled):
    registration = forms.ModelChoiceField(queryset=None, label="GSTIN", to_field_name="pk")
    period = PeriodField(label="For the GSTR-3B of (MMYYYY)")
    igst = forms.DecimalField(label="IGST", **MONEY)
    cgst = forms.DecimalField(label="CGST", **MONEY)
    sgst = forms.DecimalField(label="SGST/UTGST", **MONEY)
    cess = forms.DecimalField(label="Cess", **MONEY)

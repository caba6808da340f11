"""Forms of the action pages: the action with remarks and the ITC-reduction declaration, and a bulk target."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from gst.rules import HEADS

ACTIONS = [("A", "Accept"), ("R", "Reject"), ("P", "Pending"), ("N", "Reset to no action")]
DECLARATIONS = [
    ("", "No declaration"),
    ("full", "Yes: reduce ITC in full"),
    ("partial", "Yes: reduce ITC partly (amounts below)"),
    ("nil", "No: nothing to reduce"),
]
HEAD_LABELS = {"igst": "IGST", "cgst": "CGST", "sgst": "SGST/UTGST", "cess": "Cess"}


class ActionForm(forms.Form):
    action = forms.ChoiceField(choices=ACTIONS)
    remarks = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    declaration = forms.ChoiceField(
        choices=DECLARATIONS, required=False, label="Whether ITC needs to be reduced?"
    )
    decl_igst = forms.DecimalField(required=False, max_digits=15, decimal_places=2, min_value=0, label="IGST")
    decl_cgst = forms.DecimalField(required=False, max_digits=15, decimal_places=2, min_value=0, label="CGST")
    decl_sgst = forms.DecimalField(
        required=False, max_digits=15, decimal_places=2, min_value=0, label="SGST/UTGST"
    )
    decl_cess = forms.DecimalField(required=False, max_digits=15, decimal_places=2, min_value=0, label="Cess")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            css = (
                "form-select form-select-sm"
                if isinstance(field.widget, forms.Select)
                else "form-control form-control-sm"
            )
            if not isinstance(
                field.widget, forms.MultipleHiddenInput | forms.HiddenInput | forms.CheckboxInput
            ):
                field.widget.attrs.setdefault("class", css)
            if name.startswith("decl_"):
                field.widget.attrs.setdefault("placeholder", "0.00")

    def clean(self):
        data = super().clean()
        kind = data.get("declaration")
        amounts = {h: data.get(f"decl_{h}") for h in HEADS}
        if kind == "partial" and all(v is None for v in amounts.values()):
            self.add_error("decl_igst", "Give the amounts to be reduced for a partial reduction.")
        if kind != "partial" and any(v is not None for v in amounts.values()):
            self.add_error("declaration", "Amounts are given only for a partial reduction.")
        return data

    def declaration_data(self) -> dict:
        kind = self.cleaned_data.get("declaration")
        if kind == "full":
            return {"itc_red_req": "Y"}
        if kind == "nil":
            return {"itc_red_req": "N"}
        if kind == "partial":
            return {
                "itc_red_req": "Y",
                **{
                    f"decl_{h}": self.cleaned_data[f"decl_{h}"]
                    for h in HEADS
                    if self.cleaned_data.get(f"decl_{h}") is not None
                },
            }
        return {}

    def action_kwargs(self) -> dict:
        return {
            "action": self.cleaned_data["action"],
            "remarks": self.cleaned_data.get("remarks", ""),
            "declaration": self.declaration_data(),
        }


class IdsField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else ([value] if value else [])
        try:
            return sorted({int(v) for v in values})
        except (TypeError, ValueError):
            raise ValidationError("Document ids must be whole numbers.", code="invalid") from None


class BulkActionForm(ActionForm):
    """The list's selection: ticked ``ids``, or ``all_matching`` the list's ``query`` (re-run on the server)."""

    ids = IdsField(required=False)
    all_matching = forms.BooleanField(required=False, widget=forms.HiddenInput)
    query = forms.CharField(required=False, widget=forms.HiddenInput, max_length=4000)

    def clean(self):
        data = super().clean()
        if not data.get("all_matching") and not data.get("ids"):
            raise ValidationError(
                "Tick the documents to act on, or choose all documents matching the filter."
            )
        return data

    def target(self) -> dict:
        if self.cleaned_data.get("all_matching"):
            return {"filters": self.cleaned_data.get("query") or ""}
        return {"ids": self.cleaned_data["ids"]}

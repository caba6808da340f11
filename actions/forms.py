"""Forms of the action pages: the action with remarks and the ITC-reduction declaration, and a bulk target.

"Whether ITC needs to be reduced?" (docs/rules/ims-actions.md §4.4): Yes (full) by default, as on the portal; the
answer goes with an Accept of a specified record and other records ignore it, so in bulk one answer serves the
batch; a partial reduction gives amounts. In the bulk confirmation step single documents can be given their own
answer (fields ``ovr_<document id>`` and ``ovr_<document id>_decl_<head>``)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from gst.rules import HEADS

ACTIONS = [("A", "Accept"), ("R", "Reject"), ("P", "Pending"), ("N", "Reset to no action")]
DECLARATIONS = [
    ("full", "Yes: reduce ITC in full"),
    ("partial", "Yes: reduce ITC partly (amounts below)"),
    ("nil", "No: nothing to reduce"),
]
OVERRIDE_CHOICES = [("", "As the batch"), *DECLARATIONS]
HEAD_LABELS = {"igst": "IGST", "cgst": "CGST", "sgst": "SGST/UTGST", "cess": "Cess"}
_OVERRIDE = re.compile(r"ovr_(\d{1,18})")


class ActionForm(forms.Form):
    action = forms.ChoiceField(choices=ACTIONS)
    remarks = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    declaration = forms.ChoiceField(
        choices=DECLARATIONS,
        required=False,
        initial="full",
        label="Whether ITC needs to be reduced?",
        help_text="Asked on accepting a credit note or a downward amendment; Yes (in full) unless you say otherwise.",
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
        """The declaration chosen for this document (the page shows the choice only where the document takes an
        answer); none chosen: the portal's default answer (Yes) goes with an Accept that needs one."""
        kind = self.cleaned_data.get("declaration")
        accepting = self.cleaned_data.get("action") == "A"
        if kind == "full" and accepting:  # Yes is pre-chosen: it means nothing with another action
            return {"itc_red_req": "Y"}
        if kind == "nil" and accepting:
            return {"itc_red_req": "N"}
        return self._partial()

    def _partial(self) -> dict:
        if self.cleaned_data.get("declaration") != "partial":
            return {}
        return {
            "itc_red_req": "Y",
            **{
                f"decl_{h}": self.cleaned_data[f"decl_{h}"]
                for h in HEADS
                if self.cleaned_data.get(f"decl_{h}") is not None
            },
        }

    def answer(self) -> str:
        """The answer for the specified records an Accept reaches when no declaration is made: Yes (full) unless No
        is chosen."""
        return "N" if self.cleaned_data.get("declaration") == "nil" else "Y"

    def action_kwargs(self) -> dict:
        return {
            "action": self.cleaned_data["action"],
            "remarks": self.cleaned_data.get("remarks", ""),
            "declaration": self.declaration_data(),
            "itc_red_default": self.answer(),
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
        data["overrides_parsed"] = self._parse_overrides()
        return data

    def target(self) -> dict:
        if self.cleaned_data.get("all_matching"):
            return {"filters": self.cleaned_data.get("query") or ""}
        return {"ids": self.cleaned_data["ids"]}

    def _parse_overrides(self) -> dict[str, dict]:
        """Per-document answers of the confirmation step: ``ovr_<id>`` = "" (as the batch), full, partial (with
        ``ovr_<id>_decl_<head>`` amounts) or nil."""
        out: dict[str, dict] = {}
        for key in self.data:
            match = _OVERRIDE.fullmatch(key)
            if not match:
                continue
            kind = self.data.get(key)
            doc_id = match[1]
            if kind in ("", None):
                continue
            if kind == "full":
                out[doc_id] = {"itc_red_req": "Y"}
            elif kind == "nil":
                out[doc_id] = {"itc_red_req": "N"}
            elif kind == "partial":
                amounts = {}
                for h in HEADS:
                    text = (self.data.get(f"{key}_decl_{h}") or "").strip()
                    if not text:
                        continue
                    try:
                        amounts[f"decl_{h}"] = str(Decimal(text))
                    except InvalidOperation:
                        raise ValidationError(
                            f"Document {doc_id}: the {HEAD_LABELS[h]} to be reduced is not an amount."
                        ) from None
                if not amounts:
                    raise ValidationError(f"Document {doc_id}: give the amounts of the partial reduction.")
                out[doc_id] = {"itc_red_req": "Y", **amounts}
            else:
                raise ValidationError(f"Document {doc_id}: choose Yes, partly, No or as the batch.")
        return out

    def declaration_data(self) -> dict:
        """In bulk, Yes and No answer for the batch's specified records (:meth:`answer`); only a partial reduction
        is a declaration of its amounts on every document."""
        return self._partial()

    def overrides(self) -> dict[str, dict]:
        return self.cleaned_data.get("overrides_parsed") or {}

    def action_kwargs(self) -> dict:
        return {**super().action_kwargs(), "overrides": self.overrides()}

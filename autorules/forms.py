"""The rule form: it turns the fields into the rule's conditions (data); autorules.services checks them."""

from __future__ import annotations

from django import forms

from gst.sections import SECTION_CHOICES

from .conditions import FILING_STATUSES, RECONCILIATION_OUTCOMES
from .models import ITC_ANSWERS, RULE_ACTIONS

MONEY = {"max_digits": 15, "decimal_places": 2, "min_value": 0}
# Condition error field → form field.
FIELD_OF = {"section": "sections", "conditions": None}


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120)
    action = forms.ChoiceField(choices=RULE_ACTIONS)
    remarks = forms.CharField(
        max_length=500, required=False, help_text="Sent with a reject or pending action."
    )
    itc_answer = forms.ChoiceField(
        choices=ITC_ANSWERS,
        initial="Y",
        required=False,  # Y when not given
        label="Whether ITC needs to be reduced (accepting a credit note or downward amendment)",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    priority = forms.IntegerField(min_value=0, max_value=999, initial=100, help_text="Lower runs first.")
    sections = forms.MultipleChoiceField(
        choices=SECTION_CHOICES, required=False, label="Sections", widget=forms.CheckboxSelectMultiple
    )
    filing_status = forms.ChoiceField(
        choices=[("", "Any"), *FILING_STATUSES.items()], required=False, label="Supplier's return"
    )
    value_min = forms.DecimalField(required=False, label="Value from", **MONEY)
    value_max = forms.DecimalField(required=False, label="Value up to", **MONEY)
    suppliers = forms.CharField(
        required=False,
        label="Only these supplier GSTINs",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Separated by commas or new lines; empty: any supplier.",
    )
    reconciliation = forms.MultipleChoiceField(
        choices=list(RECONCILIATION_OUTCOMES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Latest reconciliation says",
        help_text="The outcome of matching the document with the purchase register in the latest finished "
        "reconciliation of its GSTIN; documents changed on the portal since are left out. None ticked: "
        "reconciliation is not looked at.",
    )

    def conditions(self) -> list[dict]:
        d = self.cleaned_data
        out: list[dict] = []
        if d.get("sections"):
            out.append({"type": "section", "values": d["sections"]})
        if d.get("filing_status"):
            out.append({"type": "filing_status", "value": d["filing_status"]})
        if d.get("value_min") is not None or d.get("value_max") is not None:
            out.append({"type": "value_range", "min": d.get("value_min"), "max": d.get("value_max")})
        gstins = [
            g for g in (d.get("suppliers") or "").replace("\n", ",").replace(" ", ",").split(",") if g.strip()
        ]
        if gstins:
            out.append({"type": "supplier_in", "gstins": gstins})
        if d.get("reconciliation"):
            out.append({"type": "reconciliation", "outcomes": d["reconciliation"]})
        return out

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "action": d["action"],
            "remarks": d.get("remarks") or "",
            "itc_answer": d.get("itc_answer") or "Y",
            "enabled": d.get("enabled", False),
            "priority": d["priority"],
            "conditions": self.conditions(),
        }

    @classmethod
    def initial_for(cls, rule) -> dict:
        initial = {
            "name": rule.name,
            "action": rule.action,
            "remarks": rule.remarks,
            "itc_answer": rule.itc_answer,
            "enabled": rule.enabled,
            "priority": rule.priority,
        }
        for cond in rule.conditions:
            kind = cond["type"]
            if kind == "section":
                initial["sections"] = cond["values"]
            elif kind == "filing_status":
                initial["filing_status"] = cond["value"]
            elif kind == "value_range":
                initial["value_min"], initial["value_max"] = cond.get("min"), cond.get("max")
            elif kind == "supplier_in":
                initial["suppliers"] = ", ".join(cond["gstins"])
            elif kind == "reconciliation":
                initial["reconciliation"] = cond["outcomes"]
        return initial

    def apply_error(self, field: str | None, message: str) -> None:
        name = FIELD_OF.get(field, field) if field else None
        self.add_error(name if name in self.fields else None, message)

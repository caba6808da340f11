"""Forms of the tenant admin pages. They parse input only; tenancy.services applies the rules."""

from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator

from .models import FilingFrequency, Registration
from .roles import ROLE_LABELS, SCOPE_LABELS, Role, Scope


def role_choices(*, allow_owner: bool) -> list[tuple[str, str]]:
    return [(r.value, ROLE_LABELS[r]) for r in Role if allow_owner or r != Role.OWNER]


class GstinChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})

    def label_from_instance(self, obj: Registration) -> str:
        return f"{obj.gstin} · {obj.display_name}"


class _TenantForm(forms.Form):
    """A form that offers the tenant's registrations and (for admins) every role but owner."""

    def __init__(self, *args, registrations=None, allow_owner: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if "role" in self.fields:
            self.fields["role"].choices = role_choices(allow_owner=allow_owner)
        if "registrations" in self.fields:
            self.fields["registrations"].queryset = (
                registrations if registrations is not None else (Registration.objects.none())
            )


class InviteForm(_TenantForm):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(initial=Role.VIEWER.value)
    registrations = GstinChoiceField(
        queryset=Registration.objects.none(),
        required=False,
        label="GSTIN access",
        help_text="Owners and admins see every GSTIN; other roles see only the GSTINs ticked here.",
    )


class RoleForm(_TenantForm):
    role = forms.ChoiceField()


class GrantsForm(_TenantForm):
    registrations = GstinChoiceField(
        queryset=Registration.objects.none(), required=False, label="GSTIN access"
    )


class RegistrationForm(forms.Form):
    gstin = forms.CharField(
        label="GSTIN", max_length=20, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    legal_name = forms.CharField(max_length=200)
    trade_name = forms.CharField(max_length=200, required=False)
    filing_frequency = forms.ChoiceField(choices=FilingFrequency.choices, initial=FilingFrequency.MONTHLY)


class RegistrationEditForm(forms.Form):
    legal_name = forms.CharField(max_length=200)
    trade_name = forms.CharField(max_length=200, required=False)
    filing_frequency = forms.ChoiceField(choices=FilingFrequency.choices)


class TokenForm(forms.Form):
    """A new API token: what it is for, what it may do, how long it lasts (tenancy.tokens checks the rules)."""

    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “ERP nightly upload”.")
    scopes = forms.MultipleChoiceField(
        choices=[(s.value, SCOPE_LABELS[s]) for s in Scope],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        initial=[Scope.READ.value],
        help_text="Your role still limits what the token can do.",
    )
    days = forms.IntegerField(min_value=1, help_text="Days until the token expires.")

    def __init__(self, *args, default_days: int, max_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = default_days
        self.fields["days"].max_value = max_days
        self.fields["days"].validators.append(MaxValueValidator(max_days))
        self.fields["days"].widget.attrs["max"] = max_days


class DeleteOrganisationForm(forms.Form):
    name = forms.CharField(
        label="Type the organisation's name to confirm",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

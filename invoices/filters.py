"""The one FilterSet for supplier documents: the list page, the API, exports and "select all matching" use it.

Tenant context comes from ``request`` (``request.tenant``, ``request.user``, ``request.membership``) or, outside a
request (exports, tasks), from ``tenant=`` / ``user=`` / ``membership=`` keywords. Bad input makes the form invalid
with a message per field: the page shows it, the API answers 400 with the same messages.
"""

from __future__ import annotations

import datetime as dt
import re

import django_filters as df
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from gst.gstin import normalise as normalise_gstin
from gst.gstin import validate_gstin
from gst.numbers import normalise_doc_number
from gst.periods import PeriodError, india_today, parse_period
from gst.sections import ACTION_CHOICES, SECTION_CHOICES
from tenancy.models import Registration
from tenancy.selectors import visible_registrations

from . import facets
from .models import FilingStatus, SupplierDocument
from .selectors import effective_action_q, matching_supplier_gstins

DATE_INPUT_FORMATS = ["%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y"]
MONEY_FIELD = {"max_digits": 15, "decimal_places": 2}
FIRST_GST_FY = 2017  # GST began on 01-07-2017


class PeriodField(forms.CharField):
    """A tax period typed as MMYYYY (or MM-YYYY); cleans to the first day of that month."""

    def to_python(self, value):
        value = super().to_python(value).replace("-", "").replace("/", "").strip()
        if not value:
            return None
        try:
            return parse_period(value)
        except PeriodError:
            raise ValidationError(
                "Enter the period as MMYYYY, e.g. 102025 for October 2025.", code="invalid"
            ) from None


class PeriodFilter(df.Filter):
    field_class = PeriodField


_GROUPED = re.compile(r"\d{1,2}(?:,\d{2})*,\d{3}|\d{1,3}(?:,\d{3})+")  # 1,00,000 (Indian) or 100,000


class MoneyField(forms.DecimalField):
    """An amount as people write it: 100000, 1,00,000 (Indian grouping), 100,000, ₹1,00,000.50. Commas must
    group digits (1,0 is an error, not 10)."""

    widget = forms.TextInput(attrs={"inputmode": "decimal"})
    default_error_messages = {
        "invalid": "Enter an amount such as 1,00,000 or 100000.50.",
    }

    def to_python(self, value):
        text = str(value or "").strip().replace("₹", "").replace(" ", "").replace("\u00a0", "")
        if "," in text:
            whole, _, _frac = text.lstrip("-").partition(".")
            if not _GROUPED.fullmatch(whole):
                raise ValidationError(self.error_messages["invalid"], code="invalid")
            text = text.replace(",", "")
        return super().to_python(text)


class MoneyFilter(df.NumberFilter):
    field_class = MoneyField


class SupplierField(forms.CharField):
    """Supplier GSTIN or name. Text shaped like a GSTIN (15 letters and digits, a state code first) is checked: a
    wrong check character (or PAN part) is an error naming it, unless documents of that very GSTIN exist (the
    portal sends some suppliers' mistyped GSTINs; they stay findable)."""

    def __init__(self, *args, **kwargs):
        self.known = None  # (gstin) -> bool, set by the FilterSet when it has a tenant
        super().__init__(*args, **kwargs)

    def validate(self, value):
        super().validate(value)
        text = normalise_gstin(value or "")
        if len(text) != 15 or not text.isalnum() or not text[:2].isdigit():
            return
        check = validate_gstin(text)
        if check.valid or (self.known is not None and self.known(text)):
            return
        raise ValidationError(f"{check.message}.", code=check.code or "invalid")


class SupplierFilter(df.CharFilter):
    field_class = SupplierField


class ClaimField(PeriodField):
    """The ITC claim period filter: ``deferred``, ``none`` or a period MMYYYY."""

    def to_python(self, value):
        text = str(value or "").strip().lower()
        if text in ("deferred", "none"):
            return text
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(
                "Enter deferred, none, or the claim period as MMYYYY, e.g. 102025.", code="invalid"
            ) from None


@extend_schema_field(OpenApiTypes.STR)
class ClaimFilter(df.Filter):
    field_class = ClaimField


class BooleanParamFilter(df.BooleanFilter):
    """yes/no, true/false, 1/0; anything else is a field error (not silently ignored)."""

    class Field(forms.NullBooleanField):
        widget = forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])

        def to_python(self, value):
            text = str(value).strip().lower() if value is not None else ""
            if text in ("", "any", "unknown", "none"):
                return None
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ValidationError("Choose yes or no.", code="invalid")

        def validate(self, value):
            pass

    field_class = Field


class OutcomeField(df.fields.MultipleChoiceField):
    """Reconciliation outcomes (or group names); an unknown one is a field error naming it and the choices."""

    def validate(self, value):
        forms.Field.validate(self, value)  # "required" only; the choices are checked here
        known = {k for k, _ in self.choices}
        bad = [v for v in value if v not in known]
        if bad:
            raise ValidationError(
                "Unknown reconciliation outcome %(bad)s: choose from %(choices)s.",
                code="invalid_choice",
                params={"bad": ", ".join(repr(v) for v in bad), "choices": ", ".join(sorted(known))},
            )


class OutcomeFilter(df.MultipleChoiceFilter):
    field_class = OutcomeField


class _ChoicesReadOnce(forms.models.ModelChoiceIterator):
    """The options from the field's queryset, read once and kept in its cache: the list page counts them
    (``multi_gstin``) and the select writes them from the same read. Django's own iterator reads them again through
    a server-side cursor, and counts them with a COUNT query."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)

    def __len__(self):
        return len(self.queryset) + (1 if self.field.empty_label is not None else 0)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.queryset)


class RegistrationField(df.fields.ModelChoiceField):
    iterator = _ChoicesReadOnce


class RegistrationFilter(df.ModelChoiceFilter):
    field_class = RegistrationField


class DocumentFilter(df.FilterSet):
    registration = RegistrationFilter(
        queryset=Registration.objects.none(),
        to_field_name="gstin",
        label="GSTIN",
        empty_label="All my GSTINs",
        error_messages={"invalid_choice": "Choose one of your GSTINs."},
    )
    period = PeriodFilter(field_name="supplier_period", label="Supplier period (MMYYYY)")
    section = df.MultipleChoiceFilter(
        choices=SECTION_CHOICES, label="Section", widget=forms.CheckboxSelectMultiple
    )
    supplier = SupplierFilter(method="filter_supplier", label="Supplier GSTIN or name", max_length=200)
    action = df.MultipleChoiceFilter(
        choices=ACTION_CHOICES, method="filter_action", label="Action", widget=forms.CheckboxSelectMultiple
    )
    pending_push = BooleanParamFilter(
        method="filter_pending_push",
        label="Not yet pushed",
        help_text="Documents with a local action still to reach the portal (including those in a push batch or "
        "held for approval). Documents no longer on the portal are left out: they cannot be pushed.",
    )
    filing_status = df.ChoiceFilter(
        field_name="supplier_filing_status",
        choices=FilingStatus.choices,
        label="Supplier filing",
        empty_label="Any",
    )
    value_min = MoneyFilter(field_name="doc_value", lookup_expr="gte", label="Value from", **MONEY_FIELD)
    value_max = MoneyFilter(field_name="doc_value", lookup_expr="lte", label="Value to", **MONEY_FIELD)
    taxable_min = MoneyFilter(
        field_name="taxable_value", lookup_expr="gte", label="Taxable from", **MONEY_FIELD
    )
    taxable_max = MoneyFilter(
        field_name="taxable_value", lookup_expr="lte", label="Taxable to", **MONEY_FIELD
    )
    date_from = df.DateFilter(
        field_name="doc_date", lookup_expr="gte", label="Date from", input_formats=DATE_INPUT_FORMATS
    )
    date_to = df.DateFilter(
        field_name="doc_date", lookup_expr="lte", label="Date to", input_formats=DATE_INPUT_FORMATS
    )
    number = df.CharFilter(method="filter_number", label="Document number", max_length=40)
    needs_review = BooleanParamFilter(field_name="needs_review", label="Needs review")
    vanished = BooleanParamFilter(method="filter_vanished", label="No longer on portal")
    reconciliation = OutcomeFilter(
        choices=facets.Choices("reconciliation"),
        method="filter_reconciliation",
        label="Latest reconciliation says",
        widget=forms.CheckboxSelectMultiple,
        help_text="Documents whose latest finished reconciliation of their GSTIN put them in one of these "
        "outcomes (or groups: matched, mismatched, missing_in_books); documents changed on the portal "
        "since that reconciliation started are left out.",
    )

    claim = ClaimFilter(
        method="filter_claim",
        label="ITC claim period",
        help_text="deferred (rejected or pending), none (in no 2B yet, or ITC not available), or the return period "
        "MMYYYY whose GSTR-3B claims the ITC.",
    )
    deadline = df.CharFilter(
        method="filter_deadline",
        label="In the deadline queue",
        max_length=2000,
        widget=forms.HiddenInput,
        help_text="The documents of the deadline queue with these queue filters (as the queue page's query "
        "string); the returns app answers it.",
    )

    class Meta:
        model = SupplierDocument
        fields: list[str] = []

    def __init__(
        self, data=None, queryset=None, *, request=None, prefix=None, tenant=None, user=None, membership=None
    ):
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.tenant = tenant or getattr(request, "tenant", None)
        user = user or getattr(request, "user", None)
        membership = membership or getattr(request, "membership", None)
        if self.tenant is not None:
            self.filters["registration"].queryset = visible_registrations(
                tenant=self.tenant, user=user, membership=membership
            ).order_by("gstin")

    @property
    def form(self):
        form = super().form
        if not getattr(form, "_ims_styled", False):
            for name, field in form.fields.items():
                widget = field.widget
                if isinstance(widget, forms.CheckboxSelectMultiple):
                    continue
                css = (
                    "form-select form-select-sm"
                    if isinstance(widget, forms.Select)
                    else "form-control form-control-sm"
                )
                widget.attrs.setdefault("class", css)
                if name in ("date_from", "date_to"):
                    widget.attrs.setdefault("placeholder", "DD-MM-YYYY")
                if name == "period":
                    widget.attrs.setdefault("placeholder", "MMYYYY")
                if name == "number":
                    widget.attrs.setdefault("placeholder", "any part, e.g. 00029")
            form._ims_styled = True
        if self.tenant is not None and form.fields["supplier"].known is None:
            tenant = self.tenant
            form.fields["supplier"].known = lambda gstin: SupplierDocument.objects.filter(
                tenant=tenant, supplier_gstin=gstin
            ).exists()
        return form

    def filter_supplier(self, queryset, name, value):
        text = value.strip().upper().replace(" ", "")
        if len(text) == 15 and text.isalnum():
            return queryset.filter(supplier_gstin=text)
        return queryset.filter(supplier_gstin__in=matching_supplier_gstins(tenant=self.tenant, text=value))

    def filter_action(self, queryset, name, value):
        return queryset.filter(effective_action_q(value)) if value else queryset

    def filter_claim(self, queryset, name, value):
        if not value:
            return queryset
        deferred = effective_action_q(["R", "P"])
        if value == "deferred":
            return queryset.filter(deferred)
        if value == "none":
            return queryset.filter(itc_claim_period__isnull=True).exclude(deferred)
        return queryset.filter(itc_claim_period=value).exclude(deferred)

    def filter_pending_push(self, queryset, name, value):
        """Yes: the documents in the push queue (``gst_sync_pushqueue``, kept by triggers: a local action, not
        vanished), found through that narrow table since no index of the documents may name ``local_action``.
        No: the rest (no local action, or no longer on the portal)."""
        if value is None:
            return queryset
        if not value:
            return queryset.filter(Q(local_action__isnull=True) | Q(vanished_at__isnull=False))
        facet = facets.get("pending_push")
        if facet is None:  # no push queue without the portal app
            return queryset.none()
        return facet.apply(queryset, tenant=self.tenant, values=[True])

    def filter_vanished(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(vanished_at__isnull=not value)

    def filter_reconciliation(self, queryset, name, value):
        if not value:
            return queryset
        facet = facets.get("reconciliation")
        if self.tenant is None or facet is None:  # no tenant or no reconciliation app: no runs to read
            return queryset.none()
        return facet.apply(queryset, tenant=self.tenant, values=value)

    def filter_deadline(self, queryset, name, value):
        facet = facets.get("deadline")
        if self.tenant is None or facet is None:  # no deadline queue without the returns app
            return queryset.none()
        return facet.apply(queryset, tenant=self.tenant, values=[value])

    def filter_number(self, queryset, name, value):
        """A number containing the typed text ("00029" finds "INV/2026-27/00029"; any case), found through the
        trigram index of migration 0008 (three characters at least: shorter text has no trigram), or whose
        normalised number starts with the typed one's. The prefix match: a typed FY token ("INV/2025-26/42") is
        dropped as it was at ingest, whichever FY it names. Written as a range (``X <= n < X'``, X' = X with its last character
        incremented) so it is an index range scan of (tenant, doc_number_norm) in any collation that orders
        letters and digits by code point (C, C.UTF-8, en_US for these upper-case alphanumerics), where LIKE 'X%'
        is not, and the planner estimates short prefixes (many rows) and long ones (few) correctly."""
        candidates = {normalise_doc_number(value)} | {
            normalise_doc_number(value, fy) for fy in range(FIRST_GST_FY, india_today().year + 1)
        }
        candidates.discard("")
        text = value.strip()
        if not candidates and len(text) < 3:
            return queryset
        match = Q()
        for norm in sorted(candidates):
            match |= Q(doc_number_norm__gte=norm, doc_number_norm__lt=norm[:-1] + chr(ord(norm[-1]) + 1))
        if len(text) >= 3:  # UPPER(doc_number) LIKE UPPER('%text%'): the trigram index
            match |= Q(doc_number__icontains=text)
        return queryset.filter(match)

    def active_filters(self) -> dict[str, object]:
        """The filters actually applied (for chips on the page and export titles)."""
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.form.cleaned_data.items() if v not in (None, "", [], ())}


def describe_filters(active: dict[str, object]) -> str:
    """A short human text of applied filters, e.g. for an export title."""
    parts = []
    for key, val in active.items():
        if isinstance(val, dt.date):
            val = val.strftime("%m%Y") if key == "period" else val.strftime("%d-%m-%Y")
        elif isinstance(val, list | tuple):
            val = ",".join(str(v) for v in val)
        elif isinstance(val, Registration):
            val = val.gstin
        parts.append(f"{key}={val}")
    return "; ".join(parts)

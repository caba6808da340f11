"""The project's form renderer writes the commonest widgets in Python (ims_project/form_renderer.py): the HTML must be
Django's own, byte for byte, for every widget kind it writes, every kind of value and attribute, and it must hand
anything else to Django's templates. Pure: no database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from ims_project.form_renderer import FormRenderer

ATTRS = {
    "class": "form-control form-control-sm",
    "placeholder": gettext_lazy("DD-MM-YYYY"),
    "required": True,
    "disabled": False,
    "data-note": 'a "quoted" <value> & more',
    "maxlength": 80,
}
VALUES = [None, "", "plain", "a<b & \"c\" 'd'", mark_safe("<b>safe</b>"), 42, Decimal("1234.50"), 0]
INPUTS = [
    forms.TextInput,
    forms.NumberInput,
    forms.EmailInput,
    forms.URLInput,
    forms.PasswordInput,
    forms.HiddenInput,
    forms.SearchInput,
    forms.TelInput,
    forms.ColorInput,
]
CHOICES = [
    ("", "All my GSTINs"),
    (1, "one"),
    ("2", 'two <&> "quoted"'),
    ("lazy", gettext_lazy("Accepted")),
    ("safe", mark_safe("<i>safe</i>")),
    (Decimal("3.5"), Decimal("3.5")),
    ("Group <A>", [("a1", "first of A"), (7, 7)]),
    (None, "none"),
]


def _both(widget, value, attrs=None):
    ours = widget.render("field", value, attrs=attrs, renderer=FormRenderer())
    django = widget.render("field", value, attrs=attrs, renderer=DjangoTemplates())
    return ours, django


def test_the_project_renders_forms_with_it():
    assert isinstance(get_default_renderer(), FormRenderer)


@pytest.mark.parametrize("widget_class", INPUTS)
@pytest.mark.parametrize("value", VALUES)
def test_inputs_are_written_as_djangos_templates_write_them(widget_class, value):
    ours, django = _both(widget_class(attrs=ATTRS), value)
    assert ours == django


@pytest.mark.parametrize(
    "widget, value",
    [
        (forms.DateInput(attrs=ATTRS), dt.date(2026, 3, 9)),
        (forms.DateInput(format="%d-%m-%Y"), dt.date(2026, 3, 9)),
        (forms.DateTimeInput(), dt.datetime(2026, 3, 9, 14, 5, tzinfo=dt.UTC)),
        (forms.TimeInput(), dt.time(9, 30)),
        (forms.CheckboxInput(attrs=ATTRS), True),
        (forms.CheckboxInput(), False),
        (forms.CheckboxInput(), "on"),
        (forms.PasswordInput(render_value=True), "s3cret&"),
    ],
)
def test_inputs_with_formatted_values(widget, value):
    ours, django = _both(widget, value)
    assert ours == django


@pytest.mark.parametrize("value", [None, "", 1, "1", "2", "a1", 7, "7", Decimal("3.5"), "missing"])
def test_selects_and_their_groups_are_written_as_djangos(value):
    ours, django = _both(forms.Select(choices=CHOICES, attrs=ATTRS), value)
    assert ours == django


def test_multiple_selects_and_yes_no_selects():
    for widget, value in (
        (forms.SelectMultiple(choices=CHOICES), ["1", "a1", 7]),
        (forms.SelectMultiple(choices=CHOICES), []),
        (forms.NullBooleanSelect(attrs={"class": "form-select"}), True),
        (forms.NullBooleanSelect(), None),
        (forms.Select(choices=[]), None),
    ):
        ours, django = _both(widget, value)
        assert ours == django, widget


def test_other_widgets_go_to_djangos_templates():
    class Starred(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html"

    for widget, value in (
        (forms.Textarea(attrs=ATTRS), "text <b>"),
        (forms.RadioSelect(choices=CHOICES), "1"),
        (forms.CheckboxSelectMultiple(choices=CHOICES), ["1"]),
        (forms.SplitDateTimeWidget(), dt.datetime(2026, 3, 9, 14, 5, tzinfo=dt.UTC)),
        (Starred(choices=CHOICES), "1"),
    ):
        ours, django = _both(widget, value)
        assert ours == django, widget


def test_a_whole_form_renders_the_same():
    class Filters(forms.Form):
        number = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "any part"}))
        date_from = forms.DateField(required=False)
        status = forms.ChoiceField(choices=[("", "Any"), ("F", "Filed"), ("N", "Not filed")], required=False)
        value_min = forms.DecimalField(required=False)
        agree = forms.BooleanField(required=False)

    data = {"number": "INV/<1>", "date_from": "bad date", "status": "F", "value_min": "12.5", "agree": "on"}
    ours = Filters(data, renderer=FormRenderer()).as_div()
    django = Filters(data, renderer=DjangoTemplates()).as_div()
    assert ours == django

"""Form-field rendering for Bootstrap and small display helpers of the tenancy pages."""

from django import forms, template

from gst.gstin import state_name as _state_name

register = template.Library()


@register.filter
def bs(field):
    """Render a bound field's widget with the Bootstrap class for its kind (and is-invalid when it has errors)."""
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, forms.Select | forms.SelectMultiple) and not isinstance(
        widget, forms.CheckboxSelectMultiple
    ):
        css = "form-select form-select-sm"
    else:
        css = "form-control form-control-sm"
    if field.errors:
        css += " is-invalid"
    return field.as_widget(attrs={"class": css})


@register.filter
def is_checkbox(field) -> bool:
    return isinstance(field.field.widget, forms.CheckboxInput)


@register.filter
def minutes(delta) -> int:
    """A timedelta as whole minutes (at least 1)."""
    return max(1, int(delta.total_seconds() // 60)) if delta else 0


@register.filter
def state_name(code: str) -> str:

    return _state_name(code)

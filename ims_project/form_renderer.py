"""The form renderer (settings.FORM_RENDERER): Django's, with its commonest widget templates written in Python.

A page's filter and action forms render 20-odd inputs and selects; through their templates (``input.html``,
``attrs.html``, ``select.html`` and one ``select_option.html`` per option) they cost the document list about 5 ms of
CPU a request, as much as its ten queries (docs/performance.md §3.11). The functions here write the same HTML,
byte for byte, as Django 5.2's templates of those widgets; any other template (and a select whose options use
another template) goes to Django's. ``tests/ims_project/test_form_renderer.py`` holds the two equal for every
widget kind written here.
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates

from .html import string as _string
from .html import text as _value

_WIDGETS = "django/forms/widgets/"
# The input types whose template is only {% include "django/forms/widgets/input.html" %}.
_INPUTS = frozenset(
    f"{_WIDGETS}{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "search",
        "tel",
        "date",
        "datetime",
        "time",
        "color",
        "checkbox",
    )
)
_SELECT = f"{_WIDGETS}select.html"
_OPTION = f"{_WIDGETS}select_option.html"


def _attrs(attrs: dict) -> str:
    """attrs.html: `` name="value"``, a bare name for True, nothing for False."""
    out = []
    for name, value in attrs.items():
        if value is not False:
            out.append(f" {_value(name)}" if value is True else f' {_value(name)}="{_string(value)}"')
    return "".join(out)


def _input(widget: dict) -> str:
    value = widget["value"]
    shown = f' value="{_string(value)}"' if value != None else ""  # noqa: E711 - the template's `!= None`
    return f'<input type="{_value(widget["type"])}" name="{_value(widget["name"])}"{shown}{_attrs(widget["attrs"])}>'


def _option(option: dict) -> str:
    return f'<option value="{_string(option["value"])}"{_attrs(option["attrs"])}>{_value(option["label"])}</option>'


def _select(widget: dict) -> str | None:
    parts = [f'<select name="{_value(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_value(group_name)}">')
        for option in group_choices:
            if option.get("template_name") != _OPTION:
                return None
            parts.append(f"\n  {_option(option)}\n")
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


class FormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        widget = context.get("widget")
        if isinstance(widget, dict):
            if template_name in _INPUTS:
                return _input(widget)
            if template_name == _SELECT:
                html = _select(widget)
                if html is not None:
                    return html
        return super().render(template_name, context, request=request)

"""What a template writes for ``{{ value }}`` and ``{{ value|stringformat:'s' }}``, for HTML written in Python where
the template engine costs too much (the form renderer's widgets, the document list's rows)."""

from __future__ import annotations

import html

from django.template.defaultfilters import stringformat
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData
from django.utils.timezone import template_localtime


def text(value) -> str:
    """``{{ value }}``: localised, then escaped unless safe (django.template.base.render_value_in_context)."""
    if type(value) is str:  # most values: nothing to localise, escaped as django.utils.html.escape does
        return html.escape(value)
    value = localize(template_localtime(value))
    if not issubclass(type(value), str):
        value = str(value)
    return conditional_escape(value)


def string(value) -> str:
    """``{{ value|stringformat:'s' }}`` (a safe value stays unescaped: the filter is marked is_safe)."""
    if type(value) is str:
        return html.escape(value)
    formatted = stringformat(value, "s")
    return formatted if isinstance(value, SafeData) else escape(formatted)

"""Template helpers of the document pages."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from gst.labels import YES_NO
from gst.periods import fy_label as _fy_label
from gst.rule_data import DEFAULT_RULES
from gst.sections import ACTION_LABELS, SECTIONS, Action, Section
from ims_project.formatting import format_inr

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ counts|get_item:code }}``: a dict lookup with a variable key."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def action_label(code):
    try:
        return ACTION_LABELS[Action(code)]
    except ValueError:
        return code or ""


@register.filter
def section_label(key):
    try:
        return SECTIONS[Section(key)].label
    except ValueError:
        return key or ""


@register.simple_tag
def action_badge(doc):
    """The effective action as a badge; a local (not yet pushed) action is flagged "to push" (a simple tag, not a
    template: it runs on every row of a list)."""
    effective = doc.local_action or doc.portal_action
    if doc.local_action:
        title = f"Your action, not yet pushed (portal: {action_label(doc.portal_action)})"
        extra = mark_safe(  # nosec B308  # a constant literal, no data in it
            ' <span class="badge text-bg-warning" title="Not yet pushed to the portal">to push</span>'
        )  # noqa: S308
    else:
        title, extra = "On the portal", ""
    return format_html(
        '<span class="badge badge-action-{}" title="{}">{}</span>{}',
        effective,
        title,
        action_label(effective),
        extra,
    )


_SPECIFIED_SECTIONS = frozenset(s.value for row in DEFAULT_RULES.itc_reduction_records for s in row.sections)


@register.filter
def portal_itc_answer(doc):
    """The portal's answer to "Whether ITC needs to be reduced?": Y / N, or for an accepted credit note or
    amendment downloaded without one, a full reduction (docs/rules/ims-actions.md §4.4)."""
    if doc.portal_itc_red_req:
        return YES_NO.get(doc.portal_itc_red_req, doc.portal_itc_red_req)
    if doc.portal_action == Action.ACCEPTED and doc.section in _SPECIFIED_SECTIONS:
        return "Yes (none sent: read as a full reduction)"
    return "—"


@register.filter
def fy_label(start_year):
    """2025 → 2025-26."""
    return _fy_label(int(start_year)) if start_year not in (None, "") else ""


@register.filter
def count_in(value):
    """A count with Indian digit grouping: 12,34,567."""
    return format_inr(value, symbol=False, decimals=0) if value not in (None, "") else ""

import datetime

from django import template
from django.utils import timezone

from gst import labels
from ims_project.formatting import format_date, format_inr

register = template.Library()


@register.filter
def inr(value):
    return format_inr(value)


@register.filter
def inr0(value):
    return format_inr(value, decimals=0)


@register.filter
def ddmmyyyy(value):
    return format_date(value)


@register.filter
def local_dt(value):
    """A stored (UTC) time shown in Asia/Kolkata: DD-MM-YYYY HH:MM (empty for anything that is not a time)."""
    if not isinstance(value, datetime.datetime):
        return ""
    return timezone.localtime(value).strftime("%d-%m-%Y %H:%M")


@register.filter
def period(value):
    """A period date shown as MM-YYYY (the portal's MMYYYY, readable)."""
    if value is None:
        return ""
    return value.strftime("%m-%Y")


@register.simple_tag(takes_context=True)
def querystring_with(context, **kwargs):
    """The current query string with some parameters replaced (None removes one)."""
    query = context["request"].GET.copy()
    for key, val in kwargs.items():
        if val is None:
            query.pop(key, None)
        else:
            query[key] = val
    return query.urlencode()


# --- the portal's codes in words (gst.labels) ------------------------------------------------------------------


@register.filter
def section_name(code):
    """``b2bcna`` → "B2B – Credit notes (amendment)"."""
    return labels.section_name(code)


@register.filter
def action_word(code):
    """``R`` → "Rejected"."""
    return labels.action_word(code)


@register.filter
def place_of_supply(code):
    """``27`` → "27 – Maharashtra"."""
    return labels.place_of_supply(code)


@register.filter
def twob_part(code):
    return labels.twob_part(code)


@register.filter
def twob_group(code):
    return labels.twob_group(code)


@register.filter
def twob_list(code, group=""):
    """A 2B document list in words; ``{{ section|twob_list:group }}`` (``cdnr`` is credit notes in Part B)."""
    return labels.twob_list(code, group or "")


@register.filter
def twob_bucket(bucket):
    """``itcavl/nonrevsup/b2b`` → "ITC Available – Part A – Supplies other than reverse charge – B2B invoices"."""
    return labels.twob_bucket(bucket)


@register.filter
def return_period(text):
    """A return period as the portal writes it (``102025``) → "10-2025"."""
    text = str(text or "")
    return f"{text[:2]}-{text[2:]}" if len(text) == 6 and text.isdigit() else text

import datetime

from django import template
from django.utils import timezone

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

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key, "")


@register.filter
def named(gstin, names):
    """A supplier GSTIN with the supplier's name when the directory knows it: ``29AAGCB7383J1Z4 · Bharat Steel``."""
    name = (names or {}).get(gstin, "")
    return f"{gstin} · {name}" if name else gstin

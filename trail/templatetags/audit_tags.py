from django import template

from gst.labels import ACTION_WORDS

from ..words import Line, line

register = template.Library()

# Ledger field names as people say them; fields not listed are shown with underscores as spaces.
FIELD_WORDS = {
    "local_action": "Action",
    "action": "Action",
    "portal_action": "Action on the portal",
    "local_remarks": "Remarks",
    "remarks": "Remarks",
    "local_itc_red_req": "ITC reduction required",
    "local_decl_igst": "Declared IGST reduction",
    "local_decl_cgst": "Declared CGST reduction",
    "local_decl_sgst": "Declared SGST/UTGST reduction",
    "local_decl_cess": "Declared cess reduction",
    "taxable_value": "Taxable value",
    "filing_frequency": "Filing frequency",
    "gstin": "GSTIN",
    "gstins": "GSTINs",
}
_ACTION_FIELDS = {"local_action", "action", "portal_action"}


def _show(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    return str(value)


def _value(field: str, value) -> str:
    if field in _ACTION_FIELDS and value in ACTION_WORDS:
        return ACTION_WORDS[value] if value else "—"
    return _show(value)


def _field(field: str) -> str:
    return FIELD_WORDS.get(field) or field.replace("_", " ").capitalize()


@register.filter
def change_rows(changes):
    """``{field: [old, new]}`` as ``[(field in words, old text, new text)]``; other shapes shown as the new
    value."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, change in changes.items():
        if isinstance(change, list) and len(change) == 2:
            old = (
                "" if change[0] in (None, "") else _value(field, change[0])
            )  # set from nothing: the new value
            rows.append((_field(field), old, _value(field, change[1])))
        else:
            rows.append((_field(field), "", _value(field, change)))
    return rows


@register.filter
def audit_line(event):
    """The event in words (:func:`trail.words.line`), for a trail that has no supplier names at hand."""
    return event if isinstance(event, Line) else line(event)


def changes_text(changes) -> str:
    """One line for a spreadsheet cell: ``field: old → new; …``."""
    return "; ".join(f"{f}: {old} → {new}" if old else f"{f}: {new}" for f, old, new in change_rows(changes))

from django import template

register = template.Library()


def _show(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    return str(value)


@register.filter
def change_rows(changes):
    """``{field: [old, new]}`` as ``[(field, old text, new text)]``; other shapes shown as the new value."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, change in changes.items():
        if isinstance(change, list) and len(change) == 2:
            rows.append((field, _show(change[0]), _show(change[1])))
        else:
            rows.append((field, "", _show(change)))
    return rows


def changes_text(changes) -> str:
    """One line for a spreadsheet cell: ``field: old → new; …``."""
    return "; ".join(f"{f}: {old} → {new}" if old else f"{f}: {new}" for f, old, new in change_rows(changes))

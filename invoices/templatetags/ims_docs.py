"""Template helpers of the document pages."""

from django import template
from django.template.defaultfilters import truncatechars
from django.utils.safestring import mark_safe

from gst.labels import YES_NO, section_name
from gst.periods import fy_label as _fy_label
from gst.rule_data import DEFAULT_RULES
from gst.sections import ACTION_LABELS, SECTIONS, Action, Section
from ims_project.formatting import format_date, format_inr
from ims_project.html import text

from .ims import period

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
        title = text(f"Your action, not yet pushed (portal: {action_label(doc.portal_action)})")
        extra = ' <span class="badge text-bg-warning" title="Not yet pushed to the portal">to push</span>'
    else:
        title, extra = "On the portal", ""
    return mark_safe(  # nosec B308 B703  # every value in it is escaped  # noqa: S308
        f'<span class="badge badge-action-{text(effective)}" title="{title}">{text(action_label(effective))}</span>'
        f"{extra}"
    )


_NO_ROWS = '\n    <tr><td colspan="12" class="text-muted">No documents match these filters.</td></tr>\n  '


@register.simple_tag(takes_context=True)
def document_rows(context, rows):
    """The document list's rows (templates/invoices/document_list.html), written here rather than in the template:
    through the template engine a row of thirteen cells cost about 0.2 ms of CPU, a quarter of the list page's
    (docs/performance.md §3.11). Each value is written as ``{{ value }}`` would write it (ims_project.html.text).
    Reads ``can_act``, ``retry`` (a bulk form sent back), ``list_url``, ``row_suffix`` and ``multi_gstin``."""
    can_act = context.get("can_act")
    retry = context.get("retry")
    ticked = retry.get("ids") if isinstance(retry, dict) else None
    list_url, suffix = text(context.get("list_url", "")), text(context.get("row_suffix", ""))
    multi_gstin = context.get("multi_gstin")
    out = []
    for d in rows:
        pk = text(d.pk)
        href = f"{list_url}{pk}/{suffix}"
        number = text(d.doc_number)
        select = ""
        if can_act:
            checked = " checked" if ticked and d.pk in ticked else ""
            select = (
                f'<td><input class="form-check-input" type="checkbox" name="ids" value="{pk}" '
                f'form="bulk-action-form" aria-label="Select {number}"{checked}></td>'
            )
        supplier = (
            f'<span class="mono">{text(d.supplier_gstin)}</span>'
            if d.supplier_gstin
            else '<span class="text-muted">Import from overseas</span>'
        )
        if not d.supplier_gstin_valid:
            supplier += ' <span class="badge text-bg-danger" title="GSTIN check character is wrong">!</span>'
        name = str(getattr(d, "supplier_name", ""))
        if not (name.isascii() and len(name) <= 32):  # the filter, which NFC-normalises, only when it may cut
            name = truncatechars(name, 32)
        supplier += f' <span class="text-muted">{text(name)}</span>'
        if d.port_code:
            supplier += (
                ' <span class="badge text-bg-light" title="Port code of the bill of entry">'
                f"port {text(d.port_code)}</span>"
            )
        recipient = f'<td class="mono">{text(d.registration.gstin)}</td>' if multi_gstin else ""
        flags = ""
        if d.needs_review:
            flags = '<span class="badge text-bg-info" title="The supplier changed it after your action">review</span>'
        if d.vanished_at:
            flags += ' <span class="badge text-bg-secondary" title="No longer on the portal">gone</span>'
        out.append(
            f'\n    <tr data-href="{href}" tabindex="0" data-section="{text(d.section)}">'
            f"\n      {select}"
            f'\n      <td class="text-nowrap">{text(format_date(d.doc_date))}</td>'
            f'\n      <td class="mono"><a href="{href}">{number}</a></td>'
            f"\n      <td>{text(section_name(d.section))}</td>"
            f"\n      <td>{supplier}</td>"
            f"\n      {recipient}"
            f"\n      <td>{text(period(d.supplier_period))}</td>"
            f"\n      <td>{text(d.get_supplier_filing_status_display())}</td>"
            f'\n      <td class="num">{text(format_inr(d.doc_value))}</td>'
            f'\n      <td class="num">{text(format_inr(d.taxable_value))}</td>'
            f'\n      <td class="num">{text(format_inr(d.total_tax))}</td>'
            f'\n      <td class="text-nowrap">{action_badge(d)}</td>'
            f'\n      <td class="text-nowrap">{flags}</td>'
            "\n    </tr>\n  "
        )
    return mark_safe("".join(out) if out else _NO_ROWS)  # nosec B308 B703  # every value above is escaped  # noqa: S308


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

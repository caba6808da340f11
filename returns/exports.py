"""The "twob_preview" export: the GSTR-2B preview as Excel in the portal's 2B layout (docs/rules/portal-files.md §5
columns), one row per document, preceded by the 2B heading (part, group, list) and section in the portal's words.
Dates are date cells; places of supply carry their state's name."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from exports.registry import ExportError, register
from gst.labels import (
    DOCUMENT_TYPES,
    REASONS,
    YES_NO,
    place_of_supply,
    twob_group_of,
    twob_heading,
    twob_list,
)
from gst.periods import PeriodError, format_period, parse_period
from tenancy.selectors import membership_for

from .selectors import preview_json, registration_for
from .twob import ITCREV

KIND = "twob_preview"
HEADERS = [
    "GSTR-2B heading",
    "Section",
    "GSTIN of supplier",
    "Trade/Legal name",
    "Invoice number",
    "Invoice type",
    "Invoice date",
    "Invoice value",
    "Place of supply",
    "Supply attract reverse charge",
    "Taxable value",
    "Integrated Tax",
    "Central Tax",
    "State/UT tax",
    "Cess",
    "GSTR-1/IFF/GSTR-5 Period",
    "GSTR-1/IFF/GSTR-5 Filing Date",
    "ITC Availability",
    "Reason",
    "Applicable % of Tax Rate",
    "Source",
    "IRN",
    "IRN date",
]


def _lists(data: dict):
    """(section, suppliers, 2B part or None) of every document list, itcrev's nested lists included."""
    for lists, rejected in ((data["docdata"], False), (data["docRejdata"], True)):
        for section, suppliers in lists.items():
            if section == ITCREV:
                for block in suppliers:
                    for inner, sups in block.items():
                        yield inner, sups, ITCREV
            else:
                yield section, suppliers, "itcRejected" if rejected else None


def _date(text) -> dt.date | None:
    """A portal date (DD-MM-YYYY) as a date; None when absent or unreadable."""
    try:
        return dt.datetime.strptime(str(text), "%d-%m-%Y").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        return None


def _amount(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _period(text) -> str:
    """A return period (MMYYYY) as MM-YYYY."""
    text = str(text or "")
    return f"{text[:2]}-{text[2:]}" if len(text) == 6 and text.isdigit() else text


def _documents(sup: dict) -> list[dict]:
    """The documents of one entry of a 2B list: a supplier's ``inv`` / ``nt`` / ``boe`` / ``doclist``, or a bill of
    entry from overseas listed on its own."""
    if "boenum" in sup:
        return [sup]
    return sup.get("inv") or sup.get("nt") or sup.get("boe") or sup.get("doclist") or []


def rows_of(data: dict):
    for section, suppliers, forced_part in _lists(data):
        for sup in suppliers:
            for d in _documents(sup):
                available = d.get("itcavl", d.get("itcelg", "Y")) != "N"
                part = forced_part or ("itcavl" if available else "itcunavl")
                group = twob_group_of(section, d)
                kind = d.get("typ") or d.get("doctyp") or ("BoE" if "boenum" in d else "")
                yield (
                    twob_heading(part, group, section),
                    twob_list(section, group),
                    sup.get("ctin", ""),
                    sup.get("trdnm", ""),
                    d.get("inum") or d.get("ntnum") or d.get("boenum") or d.get("docnum"),
                    DOCUMENT_TYPES.get(kind, kind),
                    _date(d.get("dt") or d.get("boedt") or d.get("docdt")),
                    _amount(d.get("val")),
                    place_of_supply(d.get("pos")) or d.get("portcode", ""),
                    YES_NO.get(d.get("rev", "N"), d.get("rev", "")),
                    _amount(d.get("txval")),
                    _amount(d["igst"]),
                    _amount(d.get("cgst", 0)),
                    _amount(d.get("sgst", 0)),
                    _amount(d["cess"]),
                    _period(sup.get("supprd", "")),
                    _date(sup.get("supfildt", "") or d.get("refdt", "")),
                    "Yes" if available else "No",
                    REASONS.get(d.get("rsn", ""), ""),
                    "100%"
                    if str(d.get("diffprcnt", 1)) in ("1", "1.0", "1.00")
                    else f"{Decimal(str(d['diffprcnt'])) * 100:g}%",
                    d.get("srctyp", ""),
                    d.get("irn", ""),
                    _date(d.get("irngendate", "")),
                )


def export_preview(*, tenant, user, params):
    membership = membership_for(tenant=tenant, user=user)
    if membership is None:
        raise PermissionDenied
    reg = registration_for(
        tenant=tenant, user=user, registration_id=params.get("registration"), membership=membership
    )
    if reg is None:
        raise ExportError("No such GSTIN.")
    try:
        period = parse_period(str(params.get("period", "")))
    except PeriodError as exc:
        raise ExportError(str(exc)) from None
    data = preview_json(registration=reg, period=period, today=timezone.localdate())
    total = sum(len(_documents(s)) for _section, sups, _label in _lists(data) for s in sups)
    title = f"GSTR-2B preview ({reg.gstin}, return period {format_period(period)[:2]}-{format_period(period)[2:]})"
    return title, HEADERS, rows_of(data), total


register(KIND, export_preview)

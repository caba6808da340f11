"""The "twob_preview" export: the GSTR-2B preview as Excel in the portal's 2B layout (docs/rules/portal-files.md §5 columns),
one row per document, preceded by the 2B part and section."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from exports.registry import ExportError, register
from gst.periods import PeriodError, parse_period
from tenancy.selectors import membership_for

from .selectors import preview_json, registration_for
from .twob import ITCREV, PART_LABELS, REASON_LABELS, Part

ITCREV_LABEL = "ITC reversal on account of Rule 37A (itcrev)"

KIND = "twob_preview"
HEADERS = [
    "ITC part",
    "2B section",
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
    """(section, suppliers, part label or None) of every document list, itcrev's nested lists included."""
    for lists, rejected in ((data["docdata"], False), (data["docRejdata"], True)):
        for section, suppliers in lists.items():
            if section == ITCREV:
                for block in suppliers:
                    for inner, sups in block.items():
                        yield inner, sups, ITCREV_LABEL
            else:
                yield section, suppliers, PART_LABELS[Part.REJECTED] if rejected else None


def _documents(sup: dict) -> list[dict]:
    """The documents of one entry of a 2B list: a supplier's ``inv`` / ``nt`` / ``boe`` / ``doclist``, or a bill of
    entry from overseas listed on its own."""
    if "boenum" in sup:
        return [sup]
    return sup.get("inv") or sup.get("nt") or sup.get("boe") or sup.get("doclist") or []


def rows_of(data: dict):
    for section, suppliers, label in _lists(data):
        for sup in suppliers:
            for d in _documents(sup):
                available = d.get("itcavl", d.get("itcelg", "Y")) != "N"
                part = label or PART_LABELS[Part.AVAILABLE if available else Part.UNAVAILABLE]
                yield (
                    part,
                    section,
                    sup.get("ctin", ""),
                    sup.get("trdnm", ""),
                    d.get("inum") or d.get("ntnum") or d.get("boenum") or d.get("docnum"),
                    d.get("typ") or d.get("doctyp") or ("BoE" if "boenum" in d else ""),
                    d.get("dt") or d.get("boedt") or d.get("docdt"),
                    d.get("val", ""),
                    d.get("pos", "") or d.get("portcode", ""),
                    d.get("rev", "N"),
                    d.get("txval", ""),
                    d["igst"],
                    d.get("cgst", 0),
                    d.get("sgst", 0),
                    d["cess"],
                    sup.get("supprd", ""),
                    sup.get("supfildt", "") or d.get("refdt", ""),
                    "Yes" if available else "No",
                    REASON_LABELS.get(d.get("rsn", ""), ""),
                    "100%",
                    "",
                    "",
                    "",
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
    return f"GSTR-2B preview {reg.gstin} {data['rtnprd']}", HEADERS, rows_of(data), total


register(KIND, export_preview)

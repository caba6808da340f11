"""The "twob_preview" export: the GSTR-2B preview as Excel in the portal's 2B layout (domain.md §8 columns),
one row per document, preceded by the 2B part and section."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from exports.registry import ExportError, register
from invoices.domain.periods import PeriodError, parse_period
from tenancy.selectors import membership_for

from .selectors import preview_json, registration_for
from .twob import PART_LABELS, REASON_LABELS, Part

KIND = "twob_preview"
HEADERS = [
    "ITC part", "2B section", "GSTIN of supplier", "Trade/Legal name", "Invoice number", "Invoice type",
    "Invoice date", "Invoice value", "Place of supply", "Supply attract reverse charge", "Taxable value",
    "Integrated Tax", "Central Tax", "State/UT tax", "Cess", "GSTR-1/IFF/GSTR-5 Period",
    "GSTR-1/IFF/GSTR-5 Filing Date", "ITC Availability", "Reason", "Applicable % of Tax Rate", "Source", "IRN",
    "IRN date",
]


def rows_of(data: dict):
    for lists, rejected in ((data["docdata"], False), (data["docRejdata"], True)):
        for section, suppliers in lists.items():
            for sup in suppliers:
                for d in sup.get("inv") or sup.get("nt") or []:
                    part = Part.REJECTED if rejected else (Part.UNAVAILABLE if d["itcavl"] == "N" else Part.AVAILABLE)
                    yield (
                        PART_LABELS[part], section, sup["ctin"], sup["trdnm"], d.get("inum") or d.get("ntnum"),
                        d["typ"], d["dt"], d["val"], d["pos"], d["rev"], d["txval"], d["igst"], d["cgst"],
                        d["sgst"], d["cess"], sup["supprd"], sup["supfildt"], "No" if d["itcavl"] == "N" else "Yes",
                        REASON_LABELS.get(d["rsn"], ""), "100%", "", "", "",
                    )


def export_preview(*, tenant, user, params):
    membership = membership_for(tenant=tenant, user=user)
    if membership is None:
        raise PermissionDenied
    reg = registration_for(tenant=tenant, user=user, registration_id=params.get("registration"),
                           membership=membership)
    if reg is None:
        raise ExportError("No such GSTIN.")
    try:
        period = parse_period(str(params.get("period", "")))
    except PeriodError as exc:
        raise ExportError(str(exc)) from None
    data = preview_json(registration=reg, period=period, today=timezone.localdate())
    total = sum(len(s.get("inv") or s.get("nt") or []) for lists in (data["docdata"], data["docRejdata"])
                for sups in lists.values() for s in sups)
    return f"GSTR-2B preview {reg.gstin} {data['rtnprd']}", HEADERS, rows_of(data), total


register(KIND, export_preview)

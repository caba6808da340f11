"""The "documents" export: every document matching the list's filters (not just a page), one row each."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from exports.registry import ExportError, register
from gst.labels import SECTION_NAMES, place_of_supply
from gst.periods import fy_label
from gst.sections import ACTION_LABELS, Action
from tenancy.roles import Capability, can
from tenancy.selectors import membership_for

from .filters import DocumentFilter, describe_filters
from .models import FilingStatus, Supplier
from .selectors import documents_for

KIND = "documents"
HEADERS = [
    "Recipient GSTIN",
    "Supplier GSTIN",
    "Supplier name",
    "Section",
    "Document number",
    "Document date",
    "FY",
    "Supplier period",
    "Supplier filing status",
    "Place of supply",
    "Document value",
    "Taxable value",
    "IGST",
    "CGST",
    "SGST/UTGST",
    "Cess",
    "Portal action",
    "Local action (not yet pushed)",
    "Remarks",
    "First seen (IST)",
    "Port code (bill of entry)",
    "ICEGATE reference date",
    "GSTIN amended from",
    "ITC eligible (ISD)",
    "ITC claim period",
    "IRN",
    "IRN date",
]
_COLUMNS = (
    "registration__gstin",
    "supplier_gstin",
    "supplier_name",
    "section",
    "doc_number",
    "doc_date",
    "fy",
    "supplier_period",
    "supplier_filing_status",
    "pos",
    "doc_value",
    "taxable_value",
    "igst",
    "cgst",
    "sgst",
    "cess",
    "portal_action",
    "local_action",
    "local_remarks",
    "portal_remarks",
    "first_seen_at",
    "port_code",
    "ref_date",
    "prev_gstin",
    "itc_eligible",
    "itc_claim_period",
    "irn",
    "irn_date",
)
_SECTIONS = {str(k): v for k, v in SECTION_NAMES.items()}
_ACTIONS = {a.value: ACTION_LABELS[a] for a in Action}
_FILING = dict(FilingStatus.choices)


def document_export_params(query) -> dict[str, list[str]]:
    """The filter parameters of a request's query string, as JSON-able lists (paging and sorting dropped)."""
    return {
        key: values for key, values in query.lists() if key in DocumentFilter.base_filters and any(values)
    }


def _claim(action: str, period) -> str:
    """The ITC claim period as the document page says it (docs/rules/gstr3b.md §6): deferred while rejected or
    pending, else the period MM-YYYY, else blank."""
    if action in ("R", "P"):
        return "Deferred"
    return period.strftime("%m-%Y") if period else ""


def _row(r):
    (
        reg,
        supplier,
        name,
        section,
        number,
        date,
        fy,
        period,
        filing,
        pos,
        value,
        taxable,
        igst,
        cgst,
        sgst,
        cess,
        portal,
        local,
        local_remarks,
        portal_remarks,
        first_seen,
        port_code,
        ref_date,
        prev_gstin,
        itc_eligible,
        claim,
        irn,
        irn_date,
    ) = r
    return (
        reg,
        supplier,
        name or "",
        _SECTIONS.get(section, section),
        number,
        date,
        fy_label(fy),
        period.strftime("%m-%Y"),
        _FILING.get(filing, filing),
        place_of_supply(pos),
        value,
        taxable,
        igst,
        cgst,
        sgst,
        cess,
        _ACTIONS.get(portal, portal),
        _ACTIONS.get(local, "") if local else "",
        local_remarks or portal_remarks,
        timezone.localtime(first_seen).replace(tzinfo=None) if first_seen else None,  # IST wall clock
        port_code or "",
        ref_date,
        prev_gstin or "",
        {"Y": "Yes", "N": "No"}.get(itc_eligible or "", ""),
        _claim(local or portal, claim),
        irn or "",
        irn_date,
    )


def export_documents(*, tenant, user, params):
    """(title, headers, rows, total) for the documents ``user`` may see that match ``params``, newest first."""
    membership = membership_for(tenant=tenant, user=user)
    if membership is None or not can(membership.role, Capability.EXPORT):
        raise PermissionDenied
    filterset = DocumentFilter(
        MultiValueDict({k: v if isinstance(v, list) else [v] for k, v in (params or {}).items()}),
        queryset=documents_for(tenant=tenant, user=user, membership=membership),
        tenant=tenant,
        user=user,
        membership=membership,
    )
    if not filterset.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.errors.items())
        raise ExportError(f"The filters are not valid ({problems}).")
    name = Supplier.objects.filter(tenant=OuterRef("tenant"), gstin=OuterRef("supplier_gstin")).values(
        n=Coalesce(NullIf("trade_name", Value("")), "legal_name")
    )[:1]
    qs = filterset.qs.annotate(supplier_name=Subquery(name, output_field=CharField())).order_by(
        "-doc_date", "-id"
    )
    total = qs.count()
    rows = (_row(r) for r in qs.values_list(*_COLUMNS).iterator(chunk_size=2000))
    described = describe_filters(filterset.active_filters())
    title = "Inward documents" + (f" ({described})" if described else "")
    return title[:120], HEADERS, rows, total


register(KIND, export_documents)

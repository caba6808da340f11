"""The "reconciliation" export: every result row of a run (the latest finished one by default) with its reasons."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from exports.registry import ExportError, register
from ims_project.params import as_id, is_id
from tenancy.roles import Capability, can
from tenancy.selectors import membership_for

from . import selectors
from .domain.matching import OUTCOME_LABELS
from .services import outcome_actions

KIND = "reconciliation"
HEADERS = [
    "Run",
    "Outcome",
    "Recipient GSTIN",
    "Supplier GSTIN",
    "Register number",
    "Register date",
    "ERP reference",
    "Register taxable",
    "Register tax",
    "Supplier number",
    "Supplier date",
    "Supplier taxable",
    "Supplier tax",
    "Number similarity",
    "Days apart (supplier − books)",
    "Taxable difference (supplier − books)",
    "IGST difference (supplier − books)",
    "CGST difference (supplier − books)",
    "SGST/UTGST difference (supplier − books)",
    "Cess difference (supplier − books)",
    "Fields that differ",
    "Group",
    "Reasons",
    "Reason codes",
    "Recommended action",
]
_ACTIONS = {"A": "Accept", "R": "Reject", "P": "Pending", "": ""}


def _row(run, m, recommended):
    p, d = m.purchase, m.document
    found = selectors.reason_list(m)
    return (
        run.pk,
        OUTCOME_LABELS.get(m.outcome, m.outcome),
        m.registration.gstin,
        m.supplier_gstin,
        p.doc_number if p else "",
        p.doc_date if p else None,
        p.erp_ref if p else "",
        p.taxable if p else None,
        p.total_tax if p else None,
        d.doc_number if d else "",
        d.doc_date if d else None,
        d.taxable_value if d else None,
        d.total_tax if d else None,
        m.similarity,
        m.days,
        m.d_taxable,
        m.d_igst,
        m.d_cgst,
        m.d_sgst,
        m.d_cess,
        ", ".join(selectors.differing_fields(m)),
        m.group_no,
        "; ".join(r["text"] for r in found),
        " ".join(r["code"] for r in found),
        _ACTIONS.get(recommended.get(m.outcome, ""), "") if d else "",
    )


def export_results(*, tenant, user, params):
    """(title, headers, rows, total) of run ``params["run"]`` (else the latest finished run) as ``user`` sees it."""
    membership = membership_for(tenant=tenant, user=user)
    if membership is None or not can(membership.role, Capability.EXPORT):
        raise PermissionDenied
    runs = selectors.runs_for(tenant=tenant, user=user, membership=membership)
    run_id = str((params or {}).get("run") or "")
    run = runs.filter(pk=as_id(run_id)).first() if is_id(run_id) else runs.filter(status="done").first()
    if run is None:
        raise ExportError("No finished reconciliation to export.")
    qs = selectors.matches_for(tenant=tenant, user=user, membership=membership, run=run).order_by("id")
    if (params or {}).get("outcome"):
        qs = qs.filter(outcome=params["outcome"])
    recommended = outcome_actions(tenant=tenant)
    rows = (_row(run, m, recommended) for m in qs.iterator(chunk_size=2000))
    return f"Reconciliation #{run.pk}", HEADERS, rows, qs.count()


register(KIND, export_results)

"""The document page's "Reconciliation" panel: what the latest finished reconciliation of the document's GSTIN
said about it, with the purchase-register line(s) it was paired with. Registered with ``invoices.panels`` in
``ReconciliationConfig.ready`` (invoices sits below this app)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoices.models import SupplierDocument
from tenancy.models import Tenant

from .domain.matching import OUTCOME_LABELS, Outcome
from .latest import latest_runs
from .models import ReconMatch, ReconRun
from .selectors import reason_list


@dataclass(frozen=True)
class PairRow:
    match: ReconMatch
    label: str
    reasons: list[dict]

    @property
    def tax(self) -> Decimal | None:
        """The register line's total tax (None when the document is alone)."""
        p = self.match.purchase
        return None if p is None else p.igst + p.cgst + p.sgst + p.cess


@dataclass(frozen=True)
class ReconPair:
    run: ReconRun
    rows: list[PairRow]


def _label(outcome: str) -> str:
    try:
        return OUTCOME_LABELS.get(Outcome(outcome), outcome)
    except ValueError:
        return outcome


def recon_pair(*, tenant: Tenant, document: SupplierDocument) -> ReconPair | None:
    """The result rows of ``document`` in its GSTIN's latest finished run (None when no run has finished)."""
    run = latest_runs(tenant=tenant, registration_ids=[document.registration_id]).by_registration.get(
        document.registration_id
    )
    if run is None:
        return None
    matches = (
        ReconMatch.objects.filter(tenant=tenant, run=run, document_id=document.pk)
        .select_related("purchase")
        .order_by("id")[:20]
    )
    return ReconPair(run=run, rows=[PairRow(m, _label(m.outcome), reason_list(m)) for m in matches])


def pair_panel(*, tenant, document) -> dict:
    """Template context ``recon_pair`` for the document page."""
    return {"recon_pair": recon_pair(tenant=tenant, document=document)}

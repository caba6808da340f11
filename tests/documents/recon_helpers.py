"""Documents and purchase-register lines with known reconciliation outcomes, reconciled as the worker would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from audit.services import Actor
from reconciliation import services as recon
from reconciliation.engine import execute_run
from reconciliation.models import ReconRun
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, make_doc

OCT = dt.date(2025, 10, 1)


def as_user(tenant, user) -> dict:
    return {
        "tenant": tenant,
        "actor": Actor.user(user),
        "user": user,
        "membership": Membership.objects.get(tenant=tenant, user=user),
    }


def line(reg, number, *, taxable="10000.00", half_tax="900.00") -> dict:
    """A register line of an intra-state purchase (CGST = SGST = ``half_tax``) dated 05-10-2025."""
    return {
        "recipient_gstin": reg.gstin,
        "supplier_gstin": SUPPLIER_1,
        "kind": "Invoice",
        "doc_number": number,
        "doc_date": "05-10-2025",
        "taxable": taxable,
        "cgst": half_tax,
        "sgst": half_tax,
        "erp_ref": f"PV-{reg.pk}-{number}",
    }


def doc(reg, number, taxable="10000.00", **fields):
    half = (Decimal(taxable) * Decimal("0.09")).quantize(Decimal("0.01"))
    return make_doc(
        reg,
        doc_number=number,
        twob_period=OCT,
        taxable_value=taxable,
        igst=Decimal("0"),
        cgst=half,
        sgst=half,
        **fields,
    )


def upsert(tenant, user, lines) -> None:
    with tenant_scope(tenant):
        status, body = recon.upsert_lines(**as_user(tenant, user), lines=lines, idempotency_key=None)
    assert status == 200, body.get("errors")


def books(tenant, user, reg) -> dict:
    """Documents of ``reg`` and register lines giving: EXACT and BIGEXACT exact, TOL within tolerance, MISM a
    mismatch, NOBOOK missing in the register (books)."""
    docs = {n: doc(reg, n) for n in ("EXACT", "TOL", "MISM", "NOBOOK")}
    docs["BIGEXACT"] = doc(reg, "BIGEXACT", taxable="100000.00")
    upsert(
        tenant,
        user,
        [
            line(reg, "EXACT"),
            line(reg, "TOL", half_tax="899.70"),
            line(reg, "MISM", taxable="12000"),
            line(reg, "BIGEXACT", taxable="100000.00", half_tax="9000.00"),
        ],
    )
    return docs


def reconcile(tenant, user, *regs) -> ReconRun:
    """Start and execute a reconciliation of October 2025 of ``regs`` (as the worker would); no rule hook."""
    with tenant_scope(tenant):
        run = recon.start_run(
            **as_user(tenant, user), registrations=list(regs), date_from=OCT, date_to=dt.date(2025, 10, 31)
        )
    run = execute_run(run_id=run.pk)
    assert run.status == "done", run.error
    return run

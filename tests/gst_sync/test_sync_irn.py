"""A sync from the sandbox portal stores the e-invoice's IRN (``irn``, ``irngendate``) of the documents that carry one:
the sandbox's generated B2B invoices of e-invoicing suppliers do, as the demo's do."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from gst_sync.models import RunStatus
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope

from .conftest import RECIPIENT, doc
from .test_sync_service import connected, recipient, sync  # noqa: F401 - fixtures (connected needs recipient)

pytestmark = pytest.mark.django_db(transaction=False)
IRN = "9a" * 32


def stored(tenant) -> list[SupplierDocument]:
    with tenant_scope(tenant):
        return list(SupplierDocument.objects.all())


def test_a_synced_record_with_an_irn_stores_it_and_one_without_stores_none(connected, portal, sandbox):  # noqa: F811 - the fixture
    tenant, reg = connected
    sandbox.seed(b2b=[{**doc("E-1"), "irn": IRN, "irngendate": "15-10-2025"}, doc("P-2")])
    assert sync(tenant, reg, portal).status == RunStatus.SUCCEEDED
    docs = {d.doc_number: d for d in stored(tenant)}
    assert (docs["E-1"].irn, docs["E-1"].irn_date) == (IRN, dt.date(2025, 10, 15))
    assert (docs["P-2"].irn, docs["P-2"].irn_date) == (None, None)


def test_the_sandboxs_generated_invoices_of_e_invoicing_suppliers_carry_their_irn(connected, portal, sandbox):  # noqa: F811 - the fixture
    tenant, reg = connected
    sandbox.post("seed", {"gstin": RECIPIENT, "docs": 120, "seed": 5})
    assert sync(tenant, reg, portal, sections=("b2b",)).status == RunStatus.SUCCEEDED
    docs = stored(tenant)
    with_irn = [d for d in docs if d.irn]
    assert with_irn, "no generated invoice carries an IRN"
    assert all(re.fullmatch(r"[0-9a-f]{64}", d.irn) and d.irn_date == d.doc_date for d in with_irn)
    assert len({d.irn for d in with_irn}) == len(with_irn)
    # Not every supplier e-invoices.
    assert any(not d.irn for d in docs if d.section == "b2b")

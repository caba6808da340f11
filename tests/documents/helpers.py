"""Documents for page and API tests, created directly (the ingest path has its own tests)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone

from gst.numbers import normalise_doc_number
from gst.periods import fy_start_year
from gst.sections import SECTIONS, Section
from invoices.models import Supplier, SupplierDocument
from tenancy.scoping import tenant_scope
from tests.factories import gstin_for

_n = itertools.count(1)
SUPPLIER_1 = gstin_for(7001, "27")
SUPPLIER_2 = gstin_for(7002, "29")


def make_doc(registration, **fields) -> SupplierDocument:
    """One document of ``registration`` (tax 18 % of taxable, inter-state IGST unless cgst/sgst are given)."""
    n = next(_n)
    section = fields.pop("section", "b2b")
    date = fields.pop("doc_date", dt.date(2025, 10, 5))
    taxable = Decimal(fields.pop("taxable_value", "10000.00"))
    # Default numbers share no prefix with the numbers tests spell out ("INV/…"), so number searches stay exact.
    number = fields.pop("doc_number", f"TST/{n:05d}")
    now = timezone.now()
    values = {
        "tenant_id": registration.tenant_id,
        "registration": registration,
        "supplier_gstin": SUPPLIER_1,
        "section": section,
        "doc_kind": SECTIONS[Section(section)].kind.value,
        "is_amendment": SECTIONS[Section(section)].amendment,
        "doc_number": number,
        "doc_number_norm": normalise_doc_number(number, fy_start_year(date)),
        "doc_date": date,
        "fy": fy_start_year(date),
        "supplier_period": date.replace(day=1),
        "supplier_filing_status": "filed",
        "pos": "27",
        "doc_value": taxable * Decimal("1.18"),
        "taxable_value": taxable,
        "igst": taxable * Decimal("0.18"),
        "content_hash": f"{n:032x}",
        "first_seen_at": now,
        "last_seen_at": now,
    }
    values.update(fields)
    with tenant_scope(registration.tenant_id):
        return SupplierDocument.objects.create(**values)


def make_supplier(tenant, gstin: str, legal_name: str, trade_name: str = "") -> Supplier:
    with tenant_scope(tenant):
        return Supplier.objects.create(
            tenant=tenant, gstin=gstin, legal_name=legal_name, trade_name=trade_name
        )


def catalogue(reg_a1, reg_a2, reg_b1) -> dict[str, SupplierDocument]:
    """A small set of documents in which each filter picks a known subset."""
    make_supplier(reg_a1.tenant, SUPPLIER_1, "Sharma Textiles Pvt Ltd", "Sharma Textiles")
    make_supplier(reg_a1.tenant, SUPPLIER_2, "Karnataka Steel Works Ltd")
    d = dt.date
    gone = timezone.now()
    return {
        "oct_b2b": make_doc(reg_a1, doc_date=d(2025, 10, 5)),
        "sep_b2b": make_doc(reg_a1, doc_date=d(2025, 9, 15), portal_action="A", taxable_value="5000.00"),
        "cn": make_doc(
            reg_a1, section="b2bcn", doc_date=d(2025, 10, 10), supplier_gstin=SUPPLIER_2, portal_action="R"
        ),
        "dn": make_doc(
            reg_a1, section="b2bdn", doc_date=d(2025, 10, 11), supplier_gstin=SUPPLIER_2, local_action="A"
        ),
        "local_r": make_doc(reg_a1, doc_date=d(2025, 10, 12), portal_action="A", local_action="R"),
        "not_filed": make_doc(
            reg_a1,
            doc_date=d(2025, 10, 20),
            supplier_gstin=SUPPLIER_2,
            supplier_filing_status="not_filed",
            portal_action="P",
        ),
        "big": make_doc(reg_a1, doc_date=d(2025, 10, 1), taxable_value="1000000.00"),
        "numbered": make_doc(reg_a1, doc_date=d(2025, 10, 3), doc_number="INV/2025-26/0042"),
        "review": make_doc(
            reg_a1, doc_date=d(2025, 10, 4), needs_review=True, local_action="A", portal_action="A"
        ),
        "gone": make_doc(reg_a1, doc_date=d(2025, 10, 2), vanished_at=gone),
        "a2": make_doc(reg_a2, doc_date=d(2025, 10, 6), pos="29"),
        "b": make_doc(reg_b1, doc_date=d(2025, 10, 7), pos="24"),
    }

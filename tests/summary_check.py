"""The maintained document summary (invoices/summary.py) must equal a full scan of the documents after every
kind of write: :func:`assert_summary_is_a_scan` computes the scan with the ORM and compares."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce

from invoices.models import DocSummary, DocSummaryDelta, SupplierDocument
from invoices.summary import summary_rows
from tenancy.scoping import tenant_scope

HEADS = ("igst", "cgst", "sgst", "cess")


def _key(r: dict) -> tuple:
    return (
        r["registration_id"],
        r["section"],
        r["action"],
        r["supplier_period"],
        r["local"],
        int(r["n"]),
    ) + tuple(Decimal(r[h] or 0) for h in HEADS)


def scan(tenant) -> list[tuple]:
    """Current documents of ``tenant`` grouped as the summary groups them, read from the documents table."""
    with tenant_scope(tenant):
        rows = (
            SupplierDocument.objects.filter(tenant=tenant, vanished_at__isnull=True)
            .annotate(
                action=Coalesce(F("local_action"), F("portal_action")),
                local=ExpressionWrapper(Q(local_action__isnull=False), output_field=BooleanField()),
            )
            .values("registration_id", "section", "action", "supplier_period", "local")
            .annotate(n=Count("id"), **{h: Sum(h) for h in HEADS})
            .order_by()
        )
        return sorted(_key(r) for r in rows)


def assert_summary_is_a_scan(tenant) -> None:
    """The summary read (deltas folded on the way) equals the scan, and so do the folded totals alone."""
    want = scan(tenant)
    assert sorted(_key(r) for r in summary_rows(tenant_id=tenant.pk)) == want
    with tenant_scope(tenant):
        assert not DocSummaryDelta.objects.filter(tenant=tenant).exists()  # the read folded them
        folded = DocSummary.objects.filter(tenant=tenant).values(
            "registration_id", "section", "action", "supplier_period", "local", "n", *HEADS
        )
        assert sorted(_key(r) for r in folded) == want  # no group left at zero either


def deltas(tenant) -> int:
    """How many change rows wait to be folded for ``tenant``."""
    with tenant_scope(tenant):
        return DocSummaryDelta.objects.filter(tenant=tenant).count()

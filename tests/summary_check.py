"""The maintained document summary (invoices/summary.py) must equal a full scan of the documents after every
kind of write: :func:`assert_summary_is_a_scan` reads every document with the ORM, groups them in Python (the GSTR-2B
month of a one-period Pending limit from the placement's own rules, ``returns.twob.twob_month``) and compares."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

from gst.rule_data import DEFAULT_RULES
from invoices.models import DocSummary, DocSummaryDelta, SupplierDocument
from invoices.summary import summary_rows
from returns.twob import twob_month
from tenancy.models import Registration
from tenancy.scoping import tenant_scope

HEADS = ("igst", "cgst", "sgst", "cess")
GROUP = ("registration_id", "section", "action", "supplier_period", "local", "limit_month")
# Sections whose pending documents may carry the one-period limit (credit notes; amendments, by their original).
LIMIT_SECTIONS = frozenset(s.value for row in DEFAULT_RULES.pending_restricted for s in row.sections)


def _key(r: dict) -> tuple:
    return tuple(r[k] for k in GROUP) + (int(r["n"]),) + tuple(Decimal(r[h] or 0) for h in HEADS)


def limit_month(doc: SupplierDocument, state: str):
    """The GSTR-2B month of the document's one-period Pending limit as the summary keeps it, or None."""
    if (
        doc.effective_action != "P"
        or doc.supplier_filing_status != "filed"
        or doc.section not in LIMIT_SECTIONS
        or doc.itc_eligible == "N"
        or (doc.pos and doc.supplier_gstin[:2] == doc.pos and doc.pos != state)
    ):
        return None
    month, _why = twob_month(
        SimpleNamespace(
            filed=True,
            twob_period=doc.twob_period,
            filing_date=doc.supplier_filing_date,
            src_form=doc.src_form,
            supplier_period=doc.supplier_period,
        )
    )
    return month if month >= DEFAULT_RULES.pending_one_period_from else None


def scan(tenant) -> list[tuple]:
    """Current documents of ``tenant`` grouped as the summary groups them, read from the documents table."""
    with tenant_scope(tenant):
        states = dict(Registration.objects.filter(tenant=tenant).values_list("pk", "state_code"))
        groups: dict[tuple, dict] = defaultdict(lambda: {"n": 0, **{h: Decimal(0) for h in HEADS}})
        for doc in SupplierDocument.objects.filter(tenant=tenant, vanished_at__isnull=True).iterator():
            key = (
                doc.registration_id,
                doc.section,
                doc.effective_action,
                doc.supplier_period,
                doc.local_action is not None,
                limit_month(doc, states[doc.registration_id]),
            )
            g = groups[key]
            g["n"] += 1
            for h in HEADS:
                g[h] += getattr(doc, h)
        return sorted(_key({**dict(zip(GROUP, k, strict=True)), **g}) for k, g in groups.items())


def assert_summary_is_a_scan(tenant) -> None:
    """The summary read (deltas folded on the way) equals the scan, and so do the folded totals alone."""
    want = scan(tenant)
    assert sorted(_key(r) for r in summary_rows(tenant_id=tenant.pk)) == want
    with tenant_scope(tenant):
        assert not DocSummaryDelta.objects.filter(tenant=tenant).exists()  # the read folded them
        folded = DocSummary.objects.filter(tenant=tenant).values(*GROUP, "n", *HEADS)
        assert sorted(_key(r) for r in folded) == want  # no group left at zero either


def deltas(tenant) -> int:
    """How many change rows wait to be folded for ``tenant``."""
    with tenant_scope(tenant):
        return DocSummaryDelta.objects.filter(tenant=tenant).count()

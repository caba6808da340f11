"""Documents that move between 2B periods or change part with time (docs/rules/gstr2b.md §2, §4, §5), through
the preview service: pending documents carried past a filed GSTR-3B, specified records pending past their
one-period limit deemed accepted. Rule 37A's reversal (itcrev) is in tests/returns/test_rule37a.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import services
from returns.models import Gstr3bFiling
from tenancy.scoping import tenant_scope
from tests import factories

OCT, NOV, DEC = dt.date(2025, 10, 1), dt.date(2025, 11, 1), dt.date(2025, 12, 1)
KA = "29AAJFY9012N1ZE"  # inter-state supplier: IGST 1,800 on 10,000


def ingest(tenant, reg, records):
    with tenant_scope(tenant):
        assert not ingest_documents(
            tenant=tenant, registration=reg, records=records, actor=factories.SYSTEM, source="demo"
        ).errors


def build(tenant, reg, period):
    with tenant_scope(tenant):
        return services.build_preview(tenant=tenant, actor=factories.SYSTEM, registration=reg, period=period)


def file_3b(tenant, reg, period, on):
    with tenant_scope(tenant):
        Gstr3bFiling.objects.create(tenant=tenant, registration=reg, period=period, filed_on=on)


def act(tenant, number, action, when):
    """A local action taken on ``when`` (what the action service stores)."""
    with tenant_scope(tenant):
        SupplierDocument.objects.filter(doc_number=number).update(
            local_action=action, local_updated_at=dt.datetime.combine(when, dt.time(11, 0), tzinfo=dt.UTC)
        )


def itc(snap, part="itcavl", group="nonrevsup"):
    return Decimal(snap.summary["itcsumm"].get(part, {}).get(group, {}).get("igst", "0"))


@pytest.fixture
def october(tenant_a, reg_a1):
    """Three October invoices (IGST 1,800 each): accepted, pending, and pending then accepted after the filing."""
    ingest(
        tenant_a,
        reg_a1,
        {
            "b2b": [
                factories.document_record(supplier_gstin=KA, number="ACC-1", action="A"),
                factories.document_record(supplier_gstin=KA, number="PEND-1", action="P"),
                factories.document_record(supplier_gstin=KA, number="LATE-1", action="P"),
            ]
        },
    )
    return reg_a1


@time_machine.travel(dt.datetime(2025, 11, 25, 12, 0, tzinfo=dt.UTC))
def test_pending_documents_are_carried_to_the_next_open_period_once_the_3b_is_filed(tenant_a, october):
    before = build(tenant_a, october, OCT)
    assert before.summary["counts"]["pending"] == 2
    assert itc(before) == Decimal("1800.00")

    file_3b(tenant_a, october, OCT, dt.date(2025, 11, 20))
    act(tenant_a, "LATE-1", "A", dt.date(2025, 11, 24))  # accepted after the October 3B: it was pending then

    oct_after, nov = build(tenant_a, october, OCT), build(tenant_a, october, NOV)
    # October keeps what was settled at its filing; both documents pending then moved on to November
    assert itc(oct_after) == Decimal("1800.00")
    assert oct_after.summary["counts"]["pending"] == 0
    assert nov.summary["counts"]["pending"] == 1  # PEND-1, still pending
    assert itc(nov) == Decimal("1800.00")  # LATE-1, accepted in November's 2B
    with tenant_scope(tenant_a):
        placed = services.compute(registration=october, period=NOV)[3]
        placed.prefetch(list(placed))
        whys = sorted(placed[i].why for i in placed)
    assert all("carried forward from 102025" in w for w in whys)
    left = {x["id"]: x["why"] for x in oct_after.diff["left"]}
    assert len(left) == 2
    assert all("now in the 2B of 112025" in w for w in left.values())


@time_machine.travel(dt.datetime(2025, 12, 25, 12, 0, tzinfo=dt.UTC))
def test_a_document_pending_through_two_filings_reaches_the_first_period_still_open(tenant_a, october):
    file_3b(tenant_a, october, OCT, dt.date(2025, 11, 20))
    file_3b(tenant_a, october, NOV, dt.date(2025, 12, 20))
    act(tenant_a, "LATE-1", "A", dt.date(2025, 12, 1))  # accepted between the two filings: November's 2B
    nov, dec = build(tenant_a, october, NOV), build(tenant_a, october, DEC)
    assert itc(nov) == Decimal("1800.00")
    assert nov.summary["counts"]["pending"] == 0
    assert dec.summary["counts"]["pending"] == 1
    assert itc(dec) == Decimal("0")


def test_an_action_on_the_filing_day_counts_as_before_the_filing(tenant_a, october):
    file_3b(tenant_a, october, OCT, dt.date(2025, 11, 20))
    act(tenant_a, "LATE-1", "A", dt.date(2025, 11, 20))
    with time_machine.travel(dt.datetime(2025, 11, 25, tzinfo=dt.UTC)):
        assert itc(build(tenant_a, october, OCT)) == Decimal("3600.00")


@pytest.fixture
def pending_credit_note(tenant_a, reg_a1):
    """An October-2025 credit note (full reduction of IGST 900) kept pending: limit = November's 3B due date."""
    ingest(
        tenant_a,
        reg_a1,
        {
            "b2bcn": [
                factories.document_record(
                    supplier_gstin=KA, section="b2bcn", number="CN-9", taxable=Decimal("5000.00"), action="P"
                )
            ]
        },
    )
    return reg_a1


@pytest.mark.parametrize(("today", "part"), [((2025, 12, 20), "pending"), ((2025, 12, 21), "itcavl")])
def test_a_credit_note_pending_past_its_one_period_limit_is_deemed_accepted(
    tenant_a, pending_credit_note, today, part
):
    with time_machine.travel(dt.datetime(*today, 12, 0, tzinfo=dt.UTC)):
        snap = build(tenant_a, pending_credit_note, OCT)  # October 3B not filed: still October's 2B
        with tenant_scope(tenant_a):
            placed = services.compute(registration=pending_credit_note, period=OCT)[3]
            why = placed[next(iter(placed))].why
    assert snap.summary["counts"][part] == 1
    if part == "itcavl":
        assert itc(snap, group="othersup") == Decimal("900.00")  # reduces ITC: a full reversal
        assert "pending past its one-period limit (20-12-2025): deemed accepted" in why


def test_a_credit_note_pending_through_the_october_filing_is_deemed_accepted_in_the_open_period(
    tenant_a, pending_credit_note
):
    file_3b(tenant_a, pending_credit_note, OCT, dt.date(2025, 11, 20))
    with time_machine.travel(dt.datetime(2025, 12, 22, tzinfo=dt.UTC)):
        nov = build(tenant_a, pending_credit_note, NOV)  # November 3B not filed by the limit: November's 2B
    assert nov.summary["counts"]["itcavl"] == 1
    assert itc(nov, group="othersup") == Decimal("900.00")
    file_3b(tenant_a, pending_credit_note, NOV, dt.date(2025, 12, 19))
    with time_machine.travel(dt.datetime(2025, 12, 22, tzinfo=dt.UTC)):
        dec = build(tenant_a, pending_credit_note, DEC)  # still pending at November's filing: December's 2B
    assert dec.summary["counts"]["itcavl"] == 1


def test_an_invoice_kept_pending_has_no_one_period_limit(tenant_a, october):
    with time_machine.travel(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)):
        assert build(tenant_a, october, OCT).summary["counts"]["pending"] == 2

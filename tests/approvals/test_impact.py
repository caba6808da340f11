"""The impact preview as a pure function: golden cases for the draft 2B change, supplier add-backs and warnings."""

import datetime as dt
from decimal import Decimal as D

from approvals.impact import NOT_IN_2B, PERIOD_FILED, UNDO_VIA_SUPPLIER, Line, Side, compute, heads

OCT = dt.date(2025, 10, 1)
NOV = dt.date(2025, 11, 1)
R1 = "27AAACA0001A1Z5"
S1, S2 = "29AABCS1234A1Z1", "27AABCT9999B1Z2"


def line(section="b2b", before="N", after="R", tax=("1800.00", "0", "0", "0"), **kw):
    kw.setdefault("period", OCT)
    b = before if isinstance(before, Side) else Side(before)
    a = after if isinstance(after, Side) else Side(after)
    return Line(
        gstin=kw.pop("gstin", R1),
        section=section,
        supplier_gstin=kw.pop("supplier", S1),
        tax=heads(*tax),
        before=b,
        after=a,
        **kw,
    )


def test_rejecting_invoices_moves_their_tax_from_available_to_rejected():
    impact = compute([line(count=2, tax=("3600.00", "0", "0", "10.00"))])
    [p] = impact.periods
    assert (p.gstin, p.period, p.documents) == (R1, OCT, 2)
    assert p.buckets["available"].delta == heads("-3600.00", "0", "0", "-10.00")
    assert p.buckets["rejected"].delta == heads("3600.00", "0", "0", "10.00")
    assert p.buckets["pending"].delta == heads()
    assert impact.suppliers == []


def test_accepting_a_no_action_invoice_changes_nothing_in_2b_because_no_action_is_deemed_accepted():
    [p] = compute([line(before="N", after="A")]).periods
    assert all(c.delta == heads() for c in p.buckets.values())
    assert p.buckets["available"].after == heads("1800.00", "0", "0", "0")


def test_pending_defers_the_itc_out_of_the_period():
    [p] = compute([line(before="A", after="P", tax=("0", "900.00", "900.00", "0"))]).periods
    assert p.buckets["available"].delta == heads("0", "-900.00", "-900.00", "0")
    assert p.buckets["pending"].delta == heads("0", "900.00", "900.00", "0")


def test_rejecting_a_credit_note_restores_itc_and_adds_liability_back_to_the_supplier():
    impact = compute(
        [line(section="b2bcn", before="N", after="R", tax=("500.00", "0", "0", "0"), supplier=S2)]
    )
    [p] = impact.periods
    # Deemed accepted, the credit note reduced ITC by 500; rejected, the reduction leaves the available ITC.
    assert p.buckets["available"].before == heads("-500.00", "0", "0", "0")
    assert p.buckets["available"].delta == heads("500.00", "0", "0", "0")
    assert p.buckets["rejected"].after == heads("-500.00", "0", "0", "0")
    [s] = impact.suppliers
    assert (s.gstin, s.credit_notes, s.delta_total) == (S2, 1, D("500.00"))


def test_accepting_a_rejected_credit_note_removes_the_supplier_add_back():
    [s] = compute([line(section="b2bcna", before="R", after="A", tax=("0", "50.00", "50.00", "0"))]).suppliers
    assert s.delta == heads("0", "-50.00", "-50.00", "0")


def test_an_accepted_credit_note_reduces_itc_by_its_declaration():
    partial = Side("A", "Y", heads("200.00", "0", "0", "0"))
    nil = Side("A", "N")
    full = Side("A", "Y")
    tax = ("500.00", "0", "0", "0")
    [p] = compute([line(section="b2bcn", before="P", after=partial, tax=tax)]).periods
    assert p.buckets["available"].after == heads("-200.00", "0", "0", "0")
    [p] = compute([line(section="b2bcn", before="P", after=nil, tax=tax)]).periods
    assert p.buckets["available"].after == heads()
    [p] = compute([line(section="b2bcn", before="P", after=full, tax=tax)]).periods
    assert p.buckets["available"].after == heads("-500.00", "0", "0", "0")


def test_periods_and_gstins_are_kept_apart_and_sorted():
    impact = compute([line(period=NOV), line(period=OCT), line(period=OCT, gstin="29AAACA0001A1Z1")])
    assert [(p.gstin, p.period) for p in impact.periods] == [
        ("27AAACA0001A1Z5", OCT),
        ("27AAACA0001A1Z5", NOV),
        ("29AAACA0001A1Z1", OCT),
    ]


def test_rejection_warns_it_can_only_be_undone_through_the_supplier_after_3b():
    impact = compute([line(count=3), line(before="A", after="P")])
    [w] = impact.warnings
    assert (w.code, w.count, w.periods) == (UNDO_VIA_SUPPLIER, 3, ["10-2025"])
    assert "supplier" in w.message


def test_change_in_a_period_whose_3b_is_filed_is_warned_separately():
    impact = compute([line(gstr3b_filed=True), line(before="A", after="P", gstr3b_filed=True)])
    [w] = impact.warnings
    assert (w.code, w.count) == (PERIOD_FILED, 2)


def test_documents_of_a_supplier_who_has_not_filed_change_no_draft_2b():
    impact = compute([line(period=None, count=4)])
    assert impact.periods == []
    assert impact.documents == 4
    assert [w.code for w in impact.warnings] == [NOT_IN_2B]


def test_as_json_gives_amounts_as_strings_and_periods_as_mmyyyy():
    out = compute([line(section="b2bcn")]).as_json()
    assert out["periods"][0]["period"] == "102025"
    assert out["periods"][0]["buckets"]["available"]["delta"]["igst"] == "1800.00"
    assert out["suppliers"][0]["delta"]["igst"] == "1800.00"

"""Placement of documents in the GSTR-2B preview (returns/twob.py, pure): cut-offs, actions, declarations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from returns.twob import Doc, Part, Recipient, Summary, build_summary, official_json, place, twob_month

ME = Recipient("27AAICZ1234Q1ZQ", "27", "M")
QRMP = Recipient("27AAICZ1234Q1ZQ", "27", "Q")
SUP = "29AAJFY9012N1ZE"  # Karnataka: inter-state, IGST


def doc(section="b2b", *, filed_on=None, period=dt.date(2025, 10, 1), action="N", igst="1800", **kw):
    base = dict(
        section=section,
        supplier_gstin=SUP,
        doc_number="X-1",
        doc_date=dt.date(2025, 10, 5),
        supplier_period=period,
        filed=True,
        pos="27",
        doc_value=D("11800"),
        taxable_value=D("10000"),
        igst=D(igst),
        action=action,
        filing_date=filed_on,
        id=1,
    )
    base.update(kw)
    return Doc(**base)


@pytest.mark.parametrize(
    ("filed_on", "month"),
    [
        (dt.date(2025, 11, 11), dt.date(2025, 10, 1)),
        (dt.date(2025, 11, 12), dt.date(2025, 11, 1)),
        (dt.date(2025, 10, 12), dt.date(2025, 10, 1)),
    ],
)
def test_monthly_filer_cut_off_is_the_11th(filed_on, month):
    assert twob_month(doc(filed_on=filed_on))[0] == month


@pytest.mark.parametrize(
    ("filed_on", "month"),
    [
        (dt.date(2025, 11, 13), dt.date(2025, 10, 1)),
        (dt.date(2025, 11, 14), dt.date(2025, 11, 1)),
    ],
)
def test_iff_filer_cut_off_is_the_13th(filed_on, month):
    assert twob_month(doc(filed_on=filed_on, src_form="IFF"))[0] == month


def test_a_document_filed_late_moves_into_the_later_period_whatever_its_date():
    late = doc(filed_on=dt.date(2025, 12, 3))
    p = place(late, ME)
    assert p.period == dt.date(2025, 11, 1)
    assert p.part == Part.AVAILABLE
    summary, kept = build_summary([late], ME, dt.date(2025, 10, 1))
    assert kept == []
    assert summary.itcsumm() == {}


def test_portal_given_2b_period_wins_over_the_filing_date():
    assert place(doc(filed_on=dt.date(2025, 11, 5), twob_period=dt.date(2025, 11, 1)), ME).period == dt.date(
        2025, 11, 1
    )


def test_without_a_filing_date_the_suppliers_period_is_assumed():
    assert place(doc(period=dt.date(2025, 9, 1)), ME).period == dt.date(2025, 9, 1)


def test_qrmp_recipient_gets_the_quarter_named_by_its_last_month():
    for filed_on in (dt.date(2025, 10, 20), dt.date(2025, 11, 30), dt.date(2026, 1, 11)):
        assert place(doc(filed_on=filed_on), QRMP).period == dt.date(2025, 12, 1)
    assert place(doc(filed_on=dt.date(2026, 1, 12)), QRMP).period == dt.date(2026, 3, 1)
    assert place(doc(filed_on=dt.date(2025, 10, 11), period=dt.date(2025, 9, 1)), QRMP).period == dt.date(
        2025, 9, 1
    )


def test_actions_decide_the_part():
    assert place(doc(action="A"), ME).part == Part.AVAILABLE
    assert place(doc(action="N"), ME).part == Part.AVAILABLE  # deemed accepted
    assert "deemed" in place(doc(action="N"), ME).why
    assert place(doc(action="R"), ME).part == Part.REJECTED
    assert place(doc(action="P"), ME).part == Part.PENDING
    assert place(doc(filed=False), ME).part == Part.NOT_FILED
    assert place(doc(filed=False), ME).period is None


def test_pending_and_rejected_are_kept_out_of_itc_available():
    docs = [doc(action="A", id=1), doc(action="P", id=2, igst="500"), doc(action="R", id=3, igst="700")]
    summary, _ = build_summary(docs, ME, dt.date(2025, 10, 1))
    s = summary.itcsumm()
    assert s["itcavl"]["nonrevsup"]["igst"] == D("1800")
    assert s["itcRejected"]["nonrevsup"]["b2b"]["igst"] == D("700")
    assert summary.counts["pending"] == 1


def test_pos_ineligible_document_is_not_available_with_reason_p_whatever_its_action():
    p = place(doc(supplier_gstin="29AAJFY9012N1ZE", pos="29", action="R"), ME)
    assert (p.part, p.reason) == (Part.UNAVAILABLE, "P")


def test_document_filed_after_the_section_16_4_date_is_not_available_with_reason_c():
    old = doc(doc_date=dt.date(2024, 2, 10), period=dt.date(2024, 2, 1), filed_on=dt.date(2024, 12, 5))
    p = place(old, ME)
    assert (p.part, p.reason) == (Part.UNAVAILABLE, "C")
    in_time = doc(doc_date=dt.date(2024, 2, 10), period=dt.date(2024, 2, 1), filed_on=dt.date(2024, 11, 30))
    assert place(in_time, ME).part == Part.AVAILABLE


def test_amendment_takes_the_section_16_4_date_of_its_original():
    amended = doc(
        "b2ba",
        doc_date=dt.date(2025, 5, 2),
        orig_doc_date=dt.date(2024, 3, 1),
        orig_doc_number="X-0",
        period=dt.date(2025, 12, 1),
        filed_on=dt.date(2025, 12, 5),
    )
    assert place(amended, ME).reason == "C"


def cn(**kw):
    kw.setdefault("action", "A")
    return doc("b2bcn", igst="0", cgst=D("900"), sgst=D("900"), supplier_gstin="27AAFCX5678M1ZF", **kw)


@pytest.mark.parametrize(
    ("flag", "decl", "expected"),
    [
        ("", (None, None, None, None), (D("0"), D("900"), D("900"), D("0"))),  # not declared: full
        ("Y", (None, None, None, None), (D("0"), D("900"), D("900"), D("0"))),  # Y without amounts: full
        ("Y", (None, D("300"), D("300"), None), (D("0"), D("300"), D("300"), D("0"))),  # partial
        ("N", (None, None, None, None), (D("0"), D("0"), D("0"), D("0"))),  # nil
    ],
)
def test_credit_note_reduces_itc_by_the_declared_amount(flag, decl, expected):
    p = place(cn(itc_red_req=flag, decl=decl), ME)
    assert (p.group, p.twob_section, p.itc) == ("othersup", "cdnr", expected)
    summary = Summary()
    summary.add(cn(itc_red_req=flag, decl=decl), p)
    assert summary.itcsumm()["itcavl"]["othersup"]["cgst"] == expected[1]
    assert summary.cpsumm()["cdnr"][0]["cgst"] == D("900")  # counter-party summary shows the document


def test_rejected_credit_note_is_in_itc_rejected_with_its_full_tax():
    p = place(cn(action="R", itc_red_req="N"), ME)
    assert (p.part, p.group, p.itc[1]) == (Part.REJECTED, "othersup", D("900"))


def test_amendments_and_debit_notes_land_in_their_sections():
    assert place(doc("b2ba", orig_doc_number="X-0"), ME).twob_section == "b2ba"
    assert (place(doc("b2bdn"), ME).group, place(doc("b2bdn"), ME).twob_section) == ("nonrevsup", "cdnr")
    assert place(doc("b2bdna"), ME).twob_section == "cdnra"
    assert (place(cn(), ME).group, place(doc("b2bcna", igst="10"), ME).group) == ("othersup", "othersup")
    assert place(doc("ecoma"), ME).twob_section == "ecoma"


def test_official_json_nests_documents_by_section_and_supplier():
    docs = [
        doc(action="A", id=1),
        doc("b2bdn", id=2, doc_number="DN-1"),
        doc(action="R", id=3, doc_number="R-1"),
        doc("b2ba", id=4, orig_doc_number="X-0", orig_doc_date=dt.date(2025, 9, 1)),
    ]
    summary, kept = build_summary(docs, ME, dt.date(2025, 10, 1))
    data = official_json(ME, dt.date(2025, 10, 1), summary, kept, generated=dt.date(2025, 11, 14))
    assert data["rtnprd"] == "102025"
    assert data["gendt"] == "14-11-2025"
    assert [i["inum"] for i in data["docdata"]["b2b"][0]["inv"]] == ["X-1"]
    assert data["docdata"]["cdnr"][0]["nt"][0]["typ"] == "D"
    assert data["docdata"]["b2ba"][0]["inv"][0]["oinum"] == "X-0"
    assert [i["inum"] for i in data["docRejdata"]["b2b"][0]["inv"]] == ["R-1"]

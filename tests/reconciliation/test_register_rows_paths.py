"""The register row checker's fast path (memoised values seen before) says exactly what its careful path says, for
rows that are clean, flagged or refused. Pure: no database."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.domain.register_rows import FIELDS, RowChecker, parse_date
from tests.factories import gstin_for

RECIPIENT = gstin_for(9101, "27")
INTRA, INTER = gstin_for(9102, "27"), gstin_for(9103, "29")
BAD_CHECK = INTER[:-1] + ("A" if INTER[-1] != "A" else "B")
CELLS = {
    "recipient_gstin": [RECIPIENT, None, "", gstin_for(9104, "07")],
    "supplier_gstin": [INTRA, INTER, BAD_CHECK, "27ABC", None],
    "kind": ["Invoice", "CN", "Debit Note", "Barter"],
    "doc_number": ["INV/1", "INV/2025-26/000042", "A B", 42, ""],
    "doc_date": ["05-10-2025", dt.date(2025, 10, 5), 45935, "31-02-2025", "05-10-2099", "05-10-2016"],
    "taxable": ["10000", 10000.0, "1,00,000.50", "-500", "abc", Decimal("10000")],
    "igst": ["1800", "0", None, 1800.0],
    "cgst": ["900", "0", None, "905"],
    "sgst": ["900", "0", None],
    "cess": [None, "0", "12.5"],
    "pos": [None, "27", "29-Karnataka", "Atlantis"],
    "reverse_charge": [None, "Y", "N", "maybe"],
    "erp_ref": [None, "PV-1", "x" * 101],
    "period_booked": [None, "102025", "092025", "13x"],
    "itc_claimed": [None, "Y", "N"],
    "supply_type": [None, "Regular", "SEZWP", "Deemed Exp", "RCM", "Import of goods", "Barter"],
    "irn": [None, "a" * 64, "XYZ"],
    "posting_date": [None, "06-10-2025", "01-10-2025", "never"],
    "exempt_value": [None, "500", "1,000"],
    "boe_number": [None, "1234567"],
    "boe_date": [None, "03-10-2025"],
    "port_code": [None, "INMAA1"],
}
rows = st.tuples(*(st.sampled_from(CELLS[f]) for f in FIELDS))


@settings(max_examples=300, deadline=None)
@given(rows)
def test_the_fast_path_agrees_with_the_careful_path(row):
    recipients = {RECIPIENT: 1}
    checker = RowChecker(recipients, today=dt.date(2025, 12, 1), default_recipient=RECIPIENT, source="r.csv")
    careful = checker.check(list(row), 7)  # first sight of every value: the careful path
    fast = checker.check(list(row), 7)  # the same values again: the memos, the fast path where it applies
    fresh = RowChecker(recipients, today=dt.date(2025, 12, 1), default_recipient=RECIPIENT, source="r.csv")
    assert fast == careful == fresh.check(list(row), 7)


@pytest.mark.parametrize(
    "cell,message",
    [
        ("31-02-2026", "is not a date: no such day in that month"),
        ("32.10.2026", "is not a date: no such day in that month"),
        ("05-13-2026", "is not a date: no such month"),
        ("next week", "must be a date DD-MM-YYYY"),
    ],
)
def test_a_date_cell_that_is_none_says_why(cell, message):
    """Written as a date but no such day is told apart from text that is no date at all."""
    with pytest.raises(ValueError, match=message):
        parse_date(cell)

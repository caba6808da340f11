"""gst.labels: the portal's codes in the words people read."""

from __future__ import annotations

import pytest

from gst import labels
from gst.sections import Section


def test_every_ims_section_has_a_portal_name():
    assert set(labels.SECTION_NAMES) == set(Section)
    assert labels.section_name("b2bcna") == "B2B – Credit notes (amendment)"
    assert labels.section_name("B2BCN") == "B2B – Credit notes"
    assert labels.section_name("xyz") == "XYZ"  # unknown: shown as it is, never hidden


@pytest.mark.parametrize(
    "bucket, words",
    [
        (
            "itcavl/nonrevsup/b2b",
            "ITC Available – Part A – Supplies other than reverse charge – B2B invoices",
        ),
        ("itcavl/othersup/cdnr", "ITC Available – Part B – Others (credit notes) – B2B credit notes"),
        (
            "itcavl/nonrevsup/cdnr",
            "ITC Available – Part A – Supplies other than reverse charge – B2B debit notes",
        ),
        (
            "itcRejected/othersup/isd",
            "ITC Rejected (in IMS) – Part B – Others (credit notes) – ISD credit notes",
        ),
        ("itcavl/isdsup/isd", "ITC Available – Part A – Inward supplies from ISD – ISD invoices"),
        ("itcrev", "ITC Reversal on account of Rule 37A"),
        ("itcavl/imports,itcunavl", "ITC Available – Part A – Import of goods; ITC Not Available"),
    ],
)
def test_2b_buckets_in_the_portals_words(bucket, words):
    assert labels.twob_bucket(bucket) == words


def test_a_2b_document_counts_in_its_group_by_its_type():
    assert labels.twob_group_of("cdnr", {"typ": "C"}) == "othersup"
    assert labels.twob_group_of("cdnra", {"typ": "D"}) == "nonrevsup"
    assert labels.twob_group_of("isd", {"doctyp": "ISDC"}) == "othersup"
    assert labels.twob_group_of("isda", {"doctyp": "ISDI"}) == "isdsup"
    assert labels.twob_group_of("impgsez", {}) == "imports"
    assert labels.twob_group_of("b2b", {}) == "nonrevsup"


@pytest.mark.parametrize(
    "code, words",
    [("27", "27 – Maharashtra"), ("7", "07 – Delhi"), ("97", "97 – Other Territory"), ("", ""), ("XX", "XX")],
)
def test_places_of_supply_carry_the_state_name(code, words):
    assert labels.place_of_supply(code) == words


def test_actions_as_words():
    assert [labels.action_word(c) for c in ("A", "R", "P", "N", None)] == [
        "Accepted",
        "Rejected",
        "Pending",
        "No action",
        "No action",
    ]

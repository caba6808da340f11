"""The pure matcher: golden cases, reason codes and properties."""

import datetime as dt
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.domain.matching import PAIRED, Doc, Outcome, compare, match, number_similarity, similarity
from reconciliation.domain.rules import RuleSet
from tests.factories import gstin_for

G1, G2 = gstin_for(11, "27"), gstin_for(12, "27")
G1_OTHER_STATE = G1.replace("27", "29", 1)[:14]
RULES = RuleSet()
D = dt.date(2025, 10, 5)


def doc(side, id_, number, *, gstin=G1, date=D, taxable="1000", cgst="90", sgst="90", kind="invoice"):
    return Doc(
        id_,
        side,
        "1",
        gstin,
        kind,
        number,
        date,
        Decimal(taxable),
        Decimal("0"),
        Decimal(cgst),
        Decimal(sgst),
        Decimal("0"),
    )


def test_same_number_in_other_spelling_is_exact():
    v = compare(doc("R", 1, "inv-42"), doc("S", 1, "INV/2025-26/0042"), RULES)
    assert v.outcome == Outcome.EXACT
    assert v.similarity == 100


def test_rounding_within_one_rupee_is_within_tolerance_with_the_difference_as_reason():
    v = compare(doc("R", 1, "INV42", cgst="89.20"), doc("S", 1, "INV42"), RULES)
    assert v.outcome == Outcome.TOLERANCE
    assert {"code": "cgst", "value": "0.80", "text": "CGST +0.80"} in v.reasons  # supplier − books


def test_fuzzy_number_with_date_seven_days_later_is_probable_with_reasons():
    v = compare(doc("R", 1, "INV4521A", date=D + dt.timedelta(days=7)), doc("S", 1, "INV4521"), RULES)
    assert v.outcome == Outcome.PROBABLE
    codes = {r["code"]: r["value"] for r in v.reasons}
    assert codes["date"] == -7  # supplier − books
    assert 90 <= codes["number_fuzzy"] < 100


def test_numbers_differing_in_digits_never_pair_even_with_equal_amounts():
    v = compare(doc("R", 1, "INV420"), doc("S", 1, "INV42"), RULES)
    assert v.outcome is None
    assert "numbers too different" in v.blockers[0]
    assert number_similarity("INV420", "INV42") < 90


def test_same_number_with_a_big_amount_difference_is_a_mismatch_naming_the_head():
    v = compare(doc("R", 1, "INV42", taxable="1500"), doc("S", 1, "INV42"), RULES)
    assert v.outcome == Outcome.MISMATCH
    assert v.diffs == {"taxable": Decimal("-500")}  # supplier − books


def test_pan_fallback_pairs_another_registration_of_the_supplier_as_probable():
    other = gstin_for(11, "29")
    v = compare(doc("R", 1, "INV42", gstin=other), doc("S", 1, "INV42"), RULES)
    assert v.outcome == Outcome.PROBABLE
    assert v.pan_fallback
    assert (
        compare(doc("R", 1, "INV42", gstin=other), doc("S", 1, "INV42"), RuleSet(pan_fallback=False)).outcome
        is None
    )


def test_credit_note_booked_negative_matches_the_positive_supplier_note():
    v = compare(
        doc("R", 1, "CN7", taxable="-1000", cgst="-90", sgst="-90", kind="credit_note"),
        doc("S", 1, "CN7", kind="credit_note"),
        RULES,
    )
    assert v.outcome == Outcome.EXACT


def test_across_financial_years_only_behind_the_switch():
    r, s = doc("R", 1, "INV42", date=dt.date(2025, 4, 2)), doc("S", 1, "INV42", date=dt.date(2025, 3, 30))
    assert compare(r, s, RULES).outcome is None
    assert compare(r, s, RuleSet(across_fy=True)).outcome == Outcome.PROBABLE


def test_two_register_lines_summing_to_one_document_form_a_group():
    res = match(
        [
            doc("R", 1, "INV9", taxable="600", cgst="54", sgst="54"),
            doc("R", 2, "INV9", taxable="400", cgst="36", sgst="36"),
        ],
        [doc("S", 1, "INV9")],
        RULES,
    )
    assert [(r.outcome, r.register_ids, r.supplier_ids) for r in res] == [(Outcome.EXACT, (1, 2), (1,))]


def test_a_line_booked_twice_pairs_once_and_the_repeat_is_a_duplicate():
    res = match([doc("R", 1, "INV9"), doc("R", 2, "INV9")], [doc("S", 1, "INV9")], RULES)
    outcomes = sorted((r.outcome.value, r.register_ids) for r in res)
    assert outcomes == [("duplicate", (2,)), ("exact", (1,))]


def test_unmatched_are_missing_on_the_other_side_and_unlinked_pairs_never_pair():
    res = match([doc("R", 1, "INV1")], [doc("S", 1, "INV1")], RULES, forbidden={(1, 1)})
    assert {r.outcome for r in res} == {Outcome.MISSING_IN_SUPPLIER, Outcome.MISSING_IN_REGISTER}


# --- properties --------------------------------------------------------------------------------------------

numbers = st.sampled_from(["INV1", "INV-01", "INV2", "INV12", "INV21", "A/1", "B1", "INV100", "INV1A", "X9"])
amounts = st.sampled_from(["1000", "1000.50", "999.40", "2000"])
gstins = st.sampled_from([G1, G2])
kinds = st.sampled_from(["invoice", "credit_note"])
days = st.integers(min_value=0, max_value=15)


@st.composite
def docs(draw, side):
    n = draw(st.integers(min_value=0, max_value=8))
    return [
        doc(
            side,
            i + 1,
            draw(numbers),
            gstin=draw(gstins),
            date=D + dt.timedelta(days=draw(days)),
            taxable=draw(amounts),
            kind=draw(kinds),
        )
        for i in range(n)
    ]


def _canon(results):
    return sorted((r.outcome.value, r.register_ids, r.supplier_ids, r.similarity) for r in results)


@settings(max_examples=150, deadline=None)
@given(docs("R"), docs("S"), st.randoms(use_true_random=False))
def test_every_document_is_in_exactly_one_result_and_order_does_not_matter(
    register, supplier, rnd: random.Random
):
    res = match(register, supplier, RULES)
    r_ids = [i for r in res for i in r.register_ids]
    s_ids = [i for r in res for i in r.supplier_ids if len(r.register_ids) <= 1]
    grouped_s = {i for r in res if len(r.register_ids) > 1 for i in r.supplier_ids}
    assert sorted(r_ids) == sorted(d.id for d in register)
    assert sorted(s_ids + sorted(grouped_s)) == sorted(d.id for d in supplier)
    shuffled_r, shuffled_s = register[:], supplier[:]
    rnd.shuffle(shuffled_r)
    rnd.shuffle(shuffled_s)
    assert _canon(match(shuffled_r, shuffled_s, RULES)) == _canon(res)


@settings(max_examples=150, deadline=None)
@given(docs("R"), docs("S"))
def test_pairs_always_have_similar_numbers_never_amounts_alone(register, supplier):
    by_r, by_s = {d.id: d for d in register}, {d.id: d for d in supplier}
    for res in match(register, supplier, RULES):
        if res.outcome in PAIRED:
            for rid in res.register_ids:
                for sid in res.supplier_ids:
                    # How alike the numbers are, look-alike characters (O/0, I/1, S/5, B/8, Z/2) read alike.
                    assert similarity(by_r[rid], by_s[sid])[0] >= RULES.fuzzy_threshold

"""The ITC to reduce on a credit note, suggested from the purchase register line the latest reconciliation paired it
with (docs/rules/ims-actions.md §4.4): shown on the document page with where it came from, applied only when a person
applies it."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from audit.services import Actor
from reconciliation import services
from reconciliation.engine import execute_run
from tenancy.scoping import tenant_scope
from tests.actions.conftest import refreshed
from tests.documents.helpers import SUPPLIER_1, make_doc
from tests.reconciliation.test_register_and_engine import as_alice, line, upsert

pytestmark = pytest.mark.django_db
OCT = dt.date(2025, 10, 1)


def credit_note(reg, number="CN/25-26/7", **fields):
    return make_doc(
        reg,
        section="b2bcn",
        doc_number=number,
        supplier_gstin=SUPPLIER_1,
        twob_period=OCT,
        pos="29",
        **fields,
    )


def reconcile(tenant, reg, alice, *lines):
    upsert(tenant, alice, list(lines))
    with tenant_scope(tenant):
        run = services.start_run(
            **as_alice(tenant, alice), registrations=[reg], date_from=OCT, date_to=dt.date(2025, 10, 31)
        )
    return execute_run(run_id=run.pk)


def page(client_for, alice, document) -> str:
    return client_for(alice).get(f"/t/acme/documents/{document.pk}/").content.decode()


def suggestion(html: str) -> str:
    found = re.search(r'<div class="mt-3" id="itc-suggestion">(.*?)</div>', html, re.S)
    return found[1] if found else ""


def test_a_lower_book_value_is_suggested_as_a_partial_reduction(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    assert "partial reduction" in suggestion(page(client_for, alice, note))


def test_the_suggestion_says_which_head_came_from_the_books(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    assert "the book value (lower than the supplier&#x27;s)" in suggestion(page(client_for, alice, note))


def test_the_suggestion_names_the_run_and_the_register_line(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    run = reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    shown = suggestion(page(client_for, alice, note))
    assert f"reconciliation #{run.pk}" in shown
    assert '<span class="mono">CN/25-26/7</span>' in shown


def test_books_within_a_rupee_suggest_the_full_reduction(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1799.40"))
    assert "full reduction" in suggestion(page(client_for, alice, note))


def test_showing_a_suggestion_changes_nothing(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    page(client_for, alice, note)
    assert refreshed(note).local_action is None


def test_a_person_applies_the_suggestion_from_the_page(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    form = re.search(
        r'<form[^>]*id="apply-suggestion-form">(.*?)</form>', page(client_for, alice, note), re.S
    )
    data = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form[1]))
    client_for(alice).post(f"/t/acme/actions/documents/{note.pk}/", data)
    assert refreshed(note).local_decl_igst == Decimal("1000.00")


def test_an_invoice_gets_no_suggestion(tenant_a, reg_a1, alice, client_for):
    invoice = make_doc(reg_a1, doc_number="INV/77", supplier_gstin=SUPPLIER_1, twob_period=OCT, pos="29")
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "INV/77", igst="1000.00"))
    assert 'id="itc-suggestion"' not in page(client_for, alice, invoice)


def test_without_a_reconciliation_there_is_no_suggestion(tenant_a, reg_a1, alice, client_for):
    note = credit_note(reg_a1)
    assert 'id="itc-suggestion"' not in page(client_for, alice, note)


# --- an auto rule that says so applies the suggestion ----------------------------------------------------------


def _rule(tenant, alice, itc_answer):
    from autorules import services as autorules

    with tenant_scope(tenant):
        return autorules.create_rule(
            tenant=tenant,
            actor=Actor.user(alice),
            owner=alice,
            name=f"Accept credit notes ({itc_answer})",
            action="A",
            itc_answer=itc_answer,
            conditions=[{"type": "section", "values": ["b2bcn"]}],
        )


def _run(tenant, alice, rule):
    from autorules import services as autorules

    with tenant_scope(tenant):
        return autorules.run_rule(tenant=tenant, rule=rule, trigger="manual")


def test_a_rule_that_answers_from_the_books_declares_the_suggested_amount(tenant_a, reg_a1, alice):
    paired = credit_note(reg_a1)
    unpaired = credit_note(reg_a1, number="CN/25-26/8")
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    run = _run(tenant_a, alice, _rule(tenant_a, alice, "books"))
    assert run.suggested == 1
    paired, unpaired = refreshed(paired), refreshed(unpaired)
    assert (paired.local_action, paired.local_itc_red_req, paired.local_decl_igst) == (
        "A",
        "Y",
        Decimal("1000.00"),
    )
    assert (unpaired.local_action, unpaired.local_itc_red_req, unpaired.local_decl_igst) == (
        "A",
        "Y",
        None,
    )  # in full


def test_a_rule_answers_yes_in_full_unless_it_says_otherwise(tenant_a, reg_a1, alice):
    note = credit_note(reg_a1)
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "CN/25-26/7", kind="Credit note", igst="1000.00"))
    run = _run(tenant_a, alice, _rule(tenant_a, alice, "Y"))
    assert run.suggested == 0
    assert (refreshed(note).local_itc_red_req, refreshed(note).local_decl_igst) == ("Y", None)


def test_a_rule_may_answer_no(tenant_a, reg_a1, alice):
    note = credit_note(reg_a1)
    _run(tenant_a, alice, _rule(tenant_a, alice, "N"))
    assert (refreshed(note).local_action, refreshed(note).local_itc_red_req) == ("A", "N")


# --- the booking moves the ITC claim period (returns.claims, docs/rules/gstr3b.md §6) ---------------------------


def test_a_document_booked_in_a_later_period_is_claimed_in_that_period(tenant_a, reg_a1, alice):
    from returns import claims

    invoice = make_doc(reg_a1, doc_number="INV/88", supplier_gstin=SUPPLIER_1, twob_period=OCT, pos="29")
    booked = {**line(reg_a1, "INV/88", igst="1800.00"), "posting_date": "03-11-2025"}
    reconcile(tenant_a, reg_a1, alice, booked)
    with tenant_scope(tenant_a):
        claims.refresh_claim_periods(registration=reg_a1, today=dt.date(2025, 11, 20))
    assert refreshed(invoice).itc_claim_period == dt.date(2025, 11, 1)


def test_a_document_booked_in_its_own_period_is_claimed_in_its_2b_period(tenant_a, reg_a1, alice):
    from returns import claims

    invoice = make_doc(reg_a1, doc_number="INV/89", supplier_gstin=SUPPLIER_1, twob_period=OCT, pos="29")
    reconcile(tenant_a, reg_a1, alice, line(reg_a1, "INV/89", igst="1800.00"))
    with tenant_scope(tenant_a):
        claims.refresh_claim_periods(registration=reg_a1, today=dt.date(2025, 11, 20))
    assert refreshed(invoice).itc_claim_period == OCT

"""The audit trail's "Verify the chain" button: the chain check (audit.verify) run from the page, its result in
words; owners and admins only."""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from audit.services import Actor, Event, record_many
from tenancy.scoping import tenant_scope
from tests.audit.test_audit_verify import tamper

pytestmark = pytest.mark.django_db


def add_events(tenant, n: int) -> None:
    with tenant_scope(tenant), transaction.atomic():
        record_many(
            tenant=tenant,
            actor=Actor.system("tests"),
            events=[Event("doc.updated", "invoices.supplierdocument", str(i), f"INV/{i}") for i in range(n)],
        )


def result(response) -> str:
    found = re.search(
        r'<div class="alert[^"]*" id="verify-result"[^>]*>(.*?)</div>', response.content.decode(), re.S
    )
    assert found, "no verification result on the page"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def test_an_intact_chain_is_said_to_be_intact_with_the_count(tenant_a, alice, client_for):
    add_events(tenant_a, 8)  # + tenant.created + membership.created
    response = client_for(alice).post("/t/acme/audit/verify/")  # + account.signed_in
    assert response.status_code == 200
    text = result(response)
    assert text.startswith("The chain is intact. All 11 entries were checked (#1 to #11)")
    assert "IST" in text
    assert 'class="alert alert-success' in response.content.decode()


def test_an_altered_entry_is_named_with_what_it_means(tenant_a, alice, client_for):
    add_events(tenant_a, 8)
    tamper(
        "UPDATE audit_auditevent SET object_repr = 'INV/forged' WHERE tenant_id = %s AND seq = 6",
        [tenant_a.pk],
    )
    response = client_for(alice).post("/t/acme/audit/verify/")
    text = result(response)
    assert text.startswith("The chain is broken at entry #6. Its content no longer matches its fingerprint")
    assert "The 5 entries before it check out." in text
    assert 'class="alert alert-danger' in response.content.decode()


def test_a_removed_entry_is_found(tenant_a, alice, client_for):
    add_events(tenant_a, 8)
    tamper("DELETE FROM audit_auditevent WHERE tenant_id = %s AND seq = 4", [tenant_a.pk])
    text = result(client_for(alice).post("/t/acme/audit/verify/"))
    assert text.startswith(
        "The chain is broken at entry #5. Entries before it are missing: they were removed."
    )


def test_verifying_keeps_the_page_and_its_filters(tenant_a, alice, client_for):
    add_events(tenant_a, 3)
    response = client_for(alice).post("/t/acme/audit/verify/?action=doc.updated")
    html = response.content.decode()
    assert html.count('<td class="num mono">') == 3  # only the filtered events listed under the result
    assert "The chain is intact" in html  # the whole chain is checked whatever the filter


def test_members_who_cannot_read_the_trail_cannot_verify_it(tenant_a, bob, client_for):
    response = client_for(bob).post("/t/acme/audit/verify/")
    assert response.status_code == 403
    assert "verify-result" not in response.content.decode()
    assert client_for(bob).get("/t/acme/audit/verify/").status_code == 405

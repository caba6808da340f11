"""A rule's answer to "Whether ITC needs to be reduced?" (docs/rules/ims-actions.md §4.4), set on the page and in the
API: Y in full (default), N, or as the purchase register suggests."""

from __future__ import annotations

from autorules.models import AutoRule
from tenancy.scoping import tenant_scope

SECTION = [{"type": "section", "values": ["b2bcn"]}]


def test_the_api_takes_the_rules_itc_answer_and_refuses_an_unknown_one(client_for, alice, tenant_a, reg_a1):
    c = client_for(alice)
    base = f"/api/v1/t/{tenant_a.slug}/autorules/"
    created = c.post(
        base,
        {"name": "Credit notes", "action": "A", "itc_answer": "books", "conditions": SECTION},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["itc_answer"] == "books"
    default = c.post(
        base, {"name": "Plain", "action": "A", "conditions": SECTION}, content_type="application/json"
    )
    assert default.json()["itc_answer"] == "Y"
    bad = c.post(
        base,
        {"name": "Bad", "action": "A", "itc_answer": "maybe", "conditions": SECTION},
        content_type="application/json",
    )
    assert bad.status_code == 400


def test_the_rule_form_offers_and_saves_the_answer(client_for, alice, tenant_a, reg_a1):
    c = client_for(alice)
    form = c.get(f"/t/{tenant_a.slug}/autorules/new/")
    assert 'name="itc_answer"' in form.content.decode()
    c.post(
        f"/t/{tenant_a.slug}/autorules/new/",
        {
            "name": "From the books",
            "action": "A",
            "itc_answer": "N",
            "priority": "100",
            "enabled": "on",
            "sections": ["b2bcn"],
        },
    )
    with tenant_scope(tenant_a):
        assert AutoRule.objects.get(name="From the books").itc_answer == "N"

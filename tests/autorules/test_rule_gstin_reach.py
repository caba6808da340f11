"""Auto-rules and per-GSTIN grants (issue #13): a rule is seen, dry-run, run, changed and deleted only by members
who may act on every GSTIN it acts on (its owner's GSTINs), and a run by hand is audited as the person who ran it.
The rule is documented in docs/access.md §2."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import ActorType, AuditEvent
from autorules import services
from autorules.models import AutoRule, AutoRuleRun
from tenancy.scoping import tenant_scope
from tests import factories
from tests.autorules.test_rules import actions, rule
from tests.documents.helpers import make_doc

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme/autorules/"
PAGES = "/t/acme/autorules/"


@pytest.fixture
def docs(reg_a1, reg_a2):
    make_doc(reg_a1, doc_number="SMALL-A1", taxable_value="10000.00")
    make_doc(reg_a2, doc_number="SMALL-A2", pos="29", taxable_value="10000.00")


@pytest.fixture
def amy(tenant_a, reg_a1):
    """An approver granted one GSTIN (reg_a1) of tenant A."""
    user = factories.make_user("amy")
    factories.make_member(tenant_a, user, "approver", gstins=[reg_a1])
    return user


@pytest.fixture
def otto(tenant_a, reg_a1, reg_a2):
    """An approver granted both GSTINs of tenant A."""
    user = factories.make_user("otto")
    factories.make_member(tenant_a, user, "approver", gstins=[reg_a1, reg_a2])
    return user


def login(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_a_rule_spanning_gstins_the_user_lacks_is_hidden_on_the_api(tenant_a, alice, amy, docs):
    wide = rule(tenant_a, alice, name="wide")  # alice (owner) sees reg_a1 and reg_a2
    narrow = rule(tenant_a, amy, name="narrow")
    client = login(amy)
    listed = client.get(API).json()["results"]
    assert [r["name"] for r in listed] == ["narrow"]
    assert client.get(f"{API}{wide.pk}/").status_code == 404
    assert client.get(f"{API}{wide.pk}/dry-run/").status_code == 404
    assert client.get(f"{API}runs/", {"rule": wide.pk}).status_code == 404
    assert client.get(f"{API}{narrow.pk}/dry-run/").status_code == 200


def test_a_rule_spanning_gstins_the_user_lacks_cannot_be_run_changed_or_deleted_on_the_api(
    tenant_a, alice, amy, docs
):
    wide = rule(tenant_a, alice, name="wide")
    client = login(amy)
    run = client.post(f"{API}{wide.pk}/run/")
    assert run.status_code == 403
    assert "GSTIN" in run.json()["message"]
    assert client.delete(f"{API}{wide.pk}/").status_code == 403
    patched = client.patch(f"{API}{wide.pk}/", {"name": "mine now"}, content_type="application/json")
    assert patched.status_code == 403
    with tenant_scope(tenant_a):
        kept = AutoRule.objects.get(pk=wide.pk)
        assert (kept.name, kept.owner_id) == ("wide", alice.pk)
        assert not AutoRuleRun.objects.exists()
    assert actions(tenant_a) == {"SMALL-A1": ("N", None), "SMALL-A2": ("N", None)}


def test_a_rule_spanning_gstins_the_user_lacks_is_hidden_on_the_pages(tenant_a, alice, amy, docs):
    wide = rule(tenant_a, alice, name="wide-rule")
    rule(tenant_a, amy, name="narrow-rule")
    client = login(amy)
    page = client.get(PAGES, {"dry_run": 1}).content.decode()
    assert "narrow-rule" in page
    assert "wide-rule" not in page
    assert client.get(f"{PAGES}{wide.pk}/").status_code == 404
    assert client.post(f"{PAGES}{wide.pk}/run/").status_code == 403
    assert client.post(f"{PAGES}{wide.pk}/delete/").status_code == 403
    assert client.post(f"{PAGES}{wide.pk}/", {"name": "mine"}).status_code == 403
    with tenant_scope(tenant_a):
        assert AutoRule.objects.filter(pk=wide.pk, name="wide-rule").exists()
        assert not AutoRuleRun.objects.exists()
    assert actions(tenant_a)["SMALL-A2"] == ("N", None)


def test_a_member_granted_every_gstin_of_the_rule_may_run_it_and_the_audit_names_them(
    tenant_a, alice, otto, docs
):
    wide = rule(tenant_a, alice, name="wide")
    response = login(otto).post(f"{API}{wide.pk}/run/")
    assert response.status_code == 200
    assert response.json()["applied"] == 2
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="autorule.run")
        assert (event.actor_id, event.actor_label) == (otto.pk, "otto")
        assert event.metadata["rule"] == wide.pk
        assert event.metadata["owner"] == alice.pk
        acted = AuditEvent.objects.filter(action="ims.action_set")
        assert acted.count() == 2
        assert {(e.actor_id, e.actor_label) for e in acted} == {(otto.pk, "otto")}


def test_a_run_by_hand_from_the_page_names_the_runner_not_the_owner(tenant_a, alice, amy, docs):
    narrow = rule(tenant_a, amy, name="narrow")  # amy owns it; alice (owner of the tenant) runs it
    login(alice).post(f"{PAGES}{narrow.pk}/run/")
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="autorule.run")
        assert (event.actor_type, event.actor_id, event.actor_label) == (ActorType.USER, alice.pk, "alice")
    # the rule still acts only on its owner's GSTINs, whoever runs it
    assert actions(tenant_a) == {"SMALL-A1": ("N", "A"), "SMALL-A2": ("N", None)}


def test_runs_after_a_sync_are_still_audited_as_the_rule(tenant_a, alice, docs):
    r = rule(tenant_a, alice)
    with tenant_scope(tenant_a):
        services.run_rules(tenant=tenant_a, trigger="sync")
        event = AuditEvent.objects.get(action="autorule.run")
    assert (event.actor_label, event.actor_id) == (f"autorule:{r.pk}", alice.pk)

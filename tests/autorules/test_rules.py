"""Auto-action rules: conditions as data, dry run, applying through the bulk action as the rule, access rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from autorules import services
from autorules.conditions import ConditionError, normalise, to_filters
from autorules.models import AutoRule, AutoRuleRun
from autorules.selectors import dry_run
from invoices.models import SupplierDocument
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc

UNDER_50K = [{"type": "filing_status", "value": "filed"}, {"type": "value_range", "max": "50000"}]


def rule(tenant, owner, conditions=UNDER_50K, action="A", **kw):
    with tenant_scope(tenant):
        return services.create_rule(
            tenant=tenant,
            actor=Actor.user(owner),
            owner=owner,
            name=kw.pop("name", "r"),
            action=action,
            conditions=conditions,
            **kw,
        )


def actions(tenant):
    with tenant_scope(tenant):
        return {d.doc_number: (d.portal_action, d.local_action) for d in SupplierDocument.objects.all()}


@pytest.fixture
def docs(reg_a1, reg_a2):
    make_doc(reg_a1, doc_number="SMALL", taxable_value="10000.00")
    make_doc(reg_a1, doc_number="BIG", taxable_value="100000.00")
    make_doc(reg_a1, doc_number="NOTFILED", supplier_filing_status="not_filed")
    make_doc(reg_a1, doc_number="DECIDED", local_action="R")
    make_doc(reg_a1, doc_number="ONPORTAL", portal_action="P")
    make_doc(reg_a2, doc_number="OTHERGSTIN", pos="29")


def test_conditions_are_checked_and_each_names_its_field():
    assert normalise([{"type": "value_range", "min": "1,000", "max": 5000}]) == [
        {"type": "value_range", "min": "1000.00", "max": "5000.00"}
    ]
    for bad, field in [
        ([{"type": "reconciliation", "outcomes": ["matched_ish"]}], "reconciliation"),
        ([{"type": "section", "values": ["b2x"]}], "section"),
        ([{"type": "value_range", "min": "9", "max": "1"}], "value_max"),
        ([{"type": "supplier_in", "gstins": ["27AAAAA0000A1Z0"]}], "suppliers"),
        ([{"type": "weather"}], "conditions"),
    ]:
        with pytest.raises(ConditionError) as exc:
            normalise(bad)
        assert exc.value.field == field


def test_conditions_compile_to_the_document_list_filters():
    (data,) = to_filters([{"type": "section", "values": ["b2b"]}, *UNDER_50K], registration_gstin="X")
    assert data == {
        "action": ["N"],
        "pending_push": ["false"],
        "vanished": ["false"],
        "registration": ["X"],
        "section": ["b2b"],
        "filing_status": ["filed"],
        "value_max": ["50000.00"],
    }
    per_supplier = to_filters([{"type": "supplier_in", "gstins": [SUPPLIER_2, SUPPLIER_1]}])
    assert sorted(d["supplier"][0] for d in per_supplier) == sorted([SUPPLIER_1, SUPPLIER_2])


def test_a_rule_needs_a_condition_and_valid_remarks(tenant_a, alice):
    with pytest.raises(services.RuleError) as exc:
        rule(tenant_a, alice, conditions=[])
    assert exc.value.field == "conditions"
    with pytest.raises(services.RuleError):
        rule(tenant_a, alice, remarks="x" * 600, action="R")


def test_dry_run_counts_what_the_rule_would_touch_and_changes_nothing(tenant_a, alice, docs):
    r = rule(tenant_a, alice)
    with tenant_scope(tenant_a):
        result = dry_run(tenant=tenant_a, rule=r)
    assert (result.matched, result.apply, result.refused) == (2, 2, 0)  # SMALL and OTHERGSTIN
    assert actions(tenant_a)["SMALL"] == ("N", None)


def test_running_a_rule_acts_through_the_bulk_action_as_the_rule(tenant_a, alice, docs):
    r = rule(tenant_a, alice)
    with tenant_scope(tenant_a):
        (run,) = services.run_rules(tenant=tenant_a, trigger="manual")
    assert (run.status, run.matched, run.applied) == ("done", 2, 2)
    now = actions(tenant_a)
    assert now["SMALL"] == ("N", "A")
    assert now["OTHERGSTIN"] == ("N", "A")
    assert now["BIG"] == ("N", None)
    assert now["NOTFILED"] == ("N", None)
    assert now["DECIDED"] == ("N", "R")
    assert now["ONPORTAL"] == ("P", None)  # a person's decision stands
    with tenant_scope(tenant_a):
        events = AuditEvent.objects.filter(action="ims.action_set")
        assert {e.actor_label for e in events} == {f"autorule:{r.pk}"}
        assert events.count() == 2
        assert AuditEvent.objects.get(action="autorule.run").metadata["applied"] == 2
        assert AuditEvent.objects.filter(action="ims.bulk_action").count() == 1
        (again,) = services.run_rules(tenant=tenant_a, trigger="manual")
    assert again.status == "nothing"
    assert again.matched == 0


def test_a_rule_naming_suppliers_touches_only_theirs(tenant_a, alice, reg_a1):
    make_doc(reg_a1, doc_number="S1", supplier_gstin=SUPPLIER_1)
    make_doc(reg_a1, doc_number="S2", supplier_gstin=SUPPLIER_2)
    rule(
        tenant_a,
        alice,
        conditions=[{"type": "supplier_in", "gstins": [SUPPLIER_2]}],
        action="R",
        remarks="Blocked supplier",
    )
    with tenant_scope(tenant_a):
        services.run_rules(tenant=tenant_a, trigger="manual")
        s2 = SupplierDocument.objects.get(doc_number="S2")
    assert actions(tenant_a)["S1"] == ("N", None)
    assert (s2.local_action, s2.local_remarks) == ("R", "Blocked supplier")


def test_a_rule_acts_only_on_the_gstins_its_owner_may_see(tenant_a, pat, docs):
    rule(tenant_a, pat)  # pat: preparer granted reg_a1 only
    with tenant_scope(tenant_a):
        services.run_rules(tenant=tenant_a, trigger="manual")
    now = actions(tenant_a)
    assert now["SMALL"] == ("N", "A")
    assert now["OTHERGSTIN"] == ("N", None)


def test_a_rule_whose_owner_may_no_longer_act_is_skipped(tenant_a, alice, docs):
    approver = factories.make_user("appy")
    factories.make_member(tenant_a, approver, "approver", gstins=[])
    rule(tenant_a, approver)
    with tenant_scope(tenant_a):
        Membership.objects.filter(user=approver).update(role="viewer")
        (run,) = services.run_rules(tenant=tenant_a, trigger="manual")
        assert dry_run(tenant=tenant_a, rule=AutoRule.objects.get()).error
    assert run.status == "skipped"
    assert actions(tenant_a)["SMALL"] == ("N", None)


def test_refusals_by_the_ims_rules_are_counted_not_applied(tenant_a, alice, reg_a1):
    make_doc(
        reg_a1, doc_number="CN", section="b2bcn", pending_blocked=True
    )  # the portal blocks Pending on it
    r = rule(tenant_a, alice, conditions=[{"type": "section", "values": ["b2bcn"]}], action="P")
    with tenant_scope(tenant_a):
        preview = dry_run(tenant=tenant_a, rule=r)
        (run,) = services.run_rules(tenant=tenant_a, trigger="manual")
    assert preview.refused == 1
    assert run.refused == 1
    assert run.applied == 0
    assert actions(tenant_a)["CN"] == ("N", None)


def test_disabled_rules_do_not_run(tenant_a, alice, docs):
    rule(tenant_a, alice, enabled=False)
    with tenant_scope(tenant_a):
        assert services.run_rules(tenant=tenant_a, trigger="manual") == []


# --- pages ------------------------------------------------------------------------------------------------------


def test_owner_creates_a_rule_from_the_page_and_sees_its_dry_run(client_for, alice, tenant_a, docs):
    client = client_for(alice)
    response = client.post(
        "/t/acme/autorules/new/",
        {
            "name": "Accept small filed",
            "action": "A",
            "priority": "10",
            "enabled": "on",
            "filing_status": "filed",
            "value_max": "50000",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        r = AutoRule.objects.get()
    assert r.owner_id == alice.pk
    assert r.conditions[1] == {"type": "value_range", "max": "50000.00"}
    page = client.get("/t/acme/autorules/", {"dry_run": "1"})
    assert page.status_code == 200
    assert page.context["rules"][0].dry.apply == 2
    assert actions(tenant_a)["SMALL"] == ("N", None)


def test_the_form_refuses_an_unknown_reconciliation_outcome_and_a_bad_range(client_for, alice, tenant_a):
    response = client_for(alice).post(
        "/t/acme/autorules/new/",
        {
            "name": "x",
            "action": "A",
            "priority": "1",
            "reconciliation": "missing_in_supplier",
            "value_min": "10",
            "value_max": "5",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "not one of the available choices" in " ".join(form.errors["reconciliation"])
    with tenant_scope(tenant_a):
        assert not AutoRule.objects.exists()


def test_run_now_from_the_page_applies_the_rule(client_for, alice, tenant_a, docs):
    r = rule(tenant_a, alice)
    response = client_for(alice).post(f"/t/acme/autorules/{r.pk}/run/", follow=True)
    assert "applied 2" in response.content.decode()
    with tenant_scope(tenant_a):
        assert AutoRuleRun.objects.get().trigger == "manual"


def test_preparers_and_viewers_may_not_manage_rules(client_for, pat, bob, tenant_a, alice):
    r = rule(tenant_a, alice)
    for user in (pat, bob):
        client = client_for(user)
        assert client.get("/t/acme/autorules/").status_code == 403
        assert client.post(f"/t/acme/autorules/{r.pk}/run/").status_code == 403


def test_an_approver_may_manage_rules(client_for, tenant_a):
    approver = factories.make_user("appy")
    factories.make_member(tenant_a, approver, "approver", gstins=[])
    assert client_for(approver).get("/t/acme/autorules/").status_code == 200


def test_rules_of_another_tenant_are_404(client_for, alice, charlie, tenant_a, tenant_b):
    foreign = rule(tenant_b, charlie)
    client = client_for(alice)
    assert client.get(f"/t/acme/autorules/{foreign.pk}/").status_code == 404
    assert client.post(f"/t/acme/autorules/{foreign.pk}/run/").status_code == 404
    assert client.post(f"/t/acme/autorules/{foreign.pk}/delete/").status_code == 404
    assert client_for(charlie).get("/t/acme/autorules/").status_code == 404
    with tenant_scope(tenant_b):
        assert AutoRule.objects.filter(pk=foreign.pk).exists()
        assert not AutoRuleRun.objects.exists()


def test_deleting_a_rule_is_audited(client_for, alice, tenant_a):
    r = rule(tenant_a, alice)
    client_for(alice).post(f"/t/acme/autorules/{r.pk}/delete/")
    with tenant_scope(tenant_a):
        assert not AutoRule.objects.exists()
        assert AuditEvent.objects.get(action="autorule.deleted").changes["name"] == ["r", None]


def test_value_range_uses_decimal_bounds_inclusive(tenant_a, alice, reg_a1):
    make_doc(reg_a1, doc_number="EXACT", taxable_value=str(Decimal("50000.00") / Decimal("1.18")))
    with tenant_scope(tenant_a):
        doc = SupplierDocument.objects.get(doc_number="EXACT")
    r = rule(tenant_a, alice, conditions=[{"type": "value_range", "max": str(doc.doc_value)}])
    with tenant_scope(tenant_a):
        assert dry_run(tenant=tenant_a, rule=r).matched == 1

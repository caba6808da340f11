"""Rules on reconciliation outcomes: they act on what the latest reconciliation of a GSTIN said, after each
reconciliation (the hook) or by hand, through the bulk action, approvals and the audit trail like a person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from audit.services import Actor
from autorules import services
from autorules.conditions import ConditionError, normalise
from autorules.models import AutoRule, AutoRuleRun
from autorules.selectors import dry_run
from invoices.models import DocumentVersion, SupplierDocument
from reconciliation import services as recon
from reconciliation.engine import execute_run
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import SUPPLIER_1, make_doc
from tests.tokens import api_token

OCT = dt.date(2025, 10, 1)
MATCHED_UNDER_50K = [
    {"type": "reconciliation", "outcomes": ["exact", "tolerance"]},
    {"type": "filing_status", "value": "filed"},
    {"type": "value_range", "max": "50000"},
]
MISSING_IN_BOOKS = [{"type": "reconciliation", "outcomes": ["missing_in_register"]}]


def line(reg, number, *, taxable="10000.00", half_tax="900.00", ref=None):
    """A register line of an intra-state purchase (CGST = SGST = ``half_tax``)."""
    return {
        "recipient_gstin": reg.gstin,
        "supplier_gstin": SUPPLIER_1,
        "kind": "Invoice",
        "doc_number": number,
        "doc_date": "05-10-2025",
        "taxable": taxable,
        "cgst": half_tax,
        "sgst": half_tax,
        "erp_ref": ref or f"PV-{number}",
    }


def doc(reg, number, taxable="10000.00"):
    half = (Decimal(taxable) * Decimal("0.09")).quantize(Decimal("0.01"))
    return make_doc(
        reg,
        doc_number=number,
        twob_period=OCT,
        taxable_value=taxable,
        igst=Decimal("0"),
        cgst=half,
        sgst=half,
    )


def as_user(tenant, user):
    return {
        "tenant": tenant,
        "actor": Actor.user(user),
        "user": user,
        "membership": Membership.objects.get(tenant=tenant, user=user),
    }


def make_rule(tenant, owner, conditions, action="A", **kw):
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


def reconcile(tenant, user, reg):
    """Start and execute a reconciliation of October 2025 as the worker would; the run itself calls the rules."""
    with tenant_scope(tenant):
        run = recon.start_run(
            **as_user(tenant, user), registrations=[reg], date_from=OCT, date_to=dt.date(2025, 10, 31)
        )
    run = execute_run(run_id=run.pk)
    assert run.status == "done"
    return run


@pytest.fixture
def books(tenant_a, reg_a1, alice):
    """Documents and register lines giving: EXACT and BIGEXACT exact, TOL within tolerance, MISM mismatch,
    NOBOOK missing in the register (books)."""
    docs = {n: doc(reg_a1, n) for n in ("EXACT", "TOL", "MISM", "NOBOOK")}
    docs["BIGEXACT"] = doc(reg_a1, "BIGEXACT", taxable="100000.00")
    with tenant_scope(tenant_a):
        status, body = recon.upsert_lines(
            **as_user(tenant_a, alice),
            lines=[
                line(reg_a1, "EXACT"),
                line(reg_a1, "TOL", half_tax="899.70"),
                line(reg_a1, "MISM", taxable="12000"),
                line(reg_a1, "BIGEXACT", taxable="100000.00", half_tax="9000.00"),
            ],
            idempotency_key=None,
        )
    assert status == 200, body["errors"]
    return docs


def local(tenant):
    with tenant_scope(tenant):
        return dict(SupplierDocument.objects.values_list("doc_number", "local_action"))


def test_reconciliation_conditions_are_checked_and_groups_expand():
    assert normalise([{"type": "reconciliation", "value": "matched"}]) == [
        {"type": "reconciliation", "outcomes": ["exact", "manual", "tolerance"]}
    ]
    assert normalise([{"type": "reconciliation", "outcomes": ["missing_in_books", "mismatch"]}]) == [
        {"type": "reconciliation", "outcomes": ["mismatch", "missing_in_register"]}
    ]
    for bad in ([], ["missing_in_supplier"], ["weather"]):  # no supplier document to act on / unknown
        with pytest.raises(ConditionError) as exc:
            normalise([{"type": "reconciliation", "outcomes": bad}])
        assert exc.value.field == "reconciliation"


def test_after_a_reconciliation_matched_documents_under_the_limit_are_accepted_as_the_rule(
    tenant_a, reg_a1, alice, books
):
    rule = make_rule(tenant_a, alice, MATCHED_UNDER_50K, name="Accept matched under 50k")
    make_rule(
        tenant_a,
        alice,
        [{"type": "filing_status", "value": "filed"}],
        name="Not about reconciliation",
        enabled=True,
        action="R",
        remarks="x",
    )
    run = reconcile(tenant_a, alice, reg_a1)
    assert local(tenant_a) == {"EXACT": "A", "TOL": "A", "MISM": None, "NOBOOK": None, "BIGEXACT": None}
    with tenant_scope(tenant_a):
        (rule_run,) = AutoRuleRun.objects.all()  # the rule without a reconciliation condition did not run
        events = AuditEvent.objects.filter(action="ims.action_set")
        assert {e.actor_label for e in events} == {f"autorule:{rule.pk}"}
        assert events.count() == 2
        assert AuditEvent.objects.get(action="autorule.run").metadata["source"] == f"recon:{run.pk}"
    assert (rule_run.trigger, rule_run.source, rule_run.registration_id) == (
        "reconciliation",
        f"recon:{run.pk}",
        reg_a1.pk,
    )
    assert (rule_run.status, rule_run.matched, rule_run.applied) == ("done", 2, 2)
    services.run_after_reconciliation(run=run)  # a second delivery of the hook does nothing
    with tenant_scope(tenant_a):
        assert AutoRuleRun.objects.count() == 1


def test_missing_in_books_is_kept_pending_with_the_rules_remark(tenant_a, reg_a1, alice, books):
    make_rule(tenant_a, alice, MISSING_IN_BOOKS, action="P", remarks="Not in our books yet")
    reconcile(tenant_a, alice, reg_a1)
    with tenant_scope(tenant_a):
        nobook = SupplierDocument.objects.get(doc_number="NOBOOK")
    assert (nobook.local_action, nobook.local_remarks) == ("P", "Not in our books yet")
    assert [n for n, a in local(tenant_a).items() if a] == ["NOBOOK"]


def test_dry_run_counts_from_the_latest_reconciliation_and_says_when_there_is_none(
    tenant_a, reg_a1, alice, books
):
    rule = make_rule(tenant_a, alice, MATCHED_UNDER_50K)
    with tenant_scope(tenant_a):
        before = dry_run(tenant=tenant_a, rule=rule)
    assert before.matched == 0
    assert "No reconciliation" in before.note
    with tenant_scope(tenant_a):
        AutoRule.objects.filter(pk=rule.pk).update(enabled=False)  # so the hook leaves the documents alone
    run = reconcile(tenant_a, alice, reg_a1)
    with tenant_scope(tenant_a):
        after = dry_run(tenant=tenant_a, rule=AutoRule.objects.get(pk=rule.pk))
    assert (after.matched, after.apply, after.note, after.recon_runs) == (2, 2, "", [run.pk])
    assert set(local(tenant_a).values()) == {None}


def test_a_document_changed_on_the_portal_since_the_reconciliation_is_left_alone(
    tenant_a, reg_a1, alice, books
):
    rule = make_rule(tenant_a, alice, MATCHED_UNDER_50K, enabled=False)
    reconcile(tenant_a, alice, reg_a1)
    with tenant_scope(tenant_a):
        DocumentVersion.objects.create(
            tenant=tenant_a,
            document=books["EXACT"],
            version=2,
            seen_at=timezone.now(),
            source="sync",
            changes={"igst": ["1800.00", "1900.00"]},
        )
        run = services.run_rule(tenant=tenant_a, rule=AutoRule.objects.get(pk=rule.pk), trigger="manual")
    assert run.applied == 1
    assert local(tenant_a)["EXACT"] is None
    assert local(tenant_a)["TOL"] == "A"


def test_a_person_s_action_is_never_overridden(tenant_a, reg_a1, alice, books):
    make_rule(tenant_a, alice, MISSING_IN_BOOKS, action="R", remarks="Unknown to us")
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(doc_number="NOBOOK").update(local_action="A")
    reconcile(tenant_a, alice, reg_a1)
    assert local(tenant_a)["NOBOOK"] == "A"


def test_a_rule_s_actions_go_through_approvals_and_its_owner_may_not_approve_them(
    tenant_a, reg_a1, alice, books
):
    ann = factories.make_user("ann")
    factories.make_member(tenant_a, ann, "approver", gstins=[reg_a1])
    with tenant_scope(tenant_a):
        approvals.save_policy(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(user=alice),
            name="Every accept",
            action="A",
        )
    make_rule(tenant_a, alice, MATCHED_UNDER_50K)
    reconcile(tenant_a, alice, reg_a1)
    with tenant_scope(tenant_a):
        batch = ApprovalRequest.objects.get()
        assert (batch.item_count, batch.proposed_by_id) == (2, alice.pk)
        with pytest.raises(approvals.ApprovalForbidden):
            approvals.approve(**as_user(tenant_a, alice), approval=batch)
        approvals.approve(**as_user(tenant_a, ann), approval=batch)
        assert ApprovalRequest.objects.get().status == "approved"


def test_rule_page_saves_reconciliation_outcomes_and_dry_runs_them(
    client_for, tenant_a, reg_a1, alice, books
):
    client = client_for(alice)
    response = client.post(
        "/t/acme/autorules/new/",
        {
            "name": "Matched",
            "action": "A",
            "priority": "5",
            "enabled": "on",
            "reconciliation": ["exact", "tolerance"],
            "value_max": "50000",
        },
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        rule = AutoRule.objects.get()
        rule.enabled = False
        rule.save()
    assert rule.conditions[-1] == {"type": "reconciliation", "outcomes": ["exact", "tolerance"]}
    edit = client.get(f"/t/acme/autorules/{rule.pk}/")
    assert edit.context["form"].initial["reconciliation"] == ["exact", "tolerance"]
    reconcile(tenant_a, alice, reg_a1)
    page = client.get("/t/acme/autorules/", {"dry_run": "1"})
    assert page.context["rules"][0].dry.apply == 2
    assert "exact match or within tolerance" in page.content.decode()


def test_rules_api_creates_dry_runs_and_runs_a_reconciliation_rule(
    client, tenant_a, reg_a1, alice, books, pat
):
    token = api_token(alice)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    base = "/api/v1/t/acme/autorules/"
    created = client.post(
        base,
        {"name": "Matched", "action": "A", "enabled": False, "conditions": MATCHED_UNDER_50K},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert created.json()["conditions"][0] == {"type": "reconciliation", "outcomes": ["exact", "tolerance"]}
    bad = client.post(
        base,
        {"name": "x", "action": "A", "conditions": [{"type": "reconciliation", "outcomes": ["nope"]}]},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "reconciliation"
    reconcile(tenant_a, alice, reg_a1)
    dry = client.get(f"{base}{rule_id}/dry-run/", **auth)
    assert dry.status_code == 200
    assert (dry.json()["matched"], dry.json()["apply"]) == (2, 2)
    ran = client.post(f"{base}{rule_id}/run/", **auth)
    assert ran.status_code == 200
    assert ran.json()["applied"] == 2
    assert ran.json()["trigger"] == "manual"
    assert local(tenant_a)["EXACT"] == "A"
    listing = client.get(base, **auth).json()
    assert [r["name"] for r in listing["results"]] == ["Matched"]
    ptoken = api_token(pat)
    assert client.get(base, HTTP_AUTHORIZATION=f"Token {ptoken.key}").status_code == 403


def test_a_rule_hands_the_bulk_action_the_reconciliation_filter_so_a_queued_run_never_overrides_a_person(
    tenant_a, reg_a1, alice, books, settings
):
    """Above the synchronous limit the bulk action is queued for a worker after the rule's transaction ends. The
    worker re-runs the rule's filter (outcome included) when it applies it: a document a person acted on in the
    meantime no longer matches and keeps the person's action."""
    from actions.models import BulkActionRun
    from actions.services import run_bulk_action, set_action

    settings.IMS_BULK_ACTION_SYNC_MAX = 1
    rule = make_rule(tenant_a, alice, MATCHED_UNDER_50K, name="Accept matched under 50k")
    reconcile(tenant_a, alice, reg_a1)
    with tenant_scope(tenant_a):
        rule_run = AutoRuleRun.objects.get()
        bulk = BulkActionRun.objects.get()
    assert (rule_run.status, rule_run.matched, rule_run.bulk_runs) == ("queued", 2, [bulk.pk])
    assert bulk.status == "queued"
    assert bulk.actor_label == f"autorule:{rule.pk}"
    assert bulk.params["filter"]["reconciliation"] == ["exact", "tolerance"]
    assert set(local(tenant_a).values()) == {None}
    with tenant_scope(tenant_a):  # a person rejects EXACT before the worker starts
        set_action(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(user=alice),
            document=books["EXACT"],
            action="R",
            remarks="Rate differs from the PO",
        )
    assert run_bulk_action(run_id=bulk.pk) == "done"
    assert local(tenant_a) == {"EXACT": "R", "TOL": "A", "MISM": None, "NOBOOK": None, "BIGEXACT": None}
    with tenant_scope(tenant_a):
        by_rule = AuditEvent.objects.filter(action="ims.action_set", actor_label=f"autorule:{rule.pk}")
        assert [e.object_id for e in by_rule] == [str(books["TOL"].pk)]
        summary = AuditEvent.objects.get(action="ims.bulk_action")
        assert summary.metadata["target"] == "filter"
        assert summary.metadata["filter"]["reconciliation"] == ["exact", "tolerance"]
        assert AuditEvent.objects.get(action="autorule.run").metadata["status"] == "queued"


def test_a_small_rule_run_is_applied_at_once_through_the_same_filter(tenant_a, reg_a1, alice, books):
    from actions.models import BulkActionRun

    rule = make_rule(
        tenant_a,
        alice,
        [{"type": "reconciliation", "outcomes": ["mismatched"]}],
        action="P",
        remarks="Check with the supplier",
    )
    reconcile(tenant_a, alice, reg_a1)
    with tenant_scope(tenant_a):
        bulk = BulkActionRun.objects.get()
        rule_run = AutoRuleRun.objects.get(rule=rule)
    assert (bulk.status, bulk.params["filter"]["reconciliation"]) == ("done", ["mismatch", "probable"])
    assert (rule_run.status, rule_run.applied) == ("done", 1)
    assert [n for n, a in local(tenant_a).items() if a] == ["MISM"]

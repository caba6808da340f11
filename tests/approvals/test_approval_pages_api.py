"""Approvals through the pages and the REST API: roles, impact preview numbers, tenant isolation."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from approvals.models import ApprovalRequest
from tenancy.scoping import tenant_scope
from tests.approvals.conftest import big

pytestmark = pytest.mark.django_db


def api(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


def propose(client, doc, action="R", follow=False):
    return client.post(f"/t/acme/actions/documents/{doc.pk}/", {"action": action}, follow=follow)


def latest(tenant):
    with tenant_scope(tenant):
        return ApprovalRequest.objects.filter(tenant=tenant).order_by("-id").first()


def test_preparer_proposes_on_the_page_and_approver_approves_it(client_for, tenant_a, pat, ann, policy, doc):
    policy(action="R", min_value=Decimal("100000"))
    d = doc(**big("200000"))
    response = propose(client_for(pat), d, follow=True)
    assert "an approval policy holds it" in response.content.decode()
    approval = latest(tenant_a)
    page = client_for(pat).get(f"/t/acme/approvals/{approval.pk}/")
    assert page.status_code == 200
    assert b"decision-form" not in page.content
    assert b"Withdraw" in page.content
    assert client_for(pat).post(f"/t/acme/approvals/{approval.pk}/approve/").status_code == 403
    page = client_for(ann).get(f"/t/acme/approvals/{approval.pk}/")
    body = page.content.decode()
    assert 'id="decision-form"' in body
    assert 'id="impact-periods"' in body
    assert "undo_via_supplier_after_3b" in body
    assert client_for(ann).get("/t/acme/approvals/").content.count(b"/approvals/%d/" % approval.pk) == 1
    client_for(ann).post(f"/t/acme/approvals/{approval.pk}/approve/")
    assert latest(tenant_a).status == "approved"


def test_return_without_a_comment_is_a_message_not_an_error(client_for, tenant_a, pat, ann, policy, doc):
    policy(action="R")
    propose(client_for(pat), doc())
    approval = latest(tenant_a)
    response = client_for(ann).post(f"/t/acme/approvals/{approval.pk}/return/", {"comment": ""}, follow=True)
    assert response.status_code == 200
    assert "Say why" in response.content.decode()
    assert latest(tenant_a).status == "pending"


def test_navbar_badge_counts_unread_notifications(client_for, tenant_a, pat, ann, policy, doc):
    policy(action="R")
    propose(client_for(pat), doc())
    page = client_for(ann).get("/t/acme/notifications/")
    assert b'id="notification-badge">1<' in page.content
    client_for(ann).post("/t/acme/notifications/read/")
    assert b"notification-badge" not in client_for(ann).get("/t/acme/approvals/").content


def test_bulk_confirmation_page_shows_impact_and_what_needs_approval(
    client_for, tenant_a, alice, policy, doc
):
    policy(name="Big rejects", action="R", min_value=Decimal("100000"))
    cn = doc(section="b2bcn", **big("118000"))  # tax 18,000 IGST
    inv = doc(**big("1180"))  # tax 180 IGST
    response = client_for(alice).post("/t/acme/actions/confirm/", {"ids": [cn.pk, inv.pk], "action": "R"})
    impact = response.context["impact"]
    assert response.status_code == 200
    assert response.context["held"].held == {"Big rejects": 1}
    [p] = impact.periods
    # No action = deemed accepted: the credit note reduced ITC by 18,000; rejected, that comes back; the invoice's
    # 180 moves to rejected. Rejected: +180 - 18,000.
    assert p.buckets["available"].delta["igst"] == Decimal("18000.00") - Decimal("180.00")
    assert p.buckets["rejected"].delta["igst"] == Decimal("180.00") - Decimal("18000.00")
    [s] = impact.suppliers
    assert s.delta_total == Decimal("18000.00")
    assert b'id="impact-needs-approval"' in response.content
    assert b'id="impact-suppliers"' in response.content


def test_policy_pages_are_for_owners_and_admins(client_for, tenant_a, alice, ann, pat):
    assert client_for(pat).get("/t/acme/approvals/policies/").status_code == 403
    assert client_for(ann).get("/t/acme/approvals/policies/").status_code == 403
    c = client_for(alice)
    bad = c.post("/t/acme/approvals/policies/", {"name": "x", "action": "R", "supplier_gstins": "27ABC"})
    assert bad.status_code == 400
    assert "27ABC" in bad.content.decode()
    ok = c.post(
        "/t/acme/approvals/policies/",
        {
            "name": "Rejects",
            "action": "R",
            "sections": ["b2b", "b2bcn"],
            "min_value": "100000",
            "enabled": "on",
        },
    )
    assert ok.status_code == 302
    assert b"Rejects" in c.get("/t/acme/approvals/policies/").content


def test_api_policies_requests_and_decisions(tenant_a, alice, pat, ann, doc):
    r = api(pat).post("/api/v1/t/acme/approvals/policies/", {"name": "R", "action": "R"}, format="json")
    assert r.status_code == 403
    r = api(alice).post(
        "/api/v1/t/acme/approvals/policies/", {"name": "R", "action": "R", "min_value": "-1"}, format="json"
    )
    assert r.status_code == 400
    assert "min_value" in r.json()
    r = api(alice).post(
        "/api/v1/t/acme/approvals/policies/",
        {"name": "Rejects", "action": "R", "sections": ["b2b"]},
        format="json",
    )
    assert r.status_code == 201
    assert r.json()["sections"] == ["b2b"]
    d = doc()
    r = api(pat).post(f"/api/v1/t/acme/documents/{d.pk}/action/", {"action": "R"}, format="json")
    assert r.status_code == 200
    assert r.json()["held"] is True
    [batch] = api(ann).get("/api/v1/t/acme/approvals/requests/?status=pending").json()
    detail = api(ann).get(f"/api/v1/t/acme/approvals/requests/{batch['id']}/").json()
    assert detail["items"] == {"held": 1}
    assert detail["impact"]["periods"][0]["buckets"]["rejected"]["delta"]["igst"]
    assert api(pat).post(f"/api/v1/t/acme/approvals/requests/{batch['id']}/approve/").status_code == 403
    r = api(ann).post(f"/api/v1/t/acme/approvals/requests/{batch['id']}/return/", {}, format="json")
    assert r.status_code == 400
    assert r.json()["field"] == "comment"
    r = api(ann).post(
        f"/api/v1/t/acme/approvals/requests/{batch['id']}/approve/", {"comment": "fine"}, format="json"
    )
    assert r.status_code == 200
    assert r.json()["status"] == "approved"


def test_api_bulk_impact_preview(tenant_a, alice, policy, doc):
    policy(action="A", supplier_filing_status="not_filed")
    d1, d2 = doc(), doc(supplier_filing_status="not_filed", twob_period=None)
    r = api(alice).post(
        "/api/v1/t/acme/approvals/impact/", {"ids": [d1.pk, d2.pk], "action": "A"}, format="json"
    )
    assert r.status_code == 200
    out = r.json()
    assert out["needs_approval_total"] == 1
    assert out["documents"] == 2
    assert [w["code"] for w in out["warnings"]] == ["not_in_any_2b"]


def test_another_tenants_batches_and_policies_are_404(
    client_for, tenant_a, tenant_b, alice, charlie, pat, policy, doc
):
    p = policy(action="R")
    propose(client_for(pat), doc())
    approval = latest(tenant_a)
    c = client_for(charlie)
    assert c.get(f"/t/acme/approvals/{approval.pk}/").status_code == 404
    assert c.get(f"/t/bharat/approvals/{approval.pk}/").status_code == 404
    assert c.post(f"/t/bharat/approvals/{approval.pk}/approve/").status_code == 404
    assert c.get(f"/t/bharat/approvals/policies/{p.pk}/").status_code == 404
    assert api(charlie).get(f"/api/v1/t/bharat/approvals/requests/{approval.pk}/").status_code == 404
    assert api(charlie).post(f"/api/v1/t/bharat/approvals/requests/{approval.pk}/approve/").status_code == 404
    assert api(charlie).get(f"/api/v1/t/bharat/approvals/policies/{p.pk}/").status_code == 404
    assert api(charlie).get("/api/v1/t/bharat/approvals/requests/").json() == []


def test_a_batch_on_a_gstin_the_user_cannot_see_is_404(client_for, tenant_a, reg_a2, alice, ann, policy):
    from tests.documents.helpers import make_doc

    policy(action="R")
    propose(client_for(alice), make_doc(reg_a2))
    approval = latest(tenant_a)
    assert client_for(ann).get(f"/t/acme/approvals/{approval.pk}/").status_code == 404
    assert client_for(ann).post(f"/t/acme/approvals/{approval.pk}/approve/").status_code == 404

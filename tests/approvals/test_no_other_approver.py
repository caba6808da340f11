"""When nobody but the proposer may decide a batch: the rule "nobody approves their own batch" holds, the owners
and admins are told at once what to do, the pages and the API say plainly who can approve, and the batch becomes
decidable as soon as an approver may see it."""

import pytest

from approvals import services
from approvals.errors import ApprovalForbidden
from audit.models import AuditEvent
from notifications.models import Notification
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.approvals.test_approval_flow import act, batch, decide, local
from tests.tokens import api_token

pytestmark = pytest.mark.django_db


def notes(tenant, user, kind):
    with tenant_scope(tenant):
        return list(Notification.objects.filter(user=user, kind=kind).values_list("text", flat=True))


def test_the_only_approver_s_own_batch_waits_and_the_owners_are_told(tenant_a, reg_a1, alice, policy, doc):
    """alice owns the tenant and is its only approver: she may not approve her own batch."""
    policy(action="R")
    d = doc()
    act(tenant_a, alice, [d], "R", remarks="wrong rate")
    approval = batch(tenant_a)
    with pytest.raises(ApprovalForbidden):
        decide(services.approve, tenant_a, alice, approval)
    assert local(d) == "R"
    assert batch(tenant_a).status == "pending"
    (text,) = notes(tenant_a, alice, "approval.no_approver")
    assert f"Batch #{approval.pk} has no one to approve it" in text
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.get(action="approval.no_approver").metadata["notified"] == ["alice"]


def test_a_preparer_s_batch_no_approver_may_see_tells_owners_and_admins_and_the_proposer(
    tenant_a, reg_a1, reg_a2, alice, pat, policy, doc
):
    """The only approver is granted another GSTIN; the owner and the admin have been made viewers: nobody may
    decide pat's batch on A1, and pat is told (the approver, who cannot see A1, is not asked)."""
    ann = factories.make_user("ann")
    factories.make_member(tenant_a, ann, "approver", gstins=[reg_a2])
    adm = factories.make_user("adm")
    factories.make_member(tenant_a, adm, "admin")
    policy(action="R")
    with tenant_scope(tenant_a):
        Membership.objects.filter(user__in=[alice, adm]).update(role="viewer")
    act(tenant_a, pat, [doc()], "R", remarks="x")
    approval = batch(tenant_a)
    with tenant_scope(tenant_a):
        assert services.approvers_for(tenant=tenant_a, approval=approval) == []
    assert notes(tenant_a, pat, "approval.no_approver")
    assert not notes(tenant_a, ann, "approval.no_approver")
    assert not notes(tenant_a, ann, "approval.requested")


def test_owners_get_the_approval_request_not_the_warning_when_they_may_decide(
    tenant_a, reg_a1, alice, pat, policy, doc
):
    policy(action="R")
    act(tenant_a, pat, [doc()], "R", remarks="x")
    assert notes(tenant_a, alice, "approval.requested")
    assert not notes(tenant_a, alice, "approval.no_approver")
    decide(services.approve, tenant_a, alice, batch(tenant_a))
    assert batch(tenant_a).status == "approved"


def test_the_page_says_who_can_approve_and_what_to_do_when_nobody_can(
    client_for, tenant_a, reg_a1, alice, pat, policy, doc
):
    policy(action="R")
    act(tenant_a, alice, [doc()], "R", remarks="x")
    approval = batch(tenant_a)
    page = client_for(alice).get(f"/t/acme/approvals/{approval.pk}/").content.decode()
    assert 'id="no-approver"' in page
    assert "invite an approver" in page
    assert reg_a1.gstin in page
    assert 'id="decision-form"' not in page
    ann = factories.make_user("ann")
    factories.make_member(tenant_a, ann, "approver", gstins=[reg_a1])  # now someone else may decide
    page = client_for(alice).get(f"/t/acme/approvals/{approval.pk}/").content.decode()
    assert 'id="no-approver"' not in page
    assert "Can approve or return it" in page
    assert "ann" in page
    assert client_for(ann).post(f"/t/acme/approvals/{approval.pk}/approve/").status_code == 302
    assert batch(tenant_a).status == "approved"


def test_the_policies_page_warns_when_fewer_than_two_members_may_approve(
    client_for, tenant_a, reg_a1, alice, pat
):
    page = client_for(alice).get("/t/acme/approvals/policies/").content.decode()
    assert 'id="policy-approver-warning"' in page
    assert "Batches that alice proposes will wait" in page
    factories.make_member(tenant_a, factories.make_user("ann"), "approver", gstins=[reg_a1])
    page = client_for(alice).get("/t/acme/approvals/policies/").content.decode()
    assert 'id="policy-approver-warning"' not in page


def test_the_api_lists_who_can_approve_a_pending_batch(client, tenant_a, reg_a1, alice, pat, policy, doc):
    policy(action="R")
    act(tenant_a, pat, [doc()], "R", remarks="x")
    approval = batch(tenant_a)
    token = api_token(pat)
    body = client.get(
        f"/api/v1/t/acme/approvals/requests/{approval.pk}/", HTTP_AUTHORIZATION=f"Token {token.key}"
    ).json()
    assert body["approvers"] == ["alice"]
    assert body["no_approver"] == ""

"""Maker-checker through the services: policies hold actions out of the push queue; approve / return / withdraw;
roles; notifications; audit."""

from decimal import Decimal

import pytest

from actions import services as actions
from actions.errors import ActionForbidden
from approvals import services
from approvals.errors import ApprovalError, ApprovalForbidden
from approvals.models import ApprovalItem, ApprovalRequest
from audit.models import AuditEvent
from audit.services import Actor
from gst_sync.push import pending_push
from notifications.models import Notification
from tenancy.scoping import tenant_scope
from tests.approvals.conftest import big, member
from tests.documents.helpers import SUPPLIER_2

pytestmark = pytest.mark.django_db


def act(tenant, user, docs, action, **kw):
    """A bulk action by ``user`` on ``docs``."""
    with tenant_scope(tenant):
        return actions.bulk_set_action(
            tenant=tenant,
            actor=Actor.user(user),
            user=user,
            membership=member(tenant, user),
            ids=[d.pk for d in docs],
            action=action,
            **kw,
        )


def one(tenant, user, doc, action, **kw):
    with tenant_scope(tenant):
        return actions.set_action(
            tenant=tenant,
            actor=Actor.user(user),
            membership=member(tenant, user),
            document=doc,
            action=action,
            **kw,
        )


def queue(tenant, reg):
    with tenant_scope(tenant):
        return set(pending_push(tenant=tenant, registration=reg).values_list("pk", flat=True))


def batch(tenant):
    with tenant_scope(tenant):
        return ApprovalRequest.objects.filter(tenant=tenant).order_by("-id").first()


def decide(fn, tenant, user, approval, **kw):
    with tenant_scope(tenant):
        return fn(
            tenant=tenant,
            actor=Actor.user(user),
            user=user,
            membership=member(tenant, user),
            approval=approval,
            **kw,
        )


def local(doc):
    with tenant_scope(doc.tenant_id):
        doc.refresh_from_db()
    return doc.local_action


def test_reject_above_the_value_is_held_and_not_pushed_below_it_goes_through(
    tenant_a, reg_a1, pat, policy, doc
):
    policy(action="R", min_value=Decimal("100000"))
    large, exact, small = doc(**big("150000")), doc(**big("100000")), doc(**big("99999"))
    result = act(tenant_a, pat, [large, exact, small], "R", remarks="wrong rate")
    assert result.applied == 3
    assert [local(d) for d in (large, exact, small)] == ["R", "R", "R"]
    assert queue(tenant_a, reg_a1) == {small.pk}
    approval = batch(tenant_a)
    assert approval.item_count == 2
    assert approval.proposed_by_id == pat.pk
    assert approval.params["remarks"] == "wrong rate"


@pytest.mark.parametrize(
    "conditions, fields, held",
    [
        ({"sections": ["b2bcn"]}, {"section": "b2bcn"}, True),
        ({"sections": ["b2bcn"]}, {"section": "b2b"}, False),
        ({"supplier_filing_status": "not_filed"}, {"supplier_filing_status": "not_filed"}, True),
        ({"supplier_filing_status": "not_filed"}, {}, False),
        ({"supplier_gstins": [SUPPLIER_2]}, {"supplier_gstin": SUPPLIER_2}, True),
        ({"supplier_gstins": [SUPPLIER_2]}, {}, False),
        ({"enabled": False}, {}, False),
    ],
)
def test_policy_matches_by_section_supplier_status_and_supplier(
    tenant_a, reg_a1, pat, policy, doc, conditions, fields, held
):
    policy(action="A", **conditions)
    d = doc(**fields)
    result = one(tenant_a, pat, d, "A")
    assert result.changed
    assert result.held is held
    assert (d.pk in queue(tenant_a, reg_a1)) is not held


def test_policy_catches_only_its_action(tenant_a, reg_a1, pat, policy, doc):
    policy(action="R")
    d = doc()
    assert one(tenant_a, pat, d, "A").held is False
    assert queue(tenant_a, reg_a1) == {d.pk}


def test_approver_approves_and_the_actions_become_pushable(tenant_a, reg_a1, pat, ann, policy, doc):
    policy(action="R")
    d = doc()
    one(tenant_a, pat, d, "R")
    assert queue(tenant_a, reg_a1) == set()
    approved = decide(services.approve, tenant_a, ann, batch(tenant_a), comment="ok")
    assert approved.status == "approved"
    assert approved.decided_by_id == ann.pk
    assert queue(tenant_a, reg_a1) == {d.pk}
    assert local(d) == "R"
    with tenant_scope(tenant_a):
        actions_logged = list(AuditEvent.objects.filter(tenant=tenant_a).values_list("action", flat=True))
    assert {"approval.requested", "ims.action_approved", "approval.approved"} <= set(actions_logged)


def test_nobody_approves_their_own_batch_not_even_an_owner(tenant_a, reg_a1, alice, ann, policy, doc):
    policy(action="R")
    d = doc()
    one(tenant_a, alice, d, "R")
    with pytest.raises(ApprovalForbidden):
        decide(services.approve, tenant_a, alice, batch(tenant_a))
    with pytest.raises(ApprovalForbidden):
        decide(services.return_request, tenant_a, alice, batch(tenant_a), comment="no")
    assert batch(tenant_a).status == "pending"
    assert queue(tenant_a, reg_a1) == set()
    decide(services.approve, tenant_a, ann, batch(tenant_a))
    assert queue(tenant_a, reg_a1) == {d.pk}


def test_preparer_cannot_approve_and_viewer_cannot_act(tenant_a, alice, pat, bob, policy, doc):
    policy(action="R")
    one(tenant_a, alice, doc(), "R")
    with pytest.raises(ApprovalForbidden):
        decide(services.approve, tenant_a, pat, batch(tenant_a))
    with pytest.raises(ApprovalForbidden):
        decide(services.approve, tenant_a, bob, batch(tenant_a))
    with pytest.raises(ActionForbidden):
        one(tenant_a, bob, doc(), "R")


def test_return_needs_a_comment_and_puts_the_earlier_actions_back(tenant_a, reg_a1, pat, ann, policy, doc):
    policy(action="R")
    fresh, was_pending = doc(), doc(portal_action="A", local_action="P")
    act(tenant_a, pat, [fresh, was_pending], "R")
    with pytest.raises(ApprovalError) as exc:
        decide(services.return_request, tenant_a, ann, batch(tenant_a), comment="  ")
    assert exc.value.field == "comment"
    returned = decide(
        services.return_request, tenant_a, ann, batch(tenant_a), comment="Talk to the supplier first"
    )
    assert returned.status == "returned"
    assert returned.comment == "Talk to the supplier first"
    assert local(fresh) is None
    assert local(was_pending) == "P"
    assert queue(tenant_a, reg_a1) == {was_pending.pk}
    with tenant_scope(tenant_a):
        reverts = AuditEvent.objects.filter(
            tenant=tenant_a, action="ims.action_set", metadata__approval=returned.pk
        )
        assert {e.object_id: e.changes["local_action"] for e in reverts} == {
            str(fresh.pk): ["R", None],
            str(was_pending.pk): ["R", "P"],
        }
    with pytest.raises(ApprovalError):
        decide(services.approve, tenant_a, ann, returned)


def test_proposer_may_withdraw_a_pending_batch(tenant_a, pat, ann, policy, doc):
    policy(action="R")
    d = doc()
    one(tenant_a, pat, d, "R")
    with pytest.raises(ApprovalForbidden):
        decide(services.withdraw, tenant_a, ann, batch(tenant_a))
    assert decide(services.withdraw, tenant_a, pat, batch(tenant_a)).status == "withdrawn"
    assert local(d) is None


def test_a_later_action_supersedes_the_hold_and_keeps_the_original_state_for_a_return(
    tenant_a, reg_a1, pat, ann, policy, doc
):
    policy(action="R")
    policy(name="pending", action="P")
    d = doc(portal_action="N", local_action="A")
    one(tenant_a, pat, d, "R")
    one(tenant_a, pat, d, "P")
    with tenant_scope(tenant_a):
        states = list(
            ApprovalItem.objects.filter(tenant=tenant_a).order_by("id").values_list("state", flat=True)
        )
    assert states == ["superseded", "held"]
    decide(services.return_request, tenant_a, ann, batch(tenant_a), comment="no")
    assert local(d) == "A"  # back to before the first proposal
    one(tenant_a, pat, d, "R")
    one(tenant_a, pat, d, "A")  # not caught: the hold is released, the accept is pushable
    assert queue(tenant_a, reg_a1) == {d.pk}


def test_approvers_are_notified_in_the_app_and_by_email(
    tenant_a, alice, pat, ann, bob, policy, doc, mailoutbox, django_capture_on_commit_callbacks
):
    policy(action="R")
    with django_capture_on_commit_callbacks(execute=True):
        one(tenant_a, pat, doc(), "R")
    with tenant_scope(tenant_a):
        notified = set(Notification.objects.filter(tenant=tenant_a).values_list("user__username", flat=True))
    assert notified == {"alice", "ann"}  # approvers who see the GSTIN; not pat (proposer) nor bob (viewer)
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "ann@example.com"]
    assert "approval" in mailoutbox[0].subject
    assert "/approvals/" in mailoutbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        decide(services.return_request, tenant_a, ann, batch(tenant_a), comment="Check the rate")
    assert mailoutbox[-1].to == ["pat@example.com"]
    assert "Check the rate" in mailoutbox[-1].body


def test_approver_without_the_gstin_is_not_notified(tenant_a, reg_a2, alice, pat, ann, policy):
    from tests.documents.helpers import make_doc

    policy(action="R")
    d = make_doc(reg_a2)
    with tenant_scope(tenant_a):
        actions.set_action(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=member(tenant_a, alice),
            document=d,
            action="R",
        )
        approval = batch(tenant_a)
        assert services.approvers_for(tenant=tenant_a, approval=approval) == []  # ann sees only A1


def test_a_queued_bulk_run_adds_every_chunk_to_one_batch_decided_after_the_run(
    tenant_a, reg_a1, pat, ann, policy, doc, settings
):
    from actions.services import run_bulk_action

    settings.IMS_BULK_ACTION_SYNC_MAX = 2
    settings.IMS_BULK_ACTION_CHUNK = 2
    policy(action="R")
    docs = [doc() for _ in range(5)]
    result = act(tenant_a, pat, docs, "R")
    assert result.status == "queued"
    run_bulk_action(run_id=result.run_id)
    with tenant_scope(tenant_a):
        [approval] = ApprovalRequest.objects.filter(tenant=tenant_a, run_id=result.run_id)
    assert approval.item_count == 5
    assert queue(tenant_a, reg_a1) == set()
    decide(services.approve, tenant_a, ann, approval)
    assert queue(tenant_a, reg_a1) == {d.pk for d in docs}


def test_held_actions_stay_out_of_the_offline_tool_upload_until_approved(
    tenant_a, reg_a1, pat, ann, policy, doc
):
    from gst_sync.files.imports import offline_upload, pending_upload_counts

    policy(action="R")
    held, free = doc(), doc()
    one(tenant_a, pat, held, "R")
    one(tenant_a, pat, free, "A")

    def numbers():
        with tenant_scope(tenant_a):
            body = offline_upload(tenant=tenant_a, registration=reg_a1, kind="save")
            counts = pending_upload_counts(tenant=tenant_a, registrations=[reg_a1])[reg_a1.pk]["save"]
        return {r.get("inum") for recs in body["data"]["invdata"].values() for r in recs}, counts

    assert numbers() == ({free.doc_number}, 1)
    decide(services.approve, tenant_a, ann, batch(tenant_a), comment="ok")
    assert numbers() == ({free.doc_number, held.doc_number}, 2)


def test_email_links_carry_the_sites_scheme_and_host(
    tenant_a, alice, pat, ann, policy, doc, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://ims.example.com"
    policy(action="R")
    with django_capture_on_commit_callbacks(execute=True):
        one(tenant_a, pat, doc(), "R")
    assert mailoutbox
    assert all("https://ims.example.com/t/acme/approvals/" in m.body for m in mailoutbox)


def test_once_a_batch_is_decided_the_other_approvers_are_no_longer_asked(
    tenant_a, alice, pat, ann, policy, doc
):
    from notifications.models import Notification

    policy(action="R")
    one(tenant_a, pat, doc(), "R")
    decide(services.approve, tenant_a, ann, batch(tenant_a))
    with tenant_scope(tenant_a):
        alices = Notification.objects.get(tenant=tenant_a, user=alice, kind="approval.requested")
    assert alices.read_at is not None
    assert "approved by" in alices.text
    assert "no approval needed any more" in alices.text
    assert "your approval is needed" not in alices.text

"""Tenant admin: members, roles, GSTIN grants, invitations; every change audited; access control."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tenancy.selectors import visible_registrations
from tests import factories

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "violet harbour 7 slowly"


def _events(tenant, action):
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _membership(tenant, user):
    return Membership.objects.get(tenant=tenant, user=user)


def _url(name, tenant, *args):
    return reverse(name, args=[tenant.slug, *args])


@pytest.fixture
def approver(tenant_a):
    user = factories.make_user("appy")
    factories.make_member(tenant_a, user, "approver", gstins=[])
    return user


@pytest.fixture
def admin(tenant_a):
    user = factories.make_user("adam")
    factories.make_member(tenant_a, user, "admin")
    return user


def test_members_page_lists_roles_and_granted_gstins(client_for, alice, bob, pat, tenant_a, reg_a1, reg_a2):
    response = client_for(alice).get(_url("tenant-members", tenant_a))
    assert response.status_code == 200
    rows = {m.user.username: m for m in response.context["members"]}
    assert set(rows) == {"alice", "bob", "pat"}
    assert rows["pat"].granted == [reg_a1.gstin]
    assert rows["bob"].granted == []
    assert rows["alice"].sees_all
    html = response.content.decode()
    assert reg_a1.gstin in html
    assert "Preparer" in html
    assert "All GSTINs" in html
    assert f'href="{_url("tenant-registrations", tenant_a)}"' in html  # navbar link for managers


def test_invite_flow_end_to_end(
    client, client_for, alice, tenant_a, reg_a1, reg_a2, django_capture_on_commit_callbacks
):
    owner = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            _url("tenant-members", tenant_a),
            {
                "email": "Neha@Example.com",
                "role": "preparer",
                "registrations": [reg_a2.pk],
            },
        )
    assert response.status_code == 302

    user = get_user_model().objects.get(email="neha@example.com")
    assert not user.has_usable_password()
    membership = _membership(tenant_a, user)
    assert membership.role == "preparer"
    with tenant_scope(tenant_a):
        assert list(visible_registrations(tenant=tenant_a, user=user)) == [reg_a2]

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["neha@example.com"]
    assert "Acme Traders" in message.subject
    path = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    for action, changes in [
        ("membership.created", {"user": [None, "neha@example.com"], "role": [None, "preparer"]}),
        (
            "membership.gstins_changed",
            {"gstins": [[], [reg_a2.gstin]], "granted": [None, [reg_a2.gstin]], "revoked": [[], None]},
        ),
        ("membership.invited", {"email": [None, "neha@example.com"]}),
    ]:
        events = [e for e in _events(tenant_a, action) if e.actor_label == "alice"]
        assert len(events) == 1, action
        assert events[0].changes == changes
        assert events[0].actor_id == alice.pk

    owner.logout()
    set_password_url = client.get(path)["Location"]
    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("password_reset_complete")
    response = client.post(reverse("login"), {"username": "neha@example.com", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home"))["Location"] == f"/t/{tenant_a.slug}/"
    assert client.get(f"/t/{tenant_a.slug}/").status_code == 200


def test_inviting_an_existing_user_adds_them_and_sends_a_login_link(
    client_for, alice, charlie, tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(alice).post(
            _url("tenant-members", tenant_a), {"email": "charlie@example.com", "role": "viewer"}
        )
    assert _membership(tenant_a, charlie).role == "viewer"
    charlie.refresh_from_db()
    assert charlie.has_usable_password()
    assert f"http://testserver/t/{tenant_a.slug}/" in mail.outbox[0].body
    assert "/accounts/reset/" not in mail.outbox[0].body


def test_inviting_an_existing_member_is_a_field_error(
    client_for, alice, bob, tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            _url("tenant-members", tenant_a), {"email": "bob@example.com", "role": "admin"}
        )
    assert response.status_code == 200
    assert "bob@example.com is already a member." in response.context["form"].errors["email"]
    assert _membership(tenant_a, bob).role == "viewer"
    assert mail.outbox == []


def test_invite_with_a_bad_email_is_a_field_error(client_for, alice, tenant_a):
    response = client_for(alice).post(
        _url("tenant-members", tenant_a), {"email": "not-an-email", "role": "viewer"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]


def test_invite_cannot_grant_another_tenants_gstin(client_for, alice, tenant_a, reg_b1):
    response = client_for(alice).post(
        _url("tenant-members", tenant_a),
        {
            "email": "x@example.com",
            "role": "viewer",
            "registrations": [reg_b1.pk],
        },
    )
    assert response.status_code == 200
    assert "registrations" in response.context["form"].errors
    assert not get_user_model().objects.filter(email="x@example.com").exists()


def test_role_change_is_audited_with_old_and_new(client_for, alice, bob, tenant_a):
    member = _membership(tenant_a, bob)
    response = client_for(alice).post(_url("tenant-member-role", tenant_a, member.pk), {"role": "approver"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == "approver"
    [event] = _events(tenant_a, "membership.role_changed")
    assert event.changes == {"role": ["viewer", "approver"]}
    assert (event.actor_label, event.object_id) == ("alice", str(member.pk))


def test_grant_change_is_audited_with_old_and_new(client_for, alice, pat, tenant_a, reg_a1, reg_a2):
    member = _membership(tenant_a, pat)
    response = client_for(alice).post(
        _url("tenant-member-grants", tenant_a, member.pk), {"registrations": [reg_a2.pk]}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert list(visible_registrations(tenant=tenant_a, user=pat)) == [reg_a2]
    event = _events(tenant_a, "membership.gstins_changed")[-1]
    assert event.actor_label == "alice"
    assert event.changes == {
        "gstins": [[reg_a1.gstin], [reg_a2.gstin]],
        "granted": [None, [reg_a2.gstin]],
        "revoked": [[reg_a1.gstin], None],
    }


def test_member_detail_shows_current_role_and_grants(client_for, alice, pat, tenant_a, reg_a1, reg_a2):
    member = _membership(tenant_a, pat)
    response = client_for(alice).get(_url("tenant-member", tenant_a, member.pk))
    assert response.status_code == 200
    assert response.context["role_form"].initial == {"role": "preparer"}
    assert response.context["grants_form"].initial == {"registrations": [reg_a1]}
    checked = re.findall(r'<input[^>]*value="(\d+)"[^>]*checked', response.content.decode())
    assert checked == [str(reg_a1.pk)]


def test_last_owner_cannot_be_demoted_or_removed(client_for, alice, tenant_a):
    member = _membership(tenant_a, alice)
    client = client_for(alice)
    response = client.post(_url("tenant-member-role", tenant_a, member.pk), {"role": "admin"}, follow=True)
    assert "at least one owner" in response.content.decode()
    response = client.post(_url("tenant-member-remove", tenant_a, member.pk), follow=True)
    assert "The last owner cannot be removed" in response.content.decode()
    member.refresh_from_db()
    assert member.role == "owner"
    assert _events(tenant_a, "membership.role_changed") == []
    assert _events(tenant_a, "membership.removed") == []


def test_an_owner_can_step_down_when_another_owner_remains(client_for, alice, tenant_a):
    other = factories.make_user("olga")
    factories.make_member(tenant_a, other, "owner")
    member = _membership(tenant_a, alice)
    response = client_for(alice).post(_url("tenant-member-role", tenant_a, member.pk), {"role": "viewer"})
    assert response["Location"] == f"/t/{tenant_a.slug}/"
    member.refresh_from_db()
    assert member.role == "viewer"


def test_an_admin_cannot_demote_an_owner_or_make_one(client_for, alice, admin, bob, tenant_a):
    client = client_for(admin)
    owner = _membership(tenant_a, alice)
    factories.make_member(tenant_a, factories.make_user("olga"), "owner")
    response = client.post(_url("tenant-member-role", tenant_a, owner.pk), {"role": "viewer"}, follow=True)
    assert "Only an owner can give or take the owner role." in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == "owner"
    client.post(_url("tenant-member-role", tenant_a, _membership(tenant_a, bob).pk), {"role": "owner"})
    assert _membership(tenant_a, bob).role == "viewer"
    response = client.get(_url("tenant-members", tenant_a))
    assert "owner" not in dict(response.context["form"].fields["role"].choices)


def test_remove_member_revokes_grants_and_is_audited(client_for, alice, pat, tenant_a, reg_a1):
    member = _membership(tenant_a, pat)
    client = client_for(alice)
    response = client.post(_url("tenant-member-remove", tenant_a, member.pk))
    assert response["Location"] == _url("tenant-members", tenant_a)
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert pat.has_perm("tenancy.access_registration", reg_a1) is False
    [removed] = _events(tenant_a, "membership.removed")
    assert removed.changes == {"user": ["pat", None], "role": ["preparer", None]}
    assert _events(tenant_a, "membership.gstins_changed")[-1].changes["revoked"] == [[reg_a1.gstin], None]
    client.logout()
    assert client_for(pat).get(f"/t/{tenant_a.slug}/").status_code == 404


@pytest.mark.parametrize("persona", ["bob", "pat", "approver"])
def test_members_pages_are_forbidden_to_non_managers(request, client_for, persona, alice, tenant_a):
    user = request.getfixturevalue(persona)
    client = client_for(user)
    alice_member = _membership(tenant_a, alice)
    assert client.get(_url("tenant-members", tenant_a)).status_code == 403
    assert client.get(_url("tenant-member", tenant_a, alice_member.pk)).status_code == 403
    assert (
        client.post(_url("tenant-members", tenant_a), {"email": "e@example.com", "role": "owner"}).status_code
        == 403
    )
    assert (
        client.post(_url("tenant-member-role", tenant_a, alice_member.pk), {"role": "viewer"}).status_code
        == 403
    )
    assert client.post(_url("tenant-member-remove", tenant_a, alice_member.pk)).status_code == 403
    assert not get_user_model().objects.filter(email="e@example.com").exists()
    assert Membership.objects.get(pk=alice_member.pk).role == "owner"
    html = client.get(f"/t/{tenant_a.slug}/").content.decode()
    assert "Team &amp; access" not in html


def test_member_of_another_tenant_is_404(client_for, alice, charlie, tenant_a, tenant_b):
    foreign = _membership(tenant_b, charlie)
    client = client_for(alice)
    assert client.get(_url("tenant-member", tenant_a, foreign.pk)).status_code == 404
    assert (
        client.post(_url("tenant-member-role", tenant_a, foreign.pk), {"role": "viewer"}).status_code == 404
    )
    assert (
        client.post(_url("tenant-member-grants", tenant_a, foreign.pk), {"registrations": []}).status_code
        == 404
    )
    assert client.post(_url("tenant-member-resend", tenant_a, foreign.pk)).status_code == 404
    assert client.post(_url("tenant-member-remove", tenant_a, foreign.pk)).status_code == 404
    assert Membership.objects.get(pk=foreign.pk).role == "owner"


def test_another_tenants_members_page_is_404(client_for, alice, charlie, tenant_b):
    client = client_for(alice)
    assert client.get(_url("tenant-members", tenant_b)).status_code == 404
    foreign = _membership(tenant_b, charlie)
    assert client.post(_url("tenant-member-remove", tenant_b, foreign.pk)).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_pending_member_gets_a_fresh_set_password_link(
    client, client_for, alice, tenant_a, django_capture_on_commit_callbacks
):
    owner = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(_url("tenant-members", tenant_a), {"email": "ravi@example.com", "role": "viewer"})
    member = _membership(tenant_a, get_user_model().objects.get(email="ravi@example.com"))
    assert (
        "Send a new set-password link"
        in owner.get(_url("tenant-member", tenant_a, member.pk)).content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(_url("tenant-member-resend", tenant_a, member.pk))
    assert response["Location"] == _url("tenant-member", tenant_a, member.pk)
    assert len(mail.outbox) == 2
    [event] = _events(tenant_a, "membership.invitation_resent")
    assert event.actor_label == "alice"

    owner.logout()
    path = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[1].body).group(1)
    set_password_url = client.get(path)["Location"]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert get_user_model().objects.get(email="ravi@example.com").check_password(NEW_PASSWORD)


def test_no_new_link_for_a_member_who_has_a_password(client_for, alice, bob, tenant_a):
    member = _membership(tenant_a, bob)
    response = client_for(alice).post(_url("tenant-member-resend", tenant_a, member.pk), follow=True)
    assert "bob has already set a password." in response.content.decode()
    assert mail.outbox == []


def test_inviting_a_preparer_without_a_gstin_warns_that_they_will_see_nothing(
    client_for, alice, tenant_a, reg_a1
):
    client = client_for(alice)
    page = client.post(
        _url("tenant-members", tenant_a), {"email": "prep@example.com", "role": "preparer"}, follow=True
    ).content.decode()
    assert "prep@example.com has no GSTIN yet, so they will see no documents" in page
    granted = client.post(
        _url("tenant-members", tenant_a),
        {"email": "prep2@example.com", "role": "preparer", "registrations": [reg_a1.pk]},
        follow=True,
    ).content.decode()
    assert "has no GSTIN yet" not in granted
    admin = client.post(
        _url("tenant-members", tenant_a), {"email": "adm@example.com", "role": "admin"}, follow=True
    ).content.decode()
    assert "has no GSTIN yet" not in admin  # an admin sees every GSTIN

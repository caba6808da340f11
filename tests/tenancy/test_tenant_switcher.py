"""`/` sends a user to their last or only organisation, or lets them choose; the navbar lists them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenancy import services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def dual(tenant_a, tenant_b):
    user = factories.make_user("dual")
    factories.make_member(tenant_a, user, "viewer", gstins=[])
    factories.make_member(tenant_b, user, "admin")
    return user


def test_user_in_two_tenants_chooses_and_the_choice_opens_it(client_for, dual, tenant_a, tenant_b):
    client = client_for(dual)
    page = client.get(reverse("home"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Choose an organisation" in html
    assert f'href="/t/{tenant_a.slug}/"' in html
    assert f'href="/t/{tenant_b.slug}/"' in html

    opened = client.get(f"/t/{tenant_b.slug}/")
    assert opened.status_code == 200
    assert opened.context["current_tenant"] == tenant_b
    assert client.get(reverse("home"))["Location"] == f"/t/{tenant_b.slug}/"


def test_navbar_switcher_lists_every_tenant_of_the_user(client_for, dual, tenant_a, tenant_b):
    html = client_for(dual).get(f"/t/{tenant_a.slug}/").content.decode()
    assert 'id="tenant-switcher"' in html
    assert "Acme Traders" in html
    assert "Bharat Steel" in html
    assert f'class="dropdown-item active" href="/t/{tenant_a.slug}/"' in html


def test_user_of_one_tenant_goes_straight_to_it(client_for, alice, tenant_a):
    response = client_for(alice).get(reverse("home"))
    assert response["Location"] == f"/t/{tenant_a.slug}/"


def test_last_tenant_the_user_was_removed_from_is_not_reopened(client_for, dual, tenant_a, tenant_b):
    client = client_for(dual)
    client.get(f"/t/{tenant_b.slug}/")
    with tenant_scope(tenant_b):
        services.remove_member(
            tenant=tenant_b,
            actor=factories.SYSTEM,
            membership=Membership.objects.get(user=dual, tenant=tenant_b),
        )
    assert client.get(reverse("home"))["Location"] == f"/t/{tenant_a.slug}/"


def test_user_without_tenant_is_told_to_ask_for_an_invitation(client_for):
    html = client_for(factories.make_user("loner")).get(reverse("home")).content.decode()
    assert "not a member of any organisation" in html


def test_tenant_of_which_the_user_is_not_a_member_is_404(client_for, alice, tenant_b):
    client = client_for(alice)
    assert client.get(f"/t/{tenant_b.slug}/").status_code == 404
    assert client.get("/t/no-such-tenant/").status_code == 404
    assert client.session.get("last_tenant") != tenant_b.slug

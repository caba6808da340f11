"""Saved views of the documents list (issue #14 §3): name a filter, share it with the team, find it in the menu."""

import pytest

from audit.models import AuditEvent
from invoices.saved_views import SavedView
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_2

pytestmark = pytest.mark.django_db

LIST = "/t/acme/documents/"
SAVE = "/t/acme/documents/views/"


def views_of(tenant):
    with tenant_scope(tenant):
        return list(SavedView.objects.filter(tenant=tenant).order_by("id"))


def test_save_a_filter_as_a_view_and_open_it_from_the_menu(client_for, alice, tenant_a, docs):
    client = client_for(alice)
    query = f"supplier={SUPPLIER_2}&section=b2bcn&sort=value&cursor=xyz"
    r = client.post(SAVE, {"name": "  Steel  credit notes ", "query": query}, follow=True)
    assert "Saved the view “Steel credit notes”" in r.content.decode()
    [view] = views_of(tenant_a)
    assert view.name == "Steel credit notes"
    assert view.query == f"supplier={SUPPLIER_2}&section=b2bcn&sort=value"  # the page is not saved
    assert not view.shared
    assert 'id="nav-saved-views"' in client.get("/t/acme/").content.decode()  # in the navigation of any page
    menu = client.get(SAVE, {"as": "menu"}).content.decode()  # loaded when the menu opens
    assert f'href="{LIST}?supplier={SUPPLIER_2}&amp;section=b2bcn&amp;sort=value"' in menu
    opened = client.get(f"{LIST}?{view.query}")
    assert {d.pk for d in opened.context["page"].rows} == {docs["cn"].pk}
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(tenant=tenant_a, action="documents.view_saved")
    assert event.changes["query"] == [None, view.query]


def test_saving_the_same_name_replaces_the_view(client_for, alice, tenant_a, docs):
    client = client_for(alice)
    client.post(SAVE, {"name": "Mine", "query": "section=b2b"})
    client.post(SAVE, {"name": "Mine", "query": "section=b2bcn", "shared": "on"})
    [view] = views_of(tenant_a)
    assert (view.query, view.shared) == ("section=b2bcn", True)


def test_shared_views_show_to_the_team_private_ones_do_not(client_for, alice, pat, tenant_a, docs):
    client_for(alice).post(SAVE, {"name": "Team view", "query": "section=b2b", "shared": "on"})
    client_for(alice).post(SAVE, {"name": "Alice only", "query": "section=b2bcn"})
    menu = client_for(pat).get(SAVE, {"as": "menu"}).content.decode()
    assert "Team view" in menu
    assert "shared by alice" in menu
    assert "Alice only" not in menu
    table = client_for(pat).get(SAVE).content.decode()
    assert "Team view" in table
    assert "Delete" not in table  # not theirs
    assert "Delete" in client_for(alice).get(SAVE).content.decode()


def test_only_the_owner_deletes_a_view(client_for, alice, pat, tenant_a, docs):
    client_for(alice).post(SAVE, {"name": "Team view", "query": "section=b2b", "shared": "on"})
    [view] = views_of(tenant_a)
    assert client_for(pat).post(f"{SAVE}{view.pk}/delete/").status_code == 404
    assert views_of(tenant_a) == [view]
    r = client_for(alice).post(f"{SAVE}{view.pk}/delete/", follow=True)
    assert "Saved view deleted" in r.content.decode()
    assert views_of(tenant_a) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "query": "section=b2b"}, "Give the view a name"),
        ({"name": "x" * 81, "query": "section=b2b"}, "at most 80 characters"),
        ({"name": "Bad", "query": "value_min=lots"}, "fix the filters first"),
    ],
)
def test_bad_input_saves_nothing_and_says_why(client_for, alice, tenant_a, docs, data, message):
    r = client_for(alice).post(SAVE, data, follow=True)
    assert message in r.content.decode()
    assert views_of(tenant_a) == []


def test_other_methods_are_refused_and_another_tenants_view_is_404(
    client_for, alice, charlie, tenant_a, docs
):
    assert client_for(alice).put(SAVE).status_code == 405
    client_for(alice).post(SAVE, {"name": "A's", "query": "section=b2b", "shared": "on"})
    [view] = views_of(tenant_a)
    assert client_for(charlie).post(f"/t/bharat/documents/views/{view.pk}/delete/").status_code == 404
    assert "A&#x27;s" not in client_for(charlie).get("/t/bharat/documents/views/?as=menu").content.decode()
    assert views_of(tenant_a) == [view]

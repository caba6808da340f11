"""The action pages: list checkboxes → confirmation with the preview → apply → result; the document's panel."""

import pytest

from actions.models import BulkActionRun
from tenancy.scoping import tenant_scope
from tests.actions.conftest import SEP, refreshed

pytestmark = pytest.mark.django_db


def test_list_shows_checkboxes_and_the_bulk_bar_only_to_members_who_may_act(client_for, alice, bob, doc):
    d = doc()
    html = client_for(alice).get("/t/acme/documents/").content.decode()
    assert f'name="ids" value="{d.pk}" form="bulk-action-form"' in html
    assert 'id="all-matching"' in html
    html = client_for(bob).get("/t/acme/documents/").content.decode()
    assert 'id="bulk-action-form"' not in html
    assert 'name="ids"' not in html


def test_confirm_shows_the_preview_then_apply_lists_the_refused(client_for, alice, doc):
    ok, cn = doc(), doc(section="b2bcn", twob_period=SEP)
    client = client_for(alice)
    data = {"ids": [ok.pk, cn.pk], "action": "P", "remarks": "", "query": "section=b2b"}
    page = client.post("/t/acme/actions/confirm/", data)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="preview-sections"' in html
    assert "pending_not_allowed" in html
    assert refreshed(ok).local_action is None  # the confirmation changes nothing
    applied = client.post("/t/acme/actions/apply/", data, follow=True)
    html = applied.content.decode()
    assert 'id="run-refused"' in html
    assert cn.doc_number in html
    assert refreshed(ok).local_action == "P"
    assert refreshed(cn).local_action is None


def test_select_all_matching_applies_to_the_filter(client_for, alice, doc):
    cns = [doc(section="b2bcn"), doc(section="b2bcn")]
    b2b = doc()
    data = {"all_matching": "on", "query": "section=b2bcn", "action": "R"}
    client_for(alice).post("/t/acme/actions/apply/", data)
    assert {refreshed(d).local_action for d in cns} == {"R"}
    assert refreshed(b2b).local_action is None


def test_confirm_without_a_selection_is_a_form_error_on_the_list(client_for, alice):
    r = client_for(alice).post("/t/acme/actions/confirm/", {"action": "A"}, follow=True)
    assert r.redirect_chain == [("/t/acme/documents/", 302)]
    assert 'id="bulk-errors"' in r.content.decode()
    assert "Tick the documents" in r.content.decode()


def test_viewer_gets_403_and_foreign_ids_404(client_for, bob, charlie, doc):
    d = doc()
    assert client_for(bob).post("/t/acme/actions/confirm/", {"ids": [d.pk], "action": "A"}).status_code == 403
    assert (
        client_for(charlie).post("/t/bharat/actions/apply/", {"ids": [d.pk], "action": "A"}).status_code
        == 404
    )
    assert refreshed(d).local_action is None


def test_document_page_shows_verdicts_and_takes_an_action(client_for, alice, doc, tenant_a):
    cn = doc(section="b2bcn", twob_period=SEP)
    client = client_for(alice)
    html = client.get(f"/t/acme/documents/{cn.pk}/").content.decode()
    assert 'id="action-verdicts"' in html
    assert "Pending is not allowed for an original credit note" in html
    r = client.post(f"/t/acme/actions/documents/{cn.pk}/", {"action": "A", "declaration": "nil"}, follow=True)
    assert r.status_code == 200
    assert refreshed(cn).local_action is None  # Sep-2025: the declaration is refused, nothing saved
    assert "Not done" in r.content.decode()
    client.post(f"/t/acme/actions/documents/{cn.pk}/", {"action": "R", "remarks": "duplicate"})
    assert refreshed(cn).local_action == "R"


def test_run_page_of_another_user_is_404(client_for, alice, pat, doc, tenant_a):
    client_for(alice).post("/t/acme/actions/apply/", {"ids": [doc().pk], "action": "A"})
    with tenant_scope(tenant_a):
        run = BulkActionRun.objects.get()
    assert client_for(alice).get(f"/t/acme/actions/runs/{run.pk}/").status_code == 200
    assert client_for(pat).get(f"/t/acme/actions/runs/{run.pk}/").status_code == 404

"""The document page's action box shows the document's current action; the bulk bar, the confirmation and the
result page of a bulk action (issue #14 §3, §4)."""

import re
from decimal import Decimal

import pytest

from tests.actions.conftest import refreshed

pytestmark = pytest.mark.django_db


def _selected(html: str, form_id: str, name: str) -> str | None:
    form = html.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    select = form.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]
    match = re.search(r'<option value="([^"]*)"[^>]*selected', select)
    return match[1] if match else None


def test_action_box_shows_the_action_just_saved_and_saving_again_keeps_it(client_for, alice, doc):
    d = doc()
    client = client_for(alice)
    client.post(f"/t/acme/actions/documents/{d.pk}/", {"action": "R", "remarks": "duplicate bill"})
    html = client.get(f"/t/acme/documents/{d.pk}/").content.decode()
    assert _selected(html, "document-action-form", "action") == "R"
    form = html.split('id="document-action-form"', 1)[1].split("</form>", 1)[0]
    assert "duplicate bill" in form
    # Saving the box as shown changes nothing (it used to flip the document to Accept).
    r = client.post(
        f"/t/acme/actions/documents/{d.pk}/", {"action": "R", "remarks": "duplicate bill"}, follow=True
    )
    assert "Nothing changed" in r.content.decode()
    assert refreshed(d).local_action == "R"


def test_action_box_shows_the_portal_action_when_there_is_no_local_one(client_for, alice, doc):
    d = doc(portal_action="P", portal_remarks="awaiting goods")
    html = client_for(alice).get(f"/t/acme/documents/{d.pk}/").content.decode()
    assert _selected(html, "document-action-form", "action") == "P"
    assert "awaiting goods" in html.split('id="document-action-form"', 1)[1].split("</form>", 1)[0]


def test_bulk_bar_labels_its_fields_and_marks_where_they_apply(client_for, alice, doc):
    cn = doc(section="b2bcn")
    html = client_for(alice).get("/t/acme/documents/").content.decode()
    bar = html.split('id="bulk-action-form"', 1)[1].split("</form>", 1)[0]
    assert 'data-specified-sections="' in html
    assert "b2bcn" in html.split('data-specified-sections="', 1)[1][:60]
    assert '<label class="form-label small mb-0" for="id_remarks">Remarks</label>' in bar
    assert 'data-applies-to="A R P"' in bar  # remarks: not with a reset
    assert 'data-applies-to="A" data-needs-selection' in bar  # the ITC answer: Accept of a specified record
    assert f'<tr data-href="/t/acme/documents/{cn.pk}/" tabindex="0" data-section="b2bcn">' in html


def test_bulk_errors_come_back_on_the_list_with_the_selection_kept(client_for, alice, doc):
    a, b, c = doc(), doc(), doc()
    data = {
        "ids": [a.pk, c.pk],
        "action": "N",
        "remarks": "not allowed with a reset",
        "query": "section=b2b",
        "back": "section=b2b&sort=date",
    }
    r = client_for(alice).post("/t/acme/actions/confirm/", data, follow=True)
    assert r.redirect_chain == [("/t/acme/documents/?section=b2b&sort=date", 302)]
    html = r.content.decode()
    assert 'id="bulk-errors"' in html
    assert "remarks" in html.split('id="bulk-errors"', 1)[1].split("</div>", 1)[0].lower()
    for d, ticked in ((a, True), (b, False), (c, True)):
        box = html.split(f'name="ids" value="{d.pk}"', 1)[1].split(">", 1)[0]
        assert ("checked" in box) is ticked
    assert _selected(html, "bulk-action-form", "action") == "N"
    # Shown once: the next visit to the list is a fresh one.
    again = client_for(alice).get("/t/acme/documents/").content.decode()
    assert 'id="bulk-errors"' not in again
    assert refreshed(a).local_action is None


def test_result_page_links_back_to_the_same_list_and_to_push_now(client_for, alice, bob, doc):
    d = doc()
    data = {"ids": [d.pk], "action": "A", "query": "section=b2b", "back": "section=b2b&sort=value"}
    r = client_for(alice).post("/t/acme/actions/apply/", data, follow=True)
    html = r.content.decode()
    assert 'id="back-to-list" href="/t/acme/documents/?section=b2b&amp;sort=value"' in html
    assert 'id="push-now"' in html
    assert "/t/acme/portal/" in html.split('id="push-now"', 1)[1][:200]
    assert refreshed(d).local_action == "A"


def test_confirmation_keeps_the_way_back_to_the_list(client_for, alice, doc):
    d = doc()
    data = {"ids": [d.pk], "action": "R", "query": "section=b2b", "back": "section=b2b&cursor=abc"}
    html = client_for(alice).post("/t/acme/actions/confirm/", data).content.decode()
    assert 'id="back-to-list" href="/t/acme/documents/?section=b2b&amp;cursor=abc"' in html
    assert '<input type="hidden" name="back" value="section=b2b&amp;cursor=abc">' in html


def test_impact_table_shows_every_tax_head_before_and_after(client_for, alice, doc):
    d = doc(igst=Decimal("0"), cgst=Decimal("450.00"), sgst=Decimal("450.00"), cess=Decimal("12.00"))
    html = client_for(alice).post("/t/acme/actions/confirm/", {"ids": [d.pk], "action": "R"}).content.decode()
    table = html.split('id="impact-periods"', 1)[1].split("</table>", 1)[0]
    for head in ("IGST", "CGST", "SGST/UTGST", "Cess"):
        assert f">{head}</th>" in table
    available = table.split('data-bucket="available"', 1)[1].split("</tr>", 1)[0]
    assert 'data-head="cgst" data-side="before">₹450.00<' in available
    assert 'data-head="cgst" data-side="after">₹0.00<' in available
    assert 'data-head="cess" data-side="before">₹12.00<' in available
    rejected = table.split('data-bucket="rejected"', 1)[1].split("</tr>", 1)[0]
    assert 'data-head="sgst" data-side="after">₹450.00<' in rejected

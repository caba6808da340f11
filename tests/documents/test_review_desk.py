"""One-by-one review (issue #14 §3): previous / next within the list's filter, the document page's reconciliation
and supplier panels, partial number search, amounts in Indian grouping, a mistyped GSTIN, numbered pages."""

import datetime as dt
import re

import pytest

from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc, make_supplier
from tests.documents.recon_helpers import books, reconcile

pytestmark = pytest.mark.django_db

LIST = "/t/acme/documents/"


def listed(response):
    assert response.status_code == 200, response.content[:2000]
    return [d.pk for d in response.context["page"].rows]


@pytest.fixture
def week(reg_a1):
    """Seven invoices of SUPPLIER_1 on 1–7 October and three of SUPPLIER_2 (a credit note among them)."""
    mine = [make_doc(reg_a1, doc_date=dt.date(2025, 10, day)) for day in range(1, 8)]
    other = [
        make_doc(reg_a1, doc_date=dt.date(2025, 10, 2), supplier_gstin=SUPPLIER_2),
        make_doc(reg_a1, doc_date=dt.date(2025, 10, 4), supplier_gstin=SUPPLIER_2, section="b2bcn"),
        make_doc(reg_a1, doc_date=dt.date(2025, 10, 6), supplier_gstin=SUPPLIER_2),
    ]
    return mine, other


def _link(html: str, element_id: str) -> str | None:
    match = re.search(rf'id="{element_id}"[^>]*href="([^"]+)"', html)
    return match[1].replace("&amp;", "&") if match else None


def test_list_rows_open_the_document_with_the_lists_filter(client_for, alice, week):
    mine, _other = week
    html = client_for(alice).get(LIST, {"supplier": SUPPLIER_1, "sort": "date"}).content.decode()
    assert f'href="{LIST}{mine[0].pk}/?supplier={SUPPLIER_1}&amp;sort=date"' in html


def test_previous_and_next_walk_the_filtered_list_in_its_order(client_for, alice, week):
    mine, _other = week
    client = client_for(alice)
    query = f"supplier={SUPPLIER_1}&sort=date"
    url, seen = f"{LIST}{mine[0].pk}/?{query}", []
    while url:
        html = client.get(url).content.decode()
        seen.append(int(re.search(r"/documents/(\d+)/", url)[1]))
        assert f"{len(seen)} of" in html  # its place in the list
        url = _link(html, "next-doc")
    assert seen == [d.pk for d in mine]  # the other supplier's documents are skipped
    back = []
    url = f"{LIST}{mine[-1].pk}/?{query}"
    while url:
        back.append(int(re.search(r"/documents/(\d+)/", url)[1]))
        url = _link(client.get(url).content.decode(), "prev-doc")
    assert back == [d.pk for d in reversed(mine)]


def test_back_to_the_list_opens_the_page_that_starts_at_the_document(client_for, alice, week):
    mine, _other = week
    client = client_for(alice)
    html = client.get(f"{LIST}{mine[3].pk}/", {"supplier": SUPPLIER_1, "sort": "date"}).content.decode()
    back = _link(html, "back-to-list")
    page = client.get(back)
    assert listed(page)[0] == mine[3].pk
    assert "4–7 of" in page.content.decode()


def test_save_and_next_saves_then_opens_the_next_document_of_the_list(client_for, alice, week):
    mine, _other = week
    client = client_for(alice)
    query = f"supplier={SUPPLIER_1}&sort=date&action=N"
    html = client.get(f"{LIST}{mine[0].pk}/?{query}").content.decode()
    assert 'id="save-and-next"' in html
    r = client.post(
        f"/t/acme/actions/documents/{mine[0].pk}/?{query}", {"action": "A", "then": "next"}, follow=True
    )
    # The saved document left the filter (no longer "no action"); the next one is still its neighbour.
    assert r.redirect_chain[-1][0] == f"{LIST}{mine[1].pk}/?{query}"
    assert "Action saved" in r.content.decode()
    with tenant_scope(mine[0].tenant_id):
        mine[0].refresh_from_db()
    assert mine[0].local_action == "A"


def test_invalid_list_filters_leave_the_page_without_neighbours(client_for, alice, week):
    mine, _other = week
    response = client_for(alice).get(f"{LIST}{mine[2].pk}/", {"value_min": "lots"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="next-doc"' not in html
    assert 'id="back-to-list"' in html


def test_document_of_another_tenant_is_404_with_any_filter(client_for, charlie, week):
    mine, _other = week
    assert client_for(charlie).get(f"/t/bharat/documents/{mine[0].pk}/?sort=date").status_code == 404


def test_supplier_history_on_the_document_page(client_for, alice, week, tenant_a):
    mine, other = week
    make_supplier(tenant_a, SUPPLIER_2, "Karnataka Steel Works Ltd")
    html = client_for(alice).get(f"{LIST}{other[0].pk}/").content.decode()
    panel = html.split('id="supplier-history"', 1)[1]
    assert "3 documents in IMS" in panel
    assert other[1].doc_number in panel
    assert other[2].doc_number in panel
    assert mine[0].doc_number not in panel
    assert "Karnataka Steel Works Ltd" in html


def test_reconciliation_pair_on_the_document_page(client_for, alice, tenant_a, reg_a1):
    docs = books(tenant_a, alice, reg_a1)
    client = client_for(alice)
    html = client.get(f"{LIST}{docs['TOL'].pk}/").content.decode()
    assert "No reconciliation of" in html.split('id="recon-pair"', 1)[1]
    reconcile(tenant_a, alice, reg_a1)
    panel = client.get(f"{LIST}{docs['TOL'].pk}/").content.decode().split('id="recon-pair"', 1)[1]
    panel = panel.split('id="supplier-history"', 1)[0]
    assert "Within tolerance" in panel
    assert f"PV-{reg_a1.pk}-TOL" in panel  # the register line's ERP reference
    panel = client.get(f"{LIST}{docs['NOBOOK'].pk}/").content.decode().split('id="recon-pair"', 1)[1]
    assert "none in the register" in panel.split('id="supplier-history"', 1)[0]


def test_partial_number_finds_the_number_anywhere_in_it(client_for, alice, reg_a1):
    wanted = make_doc(reg_a1, doc_number="INV/2026-27/00029", doc_date=dt.date(2026, 5, 2))
    lower = make_doc(reg_a1, doc_number="inv/2026-27/00029a", doc_date=dt.date(2026, 5, 3))
    make_doc(reg_a1, doc_number="INV/2026-27/00290", doc_date=dt.date(2026, 5, 4))
    client = client_for(alice)
    assert set(listed(client.get(LIST, {"number": "00029"}))) == {wanted.pk, lower.pk}
    assert set(listed(client.get(LIST, {"number": "27/00029A"}))) == {lower.pk}
    # The prefix of the normalised number still works ("inv-29" is INV29 once zeros and FY tokens go).
    assert set(listed(client.get(LIST, {"number": "inv-29"}))) >= {wanted.pk, lower.pk}


@pytest.mark.parametrize("typed", ["1,00,000", "100,000", "₹1,00,000.00", "100000"])
def test_amount_filters_accept_indian_grouping(client_for, alice, docs, typed):
    response = client_for(alice).get(LIST, {"taxable_min": typed})
    assert set(listed(response)) == {docs["big"].pk}


@pytest.mark.parametrize("typed", ["1,0", "10,00,00", "1,00,00,0"])
def test_amount_filter_with_misplaced_commas_is_an_error(client_for, alice, docs, typed):
    response = client_for(alice).get(LIST, {"value_max": typed})
    assert response.status_code == 400
    assert "Enter an amount such as 1,00,000" in response.content.decode()


def test_api_reads_indian_grouping_and_names_a_bad_amount(client_for, alice, docs):
    client = client_for(alice)
    ok = client.get("/api/v1/t/acme/documents/", {"taxable_min": "10,00,000"})
    assert ok.status_code == 200
    bad = client.get("/api/v1/t/acme/documents/", {"taxable_min": "10,0"})
    assert bad.status_code == 400
    assert "taxable_min" in bad.json().get("errors", bad.json())


def test_supplier_gstin_with_a_wrong_check_character_says_so(client_for, alice, docs):
    wrong = SUPPLIER_1[:14] + ("A" if SUPPLIER_1[14] != "A" else "B")
    response = client_for(alice).get(LIST, {"supplier": wrong})
    assert response.status_code == 400
    assert f"should be {SUPPLIER_1[14]!r}" in response.content.decode().replace("&#x27;", "'")
    assert set(listed(client_for(alice).get(LIST, {"supplier": SUPPLIER_1.lower()}))) >= {docs["oct_b2b"].pk}


def test_a_mistyped_gstin_the_portal_sent_stays_findable(client_for, alice, reg_a1):
    mistyped = SUPPLIER_1[:14] + ("A" if SUPPLIER_1[14] != "A" else "B")
    d = make_doc(reg_a1, supplier_gstin=mistyped, supplier_gstin_valid=False)
    assert listed(client_for(alice).get(LIST, {"supplier": mistyped})) == [d.pk]


def test_pages_say_which_rows_they_show(client_for, alice, reg_a1):
    for day in range(1, 29):
        for _ in range(4):
            make_doc(reg_a1, doc_date=dt.date(2025, 10, day))
    client = client_for(alice)
    first = client.get(LIST, {"sort": "date"})
    assert "1–50 of" in first.content.decode()
    second = client.get(LIST, {"sort": "date", "cursor": first.context["page"].next_cursor})
    assert "51–100 of" in second.content.decode()
    third = client.get(LIST, {"sort": "date", "cursor": second.context["page"].next_cursor})
    assert "101–112 of" in third.content.decode()
    back = client.get(LIST, {"sort": "date", "cursor": third.context["page"].prev_cursor})
    assert "51–100 of" in back.content.decode()
    count = client.get("/t/acme/documents/count/", {"sort": "date", "bare": "1"}).content.decode()
    assert count.strip() == "112"


def test_sort_control_submits_itself_from_a_static_script(client_for, alice, docs):
    html = client_for(alice).get(LIST).content.decode()
    assert "/static/js/review.js" in html
    assert "onclick=" not in html
    assert "onchange=" not in html

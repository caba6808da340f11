"""A document follows its GSTIN: no grant, no document — in lists, counts, dashboard, detail and export.
Another tenant's document is a 404, never a 403 or 500."""

import pytest

pytestmark = pytest.mark.django_db

LIST = "/t/acme/documents/"


def test_preparer_lists_only_documents_of_granted_gstin(client_for, pat, docs, reg_a1):
    page = client_for(pat).get(LIST).context["page"]
    assert {d.registration_id for d in page.rows} == {reg_a1.pk}
    assert docs["a2"].pk not in {d.pk for d in page.rows}


def test_preparer_cannot_filter_to_an_ungranted_gstin(client_for, pat, docs, reg_a2):
    response = client_for(pat).get(LIST, {"registration": reg_a2.gstin})
    assert response.status_code == 400
    assert reg_a2.gstin not in response.context["filterset"].form["registration"].field.queryset.values_list(
        "gstin", flat=True
    )


def test_preparer_count_and_dashboard_leave_out_ungranted_gstin(client_for, pat, docs, reg_a2):
    client = client_for(pat)
    assert client.get(LIST + "count/").content.decode().strip() == "10 documents"
    board = client.get("/t/acme/").context["board"]
    assert [rc.registration.gstin for rc in board.registrations] == [docs["oct_b2b"].registration.gstin]
    assert board.document_count == 9  # reg_a1's current documents; reg_a2's one is not counted


def test_preparer_gets_404_for_document_of_ungranted_gstin(client_for, pat, docs):
    client = client_for(pat)
    assert client.get(f"{LIST}{docs['oct_b2b'].pk}/").status_code == 200
    assert client.get(f"{LIST}{docs['a2'].pk}/").status_code == 404


def test_viewer_without_grants_sees_no_document(client_for, bob, docs):
    client = client_for(bob)
    assert client.get(LIST).context["page"].rows == []
    assert client.get(f"{LIST}{docs['oct_b2b'].pk}/").status_code == 404
    assert "no GSTINs to see yet" in client.get("/t/acme/").content.decode()


def test_another_tenants_document_by_url_is_404(client_for, alice, docs):
    assert client_for(alice).get(f"{LIST}{docs['b'].pk}/").status_code == 404


def test_non_member_gets_404_for_the_tenant_pages(client_for, charlie, docs):
    client = client_for(charlie)
    for url in (
        LIST,
        f"{LIST}{docs['oct_b2b'].pk}/",
        "/t/acme/",
        LIST + "export/",
        LIST + "count/",
        "/t/acme/api-access/",
    ):
        assert client.get(url).status_code == 404, url


def test_anonymous_user_is_sent_to_login(client, docs):
    response = client.get(LIST)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]

"""REST API v1: token authentication, tenant membership (404 otherwise), GSTIN visibility, cursor pages, schema."""

import pytest
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

URL = "/api/v1/t/acme/documents/"


def auth(user):
    token, _ = Token.objects.get_or_create(user=user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def test_token_endpoint_returns_the_users_token_for_good_credentials(client, alice):
    response = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=alice).key


def test_token_endpoint_refuses_a_wrong_password(client, alice):
    response = client.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert "token" not in response.json()


def test_token_from_the_endpoint_opens_the_api(client, alice, docs):
    key = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}).json()["token"]
    response = client.get(URL, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 11


@pytest.mark.parametrize(
    "header", [None, "Token 0123456789abcdef0123456789abcdef01234567", "Bearer nonsense"]
)
def test_missing_or_bad_token_is_refused(client, alice, docs, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get(URL, **kwargs)
    assert response.status_code == 401


def test_preparer_api_list_and_detail_follow_the_gstin_grant(client, pat, docs, reg_a1):
    response = client.get(URL, **auth(pat))
    assert {row["recipient_gstin"] for row in response.json()["results"]} == {reg_a1.gstin}
    assert client.get(f"{URL}{docs['a2'].pk}/", **auth(pat)).status_code == 404
    assert client.get(f"{URL}{docs['oct_b2b'].pk}/", **auth(pat)).status_code == 200


def test_another_tenants_document_id_is_404(client, alice, docs):
    assert client.get(f"{URL}{docs['b'].pk}/", **auth(alice)).status_code == 404


def test_non_member_gets_404_for_the_tenant_api(client, charlie, docs):
    assert client.get(URL, **auth(charlie)).status_code == 404
    assert client.get(f"{URL}{docs['oct_b2b'].pk}/", **auth(charlie)).status_code == 404
    assert client.get("/api/v1/t/no-such-tenant/documents/", **auth(charlie)).status_code == 404


def test_detail_has_amounts_as_decimal_strings_and_versions(client, alice, docs):
    data = client.get(f"{URL}{docs['dn'].pk}/", **auth(alice)).json()
    assert data["igst"] == "1800.00"
    assert data["portal_action"] == "N"
    assert data["local_action"] == "A"
    assert data["effective_action"] == "A"
    assert data["supplier_period"] == "102025"
    assert data["versions"] == []


def test_cursor_pages_reach_every_document_once(client, alice, reg_a1):
    import datetime as dt

    made = {make_doc(reg_a1, doc_date=dt.date(2025, 10, 1 + i % 3)).pk for i in range(23)}
    seen, url = [], f"{URL}?page_size=5"
    while url:
        body = client.get(url, **auth(alice)).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


def test_api_access_page_shows_and_rotates_the_token(client_for, alice, tenant_a):
    client = client_for(alice)
    assert "You have no API token yet" in client.get("/t/acme/api-access/").content.decode()
    client.post("/t/acme/api-access/")
    first = Token.objects.get(user=alice).key
    assert first in client.get("/t/acme/api-access/").content.decode()
    client.post("/t/acme/api-access/")
    second = Token.objects.get(user=alice).key
    assert second != first
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {first}").status_code == 401
    with tenant_scope(tenant_a):
        assert list(
            AuditEvent.objects.filter(action__startswith="api_token.")
            .values_list("action", flat=True)
            .order_by("seq")
        ) == ["api_token.created", "api_token.rotated"]


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/t/{tenant_slug}/documents/" in schema.content
    docs = client.get("/api/docs/")
    html = docs.content.decode()
    assert docs.status_code == 200
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_browsable_api_renders_for_a_logged_in_member(client_for, alice, docs):
    response = client_for(alice).get(URL, {"section": "b2b"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert docs["oct_b2b"].doc_number in response.content.decode()

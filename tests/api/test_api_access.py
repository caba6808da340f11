"""REST API v1: token authentication, tenant membership (404 otherwise), GSTIN visibility, cursor pages, schema.
Tokens themselves (scopes, expiry, revocation, rate): tests/tenancy/test_api_tokens.py."""

import re

import pytest

from audit.models import AuditEvent
from tenancy.models import ApiToken
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.factories import PASSWORD
from tests.tokens import token_header

pytestmark = pytest.mark.django_db

URL = "/api/v1/t/acme/documents/"


def auth(user):
    return token_header(user)


def test_token_endpoint_makes_a_new_token_for_good_credentials(client, alice):
    response = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "tenant": "acme"}
    )
    assert response.status_code == 201
    assert ApiToken.objects.get(user=alice).prefix == response.json()["token"][:12]


def test_token_endpoint_refuses_a_wrong_password(client, alice):
    response = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "wrong", "tenant": "acme"}
    )
    assert response.status_code == 400
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


def test_token_from_the_endpoint_opens_the_api(client, alice, docs):
    key = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "tenant": "acme"}
    ).json()["token"]
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


def test_api_access_page_makes_tokens_that_work_side_by_side_until_revoked(client_for, alice, tenant_a, docs):
    client = client_for(alice)
    assert "You have no API token here yet" in client.get("/t/acme/api-access/").content.decode()
    keys = [
        re.search(
            r'id="api-token" value="([^"]+)"',
            client.post(
                "/t/acme/api-access/", {"name": n, "scopes": ["read"], "days": "30"}
            ).content.decode(),
        ).group(1)
        for n in ("first", "second")
    ]
    assert [client.get(URL, HTTP_AUTHORIZATION=f"Token {k}").status_code for k in keys] == [200, 200]
    first = ApiToken.objects.get(name="first")
    client.post(f"/t/acme/api-access/{first.pk}/revoke/")
    assert [client.get(URL, HTTP_AUTHORIZATION=f"Token {k}").status_code for k in keys] == [401, 200]
    with tenant_scope(tenant_a):
        assert list(
            AuditEvent.objects.filter(action__startswith="api_token.")
            .values_list("action", flat=True)
            .order_by("seq")
        ) == ["api_token.created", "api_token.created", "api_token.revoked"]


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

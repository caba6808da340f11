"""The action endpoints of the REST API: one document, bulk with preview and Idempotency-Key, errors, schema."""

import pytest

from tests.actions.conftest import events, refreshed
from tests.documents.helpers import make_doc
from tests.tokens import api_token

pytestmark = pytest.mark.django_db
BULK = "/api/v1/t/acme/actions/bulk/"


@pytest.fixture
def api(client):
    def as_user(user):
        token = api_token(user)

        def post(path, body, **headers):
            return client.post(
                path,
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {token.key}",
                **headers,
            )

        return post

    return as_user


def test_document_action_through_the_api(api, alice, doc, tenant_a):
    d = doc()
    r = api(alice)(f"/api/v1/t/acme/documents/{d.pk}/action/", {"action": "R", "remarks": "not ours"})
    assert r.status_code == 200, r.content
    assert r.json()["local_action"] == "R"
    assert refreshed(d).local_remarks == "not ours"
    assert events(tenant_a)[0].actor_type == "api"


def test_document_action_refused_by_the_rules_is_422_with_the_code(api, alice, doc):
    d = doc(pending_blocked=True)
    r = api(alice)(f"/api/v1/t/acme/documents/{d.pk}/action/", {"action": "P"})
    assert r.status_code == 422
    assert r.json()["code"] == "pending_blocked_by_portal"


def test_invalid_action_is_400(api, alice, doc):
    r = api(alice)(f"/api/v1/t/acme/documents/{doc().pk}/action/", {"action": "N", "remarks": "x"})
    assert r.status_code == 400
    assert r.json()["field"] == "remarks"


def test_viewer_gets_403_and_another_tenants_document_404(api, bob, charlie, doc):
    d = doc()
    assert api(bob)(f"/api/v1/t/acme/documents/{d.pk}/action/", {"action": "A"}).status_code == 403
    assert api(bob)(BULK, {"ids": [d.pk], "action": "A"}).status_code == 403
    assert api(charlie)(f"/api/v1/t/bharat/documents/{d.pk}/action/", {"action": "A"}).status_code == 404
    assert refreshed(d).local_action is None


def test_bulk_preview_changes_nothing(api, alice, doc):
    d = doc()
    r = api(alice)(BULK, {"filter": {"section": ["b2b"]}, "action": "A", "preview": True})
    assert r.status_code == 200
    assert r.json()["outcomes"]["apply"] == 1
    assert refreshed(d).local_action is None


def test_bulk_by_ids_with_idempotency_key(api, alice, doc, tenant_a):
    a, b = doc(), doc(pending_blocked=True)
    post = api(alice)
    first = post(BULK, {"ids": [a.pk, b.pk], "action": "P"}, HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["applied"] == 1
    assert body["refused"][0]["id"] == b.pk
    replay = post(BULK, {"ids": [b.pk, a.pk], "action": "P"}, HTTP_IDEMPOTENCY_KEY="abc")
    assert replay.status_code == 200
    assert replay.json()["run_id"] == body["run_id"]
    assert len(events(tenant_a)) == 1
    other = post(BULK, {"ids": [a.pk], "action": "R"}, HTTP_IDEMPOTENCY_KEY="abc")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_bulk_with_smuggled_foreign_ids_is_404_and_changes_nothing(api, charlie, doc, reg_b1):
    mine = make_doc(reg_b1)
    foreign = doc()
    r = api(charlie)("/api/v1/t/bharat/actions/bulk/", {"ids": [mine.pk, foreign.pk], "action": "R"})
    assert r.status_code == 404
    assert r.json()["ids"] == [foreign.pk]
    assert refreshed(mine).local_action is None
    assert refreshed(foreign).local_action is None


def test_bulk_needs_ids_or_filter(api, alice):
    assert api(alice)(BULK, {"action": "A"}).status_code == 400


def test_the_action_endpoints_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/t/{tenant_slug}/actions/bulk/" in schema
    assert "/api/v1/t/{tenant_slug}/documents/{id}/action/" in schema

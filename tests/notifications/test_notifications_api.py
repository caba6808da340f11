"""In-app notifications through the REST API: one's own only, unread filter, mark read."""

import pytest

from notifications import services
from tenancy.scoping import tenant_scope
from tests.tokens import api_token

pytestmark = pytest.mark.django_db


def test_a_user_lists_and_marks_read_their_own_notifications(client, tenant_a, alice, pat):
    with tenant_scope(tenant_a):
        services.notify(tenant=tenant_a, users=[alice], kind="push_failed", text="Push #3 of X: refused 1")
        services.notify(tenant=tenant_a, users=[alice], kind="approval.requested", text="Batch #4 waits")
        services.notify(tenant=tenant_a, users=[pat], kind="approval.approved", text="for pat only")
    auth = {"HTTP_AUTHORIZATION": f"Token {api_token(alice).key}"}
    body = client.get("/api/v1/t/acme/notifications/", **auth).json()
    assert body["unread"] == 2
    assert {n["kind"] for n in body["results"]} == {"push_failed", "approval.requested"}
    first = body["results"][-1]["id"]
    marked = client.post(
        "/api/v1/t/acme/notifications/read/", {"ids": [first]}, content_type="application/json", **auth
    )
    assert marked.json() == {"marked": 1}
    unread = client.get("/api/v1/t/acme/notifications/", {"unread": "1"}, **auth).json()
    assert unread["unread"] == 1
    assert [n["id"] for n in unread["results"]] != [first]
    assert client.post(
        "/api/v1/t/acme/notifications/read/", {}, content_type="application/json", **auth
    ).json() == {"marked": 1}
    pat_auth = {"HTTP_AUTHORIZATION": f"Token {api_token(pat).key}"}
    assert [n["text"] for n in client.get("/api/v1/t/acme/notifications/", **pat_auth).json()["results"]] == [
        "for pat only"
    ]

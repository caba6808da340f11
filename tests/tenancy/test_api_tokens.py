"""API tokens (issue #13, docs/access.md §1): one member, one tenant, scopes, expiry, revocation when the reason for
the token goes (password change or reset, deactivation, leaving the organisation), last use, a rate per token,
shown once and stored hashed; every API route declares the scope a token needs."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from audit.models import AuditEvent
from tenancy import services as tenancy_services
from tenancy.api import HasTokenScope, required_scope
from tenancy.models import ApiToken
from tenancy.roles import Scope
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import make_doc
from tests.factories import PASSWORD, SYSTEM
from tests.tokens import token_key

pytestmark = pytest.mark.django_db

DOCS = "/api/v1/t/acme/documents/"
BULK = "/api/v1/t/acme/actions/bulk/"
PAGE = "/t/acme/api-access/"
NEW_PASSWORD = "teal lantern 42 quietly"


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def login(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def revocations(tenant) -> list[str]:
    with tenant_scope(tenant):
        return [
            e.metadata["reason"]
            for e in AuditEvent.objects.filter(action="api_token.revoked").order_by("seq")
        ]


@pytest.fixture
def doc(reg_a1):
    return make_doc(reg_a1, doc_number="TOKEN-DOC-1")


@pytest.fixture
def alice_in_b(alice, tenant_b, reg_b1):
    """alice is also an owner of tenant B."""
    factories.make_member(tenant_b, alice, "owner")
    make_doc(reg_b1, doc_number="BHARAT-SECRET-1")
    return alice


# --- made on the page, shown once, stored hashed -------------------------------------------------------------


def test_the_page_makes_a_token_for_this_tenant_shows_it_once_and_stores_only_its_hash(alice, tenant_a, doc):
    client = login(alice)
    made = client.post(PAGE, {"name": "ERP nightly", "scopes": ["read", "act"], "days": "30"})
    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    key = re.search(r'id="api-token" value="([^"]+)"', made.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert (token.tenant_id, token.user_id, token.name) == (tenant_a.pk, alice.pk, "ERP nightly")
    assert token.scopes == ["read", "act"]
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {str(v) for v in ApiToken.objects.values().get().values()}
    assert timezone.now() + dt.timedelta(days=29) < token.expires_at <= timezone.now() + dt.timedelta(days=30)
    later = client.get(PAGE).content.decode()
    assert key not in later
    assert f"{token.prefix}…" in later
    assert "ERP nightly" in later
    assert client.get(DOCS, **auth(key)).json()["results"][0]["doc_number"] == "TOKEN-DOC-1"
    with tenant_scope(tenant_a):
        created = AuditEvent.objects.get(action="api_token.created")
    assert (created.actor_id, created.object_id) == (alice.pk, str(token.pk))
    assert created.changes["scopes"] == [None, ["read", "act"]]


def test_a_new_token_lasts_the_configured_number_of_days_by_default(settings, alice, tenant_a):
    settings.API_TOKEN_DAYS = 7
    assert 'value="7"' in login(alice).get(PAGE).content.decode()
    token_key(alice, tenant_a)
    expires = ApiToken.objects.get().expires_at
    assert timezone.now() + dt.timedelta(days=6) < expires <= timezone.now() + dt.timedelta(days=7)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "days": "30"}, "scopes"),
        ({"name": "x", "scopes": ["read"], "days": "0"}, "days"),
        ({"name": "x", "scopes": ["read"], "days": "366"}, "days"),
        ({"name": "x", "scopes": ["everything"], "days": "30"}, "scopes"),
        ({"name": "", "scopes": ["read"], "days": "30"}, "name"),
    ],
)
def test_the_page_refuses_bad_input_naming_the_field_and_makes_nothing(alice, tenant_a, data, field):
    response = login(alice).post(PAGE, data)
    assert response.status_code == 400
    assert re.search(
        rf'id="id_{field}[^"]*"[^>]*is-invalid|is-invalid[^>]*id="id_{field}', response.content.decode()
    )
    assert not ApiToken.objects.exists()


def test_the_service_refuses_an_unknown_scope_and_too_long_a_life(alice, tenant_a):
    with pytest.raises(tenancy_services.TenancyError) as err:
        token_key(alice, tenant_a, scopes=["read", "root"])
    assert err.value.field == "scopes"
    with pytest.raises(tenancy_services.TenancyError) as err:
        token_key(alice, tenant_a, days=10_000)
    assert err.value.field == "days"


# --- one tenant, scopes, expiry --------------------------------------------------------------------------------


def test_a_token_opens_only_the_tenant_it_was_made_for(client, alice_in_b, tenant_a, tenant_b, doc):
    key_a = token_key(alice_in_b, tenant_a)
    key_b = token_key(alice_in_b, tenant_b)
    assert client.get(DOCS, **auth(key_a)).status_code == 200
    wrong = client.get("/api/v1/t/bharat/documents/", **auth(key_a))
    assert wrong.status_code == 404
    assert b"BHARAT-SECRET-1" not in wrong.content
    other = client.get(DOCS, **auth(key_b))
    assert other.status_code == 404
    assert b"TOKEN-DOC-1" not in other.content
    assert client.get("/api/v1/t/bharat/documents/", **auth(key_b)).status_code == 200


def test_a_missing_scope_is_403_naming_the_scope(client, alice, tenant_a, doc):
    read_only = token_key(alice, tenant_a, scopes=["read"])
    assert client.get(DOCS, **auth(read_only)).status_code == 200
    body = {"ids": [doc.pk], "action": "A"}
    refused = client.post(BULK, body, content_type="application/json", **auth(read_only))
    assert refused.status_code == 403
    assert "“act” scope" in refused.json()["detail"]
    act_only = token_key(alice, tenant_a, scopes=["act"])
    no_read = client.get(DOCS, **auth(act_only))
    assert no_read.status_code == 403
    assert "“read” scope" in no_read.json()["detail"]
    assert client.post(BULK, body, content_type="application/json", **auth(act_only)).status_code == 200


def test_register_write_is_needed_for_the_register_upsert_and_approve_for_decisions(client, alice, tenant_a):
    act = token_key(alice, tenant_a, scopes=["read", "act"])
    upsert = client.post(
        "/api/v1/t/acme/purchase-register/", {"lines": []}, content_type="application/json", **auth(act)
    )
    assert upsert.status_code == 403
    assert "register-write" in upsert.json()["detail"]
    decide = client.post(
        "/api/v1/t/acme/approvals/requests/1/approve/", {}, content_type="application/json", **auth(act)
    )
    assert decide.status_code == 403
    assert "“approve” scope" in decide.json()["detail"]


def test_an_expired_token_is_refused(client, alice, tenant_a, doc):
    key = token_key(alice, tenant_a)
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(DOCS, **auth(key))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


# --- revocation ------------------------------------------------------------------------------------------------


def test_changing_the_password_revokes_every_token_of_the_user(alice_in_b, tenant_a, tenant_b, doc):
    key_a, key_b = token_key(alice_in_b, tenant_a), token_key(alice_in_b, tenant_b)
    client = login(alice_in_b)
    changed = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert Client().get(DOCS, **auth(key_a)).status_code == 401
    assert Client().get("/api/v1/t/bharat/documents/", **auth(key_b)).status_code == 401
    assert revocations(tenant_a) == ["password_changed"]
    assert revocations(tenant_b) == ["password_changed"]


def test_resetting_the_password_with_an_emailed_link_revokes_the_tokens(client, alice, tenant_a, doc):
    key = token_key(alice, tenant_a)
    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    link = reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(alice)])
    form = client.get(link)["Location"]
    done = client.post(form, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == reverse("password_reset_complete")
    response = client.get(DOCS, **auth(key))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_password_rehash_at_login_keeps_the_tokens(settings, client, alice, tenant_a, doc):
    key = token_key(alice, tenant_a)
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    old_hash = alice.password
    assert alice.check_password(PASSWORD)  # upgrades the stored hash and saves it
    alice.refresh_from_db()
    assert alice.password != old_hash
    assert client.get(DOCS, **auth(key)).status_code == 200


def test_deactivating_the_user_revokes_their_tokens(client, alice, tenant_a, doc):
    key = token_key(alice, tenant_a)
    alice.is_active = False
    alice.save()
    assert client.get(DOCS, **auth(key)).status_code == 401
    assert revocations(tenant_a) == ["user_deactivated"]
    alice.is_active = True
    alice.save()
    assert client.get(DOCS, **auth(key)).status_code == 401  # revoked stays revoked


def test_leaving_an_organisation_revokes_the_tokens_of_that_organisation_only(
    client, alice_in_b, tenant_a, tenant_b, doc
):
    key_a, key_b = token_key(alice_in_b, tenant_a), token_key(alice_in_b, tenant_b)
    with tenant_scope(tenant_b):
        membership = alice_in_b.memberships.get(tenant=tenant_b)
        factories.make_member(tenant_b, factories.make_user("bea"), "owner")
        tenancy_services.remove_member(tenant=tenant_b, actor=SYSTEM, membership=membership)
    factories.make_member(tenant_b, alice_in_b, "owner")  # back again: the old token stays revoked
    assert client.get("/api/v1/t/bharat/documents/", **auth(key_b)).status_code == 401
    assert client.get(DOCS, **auth(key_a)).status_code == 200
    assert revocations(tenant_b) == ["membership_removed"]
    assert revocations(tenant_a) == []


def test_the_page_revokes_a_token_and_only_the_users_own(alice, bob, tenant_a, doc):
    key = token_key(alice, tenant_a)
    token = ApiToken.objects.get()
    assert login(bob).post(f"{PAGE}{token.pk}/revoke/").status_code == 404
    assert Client().get(DOCS, **auth(key)).status_code == 200
    client = login(alice)
    assert client.post(f"{PAGE}{token.pk}/revoke/").status_code == 302
    assert Client().get(DOCS, **auth(key)).status_code == 401
    assert "revoked" in client.get(PAGE).content.decode()
    assert revocations(tenant_a) == ["revoked_by_user"]


# --- last use and rate -------------------------------------------------------------------------------------------


def test_last_use_is_recorded_at_most_once_a_minute_and_shown_on_the_page(client, alice, tenant_a, doc):
    key = token_key(alice, tenant_a)
    assert "never" in login(alice).get(PAGE).content.decode()
    client.get(DOCS, **auth(key))
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    recent = timezone.now() - dt.timedelta(seconds=30)
    ApiToken.objects.update(last_used_at=recent)
    client.get(DOCS, **auth(key))
    assert ApiToken.objects.get().last_used_at == recent  # used again within the minute: not written
    old = timezone.now() - dt.timedelta(minutes=2)
    ApiToken.objects.update(last_used_at=old)
    client.get(DOCS, **auth(key))
    assert ApiToken.objects.get().last_used_at > old
    shown = timezone.localtime(ApiToken.objects.get().last_used_at).strftime("%d-%m-%Y %H:%M")
    assert re.search(rf"data-last-used>{shown}<", login(alice).get(PAGE).content.decode())


def test_each_token_has_its_own_rate_limit(settings, client, alice, tenant_a, doc):
    settings.API_TOKEN_RATE = "2/min"
    busy, quiet = token_key(alice, tenant_a), token_key(alice, tenant_a)
    assert [client.get(DOCS, **auth(busy)).status_code for _ in range(2)] == [200, 200]
    limited = client.get(DOCS, **auth(busy))
    assert limited.status_code == 429
    assert "Retry-After" in limited
    assert client.get(DOCS, **auth(quiet)).status_code == 200
    assert login(alice).get(DOCS).status_code == 200  # the page session is not counted


# --- a token from a password -------------------------------------------------------------------------------------


def test_the_token_endpoint_makes_a_read_token_for_one_tenant(client, alice, tenant_a, doc):
    made = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "tenant": "acme"})
    assert made.status_code == 201
    body = made.json()
    assert (body["tenant"], body["scopes"]) == ("acme", ["read"])
    assert client.get(DOCS, **auth(body["token"])).status_code == 200
    bulk = {"ids": [doc.pk], "action": "A"}
    assert client.post(BULK, bulk, content_type="application/json", **auth(body["token"])).status_code == 403
    assert ApiToken.objects.get().key_hash == hashlib.sha256(body["token"].encode()).hexdigest()


def test_the_token_endpoint_refuses_without_an_organisation_of_the_user(client, alice, tenant_a, tenant_b):
    missing = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert missing.status_code == 400
    assert "tenant" in missing.json()
    foreign = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "tenant": "bharat"}
    )
    assert foreign.status_code == 400
    assert "tenant" in foreign.json()
    assert not ApiToken.objects.exists()


# --- every API route declares its scope ------------------------------------------------------------------------

PUBLIC_ROUTES = {
    "api/schema/",
    "api/docs/",
}  # drf-spectacular's schema and docs: no tenant data, no token needed


def _api_routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/"):
            yield route, pattern.callback


def test_every_api_route_declares_the_token_scope_of_each_of_its_methods():
    routes = dict(_api_routes())
    assert "api/v1/t/<slug:tenant_slug>/documents/" in routes
    missing = []
    for route, callback in sorted(routes.items()):
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if route in PUBLIC_ROUTES or getattr(cls, "token_public", False):
            continue
        assert HasTokenScope in cls.permission_classes, route
        view = cls(**getattr(callback, "initkwargs", {}))  # as the route builds it (e.g. decision="approve")
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method) and required_scope(view, method) is None:
                missing.append(f"{method.upper()} {route} ({cls.__name__})")
    assert missing == []


def test_a_view_that_declares_no_scope_for_a_method_refuses_tokens(alice, tenant_a):
    token = ApiToken(scopes=[s.value for s in Scope])

    class Undeclared:
        token_scopes = {"GET": Scope.READ}

        def get(self, request): ...

        def delete(self, request): ...

    class Request:
        auth = token
        method = "DELETE"

    permission = HasTokenScope()
    assert permission.has_permission(Request(), Undeclared()) is False
    assert "not open to API tokens" in permission.message

"""Fuzzing every form, filter and API body (issue #13 §1: the next hostile value must be caught here, not by a
user). Every route of the URL resolver, as the owner of an organisation with data, gets query-string and form
fields — every name the product reads (tools.probe.field_names) — with values drawn by hypothesis, and the API
routes JSON bodies as well; the answer must never be a 500. Bounded and deterministic: a few examples per route
and method, derandomized, no example database, each request in a transaction rolled back."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoices.services.ingest import ingest_documents
from tenancy.scoping import tenant_scope
from tests import factories
from tools import probe

pytestmark = pytest.mark.django_db

NAMES, FILE_NAMES = probe.field_names()
ROUTES = [r for r in probe.probe_routes() if not r.startswith("django-admin/")]
FUZZ = settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
HOSTILE = st.sampled_from(
    [
        *("x", "\x00", "a\x00b", "1e309", "NaN", "-1", "0", "\u00b2", "\u0663", "9" * 25, "9" * 5000),
        *("2026-13-45", "31-02-2025", "\u00fcn\u00ef \u540d", "'; DROP TABLE x;--", "<script>", "%00"),
        *("A" * 5000, "", " ", "true", "[]", "{}", "A,B", "27AAAAA0000A1Z5"),
    ]
)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUE = st.one_of(
    HOSTILE,
    TEXT,
    st.integers().map(str),
    st.floats().map(str),
    st.lists(HOSTILE | TEXT, min_size=1, max_size=3),
)
FIELDS = st.dictionaries(st.sampled_from(NAMES), VALUE, max_size=8)
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), HOSTILE, TEXT
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES) | TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
JSON_BODY = st.dictionaries(st.sampled_from(NAMES), JSON_VALUE, max_size=8) | JSON_VALUE


@pytest.fixture
def world(tenant_a, reg_a1, reg_a2, alice, charlie):
    with tenant_scope(tenant_a):
        ingest_documents(
            tenant=tenant_a,
            registration=reg_a1,
            actor=factories.SYSTEM,
            source="portal",
            records={"b2b": [factories.document_record(number=f"FZ/{n}", pos="27") for n in range(3)]},
        )
    return probe.World(tenant_a, {"owner": alice}, charlie)


def owner_client(world):
    client = probe.Client(raise_request_exception=False)
    client.force_login(world.users["owner"], backend="django.contrib.auth.backends.ModelBackend")
    return client


def call(send):
    """The status of one request, rolled back (the world stays as it was for the next example)."""
    return probe.rolled_back(send).status_code


@pytest.mark.parametrize("route", ROUTES)
def test_query_and_form_fields_never_give_a_500(world, route):
    path = world.path(route, owner_client(world))

    @FUZZ
    @given(fields=FIELDS)
    def fuzz(fields):
        client = owner_client(world)  # a fresh session: the log-out page ends the last one
        assert call(lambda: client.get(path, fields)) < 500, f"GET {path} {fields!r}"
        assert call(lambda: client.post(path, fields)) < 500, f"POST {path} {fields!r}"

    fuzz()


@pytest.mark.parametrize("route", [r for r in ROUTES if r.startswith("api/")])
def test_api_json_bodies_never_give_a_500(world, route):
    path = world.path(route, owner_client(world))

    @FUZZ
    @given(body=JSON_BODY, method=st.sampled_from(["post", "put", "patch"]))
    def fuzz(body, method):
        client = owner_client(world)
        raw = json.dumps(body)
        send = getattr(client, method)
        assert call(lambda: send(path, raw, content_type="application/json")) < 500, f"{method} {path} {raw}"

    fuzz()

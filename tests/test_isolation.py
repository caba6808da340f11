"""Tenant isolation across EVERY route of the project (reliability test R1).

The routes come from walking the URL resolver, so a page or API endpoint added later is covered without touching
this file. Tenant routes (``<slug:tenant_slug>``) are called as charlie (owner of tenant B, not a member of A)
with A's slug and with B's slug, every other argument filled with real identifiers of A's objects — of every
tenant-owned model, found through the app registry, so new models are covered too. Routes without tenant data
must be on a short, explicit allow-list.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import openpyxl
import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import URLResolver, get_resolver
from guardian.models import UserObjectPermission

from exports.services import run_export, start_export
from invoices.exports import KIND as DOCUMENT_EXPORT
from invoices.services.ingest import ingest_documents
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope
from tests import factories
from tests.tokens import api_token

pytestmark = pytest.mark.django_db

# Routes that carry no tenant data. Keep this list SHORT: a new route belongs under /t/<tenant_slug>/ or
# /api/v1/t/<tenant_slug>/, where the middleware checks membership and opens the tenant scope.
NON_TENANT_ALLOW_LIST = (
    "",  # home: sends the user to one of *their* organisations
    "accounts/",  # login, logout, password change and reset
    "api/v1/auth/token/",  # obtain an API token with a username and password
    "api/schema/",
    "api/docs/",
    "django-admin/",  # staff only
)
TENANT_ARG = "<slug:tenant_slug>"
_ARG = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
SECRET_NUMBERS = ["ACMESECRET/001", "ACMESECRET/002"]


def iter_routes(patterns=None, prefix: str = "") -> Iterator[str]:
    """Every route of the project as one string (``t/<slug:tenant_slug>/documents/<int:pk>/``)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from iter_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def tenant_routes() -> list[str]:
    return sorted({r for r in iter_routes() if TENANT_ARG in r})


def tenant_models():
    """Every model with a ``tenant`` foreign key: the objects one organisation owns."""
    return [
        m
        for m in apps.get_models()
        if any(fld.name == "tenant" and fld.related_model is Tenant for fld in m._meta.concrete_fields)
    ]


def owned_ids(tenant) -> dict[str, set]:
    """pks of the tenant's objects per model (unscoped base manager: this is an inspection, not app code)."""
    with scopes_disabled():
        return {
            m._meta.label: set(m._base_manager.filter(tenant=tenant).values_list("pk", flat=True))
            for m in tenant_models()
        }


def candidate_ids(owner, other) -> list[int]:
    """The newest object of ``owner`` in every tenant model, skipping ids that ``other`` also owns in any model
    (so that "404 for someone else's id" cannot be confused with a legitimate hit on one's own object)."""
    theirs = set().union(*owned_ids(other).values())
    ids = {max(pks - theirs) for pks in owned_ids(owner).values() if pks - theirs}
    return sorted(ids)


def has_objects(model, slug: str) -> bool:
    with scopes_disabled():
        return model._base_manager.filter(tenant__slug=slug).exists()


def candidate_strings(tenant) -> list[str]:
    with scopes_disabled():
        gstins = list(Registration.objects.filter(tenant=tenant).values_list("gstin", flat=True))
    return [tenant.slug, *gstins]


def fill(route: str, slug: str, ids: list[int], strings: list[str]) -> list[str]:
    """Concrete paths for ``route``: tenant_slug = ``slug``, each other argument every candidate in turn."""
    args = [m for m in _ARG.finditer(route) if m["name"] != "tenant_slug"]
    path = "/" + route.replace(TENANT_ARG, slug)
    if not args:
        return [path]
    paths = []
    for i in range(max(len(ids), len(strings))):
        p = path
        for m in args:
            value = ids[i % len(ids)] if m["conv"] == "int" else strings[i % len(strings)]
            p = p.replace(m.group(0), str(value), 1)
        paths.append(p)
    return paths


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def xlsx_text(data: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return " ".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row)


def spread_ids() -> None:
    """Move every tenant table's id sequence to its own range (model n: n million and up), so that the objects
    created next have ids that no other table of the test database uses."""
    with connection.cursor() as cur:
        for n, model in enumerate(tenant_models(), start=1):
            seq = f"pg_get_serial_sequence('{model._meta.db_table}', '{model._meta.pk.column}')"
            cur.execute(f"SELECT setval({seq}, GREATEST(nextval({seq}), %s))", [n * 1_000_000])


def ingest(tenant, reg, records) -> None:
    with tenant_scope(tenant):
        result = ingest_documents(
            tenant=tenant, registration=reg, actor=factories.SYSTEM, source="portal", records={"b2b": records}
        )
    assert not result.errors


@pytest.fixture
def world(tenant_a, tenant_b, reg_a1, reg_a2, reg_b1, alice, bob, charlie, settings, tmp_path):
    """Tenant B with a document; then, with ids in ranges of their own, tenant A with documents and their
    versions, suppliers, another GSTIN and member, an export file and audit events."""
    settings.EXPORT_DIR = tmp_path
    ingest(tenant_b, reg_b1, [factories.document_record(number="BHARAT/001", pos=reg_b1.state_code)])
    spread_ids()
    reg_a3 = factories.make_registration(tenant_a, state="33", n=4)
    factories.make_member(tenant_a, factories.make_user("erin"), "viewer", gstins=[reg_a3])
    records = [factories.document_record(number=n, pos=reg_a1.state_code) for n in SECRET_NUMBERS]
    ingest(tenant_a, reg_a1, records)
    ingest(tenant_a, reg_a1, [{**records[0], "txval": "123.00"}])  # a supplier's change: a document version
    with tenant_scope(tenant_a):
        job = start_export(tenant=tenant_a, user=alice, kind=DOCUMENT_EXPORT, params={})
    run_export(job.pk)
    return {
        "a_ids": candidate_ids(tenant_a, tenant_b),
        "a_strings": candidate_strings(tenant_a),
        "markers": [tenant_a.name, reg_a1.gstin, reg_a2.gstin, reg_a3.gstin, *SECRET_NUMBERS],
        # What B's pages may not show even when a request names A's GSTINs (a form may echo the input back).
        "unrequested_markers": [tenant_a.name, reg_a1.legal_name, reg_a2.legal_name, *SECRET_NUMBERS],
    }


def as_charlie(charlie) -> Client:
    client = Client()
    client.force_login(charlie, backend="django.contrib.auth.backends.ModelBackend")
    return client


def api_as_charlie(charlie) -> Client:
    token = api_token(charlie)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def assert_no_leak(response, markers, what):
    content = body(response)
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        content = xlsx_text(content).encode()
    leaked = [m for m in markers if m.encode() in content]
    assert not leaked, f"{what} shows tenant A's data: {leaked}"


def a_snapshot(tenant):
    """Everything tenant A owns, row by row, plus the object permissions on A's GSTINs."""
    with scopes_disabled():
        rows = {
            m._meta.label: list(m._base_manager.filter(tenant=tenant).order_by("pk").values())
            for m in tenant_models()
        }
        reg_ids = [str(pk) for pk in Registration.objects.filter(tenant=tenant).values_list("pk", flat=True)]
    rows["guardian"] = list(
        UserObjectPermission.objects.filter(object_pk__in=reg_ids).order_by("pk").values()
    )
    return rows


def test_route_walk_finds_the_tenant_pages_and_api():
    routes = tenant_routes()
    assert "t/<slug:tenant_slug>/documents/<int:pk>/" in routes
    assert "api/v1/t/<slug:tenant_slug>/documents/<int:pk>/" in routes
    assert len(routes) >= 10


def test_every_route_without_a_tenant_is_on_the_short_allow_list():
    assert len(NON_TENANT_ALLOW_LIST) <= 6
    outside = sorted({r for r in iter_routes() if TENANT_ARG not in r})
    unlisted = [
        r for r in outside if not any(r == p or (p and r.startswith(p)) for p in NON_TENANT_ALLOW_LIST)
    ]
    assert not unlisted, f"routes outside /t/<tenant_slug>/ that are not allow-listed: {unlisted}"
    assert not [r for r in outside if "tenant_slug" in r], "tenant routes must use path('<slug:tenant_slug>')"


def test_fixture_has_ids_of_many_kinds_of_tenant_a_objects(world):
    # one id per tenant model: registrations, memberships, documents, versions, suppliers, audit events, exports...
    assert len(world["a_ids"]) == len([m for m in tenant_models() if has_objects(m, "acme")]) >= 7


def test_every_tenant_route_with_tenant_a_slug_is_404_for_an_outsider(world, charlie):
    pages, api = as_charlie(charlie), api_as_charlie(charlie)
    failures = []
    for route in tenant_routes():
        client = api if route.startswith("api/") else pages
        for path in fill(route, "acme", world["a_ids"], world["a_strings"]):
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                assert_no_leak(response, world["markers"], f"{method.upper()} {path}")
                if response.status_code != 404:
                    failures.append(f"{method.upper()} {path} -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_tenant_a_object_ids_under_tenant_b_slug_are_404(world, charlie):
    pages, api = as_charlie(charlie), api_as_charlie(charlie)
    failures = []
    checked = 0
    for route in tenant_routes():
        if not _ARG.search(route.replace(TENANT_ARG, "")):
            continue  # no object in the URL: charlie's own list pages (the smuggling test covers their inputs)
        client = api if route.startswith("api/") else pages
        for path in fill(route, "bharat", world["a_ids"], world["a_strings"]):
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                checked += 1
                assert_no_leak(response, world["markers"], f"{method.upper()} {path}")
                # 405: the route does not take this method at all, whoever asks (nothing is looked up).
                if response.status_code not in (404, 405):
                    failures.append(f"{method.upper()} {path} -> {response.status_code}")
    assert checked > 0
    assert not failures, "\n".join(failures)


def test_anonymous_visitors_are_sent_to_login_or_refused_on_every_tenant_route(world):
    client = Client()
    failures = []
    for route in tenant_routes():
        for path in fill(route, "acme", world["a_ids"], world["a_strings"]):
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                assert_no_leak(response, world["markers"], f"anonymous {method.upper()} {path}")
                if route.startswith("api/"):
                    ok = response.status_code in (401, 404)
                else:
                    ok = response.status_code == 302 and response["Location"].startswith("/accounts/login/")
                if not ok:
                    failures.append(f"{method.upper()} {path} -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_posts_from_tenant_b_smuggling_tenant_a_ids_change_and_return_nothing_of_a(world, tenant_a, charlie):
    """Every tenant route of B (list, export, bulk, member and GSTIN forms...), GET and POST, with A's ids and
    GSTINs in every usual parameter name: A is unchanged and no response carries A's data."""
    before = a_snapshot(tenant_a)
    pages, api = as_charlie(charlie), api_as_charlie(charlie)
    smuggled = [str(i) for i in world["a_ids"]] + world["a_strings"][1:]
    names = (
        "ids",
        "id",
        "pk",
        "pks",
        "document",
        "documents",
        "select",
        "selected",
        "registration",
        "registrations",
        "gstin",
        "gstins",
        "member",
        "user",
        "job",
        "supplier",
        "object_id",
    )
    data = {name: smuggled for name in names}
    own_ids = candidate_ids(charlie.memberships.get().tenant, tenant_a)
    for route in tenant_routes():
        client = api if route.startswith("api/") else pages
        for path in fill(route, "bharat", own_ids, candidate_strings(charlie.memberships.get().tenant)):
            for response in (client.get(path, data), client.post(path, data)):
                assert_no_leak(response, world["unrequested_markers"], f"{path} with smuggled ids")
    assert a_snapshot(tenant_a) == before


def test_export_from_tenant_b_filtered_on_a_gstin_returns_no_document_of_a(world, charlie, reg_a1):
    response = as_charlie(charlie).get("/t/bharat/documents/export/", {"registration": reg_a1.gstin})
    assert response.status_code in (200, 302, 400)
    assert_no_leak(response, world["markers"], "export filtered on A's GSTIN")


def test_api_list_of_tenant_b_filtered_on_a_gstin_is_refused_or_empty(world, charlie, reg_a1):
    response = api_as_charlie(charlie).get("/api/v1/t/bharat/documents/", {"registration": reg_a1.gstin})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["results"] == []
    assert_no_leak(response, world["markers"], "API list filtered on A's GSTIN")


def test_home_page_of_an_outsider_does_not_name_tenant_a(world, charlie):
    response = as_charlie(charlie).get("/", follow=True)
    assert response.status_code == 200
    assert_no_leak(response, world["markers"], "charlie's home")


def test_an_unknown_organisation_in_an_api_path_is_a_json_404_like_someone_elses(client_for, alice, tenant_b):
    client = client_for(alice)
    for slug in (tenant_b.slug, "no-such-organisation"):
        response = client.get(f"/api/v1/t/{slug}/documents/")
        assert response.status_code == 404, slug
        assert response["Content-Type"].startswith("application/json"), slug
        assert response.json() == {"detail": "No such organisation."}

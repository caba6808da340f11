"""The documents API takes the list's ``reconciliation`` filter (outcome of the latest reconciliation of each
GSTIN), documents it in the OpenAPI schema, and answers a malformed value with a 400 naming the field."""

from __future__ import annotations

import pytest
import yaml

from tests.documents.recon_helpers import books, reconcile
from tests.tokens import api_token

pytestmark = pytest.mark.django_db
URL = "/api/v1/t/acme/documents/"


@pytest.fixture
def api(client, alice):
    token = api_token(alice)

    def get(path, params=None):
        return client.get(path, params or {}, HTTP_AUTHORIZATION=f"Token {token.key}")

    return get


@pytest.fixture
def reconciled(tenant_a, reg_a1, alice):
    docs = books(tenant_a, alice, reg_a1)
    reconcile(tenant_a, alice, reg_a1)
    return docs


def numbers(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["doc_number"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"reconciliation": "exact"}, {"EXACT", "BIGEXACT"}),
        ({"reconciliation": ["tolerance", "mismatch"]}, {"TOL", "MISM"}),
        ({"reconciliation": "matched"}, {"EXACT", "TOL", "BIGEXACT"}),
        ({"reconciliation": "missing_in_books"}, {"NOBOOK"}),
        ({"reconciliation": "probable"}, set()),
        ({"reconciliation": "matched", "value_max": "50000"}, {"EXACT", "TOL"}),
        ({}, {"EXACT", "TOL", "MISM", "NOBOOK", "BIGEXACT"}),
    ],
)
def test_api_list_filters_by_the_latest_reconciliation(api, reconciled, params, expected):
    assert numbers(api(URL, params)) == expected


def test_without_a_finished_reconciliation_no_document_has_an_outcome(api, tenant_a, reg_a1, alice):
    books(tenant_a, alice, reg_a1)
    assert numbers(api(URL, {"reconciliation": "matched"})) == set()
    assert len(numbers(api(URL))) == 5


@pytest.mark.parametrize("value", ["weather", "missing_in_supplier", "EXACT", ""])
def test_a_malformed_outcome_is_a_400_naming_the_field(api, reconciled, value):
    response = api(URL, {"reconciliation": ["exact", value]} if value else {"reconciliation": ["exact", " "]})
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["reconciliation"])
    assert "Unknown reconciliation outcome" in message
    assert "missing_in_books" in message


def test_the_schema_documents_the_filter_and_its_values(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    params = schema["paths"]["/api/v1/t/{tenant_slug}/documents/"]["get"]["parameters"]
    (param,) = [p for p in params if p["name"] == "reconciliation"]
    assert param["in"] == "query"
    assert param["schema"]["type"] == "array"
    assert set(param["schema"]["items"]["enum"]) == {
        "exact",
        "tolerance",
        "probable",
        "mismatch",
        "manual",
        "duplicate",
        "missing_in_register",
        "outside_scope",
        "matched",
        "mismatched",
        "missing_in_books",
    }
    assert "latest finished reconciliation" in param["description"]

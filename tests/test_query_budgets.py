"""Query budgets of the busiest pages: the documents list, the documents API list and the bulk-action confirmation
(page and preview API), and the dashboard. The data has several documents of several sections and actions, on two GSTINs, from four
suppliers in the directory, under an approval policy, so a query per row (an N+1) would show. Each budget is the
count measured when it was set: a change that needs more queries fails here and has to say why (raise the budget
in the same change)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals import services as approvals
from audit.services import Actor
from tenancy.models import ApiToken, Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc, make_supplier
from tests.factories import gstin_for
from tests.tokens import api_token

OCT, SEP = dt.date(2025, 10, 1), dt.date(2025, 9, 1)
SUPPLIERS = [SUPPLIER_1, SUPPLIER_2, gstin_for(7003, "24"), gstin_for(7004, "33")]
# (section, fields) of the documents each supplier has on each GSTIN.
KINDS = [
    ("b2b", {}),
    ("b2b", {"portal_action": "A", "local_action": "R", "local_remarks": "rate wrong"}),
    ("b2bcn", {"portal_action": "R"}),
    ("b2bdn", {"local_action": "A", "supplier_filing_status": "not_filed"}),
    ("b2b", {"needs_review": True, "taxable_value": "250000.00"}),
]

# Queries per request, measured with the data below (the same with three times as many documents).
DOCUMENTS_PAGE = 11  # 13 before the GSTINs were read once and the tenant with its membership
DOCUMENTS_API = 4
BULK_CONFIRM_PAGE = {"A": 32, "R": 27}  # an Accept also lists the documents that need an ITC answer
BULK_CONFIRM_ALL_MATCHING = 25
BULK_PREVIEW_API = 13
# The dashboard reads one maintained summary (docs/decisions/0010) plus the apps' small "today" facts: the same
# count whatever the number of documents, GSTINs' sections or periods (one read of the pending amendments whose
# one-period limit depends on their original, one of the latest reconciliation's counts per GSTIN).
DASHBOARD_PAGE = 15


@pytest.fixture
def documents(tenant_a, reg_a1, reg_a2, reg_b1, alice):
    """Forty documents of tenant A (two GSTINs × four suppliers × five kinds) and one of tenant B; a maker-checker
    policy on large rejections."""
    for n, gstin in enumerate(SUPPLIERS):
        make_supplier(tenant_a, gstin, f"Supplier {n} Pvt Ltd", f"Supplier {n}")
    docs = [
        make_doc(registration, section=section, supplier_gstin=gstin, twob_period=OCT, **fields)
        for registration in (reg_a1, reg_a2)
        for gstin in SUPPLIERS
        for section, fields in KINDS
    ]
    make_doc(reg_b1)
    with tenant_scope(tenant_a):
        approvals.save_policy(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            name="Big rejects",
            action="R",
            min_value=Decimal("100000"),
        )
    return docs


@pytest.fixture
def token(alice):
    """A token in use: its last use was recorded this minute, so a request does not record it again (the record
    is written at most once a minute, docs/access.md §1)."""
    key = api_token(alice).key
    ApiToken.objects.filter(user=alice).update(last_used_at=timezone.now())
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def test_documents_list_page(client_for, alice, documents, django_assert_max_num_queries):
    client = client_for(alice)
    with django_assert_max_num_queries(DOCUMENTS_PAGE):
        response = client.get("/t/acme/documents/", {"per_page": 50})
    assert response.status_code == 200
    assert response.content.decode().count('name="ids"') == len(documents)


def test_documents_api_list(client, token, documents, django_assert_max_num_queries):
    with django_assert_max_num_queries(DOCUMENTS_API):
        response = client.get("/api/v1/t/acme/documents/", {"page_size": 50}, **token)
    assert response.status_code == 200
    assert len(response.json()["results"]) == len(documents)


@pytest.mark.parametrize("action", ["A", "R"])
def test_bulk_confirmation_page(client_for, alice, documents, action, django_assert_max_num_queries):
    client = client_for(alice)
    with django_assert_max_num_queries(BULK_CONFIRM_PAGE[action]):
        response = client.post(
            "/t/acme/actions/confirm/", {"ids": [d.pk for d in documents], "action": action}
        )
    assert response.status_code == 200
    assert response.context["preview"].total == len(documents)


def test_bulk_confirmation_page_for_all_matching(client_for, alice, documents, django_assert_max_num_queries):
    client = client_for(alice)
    with django_assert_max_num_queries(BULK_CONFIRM_ALL_MATCHING):
        response = client.post(
            "/t/acme/actions/confirm/", {"all_matching": "on", "query": "section=b2b", "action": "R"}
        )
    assert response.status_code == 200
    assert response.context["preview"].total == 24


def test_bulk_preview_api(client, token, documents, django_assert_max_num_queries):
    with django_assert_max_num_queries(BULK_PREVIEW_API):
        response = client.post(
            "/api/v1/t/acme/actions/bulk/",
            {"ids": [d.pk for d in documents], "action": "R", "preview": True},
            content_type="application/json",
            **token,
        )
    assert response.status_code == 200
    assert sum(response.json()["outcomes"].values()) == len(documents)


def test_dashboard_page(client_for, alice, documents, django_assert_max_num_queries):
    client = client_for(alice)
    client.get("/t/acme/")  # the first read folds the summary's waiting changes (a write): measured warm
    with django_assert_max_num_queries(DASHBOARD_PAGE):
        response = client.get("/t/acme/")
    assert response.status_code == 200
    assert response.context["board"].document_count == len(documents)

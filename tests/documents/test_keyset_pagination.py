"""Keyset pagination of the list page: every document exactly once, in order, forwards and backwards."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2

pytestmark = pytest.mark.django_db

LIST = "/t/acme/documents/"
N = 137  # 3 pages of 50; dates, values and suppliers full of ties


@pytest.fixture
def many(reg_a1):
    now = timezone.now()
    rows = [
        SupplierDocument(
            tenant_id=reg_a1.tenant_id,
            registration=reg_a1,
            supplier_gstin=(SUPPLIER_1, SUPPLIER_2, "27ZZZZZ9999Z1Z9")[i % 3],
            section="b2b",
            doc_kind="invoice",
            doc_number=f"K{i}",
            doc_number_norm=f"K{i}",
            doc_date=dt.date(2025, 10, 1 + i % 4),
            fy=2025,
            supplier_period=dt.date(2025, 10, 1),
            supplier_filing_status="filed",
            pos="27",
            doc_value=Decimal(100 * (i % 5)),
            taxable_value=Decimal(1),
            content_hash=str(i),
            first_seen_at=now,
            last_seen_at=now,
        )
        for i in range(N)
    ]
    with tenant_scope(reg_a1.tenant):
        return SupplierDocument.objects.bulk_create(rows)


EXPECTED_ORDER = {
    "-date": lambda d: (-d.doc_date.toordinal(), -d.pk),
    "date": lambda d: (d.doc_date, d.pk),
    "-value": lambda d: (-d.doc_value, -d.pk),
    "value": lambda d: (d.doc_value, d.pk),
    "supplier": lambda d: (d.supplier_gstin, -d.doc_date.toordinal(), -d.pk),
}


def walk(client, sort, per_page, direction="next", cursor=None):
    """Follow next (or previous) links from a page; returns the pages' ids in reading order."""
    pages = []
    while True:
        params = {"sort": sort, "per_page": per_page, **({"cursor": cursor} if cursor else {})}
        response = client.get(LIST, params)
        assert response.status_code == 200
        page = response.context["page"]
        pages.append([d.pk for d in page.rows])
        cursor = page.next_cursor if direction == "next" else page.prev_cursor
        if not cursor:
            return pages, page


@pytest.mark.parametrize("sort", list(EXPECTED_ORDER))
def test_next_links_reach_every_document_exactly_once_in_sort_order(client_for, alice, many, sort):
    pages, last = walk(client_for(alice), sort, 50)
    assert [len(p) for p in pages] == [50, 50, 37]
    flat = [pk for p in pages for pk in p]
    assert flat == [d.pk for d in sorted(many, key=EXPECTED_ORDER[sort])]


@pytest.mark.parametrize("sort", ["-date", "value", "supplier"])
def test_previous_links_walk_back_over_the_same_pages(client_for, alice, many, sort):
    client = client_for(alice)
    forward, last = walk(client, sort, 50)
    backward, first = walk(client, sort, 50, direction="prev", cursor=last.prev_cursor)
    assert backward == list(reversed(forward[:-1]))
    assert first.prev_cursor is None


@pytest.mark.parametrize("per_page", [100, 200])
def test_larger_pages(client_for, alice, many, per_page):
    pages, _ = walk(client_for(alice), "-date", per_page)
    assert sorted(pk for p in pages for pk in p) == sorted(d.pk for d in many)
    assert len(pages[0]) == min(per_page, N)


def test_first_page_has_no_previous_link_and_a_full_page_shows_next(client_for, alice, many):
    response = client_for(alice).get(LIST)
    html = response.content.decode()
    assert 'id="next-page"' in html
    assert 'id="prev-page"' not in html
    assert "OFFSET" not in str(response.context["page"])


def test_cursor_of_another_sort_is_refused_politely(client_for, alice, many):
    client = client_for(alice)
    cursor = client.get(LIST, {"sort": "value"}).context["page"].next_cursor
    response = client.get(LIST, {"sort": "-date", "cursor": cursor})
    assert response.status_code == 400
    assert "start again from the first page" in response.content.decode()

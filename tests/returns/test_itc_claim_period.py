"""The ITC claim period of each document (docs/rules/gstr3b.md §6): the 2B period, or the booked period if later;
deferred while rejected or pending; fixed once that period's GSTR-3B is filed; shown on the document, filterable
on the list and in the API, and exported."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import claims, services
from tenancy.scoping import tenant_scope
from tests import factories

OCT = dt.date(2025, 10, 1)
NOV = dt.date(2025, 11, 1)
KA = "29AAJFY9012N1ZE"
MH = "27AAJFY9012N1ZD"  # a supplier in the recipient's own state
D = Decimal


@pytest.fixture
def docs(tenant_a, reg_a1):
    def rec(number, **kw):
        return factories.document_record(supplier_gstin=kw.pop("supplier", KA), number=number, **kw)

    records = {
        "b2b": [
            rec("ACC-1", action="A"),
            rec("PEN-1", action="P"),
            rec("REJ-1", action="R"),
            rec("NOF-1", filed=False),  # the supplier has only saved it: in no 2B
            rec("POS-1", supplier=factories.gstin_for(77, "29"), pos="29"),  # POS = supplier's state: no ITC
        ]
    }
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="portal"
        ).errors
        claims.refresh_claim_periods(registration=reg_a1, today=dt.date(2025, 11, 5))
    return tenant_a, reg_a1


def by_number(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.all()}


def test_the_claim_period_is_the_2b_period_and_none_where_no_itc_flows(docs):
    tenant, _reg = docs
    d = by_number(tenant)
    assert d["ACC-1"].itc_claim_period == OCT
    assert d["PEN-1"].itc_claim_period == OCT  # stored as it would be; shown as deferred (below)
    assert d["NOF-1"].itc_claim_period is None
    assert d["POS-1"].itc_claim_period is None


def test_the_document_page_says_claimable_deferred_or_claimed(docs, client_for, alice):
    tenant, reg = docs
    d = by_number(tenant)

    def line(number):
        page = client_for(alice).get(reverse("document-detail", args=[tenant.slug, d[number].pk]))
        text = page.content.decode()
        return text[text.index('id="itc-claim"') :][:300]

    assert "Oct 2025" in line("ACC-1")
    assert "Claimable" in line("ACC-1")
    assert "Deferred" in line("PEN-1")
    assert "Deferred" in line("REJ-1")
    assert "Not in a 2B yet" in line("NOF-1")
    with tenant_scope(tenant):
        services.mark_gstr3b_filed(
            tenant=tenant,
            actor=factories.SYSTEM,
            registration=reg,
            period=OCT,
            filed_on=dt.date(2025, 11, 20),
        )
    assert "Claimed (GSTR-3B filed)" in line("ACC-1")


def test_the_list_and_the_api_filter_by_claim_period(docs, client_for, alice):
    tenant, _reg = docs
    c = client_for(alice)
    api = f"/api/v1/t/{tenant.slug}/documents/"

    def numbers(value):
        return sorted(r["doc_number"] for r in c.get(api, {"claim": value}).json()["results"])

    assert numbers("102025") == ["ACC-1"]
    assert numbers("deferred") == ["PEN-1", "REJ-1"]
    assert numbers("none") == ["NOF-1", "POS-1"]
    bad = c.get(api, {"claim": "later"})
    assert bad.status_code == 400
    assert "claim" in bad.json()
    page = c.get(reverse("document-list", args=[tenant.slug]), {"claim": "deferred"}).content.decode()
    assert "PEN-1" in page
    assert "ACC-1" not in page


def test_a_later_booking_moves_the_claim_to_the_booked_period(docs, monkeypatch):
    tenant, reg = docs
    acc = by_number(tenant)["ACC-1"]
    monkeypatch.setattr(
        claims,
        "BOOKINGS",
        [lambda: f"SELECT {int(acc.pk)}::bigint AS document_id, DATE '2025-11-03' AS booked_on"],
    )
    with tenant_scope(tenant):
        assert claims.refresh_claim_periods(registration=reg, today=dt.date(2025, 11, 5)) == 1
        assert claims.refresh_claim_periods(registration=reg, today=dt.date(2025, 11, 5)) == 0  # idempotent
    assert by_number(tenant)["ACC-1"].itc_claim_period == NOV


def test_the_export_carries_the_claim_period(docs, client_for, alice):
    import io

    import openpyxl

    tenant, _reg = docs
    response = client_for(alice).get(reverse("document-export", args=[tenant.slug]))
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header = rows[0]
    col = header.index("ITC claim period")
    number = header.index("Document number")
    seen = {r[number]: r[col] for r in rows[1:] if r and r[number]}
    assert seen["ACC-1"] == "10-2025"
    assert seen["PEN-1"] == "Deferred"
    assert seen["NOF-1"] in ("", None)


def test_recording_a_filing_refreshes_the_gstins_claim_periods(
    docs, monkeypatch, django_capture_on_commit_callbacks
):
    from returns import tasks

    tenant, reg = docs
    queued = []
    monkeypatch.setattr(tasks.refresh_claim_periods, "delay", queued.append)
    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        services.mark_gstr3b_filed(
            tenant=tenant,
            actor=factories.SYSTEM,
            registration=reg,
            period=OCT,
            filed_on=dt.date(2025, 11, 20),
        )
    assert queued == [reg.pk]
    # the worker's side: the pending document of October is carried past the filed GSTR-3B to November
    assert services.refresh_claims_job(reg.pk) >= 1
    assert by_number(tenant)["PEN-1"].itc_claim_period == NOV

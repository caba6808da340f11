"""The GSTR-2B preview as of any date (docs/rules/gstr2b.md §10): the actions, document versions and GSTR-3B filings in
force at the end of that day, from the history the product keeps; on the page (a date picker), in the API
(``as_of=``), and equal to the preview built on that day."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from actions import services as actions
from audit.services import Actor
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import selectors, services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories

IST = zoneinfo.ZoneInfo("Asia/Kolkata")
OCT = dt.date(2025, 10, 1)
KA = "29AAJFY9012N1ZE"
D = Decimal


def at(day: str):
    """Travel to 10:00 IST of ``day`` (YYYY-MM-DD)."""
    return time_machine.travel(dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=IST), tick=False)


def records(i1_taxable: str = "1000.00", with_cn: bool = True) -> dict:
    out = {
        "b2b": [
            factories.document_record(supplier_gstin=KA, number="I-1", taxable=D(i1_taxable)),
            factories.document_record(supplier_gstin=KA, number="I-2", taxable=D("500.00")),
        ],
        "b2bcn": [],
    }
    if with_cn:
        out["b2bcn"] = [
            factories.document_record(supplier_gstin=KA, section="b2bcn", number="CN-1", taxable=D("100"))
        ]
    return out


def act(tenant, user, number: str, action: str):
    with tenant_scope(tenant):
        doc = SupplierDocument.objects.get(doc_number=number)
        membership = Membership.objects.get(tenant=tenant, user=user)
        actions.set_action(
            tenant=tenant, actor=Actor.user(user), membership=membership, document=doc, action=action
        )


@pytest.fixture
def history(tenant_a, reg_a1, alice):
    """5 Nov: three October documents arrive. 10 Nov: I-2 kept pending. 14 Nov: a preview is built (the day the
    portal generates October's 2B). 20 Nov: October's GSTR-3B filed. 25 Nov: I-2 accepted (now carried to
    November). 1 Dec: the supplier amends I-1 (1,000 → 2,000 taxable). 2 Dec: CN-1 disappears from the portal."""
    ingest = dict(tenant=tenant_a, registration=reg_a1, actor=factories.SYSTEM, source="portal")
    with tenant_scope(tenant_a):
        with at("2025-11-05"):
            assert not ingest_documents(records=records(), **ingest).errors
        with at("2025-11-10"):
            act(tenant_a, alice, "I-2", "P")
        with at("2025-11-14"):
            built_then = services.build_preview(
                tenant=tenant_a, actor=factories.SYSTEM, registration=reg_a1, period=OCT
            )
        with at("2025-11-20"):
            services.mark_gstr3b_filed(
                tenant=tenant_a,
                actor=factories.SYSTEM,
                registration=reg_a1,
                period=OCT,
                filed_on=dt.date(2025, 11, 20),
            )
        with at("2025-11-25"):
            act(tenant_a, alice, "I-2", "A")
        with at("2025-12-01"):
            assert not ingest_documents(
                records=records("2000.00"), complete_sections=["b2b"], **ingest
            ).errors
        with at("2025-12-02"):
            assert not ingest_documents(
                records=records("2000.00", with_cn=False), complete_sections=["b2bcn"], **ingest
            ).errors
    return tenant_a, reg_a1, built_then


def table4(snap) -> dict:
    return {r.code: r.amounts for r in selectors.table4(preview=snap)}


def test_the_preview_as_of_a_past_day_equals_the_preview_built_that_day(history):
    tenant, reg, built_then = history
    with tenant_scope(tenant), at("2026-01-10"):
        now = services.preview_as_of(registration=reg, period=OCT, as_of=dt.date(2025, 11, 14))
    assert now.summary["itcsumm"] == built_then.summary["itcsumm"]
    assert now.summary["counts"] == built_then.summary["counts"]
    assert table4(now)["4A5"]["igst"] == D("162.00")  # I-1 180 less CN-1 18; I-2 pending then
    assert now.summary["counts"]["pending"] == 1


def test_today_the_same_period_shows_what_changed_since(history):
    tenant, reg, _built_then = history
    with tenant_scope(tenant), at("2026-01-10"):
        today = services.build_preview(tenant=tenant, actor=factories.SYSTEM, registration=reg, period=OCT)
    assert table4(today)["4A5"]["igst"] == D("360.00")  # the amended I-1; CN-1 vanished; I-2 went to November
    assert today.summary["counts"]["pending"] == 0


def test_as_of_a_day_between_keeps_the_filing_and_the_action_of_that_day(history):
    tenant, reg, _built_then = history
    with tenant_scope(tenant), at("2026-01-10"):
        nov_before = services.preview_as_of(
            registration=reg, period=dt.date(2025, 11, 1), as_of=dt.date(2025, 11, 21)
        )
        nov_after = services.preview_as_of(
            registration=reg, period=dt.date(2025, 11, 1), as_of=dt.date(2025, 11, 26)
        )
    # On 21 Nov I-2 was still pending (carried past the filed October 3B), on 26 Nov accepted into November
    assert nov_before.summary["counts"]["pending"] == 1
    assert table4(nov_before)["4A5"]["igst"] == D("0")
    assert table4(nov_after)["4A5"]["igst"] == D("90.00")


def test_the_page_has_a_date_picker_and_drills_down_as_of_that_day(history, client_for, alice):
    tenant, reg, _built_then = history
    url = reverse("twob-preview", args=[tenant.slug, reg.pk, "102025"])
    with at("2026-01-10"):
        page = client_for(alice).get(url, {"as_of": "2025-11-14"})
        assert page.status_code == 200
        text = page.content.decode()
        assert 'name="as_of"' in text
        assert "As it stood at the end of 14-11-2025" in text
        drill = reverse("twob-documents", args=[tenant.slug, reg.pk, "102025"])
        pending = client_for(alice).get(drill, {"bucket": "pending", "as_of": "2025-11-14"}).content.decode()
        available = client_for(alice).get(drill, {"bucket": "itcavl", "as_of": "2025-11-14"}).content.decode()
    assert "I-2" in pending
    assert "CN-1" in available
    assert "as of 14-11-2025" in available


def test_the_api_answers_as_of_a_date_and_refuses_a_bad_one(history, client_for, alice):
    tenant, reg, built_then = history
    url = f"/api/v1/t/{tenant.slug}/returns/2b/{reg.pk}/102025/"
    with at("2026-01-10"):
        body = client_for(alice).get(url, {"as_of": "2025-11-14"}).json()
        bad = client_for(alice).get(url, {"as_of": "14/11/2025"})
        future = client_for(alice).get(url, {"as_of": "2026-02-01"})
    assert body["id"] is None
    assert body["itcsumm"] == built_then.summary["itcsumm"]
    assert {r["code"]: r["igst"] for r in body["table4"]}["4A5"] == "162.00"
    assert bad.status_code == 400
    assert bad.json()["field"] == "as_of"
    assert future.status_code == 400


def test_a_document_first_seen_later_counts_when_its_periods_cut_off_was_before_that_day(tenant_a, reg_a1):
    """Seen only on 1 Dec, a filed October invoice (no filing date known) was in October's 2B by the 13th of
    November, as the placement assumes; a November one was not yet."""
    records = {
        "b2b": [
            factories.document_record(supplier_gstin=KA, number="OCT-1", taxable=D("1000.00")),
            factories.document_record(
                supplier_gstin=KA,
                number="NOV-1",
                taxable=D("1000.00"),
                date=dt.date(2025, 11, 5),
                supplier_period="112025",
            ),
        ]
    }
    with tenant_scope(tenant_a):
        with at("2025-12-01"):
            assert not ingest_documents(
                tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="portal"
            ).errors
        with at("2026-01-10"):
            oct_then = services.preview_as_of(registration=reg_a1, period=OCT, as_of=dt.date(2025, 11, 14))
            nov_then = services.preview_as_of(
                registration=reg_a1, period=dt.date(2025, 11, 1), as_of=dt.date(2025, 11, 30)
            )
    assert table4(oct_then)["4A5"]["igst"] == D("180.00")
    assert table4(nov_then)["4A5"]["igst"] == D("0")

"""Stored snapshots, diff, rebuilds (beat, page, API), downloads, comparison with the portal's 2B, GSTR-3B Table 4
and the deadline queue, through the services, pages and API."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.files.base import ContentFile
from django.urls import reverse
from openpyxl import load_workbook

from gst_sync.files.imports import import_gstr2b_files
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import selectors, services
from returns.digest import send_all
from returns.models import PreviewRebuild, RebuildStatus, TwobPreview
from returns.tasks import rebuild_preview
from tenancy.scoping import tenant_scope
from tests import factories

FIXTURES = Path(__file__).parent / "fixtures"
OCT = dt.date(2025, 10, 1)
KA = "29AAJFY9012N1ZE"


@pytest.fixture
def docs(tenant_a, reg_a1):
    records = {
        "b2b": [
            factories.document_record(supplier_gstin=KA, number="A-1", action="A"),
            factories.document_record(supplier_gstin=KA, number="N-1"),
            factories.document_record(supplier_gstin=KA, number="P-1", action="P"),
        ],
        "b2bcn": [
            factories.document_record(
                supplier_gstin=KA, section="b2bcn", number="CN-1", action="A", itcRedReq="N"
            )
        ],
    }
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="demo"
        ).errors
    return reg_a1


def run_queued_rebuilds(tenant) -> int:
    """What the Celery worker does with the queued rebuild tasks."""
    with tenant_scope(tenant):
        ids = list(PreviewRebuild.objects.filter(status=RebuildStatus.QUEUED).values_list("id", flat=True))
    return sum(rebuild_preview(i) == "done" for i in ids)


def build(tenant, reg, **kw):
    with tenant_scope(tenant):
        return services.build_preview(
            tenant=tenant, actor=factories.SYSTEM, registration=reg, period=OCT, **kw
        )


def test_each_build_is_a_snapshot_with_a_diff_saying_what_entered_left_or_changed(tenant_a, docs):
    first = build(tenant_a, docs)
    assert first.diff == {"first": True}
    assert first.summary["counts"]["pending"] == 1
    assert first.summary["itcsumm"]["itcavl"]["nonrevsup"]["igst"] == "3600.00"
    assert first.summary["itcsumm"]["itcavl"]["othersup"]["igst"] == "0.00"  # nil reduction declared
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(doc_number="P-1").update(local_action="A")
        SupplierDocument.objects.filter(doc_number="A-1").update(local_action="P")
        SupplierDocument.objects.filter(doc_number="N-1").update(local_action="R")
    second = build(tenant_a, docs)
    assert second.previous == first
    with tenant_scope(tenant_a):
        assert TwobPreview.objects.count() == 2
    assert second.diff["counts"] == {
        "changed": 3,
        "left": 0,
    }  # pending ones stay in the snapshot as "pending"
    whys = {c["to"].split("/")[0]: c["why"] for c in second.diff["changed"]}
    assert whys["itcRejected"] == "rejected in IMS"
    assert whys["pending"] == "kept pending in IMS"
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(doc_number="N-1").update(supplier_filing_date=dt.date(2025, 11, 20))
    third = build(tenant_a, docs)
    assert third.diff["counts"]["left"] == 1
    assert third.diff["left"][0]["why"].startswith("now in the 2B of 112025")


def test_beat_rebuild_builds_previous_and_current_period_of_every_gstin(
    tenant_a, reg_a1, reg_a2, tenant_b, reg_b1
):
    assert services.rebuild_all(today=dt.date(2025, 11, 16)) == 6
    with tenant_scope(tenant_a):
        periods = set(TwobPreview.objects.filter(registration=reg_a2).values_list("period", flat=True))
    assert periods == {dt.date(2025, 9, 1), dt.date(2025, 12, 1)}  # QRMP: quarters


def test_page_shows_the_preview_rebuilds_on_demand_and_drills_down(client_for, alice, tenant_a, docs):
    c = client_for(alice)
    url = reverse("twob-preview", args=[tenant_a.slug, docs.pk, "102025"])
    assert "No preview built" in c.get(url).content.decode()
    queued = c.post(
        reverse("twob-rebuild", args=[tenant_a.slug, docs.pk, "102025"]), follow=True
    ).content.decode()
    assert "Rebuild queued" in queued
    assert 'data-status="queued"' in queued
    assert "No preview built" in queued
    assert run_queued_rebuilds(tenant_a) == 1
    page = c.get(url).content.decode()
    assert 'data-status="done"' in page
    assert 'id="itcsumm"' in page
    assert "4(A)(5)" in page
    drill = c.get(
        reverse("twob-documents", args=[tenant_a.slug, docs.pk, "102025"]), {"bucket": "itcavl/nonrevsup"}
    )
    assert "A-1" in drill.content.decode()
    assert "P-1" not in drill.content.decode()


def test_downloads_excel_in_2b_layout_and_json_in_the_official_structure(client_for, alice, tenant_a, docs):
    c = client_for(alice)
    build(tenant_a, docs)
    xlsx = c.get(reverse("twob-excel", args=[tenant_a.slug, docs.pk, "102025"]))
    rows = list(load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active.values)
    assert rows[0][2:5] == ("GSTIN of supplier", "Trade/Legal name", "Invoice number")
    assert sorted(r[4] for r in rows[1:]) == ["A-1", "CN-1", "N-1"]
    data = json.loads(c.get(reverse("twob-json", args=[tenant_a.slug, docs.pk, "102025"])).content)["data"]
    assert data["rtnprd"] == "102025"
    assert {"itcsumm", "cpsumm", "docdata", "docRejdata"} <= set(data)
    assert [n["ntnum"] for s in data["docdata"]["cdnr"] for n in s["nt"]] == ["CN-1"]


def test_api_rebuilds_and_reads_the_preview(client_for, alice, tenant_a, docs):
    c = client_for(alice)
    base = f"/api/v1/t/{tenant_a.slug}/returns/2b/{docs.pk}/102025/"
    assert c.get(base).status_code == 404
    queued = c.post(base + "rebuild/")
    assert queued.status_code == 202
    assert queued.json()["status"] == "queued"
    assert run_queued_rebuilds(tenant_a) == 1
    status = c.get(f"/api/v1/t/{tenant_a.slug}/returns/2b/rebuilds/{queued.json()['id']}/").json()
    assert status["status"] == "done"
    assert status["preview"]
    assert status["finished_at"]
    body = c.get(base).json()
    assert body["counts"]["itcavl"] == 3
    assert body["trigger"] == "api"
    assert c.get(f"/api/v1/t/{tenant_a.slug}/returns/2b/{docs.pk}/132025/").status_code == 400


def test_other_tenants_and_ungranted_gstins_get_404(client_for, charlie, pat, tenant_a, reg_a2, docs):
    c = client_for(charlie)
    assert c.get(reverse("twob-preview", args=[tenant_a.slug, docs.pk, "102025"])).status_code == 404
    c = client_for(pat)  # granted reg_a1 only
    assert c.get(reverse("twob-preview", args=[tenant_a.slug, reg_a2.pk, "122025"])).status_code == 404
    assert c.post(f"/api/v1/t/{tenant_a.slug}/returns/2b/{reg_a2.pk}/122025/rebuild/").status_code == 404


def test_comparison_with_the_portal_2b_explains_a_late_action_and_asks_for_recompute(
    client_for, alice, tenant_a
):
    with tenant_scope(tenant_a):
        from tenancy import services as tenancy_services

        reg = tenancy_services.add_registration(
            tenant=tenant_a, actor=factories.SYSTEM, gstin="27AAICZ1234Q1ZQ", legal_name="Zenith"
        )
        ingest_documents(
            tenant=tenant_a,
            registration=reg,
            actor=factories.SYSTEM,
            source="ims_json",
            records=json.loads((FIXTURES / "ims_get_invoices_response.json").read_text()),
        )
        import_gstr2b_files(
            tenant=tenant_a,
            actor=factories.SYSTEM,
            registration=reg,
            files=[ContentFile((FIXTURES / "gstr2b_get2b_response.json").read_bytes(), name="2b.json")],
        )
    c = client_for(alice)
    url = reverse("twob-preview", args=[tenant_a.slug, reg.pk, "102025"])
    c.post(reverse("twob-rebuild", args=[tenant_a.slug, reg.pk, "102025"]))
    run_queued_rebuilds(tenant_a)
    assert 'id="portal-match"' in c.get(url).content.decode()
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(doc_number="GJ/1029").update(local_action="R")
    c.post(reverse("twob-rebuild", args=[tenant_a.slug, reg.pk, "102025"]))
    run_queued_rebuilds(tenant_a)
    page = c.get(url).content.decode()
    assert 'id="recompute-needed"' in page
    assert "GJ/1029" in page
    assert "Recompute on the portal" in page


def test_deadline_queue_orders_by_itc_at_stake_over_days_left_and_emails_a_digest(
    client_for, alice, bob, tenant_a, docs
):
    with tenant_scope(tenant_a):
        SupplierDocument.objects.filter(doc_number="N-1").update(
            taxable_value=Decimal("1"), igst=Decimal("1")
        )
    with time_machine.travel(dt.datetime(2025, 11, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        page = client_for(alice).get(reverse("twob-deadlines", args=[tenant_a.slug])).content.decode()
    # N-1 (no action, 2025-10): GSTR-3B due 20-11-2025, ₹1 at stake; the pending P-1: section 16(4) 30-11-2026
    order = [page.index(n) for n in (">P-1<", ">N-1<")]
    assert order == sorted(order)
    assert "30-11-2026" in page
    assert "20-11-2025" in page
    assert send_all(today=dt.date(2025, 11, 10)) == 1  # alice acts; bob is a viewer
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "P-1" in mail.outbox[0].body
    assert "http://127.0.0.1:8000/t/acme/returns/deadlines/" in mail.outbox[0].body  # SITE_URL, the default


def test_deadline_queue_pages_with_a_keyset_cursor_without_repeating_or_losing_documents(
    client_for, alice, tenant_a, docs, monkeypatch
):
    from returns import views

    monkeypatch.setattr(views, "PAGE", 2)
    url = reverse("twob-deadlines", args=[tenant_a.slug])
    numbers = ("N-1", "N-2", "P-1")
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a,
            registration=docs,
            records={"b2b": [factories.document_record(supplier_gstin=KA, number="N-2")]},
            actor=factories.SYSTEM,
            source="demo",
            complete_sections=[],
        ).errors
    with time_machine.travel(dt.datetime(2025, 11, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        first = client_for(alice).get(url).content.decode()
        assert 'id="deadlines-more"' in first
        more = first.split('id="deadlines-more" href="')[1].split('"')[0].replace("&amp;", "&")
        second = client_for(alice).get(url + more).content.decode()
        assert client_for(alice).get(url + "?after=junk").status_code == 200  # a bad cursor: the first page
    with tenant_scope(tenant_a):
        full = [
            i["doc"].doc_number
            for i in selectors.deadline_queue(
                tenant=tenant_a, registrations=[docs], today=dt.date(2025, 11, 10)
            )
        ]
    assert sorted(full) == sorted(numbers)

    def order(page):
        return [n for _, n in sorted((page.index(f">{n}<"), n) for n in numbers if f">{n}<" in page)]

    assert order(first) + order(second) == full  # page 1 then page 2: the whole queue, once, in rank order

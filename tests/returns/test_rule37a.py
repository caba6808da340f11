"""Rule 37A (docs/rules/gstr2b.md §7): the suppliers' GSTR-3B filings read from the portal's return tracking (the
sandbox portal over HTTP), the reversal in the 2B preview's ``itcrev`` of accepted invoices whose supplier had not
filed by 30 September after the financial year, its re-availment in GSTR-3B 4(D)(1) once the supplier files, the
Rule 37A watch (page and API, per role and GSTIN) and its place in the deadline queue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditEvent
from invoices.services.ingest import ingest_documents
from returns import selectors, services, tasks
from returns.models import SupplierGstr3bStatus
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync import conftest as sandbox_fixtures

sandbox_url = sandbox_fixtures.sandbox_url
sandbox = sandbox_fixtures.sandbox
adapter = sandbox_fixtures.adapter

KA = "29AAJFY9012N1ZE"  # inter-state supplier: IGST 1,800 on 10,000
TN = "33AAACT1234F1ZB"
NOV24, FEB25 = dt.date(2024, 11, 1), dt.date(2025, 2, 1)
OCT, NOV = dt.date(2025, 10, 1), dt.date(2025, 11, 1)
AFTER_DEADLINE = dt.datetime(2025, 11, 5, 6, 0, tzinfo=dt.UTC)
BEFORE_DEADLINE = dt.datetime(2025, 9, 5, 6, 0, tzinfo=dt.UTC)


def ingest(tenant, reg, *records):
    with tenant_scope(tenant):
        assert not ingest_documents(
            tenant=tenant,
            registration=reg,
            records={"b2b": list(records)},
            actor=factories.SYSTEM,
            source="demo",
        ).errors


def invoice(number, *, supplier=KA, period="112024", day=dt.date(2024, 11, 5), action="A"):
    return factories.document_record(
        supplier_gstin=supplier, number=number, date=day, supplier_period=period, action=action
    )


def status(tenant, gstin, period, filed_on=None):
    """What the return tracking said (the service's output, set directly for the preview tests)."""
    with tenant_scope(tenant):
        SupplierGstr3bStatus.objects.update_or_create(
            tenant=tenant,
            supplier_gstin=gstin,
            period=period,
            defaults={"filed": filed_on is not None, "filed_on": filed_on, "fetched_at": AFTER_DEADLINE},
        )


def build(tenant, reg, period):
    with tenant_scope(tenant):
        return services.build_preview(tenant=tenant, actor=factories.SYSTEM, registration=reg, period=period)


def itcrev_igst(snap) -> str:
    return snap.summary["itcsumm"].get("itcrev", {}).get("nonrevsup", {}).get("b2b", {}).get("igst", "0")


# --- the suppliers' filings from the portal's return tracking ------------------------------------------------------


def refresh(tenant, portal, registrations=None, today=dt.date(2025, 11, 5)):
    with tenant_scope(tenant):
        return services.refresh_supplier_filings(
            tenant=tenant, actor=factories.SYSTEM, registrations=registrations, adapter=portal, today=today
        )


def statuses(tenant):
    with tenant_scope(tenant):
        return {
            (s.supplier_gstin, s.period): s.filed_on
            for s in SupplierGstr3bStatus.objects.filter(tenant=tenant)
        }


def test_the_return_tracking_records_which_supplier_periods_were_filed_and_when(
    sandbox, adapter, tenant_a, reg_a1
):
    ingest(tenant_a, reg_a1, invoice("K/1"), invoice("K/2", period="022025", day=dt.date(2025, 2, 3)))
    sandbox.post("filings", {"gstin": KA, "ret_prd": "112024", "dof": "20-12-2024"})
    refresh(tenant_a, adapter)
    assert statuses(tenant_a) == {(KA, NOV24): dt.date(2024, 12, 20), (KA, FEB25): None}


def test_a_quarterly_suppliers_filing_covers_the_months_of_its_quarter(sandbox, adapter, tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    sandbox.post("filings", {"gstin": KA, "ret_prd": "122024", "dof": "22-01-2025"})
    refresh(tenant_a, adapter)
    assert statuses(tenant_a)[(KA, NOV24)] == dt.date(2025, 1, 22)


def test_a_supplier_of_two_gstins_is_asked_once_per_financial_year(
    sandbox, adapter, tenant_a, reg_a1, reg_a2
):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    ingest(tenant_a, reg_a2, invoice("K/2"))
    assert refresh(tenant_a, adapter).asked == 1


def test_the_suppliers_of_a_deactivated_gstin_are_not_asked_about(sandbox, adapter, tenant_a, reg_a1, reg_a2):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    ingest(tenant_a, reg_a2, invoice("T/1", supplier=TN))
    reg_a2.active = False
    reg_a2.save(update_fields=["active"])
    assert refresh(tenant_a, adapter).asked == 1
    assert {gstin for gstin, _period in statuses(tenant_a)} == {KA}


def test_asking_the_return_tracking_is_audited(sandbox, adapter, tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    refresh(tenant_a, adapter)
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="supplier_3b.fetched").count() == 1


def test_a_failed_call_keeps_what_was_known_and_counts_as_failed(sandbox, adapter, tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    status(tenant_a, KA, NOV24, dt.date(2024, 12, 20))
    sandbox.faults(fail_next=50, error_status=503)
    result = refresh(tenant_a, adapter)
    assert result.failed == 1
    assert statuses(tenant_a) == {(KA, NOV24): dt.date(2024, 12, 20)}


def test_a_supplier_that_files_later_is_corrected_on_the_next_call(sandbox, adapter, tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    refresh(tenant_a, adapter)
    sandbox.post("filings", {"gstin": KA, "ret_prd": "112024", "dof": "15-10-2025"})
    refresh(tenant_a, adapter)
    assert statuses(tenant_a) == {(KA, NOV24): dt.date(2025, 10, 15)}


def test_the_task_asks_the_configured_portal_and_records_the_filing(sandbox, settings, tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    sandbox.post("filings", {"gstin": KA, "ret_prd": "112024", "dof": "20-12-2024"})
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID = sandbox_fixtures.CLIENT_ID
    settings.IMS_GSP_CLIENT_SECRET = sandbox_fixtures.CLIENT_SECRET
    with time_machine.travel(AFTER_DEADLINE):
        tasks.refresh_supplier_filings.apply(args=(tenant_a.pk, reg_a1.pk)).get()
    assert statuses(tenant_a) == {(KA, NOV24): dt.date(2024, 12, 20)}


# --- itcrev in the 2B preview and 4(D)(1) ---------------------------------------------------------------------------


@pytest.fixture
def unfiled(tenant_a, reg_a1):
    """An accepted November-2024 invoice (IGST 1,800) whose supplier never filed that GSTR-3B."""
    ingest(tenant_a, reg_a1, invoice("K/1"))
    status(tenant_a, KA, NOV24)
    return reg_a1


def test_itcrev_of_october_reverses_an_invoice_whose_supplier_missed_the_deadline(tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE):
        snap = build(tenant_a, unfiled, OCT)
    assert itcrev_igst(snap) == "1800.00"


def test_itcrev_is_in_gstr3b_4b2(tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE):
        snap = build(tenant_a, unfiled, OCT)
    rows = {r.code: r for r in selectors.table4(preview=snap)}
    assert rows["4B2-rule37a"].amounts["igst"] == Decimal("1800.00")


def test_a_supplier_that_filed_by_30_september_reverses_nothing(tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    status(tenant_a, KA, NOV24, dt.date(2025, 9, 30))
    with time_machine.travel(AFTER_DEADLINE):
        snap = build(tenant_a, reg_a1, OCT)
    assert "itcrev" not in snap.summary["itcsumm"]


def test_a_supplier_whose_filing_is_unknown_reverses_nothing(tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1"))
    with time_machine.travel(AFTER_DEADLINE):
        snap = build(tenant_a, reg_a1, OCT)
    assert "itcrev" not in snap.summary["itcsumm"]


def test_a_rejected_invoice_is_not_reversed(tenant_a, reg_a1):
    ingest(tenant_a, reg_a1, invoice("K/1", action="R"))
    status(tenant_a, KA, NOV24)
    with time_machine.travel(AFTER_DEADLINE):
        snap = build(tenant_a, reg_a1, OCT)
    assert "itcrev" not in snap.summary["itcsumm"]


def test_the_json_download_lists_the_reversed_invoice_under_itcrev(tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE), tenant_scope(tenant_a):
        data = selectors.preview_json(registration=unfiled, period=OCT, today=dt.date(2025, 11, 5))
    invoices = data["docdata"]["itcrev"][0]["b2b"][0]["inv"]
    assert [(i["inum"], str(i["igst"])) for i in invoices] == [("K/1", "1800.00")]


def test_the_itc_is_re_availed_in_4d1_of_the_period_the_supplier_files(tenant_a, unfiled):
    status(tenant_a, KA, NOV24, dt.date(2025, 11, 15))
    with time_machine.travel(dt.datetime(2025, 12, 5, 6, 0, tzinfo=dt.UTC)):
        snap = build(tenant_a, unfiled, NOV)
    rows = {r.code: r for r in selectors.table4(preview=snap)}
    assert rows["4D1"].amounts["igst"] == Decimal("1800.00")


def test_a_late_filing_still_leaves_the_october_reversal(tenant_a, unfiled):
    status(tenant_a, KA, NOV24, dt.date(2025, 11, 15))
    with time_machine.travel(dt.datetime(2025, 12, 5, 6, 0, tzinfo=dt.UTC)):
        snap = build(tenant_a, unfiled, OCT)
    assert itcrev_igst(snap) == "1800.00"


def test_the_re_availment_is_drilled_down_to_its_document(tenant_a, unfiled):
    status(tenant_a, KA, NOV24, dt.date(2025, 11, 15))
    with time_machine.travel(dt.datetime(2025, 12, 5, 6, 0, tzinfo=dt.UTC)):
        snap = build(tenant_a, unfiled, NOV)
        with tenant_scope(tenant_a):
            docs = selectors.bucket_documents(tenant=tenant_a, preview=snap, prefix="reclaim")
            assert [d.doc_number for d in docs] == ["K/1"]


# --- the Rule 37A watch ---------------------------------------------------------------------------------------------


def watch_url(tenant, reg=None):
    base = reverse("returns-rule37a", args=[tenant.slug])
    return f"{base}?registration={reg.pk}" if reg else base


def api_url(tenant, reg):
    return reverse("api-returns-rule37a", args=[tenant.slug, reg.pk])


def test_the_watch_page_shows_the_invoice_to_reverse_and_by_when(client_for, alice, tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE):
        page = client_for(alice).get(watch_url(tenant_a, unfiled)).content.decode()
    assert 'data-state="reverse" data-id' in page
    assert "30-11-2025" in page


def test_the_watch_api_gives_state_amounts_and_reverse_by_day(client_for, alice, tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE):
        (item,) = client_for(alice).get(api_url(tenant_a, unfiled)).json()["results"]
    assert (item["state"], item["igst"], item["reverse_by"]) == ("reverse", "1800.00", "30-11-2025")


def test_before_the_deadline_an_unfiled_supplier_puts_the_invoice_at_risk(
    client_for, alice, tenant_a, unfiled
):
    with time_machine.travel(BEFORE_DEADLINE):
        (item,) = client_for(alice).get(api_url(tenant_a, unfiled)).json()["results"]
    assert item["state"] == "at_risk"


def test_the_watch_shows_the_invoice_re_availed_once_the_supplier_files(client_for, alice, tenant_a, unfiled):
    status(tenant_a, KA, NOV24, dt.date(2025, 11, 15))
    with time_machine.travel(dt.datetime(2025, 12, 5, 6, 0, tzinfo=dt.UTC)):
        (item,) = client_for(alice).get(api_url(tenant_a, unfiled)).json()["results"]
    assert (item["state"], item["reavail_period"]) == ("reavailed", "112025")


def test_the_watch_totals_by_tax_head(client_for, alice, tenant_a, unfiled):
    ingest(tenant_a, unfiled, invoice("K/2"))
    with time_machine.travel(AFTER_DEADLINE):
        totals = client_for(alice).get(api_url(tenant_a, unfiled)).json()["totals"]
    assert totals["reverse"]["igst"] == "3600.00"


def test_the_watch_of_a_gstin_not_granted_is_not_found(client_for, pat, tenant_a, reg_a2):
    ingest(tenant_a, reg_a2, invoice("K/1"))
    status(tenant_a, KA, NOV24)
    assert client_for(pat).get(watch_url(tenant_a, reg_a2)).status_code == 404


def test_the_watch_api_of_a_gstin_not_granted_is_not_found(client_for, pat, tenant_a, reg_a2):
    assert client_for(pat).get(api_url(tenant_a, reg_a2)).status_code == 404


def test_the_watch_of_another_tenant_is_not_found(client_for, charlie, tenant_a, unfiled):
    assert client_for(charlie).get(watch_url(tenant_a, unfiled)).status_code == 404


def test_a_viewer_may_not_ask_the_portal_from_the_watch(client_for, bob, tenant_a, unfiled):
    response = client_for(bob).post(
        reverse("returns-rule37a-refresh", args=[tenant_a.slug]), {"registration": unfiled.pk}
    )
    assert response.status_code == 403


# --- in the deadline queue ------------------------------------------------------------------------------------------


def test_the_deadline_queue_lists_the_invoice_to_reverse_with_its_reverse_by_day(tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE), tenant_scope(tenant_a):
        items = selectors.deadline_queue(tenant=tenant_a, registrations=[unfiled], today=dt.date(2025, 11, 5))
    assert [(i["doc"].doc_number, i["clock"], i["due"]) for i in items] == [
        ("K/1", "Rule 37A", dt.date(2025, 11, 30))
    ]


def test_a_re_availed_invoice_leaves_the_deadline_queue(tenant_a, unfiled):
    status(tenant_a, KA, NOV24, dt.date(2025, 11, 15))
    with time_machine.travel(dt.datetime(2025, 12, 5, 6, 0, tzinfo=dt.UTC)), tenant_scope(tenant_a):
        items = selectors.deadline_queue(tenant=tenant_a, registrations=[unfiled], today=dt.date(2025, 12, 5))
    assert [i["doc"].doc_number for i in items] == []


def test_an_owner_asking_the_portal_from_the_watch_returns_to_the_watch(client_for, alice, tenant_a, unfiled):
    response = client_for(alice).post(
        reverse("returns-rule37a-refresh", args=[tenant_a.slug]), {"registration": unfiled.pk}
    )
    assert response["Location"] == f"{watch_url(tenant_a)}?registration={unfiled.pk}"


def test_the_preview_api_gives_the_re_availment(client_for, alice, tenant_a, unfiled):
    status(tenant_a, KA, NOV24, dt.date(2025, 11, 15))
    with time_machine.travel(dt.datetime(2025, 12, 5, 6, 0, tzinfo=dt.UTC)):
        build(tenant_a, unfiled, NOV)
        body = (
            client_for(alice)
            .get(reverse("api-twob-preview", args=[tenant_a.slug, unfiled.pk, "112025"]))
            .json()
        )
    assert body["reclaim"]["nonrevsup"]["b2b"]["igst"] == "1800.00"


def test_the_deadline_page_shows_the_rule_37a_clock(client_for, alice, tenant_a, unfiled):
    with time_machine.travel(AFTER_DEADLINE):
        page = client_for(alice).get(reverse("twob-deadlines", args=[tenant_a.slug])).content.decode()
    assert "<td>Rule 37A</td>" in page

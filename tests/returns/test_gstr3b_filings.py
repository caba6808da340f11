"""GSTR-3B filing status (docs/rules/gstr3b.md §4): read from the portal's return tracking on every sync (the
sandbox portal over HTTP), recorded and corrected by hand (page and API, audited, per role and GSTIN), and used by
the deadline queue (only what still needs a decision, filters, totals, a bulk action on all matching)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from actions import services as actions_services
from audit.models import AuditEvent
from audit.services import Actor
from gst_sync import services as sync_services
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from returns import selectors, services
from returns.models import DeadlineDirty, FilingSource, Gstr3bFiling
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync import conftest as sandbox_fixtures
from tests.gst_sync.conftest import RECIPIENT, connect_gstin

OCT, NOV = dt.date(2025, 10, 1), dt.date(2025, 11, 1)
KA, MH = "29AAJFY9012N1ZE", "27AAPFU0939F1ZV"
sandbox_url = sandbox_fixtures.sandbox_url
sandbox = sandbox_fixtures.sandbox
adapter, portal = sandbox_fixtures.adapter, sandbox_fixtures.portal
IN_DEC_2025 = dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC)


# --- from the portal ---------------------------------------------------------------------------------------------


def test_return_tracking_lists_the_gstr3b_filings_the_portal_knows_without_a_session(sandbox, adapter):
    sandbox.post("filings", {"gstin": KA, "ret_prd": "102025", "dof": "20-11-2025", "arn": "AA2910250001"})
    sandbox.post("filings", {"gstin": KA, "ret_prd": "032025", "dof": "20-04-2025"})  # FY 2024-25
    (filing,) = adapter.get_return_filings(gstin=KA, fy="2025-26")
    assert (filing.return_type, filing.period, filing.filed_on) == ("GSTR3B", OCT, dt.date(2025, 11, 20))
    assert filing.arn == "AA2910250001"


def test_return_tracking_of_a_gstin_that_filed_nothing_is_empty(sandbox, adapter):
    assert adapter.get_return_filings(gstin=KA, fy="2025-26") == []


@pytest.fixture
def connected(db, portal):
    tenant = factories.make_tenant("Filing Traders", "filing")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=factories.SYSTEM, gstin=RECIPIENT, legal_name="Zenith"
        )
        connect_gstin(tenant, reg, portal, factories.SYSTEM)
    return tenant, reg


def sync(tenant, reg, portal) -> None:
    with tenant_scope(tenant):
        (run,) = sync_services.queue_sync(
            tenant=tenant, actor=factories.SYSTEM, registration=reg, sections=["b2b"]
        )
    sync_services.run_sync(run.pk, adapter=portal)


def filings(tenant) -> list[tuple]:
    with tenant_scope(tenant):
        return list(Gstr3bFiling.objects.values_list("period", "filed_on", "source"))


def test_a_sync_records_the_gstr3b_filings_the_portal_tracks(sandbox, connected, portal):
    tenant, reg = connected
    sandbox.post("filings", {"gstin": RECIPIENT, "ret_prd": "102025", "dof": "20-11-2025"})
    with time_machine.travel(IN_DEC_2025, tick=False):
        sync(tenant, reg, portal)
    assert filings(tenant) == [(OCT, dt.date(2025, 11, 20), FilingSource.PORTAL)]


def test_the_portal_corrects_a_filing_recorded_by_hand_and_the_ledger_says_old_and_new(
    sandbox, connected, portal
):
    tenant, reg = connected
    with tenant_scope(tenant):
        services.mark_gstr3b_filed(
            tenant=tenant,
            actor=factories.SYSTEM,
            registration=reg,
            period=OCT,
            filed_on=dt.date(2025, 11, 22),
        )
    sandbox.post("filings", {"gstin": RECIPIENT, "ret_prd": "102025", "dof": "20-11-2025", "arn": "AA27"})
    with time_machine.travel(IN_DEC_2025, tick=False):
        sync(tenant, reg, portal)
    assert filings(tenant) == [(OCT, dt.date(2025, 11, 20), FilingSource.PORTAL)]
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="gstr3b.filing_corrected")
    assert event.changes["filed_on"] == ["2025-11-22", "2025-11-20"]


def test_a_second_sync_with_nothing_new_writes_nothing(sandbox, connected, portal):
    tenant, reg = connected
    sandbox.post("filings", {"gstin": RECIPIENT, "ret_prd": "102025", "dof": "20-11-2025"})
    with time_machine.travel(IN_DEC_2025, tick=False):
        sync(tenant, reg, portal)
        sync(tenant, reg, portal)
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(action__startswith="gstr3b.").count() == 1


# --- by hand: page and API ------------------------------------------------------------------------------------------


def url(tenant, name="returns-filings", *args):
    return reverse(name, args=[tenant.slug, *args])


def test_an_owner_records_a_filing_by_hand_and_it_is_audited(client_for, alice, tenant_a, reg_a1):
    response = client_for(alice).post(
        url(tenant_a), {"registration": reg_a1.pk, "period": "102025", "filed_on": "20-11-2025"}
    )
    assert response.status_code == 302
    assert filings(tenant_a) == [(OCT, dt.date(2025, 11, 20), FilingSource.MANUAL)]
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="gstr3b.filed").count() == 1


def test_the_filings_page_lists_what_was_recorded(client_for, alice, tenant_a, reg_a1):
    with tenant_scope(tenant_a):
        Gstr3bFiling.objects.create(
            tenant=tenant_a, registration=reg_a1, period=OCT, filed_on=dt.date(2025, 11, 20)
        )
    page = client_for(alice).get(url(tenant_a)).content.decode()
    assert "20-11-2025" in page


def test_a_viewer_may_not_record_a_filing(client_for, bob, tenant_a, reg_a1):
    response = client_for(bob).post(
        url(tenant_a), {"registration": reg_a1.pk, "period": "102025", "filed_on": "20-11-2025"}
    )
    assert response.status_code == 403
    assert filings(tenant_a) == []


def test_a_preparer_may_not_record_a_filing_of_a_gstin_not_granted_to_them(client_for, pat, tenant_a, reg_a2):
    response = client_for(pat).post(
        url(tenant_a), {"registration": reg_a2.pk, "period": "122025", "filed_on": "20-01-2026"}
    )
    assert response.status_code == 400
    assert filings(tenant_a) == []


@pytest.mark.parametrize("filed_on", ["30-09-2025", "01-01-2099"])
def test_a_filing_date_before_the_period_or_in_the_future_is_refused(
    client_for, alice, tenant_a, reg_a1, filed_on
):
    response = client_for(alice).post(
        url(tenant_a), {"registration": reg_a1.pk, "period": "102025", "filed_on": filed_on}
    )
    assert response.status_code == 400
    assert filings(tenant_a) == []


def test_a_correction_is_audited_with_the_old_and_new_date(client_for, alice, tenant_a, reg_a1):
    with tenant_scope(tenant_a):
        filing = Gstr3bFiling.objects.create(
            tenant=tenant_a, registration=reg_a1, period=OCT, filed_on=dt.date(2025, 11, 20)
        )
    response = client_for(alice).post(
        url(tenant_a, "returns-filing-edit", filing.pk), {"filed_on": "19-11-2025", "arn": ""}
    )
    assert response.status_code == 302
    assert filings(tenant_a) == [(OCT, dt.date(2025, 11, 19), FilingSource.MANUAL)]
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="gstr3b.filing_corrected")
    assert event.changes["filed_on"] == ["2025-11-20", "2025-11-19"]


def test_a_deleted_filing_is_gone_and_audited(client_for, alice, tenant_a, reg_a1):
    with tenant_scope(tenant_a):
        filing = Gstr3bFiling.objects.create(
            tenant=tenant_a, registration=reg_a1, period=OCT, filed_on=dt.date(2025, 11, 20)
        )
    assert client_for(alice).post(url(tenant_a, "returns-filing-delete", filing.pk)).status_code == 302
    assert filings(tenant_a) == []
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="gstr3b.filing_deleted")
    assert event.changes["filed_on"] == ["2025-11-20", None]


def api(tenant, *rest):
    return f"/api/v1/t/{tenant.slug}/returns/filings/" + "".join(f"{r}/" for r in rest)


def test_the_api_records_corrects_and_deletes_a_filing(client_for, alice, tenant_a, reg_a1):
    c = client_for(alice)
    created = c.post(
        api(tenant_a),
        {"registration": reg_a1.pk, "period": "102025", "filed_on": "20-11-2025"},
        content_type="application/json",
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    listed = c.get(api(tenant_a)).json()["results"]
    assert [(x["period"], x["filed_on"], x["source"]) for x in listed] == [("102025", "20-11-2025", "manual")]
    patched = c.patch(api(tenant_a, pk), {"filed_on": "21-11-2025"}, content_type="application/json")
    assert patched.json()["filed_on"] == "21-11-2025"
    assert c.delete(api(tenant_a, pk)).status_code == 204
    assert filings(tenant_a) == []


def test_the_api_refuses_a_viewer_and_a_gstin_not_visible(client_for, bob, pat, tenant_a, reg_a2):
    body = {"registration": reg_a2.pk, "period": "122025", "filed_on": "20-01-2026"}
    assert client_for(bob).post(api(tenant_a), body, content_type="application/json").status_code == 403
    assert client_for(pat).post(api(tenant_a), body, content_type="application/json").status_code == 404


def test_the_api_says_which_field_is_wrong(client_for, alice, tenant_a, reg_a1):
    body = {"registration": reg_a1.pk, "period": "132025", "filed_on": "20-11-2025"}
    response = client_for(alice).post(api(tenant_a), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] == "period"


# --- the deadline queue ------------------------------------------------------------------------------------------


@pytest.fixture
def queue_docs(tenant_a, reg_a1):
    records = {
        "b2b": [
            factories.document_record(supplier_gstin=KA, number="A-1", action="A"),
            factories.document_record(supplier_gstin=KA, number="R-1", action="R"),
            factories.document_record(supplier_gstin=KA, number="N-1"),
            factories.document_record(supplier_gstin=MH, number="N-2", taxable=Decimal("100000.00")),
            factories.document_record(supplier_gstin=KA, number="P-1", action="P"),
            factories.document_record(supplier_gstin=KA, number="N-NOV", date=NOV, supplier_period="112025"),
        ],
    }
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a,
            registration=reg_a1,
            records=records,
            actor=factories.SYSTEM,
            source="demo",
            supplier_names={KA: "Yellow Tools", MH: "Unicorn Traders"},
        ).errors
    return reg_a1


def queue_page(client, tenant, query: str = "") -> str:
    with time_machine.travel(dt.datetime(2025, 12, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        return client.get(url(tenant, "twob-deadlines") + query).content.decode()


def test_accepted_and_rejected_documents_are_settled_and_not_in_the_queue(
    client_for, alice, tenant_a, queue_docs
):
    page = queue_page(client_for(alice), tenant_a)
    assert ">N-1<" in page
    assert ">A-1<" not in page
    assert ">R-1<" not in page


def test_the_queue_shows_supplier_names(client_for, alice, tenant_a, queue_docs):
    assert "Unicorn Traders" in queue_page(client_for(alice), tenant_a)


def test_a_recorded_gstr3b_filing_takes_its_period_out_of_the_queue_and_pending_ones_stay(
    client_for, alice, tenant_a, queue_docs
):
    c = client_for(alice)
    c.post(url(tenant_a), {"registration": queue_docs.pk, "period": "102025", "filed_on": "20-11-2025"})
    page = queue_page(c, tenant_a)
    assert ">N-1<" not in page
    assert ">P-1<" in page  # pending: carried to the next open period, still to decide
    assert ">N-NOV<" in page


def test_the_queue_totals_every_matching_document(client_for, alice, tenant_a, queue_docs):
    with tenant_scope(tenant_a):
        count, stake = selectors.deadline_totals(
            tenant=tenant_a, registrations=[queue_docs], today=dt.date(2025, 12, 10)
        )
    assert count == 4  # N-1, N-2, P-1, N-NOV
    assert stake == Decimal("1800.00") * 3 + Decimal("18000.00")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?supplier=Unicorn", {"N-2"}),
        (f"?supplier={KA}", {"N-1", "P-1", "N-NOV"}),
        ("?min_itc=5000", {"N-2"}),
        ("?days_max=30", {"N-1", "N-2", "N-NOV"}),  # the pending P-1's 16(4) date is a year away
        ("?section=b2bcn", set()),
    ],
)
def test_the_queue_filters_by_supplier_amount_days_left_and_section(
    client_for, alice, tenant_a, queue_docs, query, expected
):
    page = queue_page(client_for(alice), tenant_a, query)
    shown = {n for n in ("N-1", "N-2", "P-1", "N-NOV") if f">{n}<" in page}
    assert shown == expected


def test_a_bulk_action_on_all_matching_the_queue_takes_exactly_the_queue_documents(
    client_for, alice, tenant_a, queue_docs
):
    c = client_for(alice)
    page = queue_page(c, tenant_a, "?supplier=" + KA)
    query = page.split('name="query" value="')[1].split('"')[0].replace("&amp;", "&")
    with time_machine.travel(dt.datetime(2025, 12, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        response = c.post(
            reverse("action-apply", args=[tenant_a.slug]),
            {"action": "A", "all_matching": "on", "query": query},
        )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        accepted = set(SupplierDocument.objects.filter(local_action="A").values_list("doc_number", flat=True))
    assert accepted == {"N-1", "P-1", "N-NOV"}


def test_the_queue_page_of_another_tenant_is_not_found(client_for, charlie, tenant_a):
    assert client_for(charlie).get(url(tenant_a, "twob-deadlines")).status_code == 404


def test_json_of_the_filings_api_is_plain(client_for, alice, tenant_a, reg_a1):
    c = client_for(alice)
    c.post(
        api(tenant_a),
        {"registration": reg_a1.pk, "period": "102025", "filed_on": "20-11-2025", "arn": "AA27"},
        content_type="application/json",
    )
    (row,) = json.loads(c.get(api(tenant_a)).content)["results"]
    assert row["arn"] == "AA27"


# --- the stored queue stays true (returns.twob_sql: entries kept fresh through triggers) ----------------------------


def queue_numbers(tenant, reg, today=dt.date(2025, 12, 10)) -> set[str]:
    with tenant_scope(tenant):
        items = selectors.deadline_queue(tenant=tenant, registrations=[reg], today=today, limit=500)
    return {i["doc"].doc_number for i in items}


def test_an_action_after_the_queue_was_read_takes_the_document_out_at_once(tenant_a, alice, queue_docs):
    assert "N-2" in queue_numbers(tenant_a, queue_docs)
    with tenant_scope(tenant_a):
        doc = SupplierDocument.objects.get(doc_number="N-2")
        actions_services.set_action(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            document=doc,
            action="R",
        )
        assert DeadlineDirty.objects.filter(document_id=doc.pk).exists()  # noted by the trigger
    assert queue_numbers(tenant_a, queue_docs) == {"N-1", "P-1", "N-NOV"}
    with tenant_scope(tenant_a):
        assert not DeadlineDirty.objects.exists()  # recomputed, only that document


def test_a_filing_recorded_after_the_queue_was_read_takes_its_period_out(tenant_a, queue_docs):
    assert "N-1" in queue_numbers(tenant_a, queue_docs)
    with tenant_scope(tenant_a):
        Gstr3bFiling.objects.create(  # even written directly: the trigger marks the queue stale
            tenant=tenant_a, registration=queue_docs, period=OCT, filed_on=dt.date(2025, 11, 20)
        )
    assert queue_numbers(tenant_a, queue_docs) == {"P-1", "N-NOV"}


def test_new_documents_after_the_queue_was_read_join_it_and_the_next_day_rescores_it(tenant_a, queue_docs):
    before = queue_numbers(tenant_a, queue_docs)
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a,
            registration=queue_docs,
            records={"b2b": [factories.document_record(supplier_gstin=KA, number="N-3")]},
            actor=factories.SYSTEM,
            source="demo",
        ).errors
    assert queue_numbers(tenant_a, queue_docs) == before | {"N-3"}
    with tenant_scope(tenant_a):
        today = selectors.deadline_queue(
            tenant=tenant_a, registrations=[queue_docs], today=dt.date(2025, 12, 10), limit=1
        )[0]
        later = selectors.deadline_queue(
            tenant=tenant_a, registrations=[queue_docs], today=dt.date(2025, 12, 25), limit=1
        )[0]
    assert later["days_left"] == today["days_left"] - 15

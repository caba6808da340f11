"""The audit ledger page, its filters, keyset paging, access rules, export and the per-object trail."""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
import time_machine
from django.db import transaction
from django.template.loader import render_to_string

from audit.selectors import events_for_object
from audit.services import Actor, Event, record, record_many
from exports.models import ExportJob
from exports.tasks import run_export_task
from tenancy.scoping import tenant_scope

pytestmark = pytest.mark.django_db


def add(tenant, action="doc.updated", *, actor=None, object_id="1", changes=None, n=1):
    with tenant_scope(tenant), transaction.atomic():
        return record_many(
            tenant=tenant,
            actor=actor or Actor.system("tests"),
            events=[
                Event(action, "invoices.supplierdocument", object_id, f"INV/{object_id}", changes or {})
                for _ in range(n)
            ],
        )


def seqs(response) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="num mono">(\d+)</td>', response.content.decode())]


def test_owner_sees_ledger_newest_first_with_ist_time_actor_and_readable_changes(tenant_a, alice, client_for):
    with time_machine.travel(dt.datetime(2025, 10, 31, 20, 15, tzinfo=dt.UTC), tick=False):
        add(
            tenant_a,
            "ims.action_set",
            actor=Actor.user(alice),
            object_id="42",
            changes={"action": ["N", "A"], "remarks": [None, "ok"]},
        )
    page = client_for(alice).get("/t/acme/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert seqs(page)[0] > seqs(page)[-1]
    assert "01-11-2025 01:45" in html  # 20:15 UTC is 01:45 next day in Asia/Kolkata
    assert "alice accepted INV/42" in html  # a plain sentence, the document number in it
    assert re.search(r'<td class="mono text-nowrap"><a href="/t/acme/documents/42/">INV/42</a></td>', html)
    assert "Action:</span> No action → Accepted" in html
    assert "Remarks:</span> ok" in html
    assert ">Audit trail</a>" in html  # nav link shown to an owner


def test_viewer_gets_a_friendly_403_and_no_nav_link(tenant_a, bob, client_for):
    client = client_for(bob)
    page = client.get("/t/acme/audit/")
    assert page.status_code == 403
    assert "for owners and admins" in page.content.decode()
    assert ">Audit trail</a>" not in page.content.decode()
    assert client.post("/t/acme/audit/export/").status_code == 403


def test_member_of_another_tenant_gets_404(tenant_a, charlie, client_for):
    assert client_for(charlie).get("/t/acme/audit/").status_code == 404


def test_filters_by_actor_action_object_and_dates(tenant_a, alice, client_for):
    client = client_for(alice)  # signing in is an event of alice's too (account.signed_in)
    with time_machine.travel(dt.datetime(2025, 10, 1, 6, 0, tzinfo=dt.UTC), tick=False):
        first = add(tenant_a, "doc.updated", actor=Actor.user(alice), object_id="7")
    with time_machine.travel(dt.datetime(2025, 10, 3, 6, 0, tzinfo=dt.UTC), tick=False):
        second = add(tenant_a, "ims.action_set", object_id="8")
    assert seqs(client.get("/t/acme/audit/?actor=ALICE")) == [first, first - 1]
    assert seqs(client.get("/t/acme/audit/?action=ims.action_set")) == [second]
    assert seqs(client.get("/t/acme/audit/?object_type=invoices.supplierdocument&object_id=7")) == [first]
    assert seqs(client.get("/t/acme/audit/?date_from=02-10-2025&date_to=03-10-2025")) == [second]
    assert seqs(client.get("/t/acme/audit/?date_from=2025-10-01&date_to=2025-10-01")) == [first]


@pytest.mark.parametrize(
    "query, message",
    [
        ("date_from=31-02-2025", "Enter a date as DD-MM-YYYY."),
        ("date_to=yesterday", "Enter a date as DD-MM-YYYY."),
        ("date_from=05-10-2025&date_to=01-10-2025", "The end date is before the start date."),
        ("before=abc", "Enter a whole number."),
    ],
)
def test_bad_filter_input_is_a_field_error_not_a_crash(tenant_a, alice, client_for, query, message):
    page = client_for(alice).get(f"/t/acme/audit/?{query}")
    assert page.status_code == 400
    assert message in page.content.decode()
    assert seqs(page) == []


def test_keyset_pages_of_fifty_walk_the_whole_ledger_once(tenant_a, alice, client_for):
    client = client_for(alice)
    last = add(tenant_a, n=117)  # + tenant.created + membership.created + account.signed_in = 120
    page1 = client.get("/t/acme/audit/?action=")
    assert seqs(page1) == list(range(last, last - 50, -1))
    seen = []
    url = "/t/acme/audit/"
    while url:
        page = client.get(url)
        seen += seqs(page)
        older = re.search(r'id="audit-older" href="\?([^"]+)"', page.content.decode())
        url = f"/t/acme/audit/?{older.group(1).replace('&amp;', '&')}" if older else None
    assert seen == list(range(last, 0, -1))


def test_export_of_filtered_ledger_downloads_at_once_when_small(tenant_a, alice, client_for):
    add(tenant_a, "ims.action_set", object_id="9", changes={"action": ["N", "R"]}, n=3)
    response = client_for(alice).post("/t/acme/audit/export/?action=ims.action_set")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    ws = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:5] == ("Entry", "Time (IST)", "What happened", "Document", "Supplier")
    assert [r[2] for r in rows[1:]] == ["The system (tests) rejected INV/9"] * 3
    assert [r[3] for r in rows[1:]] == ["INV/9"] * 3
    assert rows[1][5] == "Action: No action → Rejected"
    page = client_for(alice).get("/t/acme/audit/?action=export.downloaded").content.decode()
    assert "alice downloaded an Excel export of the audit trail" in page
    assert isinstance(rows[1][1], dt.datetime)


def test_export_of_large_ledger_goes_to_a_job(tenant_a, alice, client_for, settings, tmp_path):
    settings.EXPORT_SYNC_MAX_ROWS = 2
    settings.EXPORT_DIR = tmp_path
    add(tenant_a, n=5)
    response = client_for(alice).post("/t/acme/audit/export/?date_from=01-01-2020")
    with tenant_scope(tenant_a):
        job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/t/acme/exports/{job.pk}/"
    assert job.params == {"date_from": "2020-01-01"}
    run_export_task(job.pk)
    with tenant_scope(tenant_a):
        job.refresh_from_db()
    assert job.status == "done"
    assert job.rows_done == 5 + 4  # 5 + tenant + membership + account.signed_in + export.requested


def test_object_trail_lists_only_that_objects_events_newest_first(tenant_a):
    add(tenant_a, "doc.updated", object_id="5", changes={"taxable_value": ["100.00", "120.00"]})
    add(tenant_a, "ims.action_set", object_id="5", changes={"action": ["N", "A"]})
    add(tenant_a, "ims.action_set", object_id="6")
    with tenant_scope(tenant_a):
        events = list(
            events_for_object(tenant=tenant_a, object_type="invoices.supplierdocument", object_id=5)
        )
        assert [e.action for e in events] == ["ims.action_set", "doc.updated"]
        html = render_to_string("audit/_trail.html", {"events": events})
    assert "Taxable value:</span> 100.00 → 120.00" in html
    assert "Action:</span> No action → Accepted" in html
    assert "The system (tests) accepted INV/5" in html
    assert html.count("<tr>") == 3  # header + two events


def test_object_trail_of_another_tenant_is_empty(tenant_a, tenant_b):
    with tenant_scope(tenant_a), transaction.atomic():
        record(tenant=tenant_a, actor=Actor.system(), action="x", object_type="t", object_id="1")
    with tenant_scope(tenant_b):
        assert list(events_for_object(tenant=tenant_b, object_type="t", object_id="1")) == []

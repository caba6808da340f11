"""The dashboard's "What to do today" (issue #14 §2): per GSTIN the documents with no action yet and kept pending
with their ITC, actions not yet pushed, the next GSTR-3B due date, the deadline queue, the last successful sync,
approvals waiting for the member and the exceptions of the GSTIN's latest reconciliation (the nearest Pending limit:
tests/returns/test_dashboard_pending_limit.py). Each links to the filtered list or page, and each count equals what
that link shows. Only the GSTINs the member may see."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.utils import timezone

from actions import services as actions
from approvals import services as approvals
from audit.services import Actor
from gst_sync.models import RunStatus, SyncRun
from returns import services as returns
from returns.today import next_gstr3b
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import make_doc
from tests.documents.recon_helpers import books, reconcile

HOME = "/t/acme/"
OCT = dt.date(2025, 10, 1)


def card(html: str, gstin: str) -> str:
    """The HTML of one GSTIN's card in "What to do today"."""
    match = re.search(rf'<div class="card h-100" id="today-{gstin}">(.*?)</ul>', html, re.S)
    assert match, f"no card for {gstin}"
    return match.group(1)


def links(fragment: str) -> dict[str, str]:
    """data-today key → href of the links in ``fragment``."""
    return {
        key: unescape(href) for href, key in re.findall(r'<a href="([^"]+)" data-today="([^"]+)"', fragment)
    }


def count_of(client, href: str) -> int:
    """How many documents the documents list at ``href`` holds (its count fragment, same filters)."""
    path, _, query = href.partition("?")
    assert path == "/t/acme/documents/"
    response = client.get(f"/t/acme/documents/count/?{query}&bare=1")
    assert response.status_code == 200
    return int(re.sub(r"\D", "", response.content.decode()))


@pytest.fixture
def docs(tenant_a, reg_a1, reg_a2, alice):
    made = {
        "n1": make_doc(reg_a1, taxable_value="10000.00"),  # no action: IGST 1,800
        "n2": make_doc(reg_a1, taxable_value="20000.00"),  # no action: 3,600
        "cn": make_doc(reg_a1, section="b2bcn", taxable_value="5000.00"),  # no action credit note: -900
        "p1": make_doc(reg_a1, portal_action="P", taxable_value="50000.00"),  # pending: 9,000
        "a1": make_doc(reg_a1, portal_action="A"),
        "gone": make_doc(reg_a1, vanished_at=timezone.now()),  # no longer on the portal: not counted
        "o1": make_doc(reg_a2),
    }
    with tenant_scope(tenant_a):
        membership = Membership.objects.get(tenant=tenant_a, user=alice)
        actions.set_action(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=membership,
            document=made["a1"],
            action="R",
            remarks="not received",
        )
    return made


def test_each_gstin_says_what_is_left_and_each_link_lists_exactly_those_documents(
    client_for, alice, docs, reg_a1, reg_a2
):
    client = client_for(alice)
    html = client.get(HOME).content.decode()
    a1 = card(html, reg_a1.gstin)
    assert "No action yet</a>: 3 documents, ITC ₹4,500.00" in a1  # 1,800 + 3,600 - 900
    assert "Kept pending</a>: 1 document, ITC ₹9,000.00" in a1
    assert 'Not yet pushed</a>: <span class="text-warning-emphasis">1 action</span>' in a1
    found = links(a1)
    assert count_of(client, found["no-action"]) == 3
    assert count_of(client, found["pending"]) == 1
    assert count_of(client, found["not-pushed"]) == 1
    for key in ("gstr3b", "deadlines", "sync"):
        assert client.get(found[key]).status_code == 200, key
    assert "never synced" in a1
    a2 = card(html, reg_a2.gstin)
    assert "No action yet</a>: 1 document," in a2
    assert count_of(client, links(a2)["no-action"]) == 1


def test_a_member_sees_only_the_gstins_granted_and_no_other_tenants_figures(
    client_for, pat, bob, docs, reg_a1, reg_a2, tenant_b, reg_b1
):
    make_doc(reg_b1)
    html = client_for(pat).get(HOME).content.decode()
    assert card(html, reg_a1.gstin)
    assert f"today-{reg_a2.gstin}" not in html
    assert f"today-{reg_b1.gstin}" not in html
    html = client_for(bob).get(HOME).content.decode()  # a viewer with no GSTIN granted
    assert 'class="card h-100"' not in html


def test_the_last_successful_sync_and_its_age(client_for, alice, docs, tenant_a, reg_a1):
    with tenant_scope(tenant_a):
        SyncRun.objects.create(
            tenant=tenant_a,
            registration=reg_a1,
            section="b2b",
            status=RunStatus.SUCCEEDED,
            finished_at=timezone.now() - dt.timedelta(hours=3, minutes=5),
        )
        SyncRun.objects.create(  # a later failure does not count as a sync
            tenant=tenant_a,
            registration=reg_a1,
            section="b2b",
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
        )
    a1 = card(client_for(alice).get(HOME).content.decode(), reg_a1.gstin)
    assert re.search(
        r'data-today="sync">Last sync</a>: <span>3 hours ago \(\d\d-\d\d-\d{4} \d\d:\d\d\)</span>', a1
    )


def test_approvals_waiting_show_to_an_approver_not_to_the_member_who_proposed(
    client_for, alice, pat, tenant_a, reg_a1
):
    with tenant_scope(tenant_a):
        approvals.save_policy(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            name="big rejects",
            action="R",
            min_value=Decimal("100000"),
        )
        large = make_doc(reg_a1, taxable_value="200000.00")
        actions.bulk_set_action(
            tenant=tenant_a,
            actor=Actor.user(pat),
            user=pat,
            membership=Membership.objects.get(tenant=tenant_a, user=pat),
            ids=[large.pk],
            action="R",
            remarks="wrong rate",
        )
    client = client_for(alice)
    a1 = card(client.get(HOME).content.decode(), reg_a1.gstin)
    assert 'Approvals waiting for you</a>: <span class="text-warning-emphasis">1 batch</span>' in a1
    assert client.get(links(a1)["approvals"]).status_code == 200
    assert "Approvals waiting" not in card(client_for(pat).get(HOME).content.decode(), reg_a1.gstin)


def test_the_next_gstr3b_is_the_earliest_unfiled_ended_period_then_the_running_one(
    client_for, alice, tenant_a, reg_a1, reg_a2
):
    today = dt.date(2025, 11, 25)
    assert next_gstr3b(registration=reg_a1, filed=set(), today=today) == (
        dt.date(2025, 8, 1),
        dt.date(2025, 9, 20),
    )  # three ended months unfiled: the oldest, overdue
    filed = {dt.date(2025, 8, 1), dt.date(2025, 9, 1), dt.date(2025, 10, 1)}
    assert next_gstr3b(registration=reg_a1, filed=filed, today=today) == (
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 20),
    )
    # QRMP (reg_a2, Karnataka): quarters, by their last month; July–September is unfiled, due the 22nd or 24th.
    period, due = next_gstr3b(
        registration=reg_a2, filed={dt.date(2025, 3, 1), dt.date(2025, 6, 1)}, today=today
    )
    assert period == dt.date(2025, 9, 1)
    assert (due.month, due.day in (22, 24)) == (10, True)

    with tenant_scope(tenant_a):
        for p in (dt.date(2025, 8, 1), dt.date(2025, 9, 1)):
            returns.mark_gstr3b_filed(
                tenant=tenant_a,
                actor=Actor.system("tests"),
                registration=reg_a1,
                period=p,
                filed_on=dt.date(2025, 10, 15),
            )
    with time_machine.travel(dt.datetime(2025, 11, 25, 6, 0, tzinfo=dt.UTC), tick=False):
        a1 = card(client_for(alice).get(HOME).content.decode(), reg_a1.gstin)
    assert (
        'data-today="gstr3b">GSTR-3B 10-2025</a>: <span class="text-danger-emphasis">due 20-11-2025, overdue by 5 days'
        in a1
    )


def matches_listed(client, href: str) -> list[str]:
    """The outcome cells of the reconciliation results at ``href`` (one page)."""
    html = client.get(href).content.decode()
    body = re.search(
        r'<table class="table table-sm table-ims" id="recon-matches">.*?<tbody>(.*?)</tbody>', html, re.S
    )
    return re.findall(r"<tr><td>([^<]+)</td>", body.group(1))


def test_each_gstin_shows_its_latest_reconciliations_exceptions_linked_to_exactly_those(
    client_for, alice, tenant_a, reg_a1, reg_a2
):
    books(tenant_a, alice, reg_a1)
    books(tenant_a, alice, reg_a2)
    run = reconcile(tenant_a, alice, reg_a1, reg_a2)  # one run of both GSTINs
    extra = dt.date(2025, 10, 1)
    make_doc(reg_a2, doc_number="NOBOOK-2", twob_period=extra)  # one more exception of reg_a2 in the next run
    run2 = reconcile(tenant_a, alice, reg_a2)
    client = client_for(alice)
    html = client.get(HOME).content.decode()
    for reg, latest in ((reg_a1, run), (reg_a2, run2)):
        per_gstin = latest.registration_counts[str(reg.pk)]
        expected = sum(
            per_gstin.get(o, 0)
            for o in ("mismatch", "probable", "missing_in_register", "missing_in_supplier")
        )
        assert expected > 0
        gstin_card = card(html, reg.gstin)
        assert f"{expected} exception" in gstin_card, reg.gstin
        href = links(gstin_card)["recon"]
        assert href == (
            f"/t/acme/reconciliation/matches/?run={latest.pk}&registration={reg.gstin}&outcome=exceptions"
        )
        listed = matches_listed(client, href)
        assert len(listed) == expected
        assert not {"Exact match", "Within tolerance"} & set(listed)
    assert html.count('data-today="recon"') == 2  # one per GSTIN, none for the tenant


def test_a_reconciliation_of_a_gstin_the_member_does_not_see_is_not_shown(
    client_for, alice, pat, tenant_a, reg_a2
):
    books(tenant_a, alice, reg_a2)
    reconcile(tenant_a, alice, reg_a2)
    assert 'data-today="recon"' in client_for(alice).get(HOME).content.decode()
    assert 'data-today="recon"' not in client_for(pat).get(HOME).content.decode()  # pat sees reg_a1 only


def test_a_count_in_the_gstin_tables_links_to_a_list_of_exactly_that_many(client_for, alice, docs, reg_a1):
    client = client_for(alice)
    html = client.get(HOME).content.decode()
    table = re.search(
        rf'<table class="table table-sm table-ims mb-3" id="counts-{reg_a1.gstin}">(.*?)</table>', html, re.S
    )
    cells = re.findall(r'<a href="(/t/acme/documents/\?[^"]+)">([\d,]+)</a>', table.group(1))
    assert cells
    for href, n in cells:
        assert count_of(client, unescape(href)) == int(n.replace(",", "")), href


@pytest.mark.parametrize("role", ["viewer", "preparer", "approver", "admin"])
def test_every_today_link_opens_for_each_role_that_sees_the_gstin(client_for, docs, tenant_a, reg_a1, role):
    user = factories.make_user(f"today-{role}")
    factories.make_member(tenant_a, user, role, gstins=[reg_a1])
    client = client_for(user)
    html = client.get(HOME).content.decode()
    found = links(card(html, reg_a1.gstin))
    assert {"no-action", "pending", "not-pushed", "gstr3b", "deadlines", "sync"} <= set(found)
    for key, href in found.items():
        assert client.get(href).status_code == 200, (role, key, href)

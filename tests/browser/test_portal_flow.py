"""The GST-portal round trip as a user in a real browser, against the sandbox portal over HTTP: connect a GSTIN with
an OTP, sync it, watch the runs finish (htmx refresh), read a run's diff, accept documents on their page, push,
and read each document's result. There is no worker in tests: the test process runs what the worker would
(``run_sync`` for each queued run, ``run_push`` for each queued batch) with an adapter built from the settings.
Screenshots of the key steps go to /tmp/portal_flow_*.png."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from gst.sections import Section
from gst_sync import push, services
from gst_sync.client import PollPolicy
from gst_sync.client.factory import make_adapter
from gst_sync.models import PushBatch, PushStatus, RunStatus, SyncRun
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync import conftest as sandbox_fixtures
from tests.gst_sync.conftest import CLIENT_ID, CLIENT_SECRET, OTP, RECIPIENT, USERNAME, doc

pytestmark = pytest.mark.browser
SHOTS = str(Path(tempfile.gettempdir()) / "portal_flow_{}.png")
SUPPLIER = "29AAJFY9012N1ZE"
# The sandbox portal (a subprocess on a loopback port, reset for each test), as the gst_sync tests use it.
sandbox_url = sandbox_fixtures.sandbox_url
sandbox = sandbox_fixtures.sandbox


@pytest.fixture
def portal_user(transactional_db, sandbox, settings):
    """An owner of an organisation whose GSTIN has three invoices waiting on the sandbox portal; the app's portal
    settings point at the sandbox (the live server runs in this process, so it sees them)."""
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    sandbox.seed(
        b2b=[doc("PF-1", stin=SUPPLIER), doc("PF-2", stin=SUPPLIER), doc("PF-3", stin=SUPPLIER, action="R")]
    )
    tenant = factories.make_tenant("Portal Flow Traders", "portal-flow")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=factories.SYSTEM, gstin=RECIPIENT, legal_name="Portal Flow Traders Pvt Ltd"
        )
    user = factories.make_user("meera")
    factories.make_member(tenant, user, "owner")
    return tenant, reg


def run_queued_syncs(tenant) -> int:
    """What the Celery worker does with the queued sync tasks."""
    with tenant_scope(tenant):
        ids = list(SyncRun.objects.filter(status=RunStatus.QUEUED).values_list("id", flat=True))
    for run_id in ids:
        services.run_sync(run_id)
    return len(ids)


def run_queued_pushes(tenant) -> int:
    """What the Celery worker does with the queued push tasks (REQSTS polled quickly: the sandbox answers IP once)."""
    with tenant_scope(tenant):
        ids = list(PushBatch.objects.filter(status=PushStatus.QUEUED).values_list("id", flat=True))
    with make_adapter(poll=PollPolicy(max_polls=6, first_delay=0.05, max_delay=0.5)) as adapter:
        for batch_id in ids:
            push.run_push(batch_id, adapter=adapter)
    return len(ids)


def open_portal_page(page) -> None:
    page.locator("nav.navbar").get_by_role("link", name="GST portal").click()
    page.wait_for_url(re.compile(r"/t/portal-flow/portal/$"))


def accept_on_its_page(page, number: str) -> None:
    page.get_by_role("link", name=re.compile(re.escape(number))).first.click()
    page.wait_for_url(re.compile(r"/documents/\d+/$"))
    expect(page.locator("h1, .h4").first).to_be_visible()
    page.select_option("#document-action-form select[name=action]", "A")
    with page.expect_navigation():
        page.locator("#document-action-form").get_by_role("button", name="Save action").click()
    expect(page.locator(".alert-success")).to_contain_text("it will be pushed to the portal")


def test_user_connects_syncs_accepts_and_pushes_through_the_portal_pages(portal_user, sandbox, log_in):
    tenant, reg = portal_user
    page = log_in("meera", factories.PASSWORD)
    open_portal_page(page)
    row = page.locator(f"#gstin-{RECIPIENT}")
    expect(row).to_contain_text("Not connected")

    # Connect: request an OTP for the portal username, then enter the OTP the portal sent.
    row.locator("input[name=username]").fill(USERNAME)
    with page.expect_navigation():
        row.get_by_role("button", name="Request OTP").click()
    expect(page.locator(".alert-success")).to_contain_text(f"sent an OTP for {RECIPIENT}")
    expect(row).to_contain_text("OTP sent")
    row.locator("input[name=otp]").fill(OTP)
    with page.expect_navigation():
        row.get_by_role("button", name="Connect").click()
    expect(page.locator(".alert-success")).to_contain_text(f"{RECIPIENT} is connected to the portal")
    expect(row).to_contain_text("Connected")
    page.screenshot(path=SHOTS.format("1_connected"), full_page=True)

    # Sync now: one run per IMS section is queued; the runs table refreshes itself while they are active.
    with page.expect_navigation():
        row.get_by_role("button", name="Sync now").click()
    sections = len(Section)  # every section of every tab (all other ITC, Import of Goods, ISD)
    expect(page.locator(".alert-success")).to_contain_text(f"queued: {sections} section(s)")
    runs = page.locator("#sync-runs table").first.locator("tbody tr")
    expect(runs).to_have_count(sections)
    expect(runs.filter(has_text="Queued")).to_have_count(sections)
    page.screenshot(path=SHOTS.format("2_queued"), full_page=True)
    url_before = page.url

    assert run_queued_syncs(tenant) == sections
    expect(runs.filter(has_text="Succeeded")).to_have_count(sections)  # swapped in by htmx, no reload
    assert page.url == url_before
    b2b = runs.filter(has=page.locator("td", has_text=re.compile(r"^b2b$")))
    expect(b2b.locator("td.num").first).to_have_text("3")  # three new documents
    page.screenshot(path=SHOTS.format("3_succeeded"), full_page=True)

    # The b2b run's diff lists the three new documents.
    b2b.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/portal/runs/\d+/$"))
    expect(page.locator("#run-status")).to_have_text("Succeeded")
    diff = page.locator("#run-diff tbody tr")
    expect(diff).to_have_count(3)
    for number in ("PF-1", "PF-2", "PF-3"):
        expect(diff.filter(has_text=number)).to_contain_text("New")
    page.screenshot(path=SHOTS.format("4_run_diff"), full_page=True)

    # Accept two documents on their own pages.
    accept_on_its_page(page, "PF-1")
    page.screenshot(path=SHOTS.format("5_accepted"), full_page=True)
    page.go_back()
    page.go_back()
    accept_on_its_page(page, "PF-2")

    # Meanwhile the supplier amends PF-2 on the portal, which resets its action there.
    sandbox.faults(supplier_edit={"gstin": RECIPIENT, "section": "b2b", "number": "PF-2"})

    # Push the two actions from the portal page and let the worker send the batch.
    open_portal_page(page)
    with page.expect_navigation():
        row.get_by_role("button", name="Push 2 actions").click()
    expect(page.locator(".alert-success")).to_contain_text("Pushing 2 action(s)")
    batches = page.locator("#push-batches tbody tr")
    expect(batches).to_have_count(1)
    assert run_queued_pushes(tenant) == 1
    expect(batches.first).to_contain_text("Done")  # htmx refresh
    expect(batches.first.locator("td.num")).to_have_text(["2", "1", "1"])
    expect(row.get_by_role("button", name="Push 1 action")).to_be_visible()  # the GSTIN row refreshed too
    expect(row.locator("td.num")).to_have_text("1")
    page.screenshot(path=SHOTS.format("6_pushed"), full_page=True)

    # Each document's result: PF-1 saved; PF-2 refused with the portal's IMSSAV0010, its local action kept.
    batches.first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/portal/pushes/\d+/$"))
    expect(page.locator("#push-status")).to_have_text("Done")
    items = page.locator("#push-items tbody tr")
    expect(items).to_have_count(2)
    expect(items.filter(has_text="PF-1")).to_contain_text("Saved")
    refused = items.filter(has_text="PF-2")
    expect(refused).to_contain_text("Changed on the portal: review")
    expect(refused).to_contain_text("IMSSAV0010")
    page.screenshot(path=SHOTS.format("7_push_results"), full_page=True)

    with tenant_scope(tenant):
        docs = {d.doc_number: d for d in SupplierDocument.objects.filter(registration=reg)}
    assert (docs["PF-1"].portal_action, docs["PF-1"].local_action) == ("A", None)
    assert (docs["PF-2"].portal_action, docs["PF-2"].local_action, docs["PF-2"].needs_review) == (
        "N",
        "A",
        True,
    )
    assert (docs["PF-3"].portal_action, docs["PF-3"].local_action) == ("R", None)
    open_portal_page(page)
    expect(
        row.get_by_role("button", name="Push 1 action")
    ).to_be_visible()  # PF-2 waits for the user's review

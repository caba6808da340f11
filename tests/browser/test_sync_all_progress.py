"""Sync all and Push all in a real browser, against the sandbox portal over HTTP: one click queues every connected
GSTIN, the row of a GSTIN that cannot be synced says why, and while a worker downloads a large section (the portal
sends it as files) the GSTIN's row says which part it is on, refreshed without a reload; then the row shows the last
sync and its age; Push all sends the waiting actions and the row follows the push to its end.

A thread of the test process does what the Celery worker would (``run_sync`` of each queued run, ``run_push`` of
each batch) while the browser watches. Screenshots go to /tmp/desk-sync-all-*.png."""

from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect

from actions import services as actions
from audit.services import Actor
from gst_sync import push, services
from gst_sync.client import PollPolicy
from gst_sync.client.factory import make_adapter
from gst_sync.models import PushBatch, PushStatus, RunStatus, SyncRun
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync import conftest as sandbox_fixtures
from tests.gst_sync.conftest import CLIENT_ID, CLIENT_SECRET, RECIPIENT, connect_gstin, doc

pytestmark = pytest.mark.browser
SHOT = str(Path(tempfile.gettempdir()) / "desk-sync-all-{}.png")
SUPPLIER = "29AAJFY9012N1ZE"
ACTOR = Actor.system("tests")
sandbox_url = sandbox_fixtures.sandbox_url
sandbox = sandbox_fixtures.sandbox


@pytest.fixture
def office(transactional_db, sandbox, settings):
    """An owner whose organisation has two GSTINs: RECIPIENT connected to the sandbox portal with six invoices
    waiting there (more than the portal sends in one answer: it sends three files of two), the other never
    connected."""
    settings.IMS_GSP_BASE_URL = sandbox.url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    tenant = factories.make_tenant("Sync All Traders", "sync-all")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Sync All Traders Pvt Ltd"
        )
    other = factories.make_registration(tenant, state="29", n=52)
    user = factories.make_user("meera")
    factories.make_member(tenant, user, "owner")
    with make_adapter() as adapter:
        connect_gstin(tenant, reg, adapter, ACTOR)
    sandbox.seed(b2b=[doc(f"SA-{n}", stin=SUPPLIER) for n in range(1, 7)])
    sandbox.faults(large_threshold=2, records_per_file=2, file_latency_ms=1500)
    return tenant, reg, other, user


def in_a_worker(job) -> threading.Thread:
    def run():
        try:
            job()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_queued_syncs(tenant) -> None:
    with tenant_scope(tenant):
        ids = list(
            SyncRun.objects.filter(status=RunStatus.QUEUED).order_by("id").values_list("id", flat=True)
        )
    for run_id in ids:
        services.run_sync(run_id)


def run_queued_pushes(tenant) -> None:
    with tenant_scope(tenant):
        ids = list(PushBatch.objects.filter(status=PushStatus.QUEUED).values_list("id", flat=True))
    with make_adapter(poll=PollPolicy(max_polls=6, first_delay=0.5, max_delay=1.0)) as adapter:
        for batch_id in ids:
            push.run_push(batch_id, adapter=adapter)


def test_sync_all_shows_each_gstins_progress_then_push_all(office, sandbox, log_in):
    tenant, reg, other, user = office
    page = log_in("meera", factories.PASSWORD)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/t/sync-all/portal/")
    row, status = page.locator(f"#gstin-{RECIPIENT}"), page.locator(f"#status-{RECIPIENT}")
    expect(row.locator("td.last-sync")).to_have_text("Never")
    expect(page.locator("#push-all")).to_be_disabled()  # nothing to push yet

    with page.expect_navigation():
        page.click("#sync-all")
    expect(page.locator(".alert-success")).to_contain_text("Sync queued for 1 GSTIN; 1 not synced")
    expect(page.locator(f"#status-{other.gstin}")).to_contain_text(
        "Not synced: connect it with an OTP first."
    )
    expect(status).to_contain_text(re.compile(r"\d+ sections waiting for a worker"))
    expect(status).to_contain_text(re.compile(r"Syncing: 0 of \d+ sections done"))
    page.screenshot(path=SHOT.format("1-queued"), full_page=True)

    worker = in_a_worker(lambda: run_queued_syncs(tenant))
    # The b2b section comes as three files, each slow: the row says which one is downloading (htmx, no reload). A
    # GSTIN never synced is small: one task syncs all its sections and its step names the section and how far it is.
    expect(status).to_contain_text(
        re.compile(r"B2B invoice \(\d+ of \d+ sections\): Downloading the portal's file, part [1-3] of 3"),
        timeout=20_000,
    )
    expect(page.locator(f"#status-{other.gstin}")).to_contain_text(
        "connect it with an OTP first"
    )  # still said
    page.screenshot(path=SHOT.format("2-downloading"), full_page=True)
    worker.join(timeout=60)
    expect(status).to_have_count(0, timeout=10_000)  # nothing running, nothing failed: the status line goes
    expect(row.locator("td.last-sync")).to_contain_text("just now")
    page.screenshot(path=SHOT.format("3-synced"), full_page=True)

    # Two accepts wait to be pushed; Push all sends them and the row follows the push to its end.
    with tenant_scope(tenant):
        membership = Membership.objects.get(tenant=tenant, user=user)
        for number in ("SA-1", "SA-2"):
            document = SupplierDocument.objects.get(registration=reg, doc_number=number)
            actions.set_action(
                tenant=tenant, actor=Actor.user(user), membership=membership, document=document, action="A"
            )
    page.reload()
    expect(page.locator("#push-all")).to_have_text("Push all (2 actions)")
    with page.expect_navigation():
        page.click("#push-all")
    expect(page.locator(".alert-success")).to_contain_text("Pushing 2 actions of 1 GSTIN.")
    expect(status).to_contain_text("Pushing 2 actions: waiting for a worker")
    page.screenshot(path=SHOT.format("4-push-queued"), full_page=True)
    worker = in_a_worker(lambda: run_queued_pushes(tenant))
    worker.join(timeout=60)
    expect(page.locator("#push-batches tbody tr").first).to_contain_text("Done", timeout=10_000)
    expect(status).to_have_count(0)
    expect(page.locator("#push-all")).to_have_text("Push all (0 actions)")
    page.screenshot(path=SHOT.format("5-pushed"), full_page=True)

    # The portal goes down: every section of the next sync fails alike, said once on the GSTIN's row.
    sandbox.faults(fail_next=10_000)
    with page.expect_navigation():
        page.click("#sync-all")
    in_a_worker(lambda: run_queued_syncs(tenant)).join(timeout=120)
    error = status.locator(".gstin-error")
    expect(error).to_have_count(1, timeout=10_000)
    expect(error).to_have_text(re.compile(r"^All \d+ sections: The portal answered HTTP 503"))
    expect(row.locator("td.last-sync")).to_contain_text("just now")  # the last good sync stays
    page.screenshot(path=SHOT.format("6-portal-down"), full_page=True)

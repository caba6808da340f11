"""Issue #14 §5 "what a running step is doing ('x of y documents')": while a sync saves what it downloaded (one
transaction, all or nothing), the portal page's poll reads how many documents are saved so far, written on the
run by its heartbeat on a connection of its own; the documents themselves appear only when the save commits."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from gst_sync import services
from gst_sync.models import SyncRun
from gst_sync.selectors import sync_states
from ims_project import leases
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests import factories
from tests.actions.test_bulk_atomicity import Session
from tests.gst_sync.test_sync_service import ACTOR, connected, recipient  # noqa: F401 - fixtures

from .conftest import doc

pytestmark = pytest.mark.django_db(transaction=True)  # the page is read on other sessions during the save


def queue(tenant, reg) -> SyncRun:
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    return run


def watch(monkeypatch, tenant, reg, page: Client | None = None) -> list[tuple[list[str], int, str]]:
    """After each progress the sync reports, what another session reads then: the GSTIN's running steps, its
    documents, and (with ``page``) the portal page's status line of the GSTIN."""
    seen: list[tuple[list[str], int, str]] = []
    report = leases.Heartbeat.report

    def observed(self, **fields):
        report(self, **fields)

        def read():
            steps = sync_states(tenant=tenant, registrations=[reg])[reg.pk].steps
            stored = SupplierDocument.objects.filter(registration=reg).count()
            status = ""
            if page is not None:
                html = page.get(f"/t/{tenant.slug}/portal/").content.decode()
                found = re.search(r'<span class="gstin-step ms-2">([^<]*)</span>', html)
                status = found.group(1) if found else ""
            return steps, stored, status

        seen.append(Session(tenant, read).outcome())

    monkeypatch.setattr(leases.Heartbeat, "report", observed)
    return seen


def test_the_save_step_says_how_many_documents_are_saved_as_they_are(
    connected,  # noqa: F811
    portal,
    sandbox,
    settings,
    monkeypatch,
):
    settings.IMS_SAVE_PROGRESS_EVERY = 2
    tenant, reg = connected
    sandbox.seed(b2b=[doc(f"P-{i}") for i in range(5)])
    owner = factories.make_user("progress-owner")
    factories.make_member(tenant, owner, "owner")
    page = Client()
    page.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    seen = watch(monkeypatch, tenant, reg, page)
    services.run_sync(queue(tenant, reg).pk, adapter=portal)

    step = "b2b: Saving the documents, {} of 5 documents"
    assert [s[0] for s in seen] == [[step.format(n)] for n in (0, 2, 4, 5)]
    assert [s[2] for s in seen] == [step.format(n) for n in (0, 2, 4, 5)]  # as the portal page shows it
    assert {s[1] for s in seen} == {0}  # nothing is visible before the save commits
    with tenant_scope(tenant):
        assert SupplierDocument.objects.filter(registration=reg).count() == 5
        assert SyncRun.objects.get(registration=reg).status == "succeeded"


def test_unchanged_documents_count_as_saved_at_once(
    connected,  # noqa: F811
    portal,
    sandbox,
    settings,
    monkeypatch,
):
    settings.IMS_SAVE_PROGRESS_EVERY = 2
    tenant, reg = connected
    records = [doc(f"U-{i}") for i in range(4)]
    sandbox.seed(b2b=records)
    services.run_sync(queue(tenant, reg).pk, adapter=portal)
    sandbox.seed(b2b=[*records, doc("U-4"), doc("U-5"), doc("U-6")])  # three more; four already stored
    seen = watch(monkeypatch, tenant, reg)
    services.run_sync(queue(tenant, reg).pk, adapter=portal)
    assert [s[0] for s in seen] == [[f"b2b: Saving the documents, {n} of 7 documents"] for n in (4, 6, 7)]
    assert {s[1] for s in seen} == {4}

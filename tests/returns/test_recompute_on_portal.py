""" "Recompute on the portal": GEN2B, GENSTS2B, then GET2B re-imported, against the sandbox portal over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent
from gst_sync.models import Gstr2bStatement
from returns import services
from returns.services import ReturnsError
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync import conftest as sandbox_fixtures
from tests.gst_sync.conftest import RECIPIENT, connect_gstin, doc

OCT = dt.date(2025, 10, 1)
SUPPLIER = "29AAJFY9012N1ZE"
# The sandbox portal (a subprocess on a loopback port, reset for each test), as the gst_sync tests use it.
sandbox_url = sandbox_fixtures.sandbox_url
sandbox = sandbox_fixtures.sandbox
adapter, portal = sandbox_fixtures.adapter, sandbox_fixtures.portal


@pytest.fixture
def recipient(db):
    tenant = factories.make_tenant("Recompute Traders", "recompute")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=factories.SYSTEM, gstin=RECIPIENT, legal_name="Zenith"
        )
    return tenant, reg


def connect(tenant, reg, portal) -> None:
    with tenant_scope(tenant):
        connect_gstin(tenant, reg, portal, factories.SYSTEM)


def recompute(tenant, reg, portal):
    with tenant_scope(tenant):
        return services.recompute_on_portal(
            tenant=tenant, actor=factories.SYSTEM, registration=reg, period=OCT, adapter=portal
        )


def statement(tenant, reg) -> Gstr2bStatement:
    with tenant_scope(tenant):
        return Gstr2bStatement.objects.get(registration=reg, period=OCT)


def test_recompute_regenerates_the_portal_2b_and_re_imports_it(recipient, portal, sandbox):
    tenant, reg = recipient
    sandbox.seed(b2b=[doc("RC-1", stin=SUPPLIER), doc("RC-2", stin=SUPPLIER, action="A")])
    connect(tenant, reg, portal)

    first = recompute(tenant, reg, portal)
    assert (first.statement.document_count, first.rejected, first.replaced) == (2, 0, 0)

    sandbox.seed(
        b2b=[
            doc("RC-1", stin=SUPPLIER, action="R"),
            doc("RC-2", stin=SUPPLIER, action="A"),
            doc("RC-3", stin=SUPPLIER),
        ]
    )  # actions changed on the portal after its 2B
    second = recompute(tenant, reg, portal)
    stored = statement(tenant, reg)
    assert stored.pk == first.statement.pk  # the period's earlier import was replaced, not duplicated
    assert (stored.document_count, second.rejected, second.replaced) == (3, 1, 2)
    with tenant_scope(tenant):
        assert set(stored.documents.values_list("doc_number", "rejected")) == {
            ("RC-1", True),
            ("RC-2", False),
            ("RC-3", False),
        }
        events = AuditEvent.objects.filter(action="twob.recomputed_on_portal")
        assert events.count() == 2
        assert all(e.metadata["reference_id"] for e in events)


def test_recompute_reports_the_portal_error_when_it_cannot_generate(recipient, portal, sandbox):
    tenant, reg = recipient
    sandbox.seed(b2b=[doc("RC-9", stin=SUPPLIER, period="092025")])  # nothing in 102025
    connect(tenant, reg, portal)
    with pytest.raises(ReturnsError, match="could not recompute GSTR-2B 102025: No documents"):
        recompute(tenant, reg, portal)
    with tenant_scope(tenant):
        assert not Gstr2bStatement.objects.exists()


def test_recompute_needs_a_connected_gstin(recipient, portal):
    tenant, reg = recipient
    with pytest.raises(ReturnsError, match="Connect this GSTIN"):
        recompute(tenant, reg, portal)

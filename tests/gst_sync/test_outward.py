"""The seller's side of IMS: buyers' actions on the tenant's own outward documents, refreshed with each sync."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from gst_sync import services
from gst_sync.client import GstnAdapter
from gst_sync.models import OutwardDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.tokens import api_token

from .conftest import RECIPIENT, connect_gstin, doc, make_config

ACTOR = Actor.system("tests")
BUYER_1, BUYER_2 = "29AAJFY9012N1ZE", "24AAKCV7788R1Z1"


@pytest.fixture
def seller(db, sandbox):
    """Our tenant's GSTIN (RECIPIENT in the sandbox's inbound sense) also sells to two buyers."""
    tenant = factories.make_tenant("Acme Seller", "acme-seller")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
    with GstnAdapter(make_config(sandbox)) as portal:
        with tenant_scope(tenant):
            connect_gstin(tenant, reg, portal, ACTOR)
        yield tenant, reg, portal


def sales(sandbox, *, rejected_remark="Rate wrong"):
    sandbox.seed(
        gstin=BUYER_1,
        b2b=[
            {**doc("S-1", stin=RECIPIENT, action="R"), "remarks": rejected_remark},
            doc("S-2", stin=RECIPIENT, action="A"),
        ],
    )
    sandbox.seed(gstin=BUYER_2, b2b=[doc("S-3", stin=RECIPIENT, action="P")])


def sync_b2b(tenant, reg, portal):
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    services.run_sync(run.pk, adapter=portal)
    with tenant_scope(tenant):
        run.refresh_from_db()
    return run


def test_each_sync_refreshes_buyers_actions_rejected_first(client, seller, sandbox):
    tenant, reg, portal = seller
    sales(sandbox)
    run = sync_b2b(tenant, reg, portal)
    assert run.counts["outward_received"] == 3
    owner = factories.make_user("seller-owner")
    factories.make_member(tenant, owner, "owner")
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/t/acme-seller/portal/outward/").content.decode()
    assert page.index("S-1") < page.index("S-3") < page.index("S-2")  # rejected, pending, accepted
    assert "Rate wrong" in page
    only_rejected = client.get("/t/acme-seller/portal/outward/?action=R").content.decode()
    assert "S-1" in only_rejected
    assert "S-2" not in only_rejected

    # The buyer changes its mind: accepted now. The change is seen and audited on the next sync.
    sandbox.seed(
        gstin=BUYER_1, b2b=[doc("S-1", stin=RECIPIENT, action="A"), doc("S-2", stin=RECIPIENT, action="A")]
    )
    run = sync_b2b(tenant, reg, portal)
    assert run.counts["outward_action_changed"] == 1
    with tenant_scope(tenant):
        s1 = OutwardDocument.objects.get(doc_number="S-1")
        assert s1.recipient_action == "A"
        assert AuditEvent.objects.filter(action="outward.action_changed", object_id=str(s1.pk)).count() == 1

    key = api_token(owner).key
    api = client.get(
        "/api/v1/t/acme-seller/outward-documents/",
        HTTP_AUTHORIZATION=f"Token {key}",
    ).json()
    assert [d["doc_number"] for d in api["results"]][0] == "S-3"  # pending now leads
    assert (
        client.get(
            "/api/v1/t/acme-seller/outward-documents/?action=X",
            HTTP_AUTHORIZATION=f"Token {key}",
        ).status_code
        == 400
    )


def test_other_tenants_never_see_our_outward_documents(client, seller, sandbox, charlie):
    tenant, reg, portal = seller
    sales(sandbox)
    sync_b2b(tenant, reg, portal)
    client.force_login(charlie, backend="django.contrib.auth.backends.ModelBackend")
    assert "S-1" not in client.get("/t/bharat/portal/outward/").content.decode()
    assert client.get("/t/acme-seller/portal/outward/").status_code == 404

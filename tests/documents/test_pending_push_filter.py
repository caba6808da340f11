"""The "Not yet pushed" filter (``pending_push``) reads the trigger-kept push queue: through actions set and reset,
a push through the sandbox portal (one document refused) and a document leaving the portal, the list page and the
API list with ``pending_push=true`` show exactly the documents with a local action still to reach the portal, and
``pending_push=false`` shows the rest."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from actions import services as actions
from audit.services import Actor
from gst_sync import push
from gst_sync import services as sync_services
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync import conftest as sandbox_portal
from tests.gst_sync.conftest import RECIPIENT, connect_gstin, doc
from tests.tokens import api_token

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
sandbox_url, sandbox = sandbox_portal.sandbox_url, sandbox_portal.sandbox  # the sandbox portal's fixtures
adapter, portal = sandbox_portal.adapter, sandbox_portal.portal


@pytest.fixture
def synced(db, portal, sandbox):
    tenant = factories.make_tenant("Acme Pending", "acme-pending")
    owner = factories.make_user("pending-owner")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=SYSTEM, gstin=RECIPIENT, legal_name="Acme"
        )
        tenancy_services.add_member(tenant=tenant, actor=SYSTEM, user=owner, role="owner")
        connect_gstin(tenant, reg, portal, SYSTEM)
    sync(
        tenant, reg, portal, sandbox, [doc("B-1"), doc("B-2"), doc("B-3", action="A"), doc("B-4"), doc("B-5")]
    )
    return tenant, reg, owner


def sync(tenant, reg, portal, sandbox, records):
    sandbox.seed(b2b=records)
    with tenant_scope(tenant):
        (run,) = sync_services.queue_sync(tenant=tenant, actor=SYSTEM, registration=reg, sections=["b2b"])
    sync_services.run_sync(run.pk, adapter=portal)


def by_number(tenant) -> dict[str, SupplierDocument]:
    with tenant_scope(tenant):
        return {d.doc_number: d for d in SupplierDocument.objects.filter(tenant=tenant)}


def set_action(tenant, owner, numbers, action):
    docs = by_number(tenant)
    with tenant_scope(tenant):
        membership = Membership.objects.get(tenant=tenant, user=owner)
        actions.bulk_set_action(
            tenant=tenant,
            actor=Actor.user(owner),
            user=owner,
            membership=membership,
            ids=[docs[n].pk for n in numbers],
            action=action,
        )


def truly_pending(tenant) -> set[str]:
    """Straight from the documents: a local action, still on the portal."""
    with tenant_scope(tenant):
        return set(
            SupplierDocument.objects.filter(
                tenant=tenant, local_action__isnull=False, vanished_at__isnull=True
            ).values_list("doc_number", flat=True)
        )


@pytest.fixture
def listed(client, synced):
    tenant, reg, owner = synced
    token = api_token(owner)
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")

    def get(value: str) -> set[str]:
        api = client.get(
            f"/api/v1/t/{tenant.slug}/documents/",
            {"pending_push": value, "page_size": 100},
            HTTP_AUTHORIZATION=f"Token {token.key}",
        )
        assert api.status_code == 200, api.content
        from_api = {row["id"] for row in api.json()["results"]}
        page = client.get(reverse("document-list", args=[tenant.slug]), {"pending_push": value})
        assert page.status_code == 200
        on_page = {int(pk) for pk in re.findall(rb'name="ids" value="(\d+)"', page.content)}
        assert on_page == from_api
        numbers = {d.pk: n for n, d in by_number(tenant).items()}
        return {numbers[pk] for pk in from_api}

    return get


def test_not_yet_pushed_follows_actions_a_push_and_a_document_leaving_the_portal(
    synced, listed, portal, sandbox
):
    tenant, reg, owner = synced
    everything = {"B-1", "B-2", "B-3", "B-4", "B-5"}
    assert listed("true") == set()
    assert listed("false") == everything

    set_action(tenant, owner, ["B-1", "B-2", "B-4"], "A")
    set_action(tenant, owner, ["B-3"], "N")  # a reset of the portal's Accept
    assert listed("true") == {"B-1", "B-2", "B-3", "B-4"} == truly_pending(tenant)
    assert listed("false") == {"B-5"}

    set_action(tenant, owner, ["B-2"], "N")  # back to what the portal has: nothing to push
    assert listed("true") == {"B-1", "B-3", "B-4"} == truly_pending(tenant)
    assert listed("false") == {"B-2", "B-5"}

    with tenant_scope(tenant):
        batches = push.queue_push(tenant=tenant, actor=Actor.user(owner), registration=reg)
    assert listed("true") == {"B-1", "B-3", "B-4"}  # in a batch, not on the portal yet
    sandbox.faults(supplier_edit={"gstin": RECIPIENT, "section": "b2b", "number": "B-4"})  # B-4 refused
    for batch in batches:
        push.run_push(batch.pk, adapter=portal)
    assert listed("true") == {"B-4"} == truly_pending(tenant)
    assert listed("false") == {"B-1", "B-2", "B-3", "B-5"}

    set_action(tenant, owner, ["B-5"], "R")
    sync(
        tenant, reg, portal, sandbox, [doc("B-1", action="A"), doc("B-2"), doc("B-3"), doc("B-5")]
    )  # B-4 gone
    assert by_number(tenant)["B-4"].vanished_at is not None
    assert by_number(tenant)["B-4"].local_action == "A"
    # A document no longer on the portal cannot be pushed: not "not yet pushed", whatever its local action.
    assert listed("true") == {"B-5"} == truly_pending(tenant)
    assert listed("false") == {"B-1", "B-2", "B-3", "B-4"}

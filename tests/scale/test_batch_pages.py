"""The client batches page and API: who may start a batch, and the progress per GSTIN they show."""

from __future__ import annotations

import pytest

from pipeline.models import ClientBatch, ClientBatchItem
from tenancy.scoping import scopes_disabled
from tests import factories
from tests.tokens import token_header

from .test_queues import connected_gstins, drain, empty_queues  # noqa: F401 - the broker's queues emptied

pytestmark = pytest.mark.django_db


@pytest.fixture
def firm():
    tenant = factories.make_tenant("Verma CA", "verma-ca")
    regs = connected_gstins(tenant, 2, 300)
    owner = factories.make_user("verma-owner")
    factories.make_member(tenant, owner, "owner")
    viewer = factories.make_user("verma-viewer")
    factories.make_member(tenant, viewer, "viewer")
    return tenant, regs, owner, viewer


def batches_of(tenant) -> list[ClientBatch]:
    with scopes_disabled():
        return list(ClientBatch.objects.filter(tenant=tenant))


def test_the_owner_starts_a_batch_on_the_page_and_follows_each_gstin(
    firm, client_for, django_capture_on_commit_callbacks
):
    tenant, regs, owner, _ = firm
    client = client_for(owner)
    assert client.get(f"/t/{tenant.slug}/batches/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/t/{tenant.slug}/batches/start/")
    (batch,) = batches_of(tenant)
    assert response.status_code == 302
    assert response["Location"] == f"/t/{tenant.slug}/batches/{batch.pk}/"
    page = client.get(response["Location"]).content.decode()
    for reg in regs:
        assert reg.gstin in page
    assert "0 of 2 GSTINs finished" in page
    assert "Syncing from the portal" in page
    listing = client.get(f"/t/{tenant.slug}/batches/").content.decode()
    assert f"#{batch.pk}" in listing


def test_a_viewer_cannot_start_a_batch_on_the_page_or_the_api(firm, client_for):
    tenant, _, _, viewer = firm
    assert client_for(viewer).post(f"/t/{tenant.slug}/batches/start/").status_code == 403
    response = client_for(viewer).post(f"/api/v1/t/{tenant.slug}/batches/", **token_header(viewer, tenant))
    assert response.status_code == 403
    assert batches_of(tenant) == []


def test_the_api_starts_a_batch_and_reports_progress_per_gstin(
    firm, client, django_capture_on_commit_callbacks
):
    tenant, regs, owner, _ = firm
    headers = token_header(owner, tenant)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/v1/t/{tenant.slug}/batches/", **headers)
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["progress"]["gstins"] == 2
    assert body["progress"]["stages"]["syncing"] == 2
    detail = client.get(f"/api/v1/t/{tenant.slug}/batches/{body['id']}/", **headers).json()
    assert sorted(i["gstin"] for i in detail["items"]) == sorted(r.gstin for r in regs)
    assert {i["stage"] for i in detail["items"]} == {"syncing"}
    with scopes_disabled():
        assert ClientBatchItem.objects.filter(batch_id=body["id"]).count() == 2


def test_another_tenants_batch_is_not_found(firm, client):
    tenant, _, owner, _ = firm
    other = factories.make_tenant("Other", "other-co")
    connected_gstins(other, 1, 350)
    other_owner = factories.make_user("other-owner")
    factories.make_member(other, other_owner, "owner")
    started = client.post(f"/api/v1/t/{other.slug}/batches/", **token_header(other_owner, other)).json()
    response = client.get(f"/api/v1/t/{tenant.slug}/batches/{started['id']}/", **token_header(owner, tenant))
    assert response.status_code == 404

"""On-demand rebuilds run as a task: one active per GSTIN and period, claimed once, progress polled by the page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import Actor
from invoices.services.ingest import ingest_documents
from returns import services
from returns.models import PreviewRebuild, RebuildStatus, TwobPreview
from returns.tasks import rebuild_preview
from tenancy.scoping import tenant_scope
from tests import factories

OCT = dt.date(2025, 10, 1)


@pytest.fixture
def reg(tenant_a, reg_a1):
    records = {
        "b2b": [
            factories.document_record(supplier_gstin="29AAJFY9012N1ZE", number=f"T-{i}") for i in range(3)
        ]
    }
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="demo"
        ).errors
    return reg_a1


def request(tenant, reg, actor=factories.SYSTEM):
    with tenant_scope(tenant):
        return services.request_rebuild(tenant=tenant, actor=actor, registration=reg, period=OCT)


def test_a_second_request_while_one_is_active_returns_the_active_rebuild(tenant_a, reg):
    first, created = request(tenant_a, reg)
    again, created_again = request(tenant_a, reg)
    assert created
    assert not created_again
    assert again.pk == first.pk
    rebuild_preview(first.pk)
    later, created_later = request(tenant_a, reg)
    assert created_later
    assert later.pk != first.pk


def test_the_task_builds_the_snapshot_as_the_requester_and_a_second_delivery_is_a_no_op(tenant_a, reg, alice):
    job, _ = request(tenant_a, reg, actor=Actor.user(alice))
    assert rebuild_preview(job.pk) == "done"
    assert rebuild_preview(job.pk) == "skipped"
    with tenant_scope(tenant_a):
        job.refresh_from_db()
        assert TwobPreview.objects.count() == 1
        assert job.preview == TwobPreview.objects.get()
        assert job.started_at <= job.finished_at
        built = AuditEvent.objects.get(action="twob.preview_built")
    assert (built.actor_label, job.preview.built_by, job.preview.trigger) == ("alice", "alice", "manual")


def test_a_failing_rebuild_is_marked_failed_with_its_error_and_the_page_shows_it(
    client_for, alice, tenant_a, reg, reg_b1
):
    with tenant_scope(tenant_a):  # a rebuild whose GSTIN is not the tenant's: build_preview refuses it
        job = PreviewRebuild.objects.create(
            tenant=tenant_a,
            registration=reg_b1,
            period=OCT,
            trigger="manual",
            actor_type="system",
            actor_label="tests",
        )
    assert rebuild_preview(job.pk) == "failed"
    with tenant_scope(tenant_a):
        job.refresh_from_db()
    assert job.status == RebuildStatus.FAILED
    assert job.error == "No such GSTIN."
    assert job.finished_at
    with tenant_scope(tenant_a):
        PreviewRebuild.objects.filter(pk=job.pk).update(registration=reg)
    page = (
        client_for(alice)
        .get(reverse("twob-preview", args=[tenant_a.slug, reg.pk, "102025"]))
        .content.decode()
    )
    assert 'data-status="failed"' in page
    assert "The rebuild failed: No such GSTIN." in page


def test_the_page_polls_while_queued_and_reloads_once_done(client_for, alice, tenant_a, reg):
    c = client_for(alice)
    c.post(reverse("twob-rebuild", args=[tenant_a.slug, reg.pk, "102025"]))
    with tenant_scope(tenant_a):
        job = PreviewRebuild.objects.get()
    status_url = reverse("twob-rebuild-status", args=[tenant_a.slug, reg.pk, "102025", job.pk])
    page = c.get(reverse("twob-preview", args=[tenant_a.slug, reg.pk, "102025"])).content.decode()
    assert f'hx-get="{status_url}"' in page
    assert 'id="rebuild" disabled' in page
    polled = c.get(status_url, headers={"HX-Request": "true"})
    assert 'data-status="queued"' in polled.content.decode()
    assert "HX-Refresh" not in polled
    rebuild_preview(job.pk)
    polled = c.get(status_url, headers={"HX-Request": "true"})
    assert 'data-status="done"' in polled.content.decode()
    assert polled["HX-Refresh"] == "true"
    assert "hx-get" not in polled.content.decode()


def test_rebuild_status_of_another_tenant_or_an_ungranted_gstin_is_404(
    client_for, charlie, pat, tenant_a, reg, reg_a2
):
    job, _ = request(tenant_a, reg_a2)
    page_url = reverse("twob-rebuild-status", args=[tenant_a.slug, reg_a2.pk, "122025", job.pk])
    api_url = f"/api/v1/t/{tenant_a.slug}/returns/2b/rebuilds/{job.pk}/"
    for user in (charlie, pat):  # pat is granted reg_a1 only
        c = client_for(user)
        assert c.get(page_url).status_code == 404
        assert c.get(api_url).status_code == 404

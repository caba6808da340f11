"""The export framework: jobs run by the Celery task (called directly), progress, downloads and access."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditEvent
from exports import registry, services
from exports.models import ExportJob
from exports.registry import ExportError
from exports.tasks import run_export_task
from tenancy.models import Registration
from tenancy.scoping import tenant_scope

pytestmark = pytest.mark.django_db

seen_progress: list[int] = []


@registry.register("test-registrations")
def registrations_export(*, tenant, user, params):
    """Rows from a scoped model, so a run outside the tenant's scope would raise."""
    qs = Registration.objects.filter(tenant=tenant).values_list("gstin", "legal_name")
    repeat = int(params.get("repeat", 1))
    rows = ((gstin, name, Decimal("1234.50") * i) for i in range(repeat) for gstin, name in qs.iterator())
    return "Our GSTINs", ["GSTIN", "Legal name", "Amount"], rows, qs.count() * repeat


@registry.register("test-progress")
def progress_export(*, tenant, user, params):
    def rows():
        for i in range(12_000):
            if i == 10_001:
                seen_progress.append(ExportJob.objects.get(pk=params["job"]).rows_done)
            yield [i]

    return "Progress", ["n"], rows(), 12_000


@registry.register("test-broken")
def broken_export(*, tenant, user, params):
    if params.get("why") == "denied":
        raise PermissionDenied
    if params.get("why") == "invalid":
        raise ExportError("The period 13-2025 does not exist.")
    return "Broken", ["n"], (1 / 0 for _ in range(1)), None


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


def start(tenant, user, kind="test-registrations", params=None):
    with tenant_scope(tenant):
        return services.start_export(tenant=tenant, user=user, kind=kind, params=params or {})


def reload(tenant, job):
    with tenant_scope(tenant):
        job.refresh_from_db()
    return job


def test_start_export_queues_a_job_and_records_the_request(tenant_a, alice):
    job = start(tenant_a, alice, params={"repeat": 2})
    assert (job.status, job.user_id, job.kind, job.params) == (
        "queued",
        alice.pk,
        "test-registrations",
        {"repeat": 2},
    )
    with tenant_scope(tenant_a):
        ev = AuditEvent.objects.get(action="export.requested")
    assert ev.object_id == str(job.pk)
    assert ev.actor_label == "alice"


def test_unknown_kind_is_refused(tenant_a, alice):
    with pytest.raises(ExportError, match="Unknown export 'nope'"):
        start(tenant_a, alice, kind="nope")


def test_task_writes_the_file_under_the_tenant_folder(tenant_a, reg_a1, reg_a2, alice, export_dir):
    job = start(tenant_a, alice, params={"repeat": 3})
    run_export_task(job.pk)
    job = reload(tenant_a, job)
    assert (job.status, job.rows_done, job.rows_total, job.title, job.error) == (
        "done",
        6,
        6,
        "Our GSTINs",
        "",
    )
    assert job.finished_at is not None
    path = export_dir / job.file_name
    assert path.parent == export_dir / str(tenant_a.pk)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == ("GSTIN", "Legal name", "Amount")
    assert {r[0] for r in rows[1:]} == {reg_a1.gstin, reg_a2.gstin}
    assert Decimal(str(rows[-1][2])) == Decimal("2469.00")
    assert not list(path.parent.glob("*.part"))


def test_second_delivery_of_the_task_changes_nothing(tenant_a, reg_a1, alice, export_dir):
    job = start(tenant_a, alice)
    run_export_task(job.pk)
    first = reload(tenant_a, job)
    mtime = (export_dir / first.file_name).stat().st_mtime_ns
    run_export_task(job.pk)
    again = reload(tenant_a, ExportJob(pk=job.pk))
    assert (again.status, again.finished_at, again.file_name) == ("done", first.finished_at, first.file_name)
    assert (export_dir / first.file_name).stat().st_mtime_ns == mtime
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="export.completed").count() == 1


def test_running_job_reports_progress_every_few_thousand_rows(tenant_a, alice):
    seen_progress.clear()
    with tenant_scope(tenant_a):
        job = services.start_export(tenant=tenant_a, user=alice, kind="test-progress", params={})
        ExportJob.objects.filter(pk=job.pk).update(params={"job": job.pk})
    run_export_task(job.pk)
    assert seen_progress == [10_000]
    assert reload(tenant_a, job).rows_done == 12_000


@pytest.mark.parametrize(
    "why, message",
    [
        ("denied", "You no longer have access to this data"),
        ("invalid", "The period 13-2025 does not exist."),
        ("crash", "failed because of an internal error (ZeroDivisionError)"),
    ],
)
def test_failed_export_ends_with_a_clear_error_and_no_file(tenant_a, alice, export_dir, why, message):
    job = start(tenant_a, alice, kind="test-broken", params={"why": why})
    run_export_task(job.pk)
    job = reload(tenant_a, job)
    assert job.status == "failed"
    assert message in job.error
    assert job.file_name == ""
    assert not list(export_dir.rglob("*.*"))


def test_task_for_a_missing_job_does_nothing(db):
    assert run_export_task(987654) is None


def test_running_job_is_left_alone_unless_its_worker_went_silent(tenant_a, reg_a1, alice):
    job = start(tenant_a, alice)
    with tenant_scope(tenant_a):
        ExportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    assert run_export_task(job.pk) == "running"
    with tenant_scope(tenant_a):
        ExportJob.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now() - dt.timedelta(seconds=settings.IMS_SYNC_LEASE_SECONDS + 60)
        )
    assert run_export_task(job.pk) == "done"


def test_small_export_is_a_direct_download(tenant_a, reg_a1, alice):
    with tenant_scope(tenant_a):
        response = services.export_response(tenant=tenant_a, user=alice, kind="test-registrations", params={})
        assert AuditEvent.objects.filter(action="export.downloaded").count() == 1
    assert response["Content-Disposition"].startswith('attachment; filename="our-gstins-')
    rows = list(openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.values)
    assert rows[1][0] == reg_a1.gstin


def test_export_above_the_sync_limit_or_of_unknown_size_is_not_done_inline(tenant_a, reg_a1, alice, settings):
    settings.EXPORT_SYNC_MAX_ROWS = 2
    with tenant_scope(tenant_a):
        assert (
            services.export_response(
                tenant=tenant_a, user=alice, kind="test-registrations", params={"repeat": 3}
            )
            is None
        )
        assert services.export_response(tenant=tenant_a, user=alice, kind="test-broken", params={}) is None
        assert (
            services.export_response(
                tenant=tenant_a, user=alice, kind="test-registrations", params={"repeat": 2}
            )
            is not None
        )


def test_job_page_polls_while_running_and_offers_the_download_when_done(tenant_a, reg_a1, alice, client_for):
    job = start(tenant_a, alice)
    client = client_for(alice)
    page = client.get(f"/t/acme/exports/{job.pk}/")
    assert page.status_code == 200
    assert 'hx-trigger="every 2s"' in page.content.decode()
    assert "<html" in page.content.decode()
    run_export_task(job.pk)
    partial = client.get(f"/t/acme/exports/{job.pk}/", HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "<html" not in html
    assert "hx-trigger" not in html
    assert f'href="/t/acme/exports/{job.pk}/download/"' in html
    assert "1 rows ready" in html
    download = client.get(f"/t/acme/exports/{job.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == services.XLSX_TYPE
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    assert wb.active["A2"].value == reg_a1.gstin


def test_failed_job_page_shows_the_error(tenant_a, alice, client_for):
    job = start(tenant_a, alice, kind="test-broken", params={"why": "invalid"})
    run_export_task(job.pk)
    page = client_for(alice).get(f"/t/acme/exports/{job.pk}/")
    assert "The period 13-2025 does not exist." in page.content.decode()
    assert client_for(alice).get(f"/t/acme/exports/{job.pk}/download/").status_code == 404


def test_only_the_jobs_user_in_its_tenant_can_see_or_download_it(
    tenant_a, reg_a1, alice, bob, charlie, client_for
):
    job = start(tenant_a, alice)
    run_export_task(job.pk)
    for user, prefix in ((bob, "/t/acme"), (charlie, "/t/bharat"), (charlie, "/t/acme")):
        client = client_for(user)
        assert client.get(f"{prefix}/exports/{job.pk}/").status_code == 404
        assert client.get(f"{prefix}/exports/{job.pk}/download/").status_code == 404


def test_export_list_shows_only_my_jobs(tenant_a, reg_a1, alice, bob, client_for):
    mine = start(tenant_a, alice)
    theirs = start(tenant_a, bob)
    html = client_for(alice).get("/t/acme/exports/").content.decode()
    assert f"/t/acme/exports/{mine.pk}/" in html
    assert f"/t/acme/exports/{theirs.pk}/" not in html


def test_my_exports_lists_direct_downloads_too_with_their_size_and_is_in_the_navigation(
    tenant_a, reg_a1, alice, client_for
):
    from tests.documents.helpers import make_doc

    make_doc(reg_a1)
    client = client_for(alice)
    for _ in range(2):
        response = client.get("/t/acme/documents/export/")
        assert response.status_code == 200
        b"".join(response.streaming_content)
    html = client.get("/t/acme/exports/").content.decode()
    assert "No exports yet" not in html
    assert html.count("downloaded at once") == 2
    assert re.search(r"\d+(\.\d+)?\xa0(KB|bytes)", html)  # the size of each file
    assert 'id="nav-my-exports"' in client.get("/t/acme/").content.decode()


def test_a_finished_queued_export_shows_its_size(tenant_a, reg_a1, alice, client_for):
    job = start(tenant_a, alice)
    run_export_task(job.pk)
    job.refresh_from_db()
    assert job.size_bytes is not None
    assert job.size_bytes > 0

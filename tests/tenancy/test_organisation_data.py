"""An organisation's data: the export (zip of CSV per table with a manifest), its deletion (confirmed twice, audited,
the ledger kept), as pages for the owner and as commands; and the backup drill at a small size
(docs/operations.md §4-§6)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.services import Actor
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from tenancy import portability, services
from tenancy.models import Membership, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope
from tenancy.tasks import export_tenant_data
from tests import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _load(tenant, reg, numbers: list[str]) -> None:
    records = [factories.document_record(number=n) for n in numbers]
    with tenant_scope(tenant):
        ingest_documents(
            tenant=tenant, registration=reg, actor=factories.SYSTEM, source="portal", records={"b2b": records}
        )


@pytest.fixture
def two_offices(tenant_a, tenant_b, reg_a1, reg_b1, alice, bob, charlie):
    _load(tenant_a, reg_a1, ["ACME/001", "ACME/002", "ACME/003"])
    _load(tenant_b, reg_b1, ["BHARAT/001", "BHARAT/002"])
    return tenant_a, tenant_b


def _counts(tenant) -> dict[str, int]:
    return portability.count_rows(tenant.pk)


def _csv(archive: zipfile.ZipFile, table: str) -> list[dict]:
    manifest = json.loads(archive.read("manifest.json"))
    (entry,) = [f for f in manifest["files"] if f["table"] == table]
    return list(csv.DictReader(io.StringIO(archive.read(entry["file"]).decode())))


def test_every_table_with_a_tenant_column_is_part_of_a_tenants_data():
    assert portability.uncovered_tables() == []


# --- export ------------------------------------------------------------------------------------------------------


def test_export_command_writes_every_table_of_the_tenant_and_only_its_rows(two_offices, tmp_path):
    tenant_a, _tenant_b = two_offices
    out = tmp_path / "acme.zip"
    counts = _counts(tenant_a)
    call_command("export_tenant", tenant_a.slug, out=str(out), stdout=io.StringIO())
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "ims-tenant-export/1"
        assert manifest["tenant"] == {"id": tenant_a.pk, "slug": "acme", "name": "Acme Traders"}
        assert {f["table"] for f in manifest["files"]} == {t.name for t in portability.tenant_tables()}
        for entry in manifest["files"]:
            data = archive.read(entry["file"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            rows = list(csv.reader(io.StringIO(data.decode())))
            assert rows[0] == entry["columns"]
            assert len(rows) - 1 == entry["rows"]
        documents = _csv(archive, "invoices_supplierdocument")
        assert sorted(d["doc_number"] for d in documents) == ["ACME/001", "ACME/002", "ACME/003"]
        assert {d["tenant_id"] for d in documents} == {str(tenant_a.pk)}
        users = _csv(archive, "auth_user")
        assert sorted(u["username"] for u in users) == ["alice", "bob"]
        assert "password" not in users[0]
        events = _csv(archive, "audit_auditevent")
        assert {e["tenant_id"] for e in events} == {str(tenant_a.pk)}
    assert {f["table"]: f["rows"] for f in manifest["files"]} == counts
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(tenant=tenant_a, action="tenant.exported").count() == 1


def test_the_owner_exports_from_the_page_and_downloads_the_zip(
    two_offices, client_for, alice, django_capture_on_commit_callbacks
):
    tenant_a, _ = two_offices
    client = client_for(alice)
    page = client.get(f"/t/{tenant_a.slug}/organisation/data/")
    assert page.status_code == 200
    assert "No export yet." in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(f"/t/{tenant_a.slug}/organisation/data/")
    assert response.status_code == 302
    assert len(queued) == 1  # the worker is handed the export once the request commits
    with tenant_scope(tenant_a):
        requested = AuditEvent.objects.get(tenant=tenant_a, action="tenant.export_requested")
    name = requested.metadata["file"]
    export_tenant_data.apply(args=[tenant_a.pk, name])  # what the worker runs
    page = client.get(f"/t/{tenant_a.slug}/organisation/data/").content.decode()
    assert name in page
    download = client.get(f"/t/{tenant_a.slug}/organisation/data/{name}")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert len(_csv(archive, "invoices_supplierdocument")) == 3
    assert client.get(f"/t/{tenant_a.slug}/organisation/data/..%2F..%2Fsecret.zip").status_code == 404


def test_only_an_owner_may_export_download_or_delete(two_offices, client_for, bob, tenant_a):
    admin = factories.make_user("adam")
    factories.make_member(tenant_a, admin, "admin")
    for user in (bob, admin):
        client = client_for(user)
        assert client.get(f"/t/{tenant_a.slug}/organisation/data/").status_code == 403
        assert client.post(f"/t/{tenant_a.slug}/organisation/data/").status_code == 403
        assert client.get(f"/t/{tenant_a.slug}/organisation/data/x.zip").status_code == 403
        response = client.post(f"/t/{tenant_a.slug}/organisation/delete/", {"name": "Acme Traders"})
        assert response.status_code == 403
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.filter(tenant=tenant_a).count() == 3


# --- deletion ------------------------------------------------------------------------------------------------------


def test_deleting_from_the_page_takes_the_name_then_a_second_confirmation(
    two_offices, client_for, alice, charlie
):
    tenant_a, tenant_b = two_offices
    before_b = _counts(tenant_b)
    client = client_for(alice)
    url = f"/t/{tenant_a.slug}/organisation/delete/"

    wrong = client.post(url, {"name": "Acme"})
    assert wrong.status_code == 400
    assert "exactly" in wrong.content.decode()

    first = client.post(url, {"name": "Acme Traders"})
    assert first.status_code == 200
    page = first.content.decode()
    assert "Delete Acme Traders?" in page
    assert "invoices_supplierdocument" in page
    token = first.context["token"]
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.filter(tenant=tenant_a).count() == 3  # nothing deleted yet

    unconfirmed = client.post(url, {"name": "Acme Traders", "token": token}, follow=True)
    assert "nothing was deleted" in unconfirmed.content.decode()
    forged = client.post(
        url, {"name": "Acme Traders", "token": token + "x", "confirm": "delete"}, follow=True
    )
    assert "nothing was deleted" in forged.content.decode()
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.filter(tenant=tenant_a).count() == 3

    done = client.post(url, {"name": "Acme Traders", "token": token, "confirm": "delete"})
    assert done.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.deleted_at is not None
    after_a = _counts(tenant_a)
    kept = {"tenancy_tenant", "audit_auditevent", "auth_user"}
    assert {t: n for t, n in after_a.items() if n and t not in kept} == {}
    assert not Membership.objects.filter(tenant=tenant_a).exists()
    assert client.get(f"/t/{tenant_a.slug}/").status_code == 404  # the owner no longer gets in
    # The other organisation is untouched
    assert _counts(tenant_b) == before_b
    assert client_for(charlie).get(f"/t/{tenant_b.slug}/").status_code == 200
    # The ledger stays, records the deletion, still verifies, and stays append-only
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(tenant=tenant_a, action="tenant.deleted")
    assert event.actor_label == "alice"
    assert event.metadata["rows"]["invoices_supplierdocument"] == 3
    out = io.StringIO()
    call_command("audit_verify", tenant=tenant_a.slug, stdout=out)
    assert "acme: OK" in out.getvalue()
    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE tenant_id = %s", [tenant_a.pk])


def test_delete_command_needs_the_name_twice(two_offices):
    tenant_a, tenant_b = two_offices
    with pytest.raises(CommandError, match="confirm twice"):
        call_command("delete_tenant", tenant_a.slug, confirm=["Acme Traders"])
    with pytest.raises(CommandError, match="Nothing deleted"):
        call_command("delete_tenant", tenant_a.slug, confirm=["Acme", "Acme"])
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.filter(tenant=tenant_a).count() == 3
    before_b = _counts(tenant_b)
    out = io.StringIO()
    call_command("delete_tenant", tenant_a.slug, confirm=["Acme Traders", "Acme Traders"], stdout=out)
    assert "audit ledger is kept" in out.getvalue()
    with scopes_disabled():
        assert SupplierDocument.objects.filter(tenant=tenant_a).count() == 0
        assert SupplierDocument.objects.filter(tenant=tenant_b).count() == 2
    assert _counts(tenant_b) == before_b
    assert Tenant.objects.get(pk=tenant_a.pk).deleted_at is not None


def test_export_files_go_with_the_organisation(two_offices, alice, django_capture_on_commit_callbacks):
    tenant_a, _ = two_offices
    with tenant_scope(tenant_a):
        target = services.tenant_export_path(tenant_a, "before-delete.zip")
        services.write_tenant_export(tenant=tenant_a, actor=Actor.user(alice), target=target)
    assert target.exists()
    with tenant_scope(tenant_a), django_capture_on_commit_callbacks(execute=True):
        services.delete_tenant(tenant=tenant_a, actor=Actor.user(alice), confirm_name="Acme Traders")
    assert not target.exists()


# --- dump, restore and the drill -------------------------------------------------------------------------------------


def test_restore_refuses_a_database_that_already_has_the_tenant(two_offices, tmp_path):
    tenant_a, _ = two_offices
    call_command("dump_tenant", tenant_a.slug, str(tmp_path / "dump"), stdout=io.StringIO())
    manifest = json.loads((tmp_path / "dump" / "manifest.json").read_text())
    assert {t["table"] for t in manifest["tables"]} == {t.name for t in portability.tenant_tables()}
    with pytest.raises(CommandError, match="already has the tenant"):
        call_command("restore_tenant", str(tmp_path / "dump"), stdout=io.StringIO())


@pytest.mark.slow
def test_the_backup_drill_at_a_small_size_restores_a_tenant_that_verifies_with_equal_counts(tmp_path):
    """bench/bench_drill.py end to end with 300 documents, on a source database of its own (the test database's
    schema), so its bench tenant does not land in the test database."""
    test_db = connection.settings_dict["NAME"]
    source = f"{test_db}_drillsrc"[:63]
    base = f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST']}:{connection.settings_dict['PORT'] or 5432}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{source}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{source}"')
    try:
        schema = subprocess.run(  # noqa: S602 - our own fixed command with the test database's names
            f"pg_dump --schema-only --no-owner {base}/{test_db} | psql -q -v ON_ERROR_STOP=1 {base}/{source} && "
            f"pg_dump --data-only -t django_migrations -t django_content_type -t auth_permission {base}/{test_db}"
            f" | psql -q -v ON_ERROR_STOP=1 {base}/{source}",
            shell=True,
            capture_output=True,
            text=True,
        )
        assert schema.returncode == 0, schema.stderr
        env = {**os.environ, "DATABASE_URL": f"{base}/{source}"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(  # noqa: S603
            [sys.executable, "bench/bench_drill.py", "--docs", "300"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            for name in (source, f"{source}_drill", f"{source}_drill_ceiling"):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "bench: OK" in out  # audit_verify on the restored database
    assert "counts equal" in out
    assert "(300 documents)" in out
    assert "drill total" in out
    assert "ceiling: pg_dump" in out
    assert "drill: OK" in out
    assert settings.DATABASES["default"]["NAME"] == test_db

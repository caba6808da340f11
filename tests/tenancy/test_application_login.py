"""The application connected as a login that owns nothing and bypasses nothing (``DATABASE_URL``), the tables' owner
used by ``migrate`` alone (``DATABASE_OWNER_URL``): docs/decisions/0013-application-login-owns-nothing.md. Every path
that needed the owner (COPY into a table behind the wall, a reconciliation run's results partition, ANALYZE) works
through the product's services, and the login has no way back to the owner."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from decimal import Decimal

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import Actor
from gst_sync import push
from gst_sync.files.imports import import_gstr2b_files
from gst_sync.models import Gstr2bDocument
from ims_project import rls
from invoices.models import DocumentVersion, SupplierDocument
from invoices.services.ingest import ingest_documents
from reconciliation import services as recon
from reconciliation.engine import execute_run, partition_name
from reconciliation.models import PurchaseLine
from tenancy import portability
from tenancy import services as tenancy_services
from tenancy.scoping import scopes_disabled, tenant_scope
from tests import factories
from tests.documents.helpers import make_doc
from tests.factories import document_record, gstin_for
from tests.gst_sync.conftest import adapter, portal, sandbox, sandbox_url  # noqa: F401  # fixtures
from tests.gst_sync.test_push_queue import bulk, by_number, one, synced, to_push  # noqa: F401  # a fixture too
from tests.ingest.test_documents_layout import presumed_new_batch_holding_stored_documents
from tests.portal_files.conftest import RECIPIENT, twob_sample, upload
from tests.reconciliation.test_register_and_engine import as_alice, line

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor.system("tests")
PASSWORD = "a-login-password"  # nosec B105  # the tests' database trusts local connections


def _credentials() -> dict:
    return {key: connection.settings_dict[key] for key in ("USER", "PASSWORD", "HOST", "PORT")}


def _as_owner(statements: list[str]) -> None:
    """Statements run by the tests' owner (the connecting superuser), outside the application's role."""
    with connection.cursor() as cur:
        cur.execute("RESET ROLE")
        for statement in statements:
            cur.execute(statement)
        cur.execute(f"SET ROLE {rls.role()}")


@pytest.fixture
def app_login(transactional_db, settings):
    """The application's connection reopened as a LOGIN role of its own, made a member of the application's role
    (what ``migrate`` does with DATABASE_OWNER_URL set; tested below), the owner's credentials in
    ``IMS_DATABASE_OWNER`` as settings.py puts them. Dropped afterwards (roles are the server's, not the database's)."""
    owner = _credentials()
    name = f"{connection.settings_dict['NAME']}_login"[:63]
    assert rls._IDENTIFIER.fullmatch(name)
    _as_owner(
        [
            f"DROP ROLE IF EXISTS {name}",
            f"CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{PASSWORD}'",
            f"GRANT {rls.role()} TO {name}",
        ]
    )
    settings.IMS_DATABASE_OWNER = {**owner, "NAME": connection.settings_dict["NAME"]}
    connection.close()
    connection.settings_dict.update(USER=name, PASSWORD=PASSWORD)
    try:
        yield name
    finally:
        connection.close()
        connection.settings_dict.update(owner)
        _as_owner([f"DROP ROLE IF EXISTS {name}"])


def scalar(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def refused(match: str):
    return pytest.raises(DatabaseError, match=match)


def _ingest(tenant, reg, records):
    with tenant_scope(tenant):
        return ingest_documents(
            tenant=tenant, registration=reg, records=records, actor=ACTOR, source="portal"
        )


@pytest.fixture
def documents(app_login, tenant_a, tenant_b, reg_a1, reg_b1):
    """Two documents of tenant A, one of B, written by the ingest as the login."""
    for tenant, reg, count in ((tenant_a, reg_a1, 2), (tenant_b, reg_b1, 1)):
        records = {"b2b": [document_record(supplier_gstin=gstin_for(11, "27")) for _ in range(count)]}
        assert _ingest(tenant, reg, records).created == count
    with scopes_disabled():
        return {
            "a": sorted(SupplierDocument.objects.filter(tenant=tenant_a).values_list("pk", flat=True)),
            "b": sorted(SupplierDocument.objects.filter(tenant=tenant_b).values_list("pk", flat=True)),
        }


# --- migrate as the owner -----------------------------------------------------------------------------------------


def test_migrate_runs_as_the_owner_and_creates_the_login_owning_nothing_and_bypassing_nothing(settings):
    owner = _credentials()
    name = f"{connection.settings_dict['NAME']}_new_login"[:63]
    _as_owner([f"DROP ROLE IF EXISTS {name}"])
    settings.IMS_DATABASE_OWNER = {**owner, "NAME": connection.settings_dict["NAME"]}
    connection.close()
    connection.settings_dict.update(USER=name, PASSWORD=PASSWORD)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("migrate", verbosity=1, stdout=out, stderr=err)
        assert "Row-level security on" in out.getvalue()
        assert "login" not in err.getvalue()  # no gap of the login said
        with connection.cursor() as cur:  # the application's connection: the login, as the application's role
            cur.execute("SELECT session_user, current_user")
            assert cur.fetchone() == (name, rls.role())
            cur.execute(
                "SELECT rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, "
                "pg_has_role(rolname, %s, 'MEMBER') FROM pg_roles WHERE rolname = session_user",
                [rls.role()],
            )
            assert cur.fetchone() == (True, False, False, False, False, True)
        assert connection.rls_login_bypasses is False
    finally:
        connection.close()
        connection.settings_dict.update(owner)
        _as_owner([f"DROP ROLE IF EXISTS {name}"])


# --- no way back to the owner ---------------------------------------------------------------------------------------


def test_the_login_cannot_become_the_owner_nor_get_past_the_wall(app_login, tenant_a, tenant_b, documents):
    owner = scalar("SELECT tableowner FROM pg_tables WHERE tablename = 'invoices_supplierdocument'")
    assert owner != app_login
    with tenant_scope(tenant_a), scopes_disabled(), connection.cursor() as cur:
        cur.execute("RESET ROLE")  # back to the session's user: the login, not the owner
        cur.execute("SELECT session_user, current_user")
        assert cur.fetchone() == (app_login, app_login)
        # The ORM's scope bypassed and the role reset: still only tenant A's rows.
        cur.execute("SELECT id FROM invoices_supplierdocument ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == documents["a"]
        cur.execute("SELECT count(*) FROM invoices_supplierdocument WHERE tenant_id = %s", [tenant_b.pk])
        assert cur.fetchone()[0] == 0
        cur.execute(
            "UPDATE invoices_supplierdocument SET doc_number = 'X' WHERE id = %s", [documents["b"][0]]
        )
        assert cur.rowcount == 0
        for statement, match in (
            (f"SET ROLE {owner}", "permission denied to set role"),
            (f"SET SESSION AUTHORIZATION {owner}", "permission denied to set session authorization"),
            ("ALTER TABLE invoices_supplierdocument NO FORCE ROW LEVEL SECURITY", "must be owner"),
            ("ALTER TABLE invoices_supplierdocument DISABLE ROW LEVEL SECURITY", "must be owner"),
            ("DROP POLICY ims_tenant ON invoices_supplierdocument", "must be owner"),
            ("DROP TABLE audit_auditevent", "must be owner"),
        ):
            with refused(match), transaction.atomic():
                cur.execute(statement)
        with (
            pytest.raises(psycopg.Error, match="COPY FROM not supported with row-level security"),
            transaction.atomic(),
            cur.cursor.copy("COPY invoices_supplierdocument (id) FROM STDIN") as copy,
        ):  # what the owner's session did for the ingest's COPY
            copy.write("1\n")
        cur.execute("SET ROLE NONE")
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == app_login
    with tenant_scope(tenant_b):
        assert SupplierDocument.objects.get().doc_number != "X"


def test_the_owners_functions_refuse_what_is_not_the_sessions_tenants_or_not_on_their_lists(
    app_login, tenant_a, tenant_b, reg_b1, charlie
):
    with tenant_scope(tenant_b):
        theirs = recon.start_run(
            **as_alice(tenant_b, charlie),
            registrations=[reg_b1],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    with tenant_scope(tenant_a), connection.cursor() as cur:
        for step in ("create", "index", "attach", "drop"):
            with refused("not a run of this session's tenant"), transaction.atomic():
                rls.partition(cur, step, theirs.pk)
        with refused("no step"), transaction.atomic():
            cur.execute("SELECT ims_recon_partition('truncate', %s)", [theirs.pk])
        for table in (
            "tenancy_tenant",
            "invoices_supplierdocument; DROP TABLE audit_auditevent",
            "pg_authid",
        ):
            with refused("not a table the application may analyze"), transaction.atomic():
                rls.analyze(cur, table)
        with refused("not an index the application may clean"), transaction.atomic():
            rls.clean_pending_list(cur, "invoices_supplierdocument_pkey")
        rls.analyze(cur, "invoices_supplierdocument")  # on the list: done by the owner
        rls.clean_pending_list(cur, "doc_number_trgm_idx")
    with connection.cursor() as cur:  # no tenant open ("all"): no run is the session's tenant's
        with refused("not a run of this session's tenant"), transaction.atomic():
            rls.partition(cur, "drop", theirs.pk)
        # Each function fixes its search_path and is executable by the application's role only.
        cur.execute(
            "SELECT proname, proconfig, prosecdef, has_function_privilege('public', p.oid, 'EXECUTE') "
            "FROM pg_proc p WHERE proname = ANY(%s) ORDER BY 1",
            [["ims_analyze", "ims_clean_pending_list", "ims_recon_partition"]],
        )
        functions = cur.fetchall()
    assert [
        (name, config[0].startswith("search_path="), definer, public)
        for name, config, definer, public in functions
    ] == [
        ("ims_analyze", True, True, False),
        ("ims_clean_pending_list", True, True, False),
        ("ims_recon_partition", True, True, False),
    ]


# --- the product's paths, as the login ---------------------------------------------------------------------------


def test_the_ingest_copies_documents_and_versions_as_the_login(app_login, tenant_a, reg_a1, documents):
    assert connection.rls_login_bypasses is False  # the COPY goes through the temporary table
    with tenant_scope(tenant_a):
        first = SupplierDocument.objects.get(pk=documents["a"][0])
    changed = document_record(
        supplier_gstin=first.supplier_gstin,
        number=first.doc_number,
        date=first.doc_date,
        taxable=Decimal("999.00"),
    )
    records = {"b2b": [changed, *(document_record(supplier_gstin=gstin_for(12, "27")) for _ in range(3))]}
    result = _ingest(tenant_a, reg_a1, records)
    assert (result.created, result.changed) == (3, 1)
    with tenant_scope(tenant_a):
        assert SupplierDocument.objects.count() == 5
        assert DocumentVersion.objects.filter(document_id=first.pk).count() == 1
        assert {d.tenant_id for d in SupplierDocument.objects.all()} == {tenant_a.pk}


def test_a_presumed_new_batch_that_holds_stored_documents_falls_back_as_the_login(
    app_login, tenant_a, reg_a1
):
    """The ingest's unique natural key refusing a batch presumed new (decision 0004) refuses the INSERT from the
    temporary table as it refused the COPY: the batch is looked up in full and stored exactly."""
    with tenant_scope(tenant_a):
        presumed_new_batch_holding_stored_documents(tenant_a, reg_a1)


def test_a_register_import_and_a_reconciliation_run_with_its_partition_as_the_login(
    app_login, tenant_a, reg_a1, alice
):
    for n in ("INV/001", "INV/002", "INV/003"):
        make_doc(reg_a1, doc_number=n, twob_period=dt.date(2025, 10, 1))
    with tenant_scope(tenant_a):
        status, _ = recon.upsert_lines(
            **as_alice(tenant_a, alice),
            lines=[
                line(reg_a1, "INV/001"),
                line(reg_a1, "INV/002", taxable="12000"),
                line(reg_a1, "INV/999"),
            ],
            idempotency_key=None,
        )
        assert status == 200
        assert PurchaseLine.objects.count() == 3
    runs = []
    for _ in range(3):  # the third drops the first's results (an older run of the same range)
        with tenant_scope(tenant_a):
            run = recon.start_run(
                **as_alice(tenant_a, alice),
                registrations=[reg_a1],
                date_from=dt.date(2025, 10, 1),
                date_to=dt.date(2025, 10, 31),
            )
        runs.append(execute_run(run_id=run.pk))
    assert [r.status for r in runs] == ["done"] * 3
    assert runs[-1].counts["exact"] == 1
    attached = "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass(%s)"
    assert [scalar(attached, [partition_name(r.pk)]) for r in runs] == [0, 1, 1]
    with tenant_scope(tenant_a):
        assert scalar(
            "SELECT count(*) FROM reconciliation_reconmatch WHERE run_id = %s", [runs[-1].pk]
        ) == sum(runs[-1].counts.values())


def test_a_2b_import_as_the_login(app_login):
    tenant = factories.make_tenant("Acme Files", "acme-files")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme Files"
        )
        import_gstr2b_files(
            tenant=tenant, actor=ACTOR, registration=reg, files=[upload(twob_sample(), "2b.json")], period=""
        )
        assert Gstr2bDocument.objects.count() == 6
        assert AuditEvent.objects.filter(tenant=tenant).exists()


def test_a_sync_and_a_push_through_the_portal_as_the_login(app_login, synced, portal):  # noqa: F811
    tenant, reg, owner = synced  # synced (ingested) through the sandbox portal as the login
    docs = by_number(tenant)
    assert len(docs) == 5
    bulk(tenant, owner, [docs["B-1"], docs["B-2"]], "A")  # the ledger's COPY of a bulk action
    one(tenant, owner, docs["B-3"], "N")
    with tenant_scope(tenant):
        batches = push.queue_push(tenant=tenant, actor=Actor.user(owner), registration=reg)
    assert sorted(b.item_count for b in batches) == [1, 2]
    for batch in batches:
        push.run_push(batch.pk, adapter=portal)
    assert to_push(tenant, reg) == set()


def test_a_tenant_export_as_the_login(app_login, tenant_a, tenant_b, documents, tmp_path):
    with tenant_scope(tenant_a):
        manifest = portability.write_export(tenant_a, tmp_path / "acme.zip")
    with zipfile.ZipFile(tmp_path / "acme.zip") as archive:
        assert json.loads(archive.read("manifest.json"))["tenant"]["id"] == tenant_a.pk
    rows = {f["table"]: f["rows"] for f in manifest["files"]}
    assert rows["invoices_supplierdocument"] == len(documents["a"])

"""Row-level security, the second wall behind the ORM's tenant scoping (docs/decisions/0012-row-level-security.md):
with the ORM's scope bypassed, the database itself shows and lets write only the open tenant's rows; the
application's role owns no table and bypasses nothing; every tenant table is behind the wall."""

import datetime as dt

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from audit.services import Actor
from invoices.models import SupplierDocument
from invoices.services.ingest import ingest_documents
from reconciliation.engine import execute_run, partition_name
from reconciliation.services import start_run
from tenancy.scoping import scopes_disabled, tenant_scope
from tests.documents.helpers import make_doc
from tests.factories import document_record, gstin_for
from tests.reconciliation.test_register_and_engine import (  # noqa: F401  # reconciled: a fixture, one finished run
    as_alice,
    line,
    reconciled,
    upsert,
)

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@pytest.fixture
def documents(tenant_a, tenant_b, reg_a1, reg_b1):
    """Two documents of tenant A, one of tenant B, written by the ingest (its COPY and SQL) in each tenant's scope."""
    for tenant, reg, count in ((tenant_a, reg_a1, 2), (tenant_b, reg_b1, 1)):
        records = {"b2b": [document_record(supplier_gstin=gstin_for(11, "27")) for _ in range(count)]}
        with tenant_scope(tenant):
            result = ingest_documents(
                tenant=tenant, registration=reg, records=records, actor=ACTOR, source="portal"
            )
        assert result.created == count
    with scopes_disabled():
        return {
            "a": list(SupplierDocument.objects.filter(tenant=tenant_a).values_list("pk", flat=True)),
            "b": list(SupplierDocument.objects.filter(tenant=tenant_b).values_list("pk", flat=True)),
        }


def scalar(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_the_application_runs_as_a_role_that_owns_no_table_and_bypasses_nothing():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        user, superuser, bypass = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND pg_has_role(c.relowner, 'USAGE')"
        )
        owned = cur.fetchone()[0]
    assert (user, superuser, bypass, owned) == (settings.IMS_RLS_ROLE, False, False, 0)


def test_every_table_with_a_tenant_column_forces_row_level_security_with_the_tenant_policy():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'ims_tenant') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        )
        tables = cur.fetchall()
    assert len(tables) >= 50  # every room's tenant tables, the results' partitions included
    assert [t for t in tables if t[1:] != (True, True, True)] == []
    assert "invoices_supplierdocument" in {t[0] for t in tables}


def test_with_the_orm_scope_bypassed_another_tenants_rows_are_invisible(tenant_a, tenant_b, documents):
    with tenant_scope(tenant_a), scopes_disabled():
        assert sorted(SupplierDocument.objects.values_list("pk", flat=True)) == sorted(documents["a"])
        assert SupplierDocument.objects.filter(tenant=tenant_b).count() == 0
        assert (
            scalar("SELECT count(*) FROM invoices_supplierdocument WHERE tenant_id = %s", [tenant_b.pk]) == 0
        )
        assert scalar("SELECT count(*) FROM invoices_supplierdocument") == 2
        assert scalar("SELECT count(*) FROM audit_auditevent WHERE tenant_id = %s", [tenant_b.pk]) == 0
    with tenant_scope(tenant_b), scopes_disabled():  # the wrong tenant set: A's rows are gone
        assert SupplierDocument.objects.filter(pk__in=documents["a"]).count() == 0
        assert scalar("SELECT count(*) FROM invoices_supplierdocument") == 1


def test_another_tenants_rows_cannot_be_changed_or_deleted(tenant_a, tenant_b, documents):
    theirs = documents["b"][0]
    with tenant_scope(tenant_a), scopes_disabled():
        with connection.cursor() as cur:
            cur.execute("UPDATE invoices_supplierdocument SET doc_number = 'X' WHERE id = %s", [theirs])
            updated = cur.rowcount
            cur.execute("DELETE FROM invoices_supplierdocument WHERE id = %s", [theirs])
            deleted = cur.rowcount
        assert (updated, deleted) == (0, 0)
        assert SupplierDocument.objects.filter(pk=theirs).update(doc_number="X") == 0
    with tenant_scope(tenant_b):
        assert SupplierDocument.objects.get(pk=theirs).doc_number != "X"


def test_a_row_of_another_tenant_cannot_be_written_under_a_tenants_scope(tenant_a, tenant_b, documents):
    mine = documents["a"][0]
    with tenant_scope(tenant_a), scopes_disabled():
        # Moving my row to the other tenant: the documents' own registration check (a trigger, decision 0011) may
        # refuse it first; either way it does not happen.
        refused = pytest.raises(DatabaseError, match="row-level security|registration check")
        with refused, transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE invoices_supplierdocument SET tenant_id = %s WHERE id = %s", [tenant_b.pk, mine]
            )
        refused = pytest.raises(DatabaseError, match="row-level security")
        with refused, transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO invoices_supplier (tenant_id, gstin, legal_name, trade_name, emails, gstin_valid, "
                "created_at, updated_at) VALUES (%s, %s, '', '', '[]', true, now(), now())",
                [tenant_b.pk, gstin_for(77, "27")],
            )


def test_a_session_with_no_tenant_set_sees_nothing_and_system_code_sees_every_tenant(documents):
    assert scalar("SELECT count(*) FROM invoices_supplierdocument") == 3  # no scope open: system code, "all"
    with transaction.atomic():  # the setting's change is undone with the savepoint
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('ims.tenant_id', '', false)")
            cur.execute("SELECT count(*) FROM invoices_supplierdocument")
            unset = cur.fetchone()[0]
            cur.execute("SELECT set_config('ims.tenant_id', 'nonsense', false)")
            cur.execute("SELECT count(*) FROM invoices_supplierdocument")
            nonsense = cur.fetchone()[0]
        transaction.set_rollback(True)
    assert (unset, nonsense) == (0, 0)
    assert scalar("SELECT count(*) FROM invoices_supplierdocument") == 3


def test_the_number_search_can_still_use_its_trigram_index_behind_the_wall(tenant_a):
    """A filter that is not leakproof could not use an index under row-level security (checked after the policy):
    the functions of the number search are marked leakproof by migrate (ims_project.rls.LEAKPROOF)."""
    with tenant_scope(tenant_a), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "SET LOCAL enable_seqscan = off"
        )  # an empty table: ask whether the index can be used at all
        cur.execute(
            "EXPLAIN SELECT id FROM invoices_supplierdocument WHERE UPPER(doc_number::text) LIKE UPPER(%s)",
            ["%INV/0%"],
        )
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "doc_number_trgm_idx" in plan


def test_a_reconciliation_runs_behind_the_wall_and_its_results_partition_is_behind_it_too(
    tenant_a,
    tenant_b,
    reconciled,  # noqa: F811
):
    run, _ = reconciled
    assert run.status == "done"  # its statements ran as the application role with tenant A set
    part = partition_name(run.pk)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relrowsecurity, relforcerowsecurity, EXISTS (SELECT FROM pg_policy WHERE polrelid = c.oid) "
            "FROM pg_class c WHERE relname = %s",
            [part],
        )
        assert cur.fetchone() == (True, True, True)
    mine = sum(run.counts.values())
    for tenant, expected in ((tenant_a, mine), (tenant_b, 0)):
        with tenant_scope(tenant):
            assert (
                scalar("SELECT count(*) FROM reconciliation_reconmatch WHERE run_id = %s", [run.pk])
                == expected
            )
            assert scalar(f"SELECT count(*) FROM {part}") == expected  # noqa: S608  # a name from the code


def test_with_the_setting_off_migrate_takes_the_wall_down_and_with_it_on_puts_it_back():
    def protected() -> int:
        return scalar(
            "SELECT count(*) FROM pg_class WHERE relname = 'invoices_supplierdocument' AND relforcerowsecurity"
        )

    with override_settings(IMS_RLS=False):
        call_command("migrate", verbosity=0)
        assert protected() == 0
    call_command("migrate", verbosity=0)
    assert protected() == 1
    assert scalar("SELECT current_user") == settings.IMS_RLS_ROLE


@pytest.mark.django_db(
    transaction=True
)  # migrate's ALTER TABLEs: no pending trigger events of a test's transaction
def test_with_the_wall_down_a_reconciliation_takes_its_partition_steps_itself(tenant_a, reg_a1, alice):
    """IMS_RLS=0: no policy to check a run's tenant against, the application connected as the owner: the partition
    steps, the register's ANALYZE and the results' COPY are taken directly (ims_project.rls.partition)."""
    make_doc(reg_a1, doc_number="INV/1", twob_period=dt.date(2025, 10, 1))
    with override_settings(IMS_RLS=False):
        call_command("migrate", verbosity=0)
        connection.close()  # a connection of the wall down: no role switched to, no tenant set
        try:
            assert upsert(tenant_a, alice, [line(reg_a1, "INV/1"), line(reg_a1, "INV/2")])[0] == 200
            with tenant_scope(tenant_a):
                queued = start_run(
                    **as_alice(tenant_a, alice),
                    registrations=[reg_a1],
                    date_from=dt.date(2025, 10, 1),
                    date_to=dt.date(2025, 10, 31),
                )
            run = execute_run(run_id=queued.pk)
            assert scalar("SELECT current_user") != settings.IMS_RLS_ROLE  # the owner, the wall down
            attached = scalar(
                "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass(%s)", [partition_name(run.pk)]
            )
        finally:
            call_command("migrate", verbosity=0)
    assert (run.status, run.counts["exact"], attached) == ("done", 1, 1)

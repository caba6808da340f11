"""A register line's GSTIN is checked once per statement (reconciliation migration 0010, as the documents' in
docs/decisions/0011-documents-layout.md), and the ledger's tenant likewise (audit migration 0003): a line must name
a registration of its own tenant, a registration with lines cannot go, an event must name a tenant that exists, a
tenant with events cannot be deleted."""

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from reconciliation.models import PurchaseLine
from tenancy.scoping import tenant_scope
from tests.reconciliation.test_register_and_engine import line, upsert

pytestmark = pytest.mark.django_db


def _execute(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _copy(table: str, row_id: int, sets: str, params: list) -> None:
    """INSERT a copy of row ``row_id`` of ``table`` (a name from the test) with its columns changed by ``sets``."""
    _execute(f"CREATE TEMP TABLE _copy ON COMMIT DROP AS SELECT * FROM {table} WHERE id = %s", [row_id])
    _execute(f"UPDATE _copy SET id = nextval('{table}_id_seq'), {sets}", params)
    _execute(f"INSERT INTO {table} SELECT * FROM _copy", [])


def _a_line(tenant, reg, alice) -> int:
    status, body = upsert(tenant, alice, [line(reg, "INV/1", ref="P1")])
    assert status == 200, body
    with tenant_scope(tenant):
        return PurchaseLine.objects.get(erp_ref="P1").pk


def test_a_line_must_name_a_registration_of_its_own_tenant(tenant_a, reg_a1, tenant_b, reg_b1, alice):
    line_id = _a_line(tenant_a, reg_a1, alice)
    table = "reconciliation_purchaseline"
    for tenant_id, registration_id in ((tenant_b.pk, reg_a1.pk), (tenant_a.pk, reg_b1.pk), (tenant_a.pk, 0)):
        with pytest.raises(IntegrityError, match="registration check"), transaction.atomic():
            _copy(
                table,
                line_id,
                "tenant_id = %s, registration_id = %s, erp_ref = 'P2'",
                [tenant_id, registration_id],
            )
    with transaction.atomic():  # its own tenant and registration: accepted
        _copy(
            table, line_id, "tenant_id = %s, registration_id = %s, erp_ref = 'P2'", [tenant_a.pk, reg_a1.pk]
        )
    with tenant_scope(tenant_a):
        lines = PurchaseLine.objects.filter(registration=reg_a1)
        assert lines.count() == 2
        with pytest.raises(IntegrityError, match="registration check"), transaction.atomic():
            lines.filter(pk=line_id).update(registration_id=reg_b1.pk)


def test_a_registration_that_lines_name_cannot_be_deleted_or_moved(tenant_a, reg_a1, tenant_b, alice):
    _a_line(tenant_a, reg_a1, alice)
    with pytest.raises(IntegrityError, match="still referenced"), transaction.atomic():
        _execute("DELETE FROM tenancy_registration WHERE id = %s", [reg_a1.pk])
    with pytest.raises(IntegrityError, match="still referenced"), transaction.atomic():
        _execute("UPDATE tenancy_registration SET tenant_id = %s WHERE id = %s", [tenant_b.pk, reg_a1.pk])


def test_an_event_must_name_a_tenant_that_exists_and_a_tenant_with_events_stays(tenant_a, reg_a1, alice):
    _a_line(tenant_a, reg_a1, alice)  # audited
    with tenant_scope(tenant_a):
        event_id = AuditEvent.objects.order_by("seq").values_list("pk", flat=True).last()
    with pytest.raises(IntegrityError, match="tenant check"), transaction.atomic():
        _copy("audit_auditevent", event_id, "tenant_id = 0, seq = seq + 1000", [])
    with pytest.raises(IntegrityError, match="still referenced"), transaction.atomic():
        _execute("DELETE FROM tenancy_tenant WHERE id = %s", [tenant_a.pk])

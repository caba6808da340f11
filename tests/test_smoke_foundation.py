import pytest
from django.db import IntegrityError, transaction
from django_scopes.exceptions import ScopeError

from audit.models import AuditEvent
from tenancy.models import Registration
from tenancy.scoping import tenant_scope


@pytest.mark.django_db
def test_tenant_query_without_scope_raises(reg_a1):
    with pytest.raises(ScopeError):
        list(Registration.objects.all())


@pytest.mark.django_db
def test_registration_creation_is_audited_in_the_ledger(tenant_a, reg_a1):
    with tenant_scope(tenant_a):
        actions = list(AuditEvent.objects.order_by("seq").values_list("seq", "action"))
    assert actions == [(1, "tenant.created"), (2, "registration.created")]


@pytest.mark.django_db
def test_database_refuses_update_of_audit_events(tenant_a):
    from django.db import connection

    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET action = 'x'")
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditevent")
    assert IntegrityError  # imported for readability of failures above

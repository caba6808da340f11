"""manage.py audit_verify: recomputes each tenant's hash chain and names the first broken link."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.chain import event_fields, link_hash
from audit.models import AuditEvent
from audit.services import Actor, Event, record, record_many
from ims_project import rls
from tenancy.scoping import tenant_scope

SYSTEM = Actor.system("tests")


def add_events(tenant, n: int) -> None:
    with tenant_scope(tenant), transaction.atomic():
        record_many(
            tenant=tenant,
            actor=SYSTEM,
            events=[
                Event(
                    "doc.updated",
                    "invoices.supplierdocument",
                    str(i),
                    f"INV/{i}",
                    {"taxable_value": ["100.00", f"{i}.50"]},
                )
                for i in range(n)
            ],
        )


def verify(*args) -> str:
    out = __import__("io").StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=out)
    return out.getvalue()


def tamper(sql: str, params=()) -> None:
    """Change the ledger behind the application's back, as an attacker with table access would."""
    with rls.as_owner(), connection.cursor() as cur:  # the tables' owner, a superuser in the tests
        cur.execute("SET LOCAL session_replication_role = replica")  # ordinary triggers do not fire
        cur.execute(sql, params)
        cur.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.django_db
def test_clean_chain_verifies_and_counts_every_event(tenant_a, reg_a1):
    add_events(tenant_a, 10)
    assert verify("--tenant", "acme") == "acme: OK: 12 events\n"


@pytest.mark.django_db
def test_altered_event_content_is_caught_at_its_seq(tenant_a):
    add_events(tenant_a, 10)
    tamper(
        'UPDATE audit_auditevent SET changes = \'{"taxable_value": ["100.00", "1.00"]}\' '
        "WHERE tenant_id = %s AND seq = 5",
        [tenant_a.pk],
    )
    with pytest.raises(CommandError, match=r"acme: BROKEN at seq 5: hash mismatch"):
        verify("--tenant", "acme")


@pytest.mark.django_db
def test_forged_event_with_recomputed_hash_breaks_the_next_link(tenant_a):
    add_events(tenant_a, 10)
    with tenant_scope(tenant_a):
        ev = AuditEvent.objects.get(seq=6)
    fields = event_fields(
        tenant_id=tenant_a.pk,
        seq=6,
        occurred_at=ev.occurred_at,
        actor_type=ev.actor_type,
        actor_id=ev.actor_id,
        actor_label=ev.actor_label,
        action="doc.deleted",
        object_type=ev.object_type,
        object_id=ev.object_id,
        object_repr=ev.object_repr,
        changes=ev.changes,
        metadata=ev.metadata,
        request_id=ev.request_id,
    )
    tamper(
        "UPDATE audit_auditevent SET action = 'doc.deleted', hash = %s WHERE tenant_id = %s AND seq = 6",
        [link_hash(ev.prev_hash, fields), tenant_a.pk],
    )
    with pytest.raises(CommandError, match=r"BROKEN at seq 7: prev_hash .* does not equal the hash of seq 6"):
        verify("--tenant", "acme")


@pytest.mark.django_db
def test_deleted_event_is_caught_as_a_gap(tenant_a):
    add_events(tenant_a, 10)
    tamper("DELETE FROM audit_auditevent WHERE tenant_id = %s AND seq IN (4, 5)", [tenant_a.pk])
    with pytest.raises(CommandError, match=r"BROKEN at seq 6: gap in seq: seq 4-5 missing"):
        verify("--tenant", "acme")


@pytest.mark.django_db
def test_database_refuses_update_and_delete_of_events(tenant_a):
    with tenant_scope(tenant_a):
        with pytest.raises(Exception, match="append-only: UPDATE refused"), transaction.atomic():
            AuditEvent.objects.filter(seq=1).update(action="tenant.renamed")
        with pytest.raises(Exception, match="append-only: DELETE refused"), transaction.atomic():
            AuditEvent.objects.filter(seq=1).delete()
        assert AuditEvent.objects.get(seq=1).action == "tenant.created"


@pytest.mark.django_db
def test_bulk_of_5000_events_with_summary_verifies(tenant_a):
    with tenant_scope(tenant_a), transaction.atomic():
        last = record_many(
            tenant=tenant_a,
            actor=SYSTEM,
            events=(
                Event(
                    "ims.action_set",
                    "invoices.supplierdocument",
                    str(i),
                    f"INV/{i}",
                    {"action": ["N", "A"], "note": ["", "tab\tnew\nline \\ back ₹"]},
                )
                for i in range(5000)
            ),
            summary=Event("ims.bulk_action", metadata={"count": 5000}),
        )
    assert last == 5002
    assert verify("--tenant", "acme") == "acme: OK: 5002 events\n"


@pytest.mark.django_db
def test_each_tenant_has_its_own_chain(tenant_a, tenant_b):
    add_events(tenant_a, 3)
    add_events(tenant_b, 7)
    with tenant_scope(tenant_b):
        assert AuditEvent.objects.order_by("seq").first().seq == 1
    tamper(
        "UPDATE audit_auditevent SET actor_label = 'mallory' WHERE tenant_id = %s AND seq = 2", [tenant_a.pk]
    )
    assert verify("--tenant", "bharat") == "bharat: OK: 8 events\n"
    with pytest.raises(CommandError) as err:
        verify()
    assert "acme: BROKEN at seq 2" in str(err.value)
    assert "bharat" not in str(err.value)


@pytest.mark.django_db
def test_unknown_tenant_is_an_error(tenant_a):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        verify("--tenant", "nope")


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(tenant_a):
    with tenant_scope(tenant_a), pytest.raises(RuntimeError, match="inside the transaction"):
        record(tenant=tenant_a, actor=SYSTEM, action="orphan.event")
    with tenant_scope(tenant_a):
        assert not AuditEvent.objects.filter(action="orphan.event").exists()

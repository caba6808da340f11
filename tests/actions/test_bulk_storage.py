"""The bulk path's storage: what it writes per document (the state before → after, one event each, a verifiable
chain), the worker path by ids in chunks, and the documents table kept fit for in-place (HOT) action updates."""

from decimal import Decimal

import pytest
from django.db import connection

from actions import services
from actions.models import BulkActionRun
from actions.tasks import run_bulk_action_task
from audit.verify import verify_chain
from tenancy.scoping import tenant_scope
from tests.actions.conftest import events, refreshed

pytestmark = pytest.mark.django_db


def bulk(act, user, **kwargs):
    return act(services.bulk_set_action, user=user, **kwargs)


def test_each_changed_document_gets_its_own_before_and_after_and_the_chain_verifies(
    act, doc, alice, tenant_a
):
    fresh = doc()
    rejected = doc(local_action="R", local_remarks="wrong rate")
    pending = doc(local_action="P", local_remarks="ask supplier")
    done = doc(local_action="A", local_remarks="ok")
    result = bulk(act, alice, ids=[fresh.pk, rejected.pk, pending.pk, done.pk], action="A", remarks="ok")
    assert (result.applied, result.already, result.refused_count) == (3, 1, 0)
    by_doc = {e.object_id: e for e in events(tenant_a)}
    assert set(by_doc) == {str(fresh.pk), str(rejected.pk), str(pending.pk)}
    assert by_doc[str(fresh.pk)].changes == {"local_action": [None, "A"], "local_remarks": ["", "ok"]}
    assert by_doc[str(rejected.pk)].changes == {
        "local_action": ["R", "A"],
        "local_remarks": ["wrong rate", "ok"],
    }
    assert by_doc[str(pending.pk)].changes == {
        "local_action": ["P", "A"],
        "local_remarks": ["ask supplier", "ok"],
    }
    assert by_doc[str(fresh.pk)].object_repr == f"{fresh.supplier_gstin} {fresh.section} {fresh.doc_number}"
    assert all(e.metadata == {"portal_action": "N", "run": result.run_id} for e in by_doc.values())
    assert refreshed(rejected).local_action == "A"
    assert rejected.local_remarks == "ok"
    assert refreshed(done).local_updated_at is None  # already so: not touched
    with tenant_scope(tenant_a):
        report = verify_chain(tenant=tenant_a)
    assert report.ok, report


def test_a_declaration_is_audited_with_its_amounts(act, doc, alice, tenant_a):
    d = doc(section="b2bcn", igst=Decimal("100.00"))
    bulk(act, alice, ids=[d.pk], action="A", declaration={"itc_red_req": "Y", "decl_igst": "40.00"})
    [event] = events(tenant_a)
    assert event.changes["local_decl_igst"] == [None, "40.00"]
    assert event.changes["local_itc_red_req"] == ["", "Y"]
    assert refreshed(d).local_decl_igst == Decimal("40.00")
    with tenant_scope(tenant_a):
        assert verify_chain(tenant=tenant_a).ok


def test_refusals_are_listed_in_id_order_with_their_numbers(act, doc, alice):
    docs = [doc(pending_blocked=True) for _ in range(3)] + [doc()]
    result = bulk(act, alice, ids=[d.pk for d in reversed(docs)], action="P")
    assert result.applied == 1
    assert result.refused_count == 3
    assert [(r["id"], r["number"]) for r in result.refused] == [(d.pk, d.doc_number) for d in docs[:3]]
    assert all(refreshed(d).local_action is None for d in docs[:3])


def test_a_large_action_by_ids_is_applied_by_the_worker_in_chunks(act, doc, alice, tenant_a, settings):
    settings.IMS_BULK_ACTION_SYNC_MAX = 3
    settings.IMS_BULK_ACTION_CHUNK = 2
    docs = [doc() for _ in range(4)] + [doc(pending_blocked=True)]
    result = bulk(act, alice, ids=[d.pk for d in docs], action="P", remarks="ask supplier")
    assert result.status == "queued"
    assert result.total == 5
    assert events(tenant_a) == []
    assert run_bulk_action_task(result.run_id) == "done"
    with tenant_scope(tenant_a):
        run = BulkActionRun.objects.get(pk=result.run_id)
    assert (run.applied, run.refused_count, run.processed, run.percent) == (4, 1, 5, 100)
    assert [r["id"] for r in run.refused] == [docs[4].pk]
    assert {refreshed(d).local_action for d in docs[:4]} == {"P"}
    assert refreshed(docs[4]).local_action is None
    assert len(events(tenant_a)) == 4
    assert len(events(tenant_a, "ims.bulk_action")) == 1
    assert run_bulk_action_task(result.run_id) == "done"
    assert len(events(tenant_a)) == 4  # redelivery: no-op
    with tenant_scope(tenant_a):
        assert verify_chain(tenant=tenant_a).ok


def test_no_index_of_the_documents_table_names_a_local_column():
    """An action changes only local_* columns; any index naming one (even in a partial index's condition) would
    make every action update write an entry into each index instead of updating the row in place."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'invoices_supplierdocument'::regclass"
        )
        indexes = cur.fetchall()
        cur.execute("SELECT reloptions FROM pg_class WHERE oid = 'invoices_supplierdocument'::regclass")
        [options] = cur.fetchone()
    assert indexes
    assert not [name for name, definition in indexes if "local_" in definition]
    assert "fillfactor=50" in (options or [])

"""Automatic reconciliation after a change: a register import, a REST upsert or a portal sync of a GSTIN that has
been reconciled queues one run like its latest (same GSTINs, same dates, the rules in force), as the system, once
the change commits; debounced; never failing the change; never touching a GSTIN nobody reconciled."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import Actor
from autorules import services as autorules
from gst_sync import services as sync_services
from invoices.models import SupplierDocument
from reconciliation import services, tasks
from reconciliation.engine import execute_run
from reconciliation.models import ReconRun
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import scopes_disabled, tenant_scope
from tests import factories
from tests.documents.helpers import SUPPLIER_1
from tests.gst_sync import conftest as portal_fixtures
from tests.gst_sync.conftest import RECIPIENT, connect_gstin, doc, make_config
from tests.reconciliation.test_register_and_engine import HEAD, line, outcome_of, upsert

sandbox_url, sandbox = portal_fixtures.sandbox_url, portal_fixtures.sandbox  # the sandbox portal (a process)
CSV_HEAD = HEAD.rstrip("\n") + ",Place of supply\n"
OCT, OCT_END = dt.date(2025, 10, 1), dt.date(2025, 10, 31)


pytestmark = pytest.mark.django_db(transaction=True)  # real commits: reruns are queued on commit


@pytest.fixture
def worker(monkeypatch):
    """The broker, as a list of the run ids handed to it; ``worker.settle()`` runs the queued ones as the worker
    would (the task called directly; a run no longer queued is a twin delivery and does nothing) and returns
    them. Request it before fixtures that start runs."""

    class Worker:
        def __init__(self):
            self.sent: list[int] = []

        def settle(self) -> list[ReconRun]:
            done = []
            while self.sent:
                run_id = self.sent.pop(0)
                with scopes_disabled():
                    if ReconRun.objects.get(pk=run_id).status != "queued":
                        continue
                tasks.run_recon_task(run_id)
                with scopes_disabled():
                    done.append(ReconRun.objects.get(pk=run_id))
            return done

    w = Worker()
    monkeypatch.setattr(tasks.run_recon_task, "delay", w.sent.append)
    return w


def import_csv(tenant, user, rows: str, name="register.csv"):
    with tenant_scope(tenant):
        membership = Membership.objects.get(tenant=tenant, user=user)
        job = services.start_import(
            tenant=tenant,
            actor=Actor.user(user),
            user=user,
            membership=membership,
            name=name,
            data=(CSV_HEAD + rows).encode(),
        )
    return services.run_import(import_id=job.pk)


def runs(tenant) -> list[ReconRun]:
    with tenant_scope(tenant):
        return list(ReconRun.objects.filter(tenant=tenant).order_by("pk"))


def row(reg, number, ref):
    """A CSV row of the register (the shape of ``line``: inter-state, IGST)."""
    return f"{reg.gstin},{SUPPLIER_1},Invoice,{number},05-10-2025,10000,1800,0,0,0,{ref},29\n"


def test_an_import_into_a_reconciled_gstin_reruns_it_with_the_same_range_as_the_system(
    worker, tenant_a, reg_a1, alice, reconciled, client_for
):
    first, _ = reconciled
    assert outcome_of(tenant_a, first, "INV/006") == {"missing_in_register"}
    job = import_csv(tenant_a, alice, row(reg_a1, "INV/006", "PV-6"))
    assert (job.status, job.created) == ("done", 1)
    (rerun,) = worker.settle()
    assert rerun.pk != first.pk
    assert rerun.status == "done"
    assert (rerun.registration_ids, rerun.date_from, rerun.date_to) == ([reg_a1.pk], OCT, OCT_END)
    assert (rerun.actor_type, rerun.actor_label) == (
        "system",
        f"rerun after register import #{job.pk} (register.csv)",
    )
    with tenant_scope(tenant_a):
        assert rerun.rules == services.active_rules(tenant=tenant_a)
        started = AuditEvent.objects.get(action="recon.run_started", object_id=str(rerun.pk))
    assert started.actor_type == "system"
    assert started.metadata["automatic"] is True
    assert started.metadata["after_run"] == first.pk
    assert started.metadata["reason"] == f"register import #{job.pk} (register.csv)"
    assert outcome_of(tenant_a, rerun, "INV/006") == {"exact"}  # the new line is in the results
    page = client_for(alice).get("/t/acme/reconciliation/").content.decode()
    assert f"Run #{rerun.pk}" in page
    assert f"Started automatically: rerun after register import #{job.pk} (register.csv)." in page


def test_an_import_that_changes_nothing_or_only_an_unreconciled_gstin_queues_no_run(
    worker, tenant_a, reg_a1, reg_a2, alice, reconciled
):
    before = runs(tenant_a)
    again = import_csv(tenant_a, alice, row(reg_a1, "INV/999", "PV-INV/999"))  # the same line as stored
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    other = import_csv(tenant_a, alice, row(reg_a2, "B-1", "PV-B1"))
    assert (other.status, other.created) == ("done", 1), other.errors
    assert worker.settle() == []
    assert runs(tenant_a) == before


def test_a_never_reconciled_tenant_gets_no_surprise_run(worker, tenant_a, reg_a1, alice):
    job = import_csv(tenant_a, alice, row(reg_a1, "N-1", "PV-N1"))
    status, body = upsert(tenant_a, alice, [line(reg_a1, "N-2")])
    assert job.created == 1
    assert (status, body["created"]) == (200, 1)
    assert worker.settle() == []
    assert runs(tenant_a) == []


def test_changes_while_a_rerun_is_queued_do_not_pile_up_and_a_running_one_gets_one_follower(
    worker, tenant_a, reg_a1, alice, reconciled
):
    first, _ = reconciled
    worker.settle()  # the fixture's own run, already done
    upsert(tenant_a, alice, [line(reg_a1, "INV/006")])
    upsert(tenant_a, alice, [line(reg_a1, "INV/007")])
    import_csv(tenant_a, alice, row(reg_a1, "INV/008", "PV-8"))
    queued = [r for r in runs(tenant_a) if r.pk != first.pk]
    assert [r.status for r in queued] == ["queued"]
    assert worker.sent == [queued[0].pk]
    assert queued[0].actor_label == "rerun after a purchase register upsert by alice (1 new, 0 changed)"
    with tenant_scope(tenant_a):  # a worker has claimed it: a change from now on must not be lost
        ReconRun.objects.filter(pk=queued[0].pk).update(status="running")
    upsert(tenant_a, alice, [line(reg_a1, "INV/009")])
    upsert(tenant_a, alice, [line(reg_a1, "INV/010")])
    assert [r.status for r in runs(tenant_a)] == ["done", "running", "queued"]
    (follower,) = worker.settle()  # the claimed run's own delivery does nothing now
    assert follower.status == "done"
    assert outcome_of(tenant_a, follower, "INV/010") == {"missing_in_supplier"}


def test_the_rerun_is_queued_only_when_the_change_commits(worker, tenant_a, reg_a1, alice, reconciled):
    worker.settle()
    with pytest.raises(RuntimeError), transaction.atomic():
        upsert(tenant_a, alice, [line(reg_a1, "INV/006")])
        raise RuntimeError("the caller's transaction fails after the upsert")
    assert len(runs(tenant_a)) == 1
    assert worker.sent == []
    with transaction.atomic():
        upsert(tenant_a, alice, [line(reg_a1, "INV/006")])
        assert len(runs(tenant_a)) == 1
        assert worker.sent == []  # not yet: the change is not committed
    assert len(runs(tenant_a)) == 2
    assert len(worker.sent) == 1


def test_a_failing_queue_never_fails_the_import_or_the_upsert(
    worker, tenant_a, reg_a1, alice, reconciled, monkeypatch, caplog
):
    queue_reruns = services.queue_reruns

    def broken(**kw):
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "queue_reruns", broken)
    with caplog.at_level(logging.ERROR, logger="reconciliation.services"):
        job = import_csv(tenant_a, alice, row(reg_a1, "INV/006", "PV-6"))
        worker.settle()
    assert (job.status, job.created) == ("done", 1)
    assert "reconciliation rerun after register import" in caplog.text
    monkeypatch.setattr(services, "queue_reruns", queue_reruns)

    def broker_down(run_id):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.run_recon_task, "delay", broker_down)
    status, body = upsert(tenant_a, alice, [line(reg_a1, "INV/011")])
    with caplog.at_level(logging.ERROR, logger="reconciliation.services"):
        worker.settle()
    assert (status, body["created"]) == (200, 1)
    assert "could not be handed to the worker" in caplog.text
    assert [r.status for r in runs(tenant_a)] == ["done", "queued"]  # kept: the next change delivers it again


def test_reruns_stay_in_their_tenant(worker, tenant_a, reg_a1, alice, reconciled, reg_b1, charlie):
    b_line = line(reg_b1, "B-1")
    with tenant_scope(reg_b1.tenant):
        membership = Membership.objects.get(tenant=reg_b1.tenant, user=charlie)
        kw = dict(tenant=reg_b1.tenant, actor=Actor.user(charlie), user=charlie, membership=membership)
        status, body = services.upsert_lines(**kw, lines=[b_line])
        assert status == 200, body["errors"]
        b_run = services.start_run(**kw, registrations=[reg_b1], date_from=OCT, date_to=OCT_END)
    execute_run(run_id=b_run.pk)
    worker.settle()
    b_before = runs(reg_b1.tenant)
    upsert(tenant_a, alice, [line(reg_a1, "INV/006")])
    services.rerun_after_change(tenant=tenant_a, registration_ids=[reg_b1.pk], reason="a smuggled id")
    (rerun,) = worker.settle()
    assert rerun.tenant_id == tenant_a.pk
    assert rerun.registration_ids == [reg_a1.pk]
    assert runs(reg_b1.tenant) == b_before
    assert services.queue_reruns(tenant=tenant_a, registration_ids=[reg_b1.pk], reason="x") == []


# --- after a sync, through the sandbox portal: sync → reconciliation → auto-action rules -------------------------

SUPPLIER = "29AAJFY9012N1ZE"  # the sandbox records' supplier (conftest.doc)


@pytest.fixture
def synced_tenant(transactional_db, sandbox):
    tenant = factories.make_tenant("Acme Sync", "acme-sync")
    owner = factories.make_user("olga")
    factories.make_member(tenant, owner, "owner")
    actor = Actor.system("tests")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=actor, gstin=RECIPIENT, legal_name="Acme"
        )
    from gst_sync.client import GstnAdapter

    with GstnAdapter(make_config(sandbox)) as portal:
        with tenant_scope(tenant):
            connect_gstin(tenant, reg, portal, actor)
        yield tenant, reg, owner, portal


def sync_b2b(tenant, reg, portal):
    with tenant_scope(tenant):
        (run,) = sync_services.queue_sync(
            tenant=tenant, actor=Actor.system("tests"), registration=reg, sections=["b2b"]
        )
    sync_services.run_sync(run.pk, adapter=portal)
    with tenant_scope(tenant):
        run.refresh_from_db()
    assert run.status == "succeeded", run.message
    return run


def test_a_sync_that_brings_a_document_reconciles_again_and_the_rules_act_on_the_result(
    worker, synced_tenant, sandbox
):
    tenant, reg, owner, portal = synced_tenant
    with tenant_scope(tenant):
        kw = dict(
            tenant=tenant,
            actor=Actor.user(owner),
            user=owner,
            membership=Membership.objects.get(tenant=tenant, user=owner),
        )
        status, body = services.upsert_lines(
            **kw,
            lines=[
                {
                    "recipient_gstin": RECIPIENT,
                    "supplier_gstin": SUPPLIER,
                    "kind": "Invoice",
                    "doc_number": "SY-1",
                    "doc_date": "15-10-2025",
                    "taxable": "50000",
                    "igst": "9000",
                    "pos": "27",
                    "erp_ref": "PV-SY-1",
                }
            ],
        )
        assert status == 200, body["errors"]
        first = services.start_run(**kw, registrations=[reg], date_from=OCT, date_to=OCT_END)
        autorules.create_rule(
            tenant=tenant,
            actor=Actor.user(owner),
            owner=owner,
            name="Accept exact",
            action="A",
            conditions=[{"type": "reconciliation", "outcomes": ["exact"]}],
        )
    execute_run(run_id=first.pk)
    worker.settle()
    assert outcome_of(tenant, first, "SY-1") == {"missing_in_supplier"}

    sandbox.seed(b2b=[doc("SY-1")])
    sync_run = sync_b2b(tenant, reg, portal)
    (rerun,) = worker.settle()
    assert rerun.actor_label == f"rerun after the sync of B2B for {RECIPIENT} (sync run #{sync_run.pk})"
    assert (rerun.registration_ids, rerun.date_from, rerun.date_to) == ([reg.pk], OCT, OCT_END)
    assert outcome_of(tenant, rerun, "SY-1") == {"exact"}
    with tenant_scope(tenant):
        assert (
            SupplierDocument.objects.get(doc_number="SY-1").local_action == "A"
        )  # the rule ran after the rerun

    sync_b2b(tenant, reg, portal)  # nothing changed on the portal: nothing to reconcile
    assert worker.settle() == []
    assert len(runs(tenant)) == 2


def test_a_sync_of_a_never_reconciled_gstin_queues_no_run(worker, synced_tenant, sandbox):
    tenant, reg, _owner, portal = synced_tenant
    sandbox.seed(b2b=[doc("NR-1")])
    sync_b2b(tenant, reg, portal)
    assert worker.settle() == []
    assert runs(tenant) == []

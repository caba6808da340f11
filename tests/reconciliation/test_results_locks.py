"""Readers of the reconciliation results never queue behind a reconciliation, and the ITC-claims refresh holds no
lock on the results while it updates documents (docs/performance.md §3.11: the "lock convoy" of four workers).

Real transactions and other connections (threads) are needed, hence ``transaction=True``."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from django.db import connection, connections

from reconciliation import services
from reconciliation.engine import execute_run
from returns import claims
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, make_doc
from tests.reconciliation.test_register_and_engine import as_alice, line, upsert

pytestmark = pytest.mark.django_db(transaction=True)
OCT = dt.date(2025, 10, 1)


def _connect() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"], user=s["USER"], host=s["HOST"], port=s["PORT"], password=s["PASSWORD"] or None
    )


def _wait_for(conn: psycopg.Connection, sql: str, what: str, limit: float = 60) -> int:
    """Poll until ``sql`` (one row, one value) answers a value; returns it."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        row = conn.execute(sql).fetchone()
        if row and row[0]:
            return row[0]
        time.sleep(0.05)
    raise AssertionError(f"never saw {what}")


def _in_thread(fn, out: dict) -> threading.Thread:
    def run():
        try:
            out["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _queued_run(tenant, reg, alice):
    make_doc(reg, doc_number="INV/1", supplier_gstin=SUPPLIER_1, twob_period=OCT, pos="29")
    upsert(tenant, alice, [line(reg, "INV/1")])
    with tenant_scope(tenant):
        return services.start_run(
            **as_alice(tenant, alice), registrations=[reg], date_from=OCT, date_to=dt.date(2025, 10, 31)
        )


def test_a_reader_of_the_results_is_not_held_up_while_a_reconciliation_waits_to_attach_them(
    tenant_a, reg_a1, alice
):
    run = _queued_run(tenant_a, reg_a1, alice)
    holder, reader, watcher = _connect(), _connect(), _connect()
    watcher.autocommit = True
    out: dict = {}
    try:
        # A long reader of the results (an export, a page) holds them while the run wants to attach its own.
        holder.execute("SELECT count(*) FROM reconciliation_reconmatch").fetchone()
        worker = _in_thread(lambda: execute_run(run_id=run.pk), out)
        _wait_for(
            watcher,
            # The ATTACH runs in the owner's function under the wall (docs/decisions/0013), directly without it.
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND (query LIKE '%ATTACH PARTITION%' OR query LIKE '%ims_recon_partition(''attach''%')",
            "the reconciliation waiting to attach its results",
        )
        # Another reader comes meanwhile: it is served, not queued behind the waiting ATTACH until the long
        # reader ends (it would wait the whole 5 s and fail).
        reader.execute("SET lock_timeout = '5s'")
        assert reader.execute("SELECT count(*) FROM reconciliation_reconmatch").fetchone()[0] == 0
        reader.rollback()
        holder.rollback()  # the long reader ends: the run attaches and finishes
        worker.join(120)
        assert "error" not in out, out.get("error")
        assert out["result"].status == "done"
        assert reader.execute(
            "SELECT count(*) FROM reconciliation_reconmatch WHERE run_id = %s", [run.pk]
        ).fetchone()[0]
    finally:
        for conn in (holder, reader, watcher):
            conn.close()


def test_the_itc_claims_refresh_holds_no_lock_on_the_results_while_it_updates_documents(
    tenant_a, reg_a1, alice
):
    run = _queued_run(tenant_a, reg_a1, alice)
    execute_run(run_id=run.pk)  # results to read the bookings from
    with connection.cursor() as cur:  # as before any refresh: the period is to be written
        cur.execute(
            "UPDATE invoices_supplierdocument SET itc_claim_period = NULL WHERE registration_id = %s",
            [reg_a1.pk],
        )
    blocker, watcher = _connect(), _connect()
    watcher.autocommit = True
    out: dict = {}
    try:
        # Another transaction holds the document's row: the refresh's UPDATE waits there, mid-transaction.
        blocker.execute(
            "SELECT id FROM invoices_supplierdocument WHERE registration_id = %s FOR UPDATE", [reg_a1.pk]
        )

        def refresh():
            with tenant_scope(tenant_a):
                return claims.refresh_claim_periods(registration=reg_a1, today=dt.date(2025, 11, 20))

        worker = _in_thread(refresh, out)
        pid = _wait_for(
            watcher,
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%SET itc_claim_period = c.claim%'",
            "the claims refresh waiting on the document's row",
        )
        held = watcher.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = %s AND c.relname LIKE 'reconciliation_reconmatch%%'",
            [pid],
        ).fetchall()
        assert held == []  # the bookings were read, and let go, before the update began
        blocker.rollback()
        worker.join(60)
        assert "error" not in out, out.get("error")
        assert out["result"] >= 1
    finally:
        blocker.close()
        watcher.close()

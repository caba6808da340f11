"""Ingest throughput: BENCH_DOCS (default 1,000,000) generated GETINV documents loaded through
``ingest_documents`` in batches of BENCH_BATCH (default 50,000, what a sync would pass), into an empty database.
Prints documents/s with an audit event per created document (the product's behaviour), and the same path with
per-row audit events for created documents switched off (the summary event only) for comparison.
Target: >= 50,000 documents/s at 1,000,000 documents.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_load.py

Each mode runs in its own process on a freshly created ``<bench database>_load`` database.
BENCH_LOAD_MODES=audit,no_audit chooses the modes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
BATCH = int(os.environ.get("BENCH_BATCH", "50000"))
PERIODS = ["042025", "052025", "062025", "072025", "082025", "092025", "102025", "112025", "122025", "012026",
           "022026", "032026"]


def _load_url() -> str:
    from bench.common import DEFAULT_URL

    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    head, _, name = base.rpartition("/")
    return f"{head}/{name.split('?')[0]}_load"


def run_mode(mode: str) -> None:
    from bench.common import configure, recreate_database

    url = _load_url()
    recreate_database(url)
    configure(url)
    from django.db import connection

    from audit.services import Actor
    from invoices.domain.gstin import make_gstin
    from invoices.generator import batches, supplier_names
    from invoices.services.ingest import ingest_documents
    from tenancy import services
    from tenancy.scoping import tenant_scope

    actor = Actor.system("bench")
    tenant = services.create_tenant(name="Load Bench", slug="load", actor=actor)
    with tenant_scope(tenant):
        reg = services.add_registration(tenant=tenant, actor=actor, gstin=make_gstin("27", "AABCL1234M"),
                                        legal_name="Load Bench Ltd")
    args = {"seed": 42, "recipient_gstin": reg.gstin, "n_suppliers": 5000}
    names = supplier_names(**args)
    audit_created = mode == "audit"
    ingest_s = total_created = 0
    wall = time.perf_counter()
    for i, batch in enumerate(batches(**args, periods=PERIODS, n_docs=DOCS, batch_size=BATCH)):
        start = time.perf_counter()
        result = ingest_documents(tenant=tenant, registration=reg, records=batch, actor=actor, source="bench",
                                  supplier_names=names, audit_created=audit_created)
        took = time.perf_counter() - start
        ingest_s += took
        total_created += result.created
        if result.errors:
            raise SystemExit(f"bad records: {result.errors[:3]}")
        if i % 5 == 4:
            print(f"    {mode}: {total_created:>9,} documents, last batch {BATCH / took:,.0f} docs/s", flush=True)
    wall = time.perf_counter() - wall
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM invoices_supplierdocument")
        docs = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audit_auditevent WHERE tenant_id = %s", [tenant.pk])
        events = cur.fetchone()[0]
    label = "with an audit event per created document" if audit_created else "per-row audit for created OFF"
    print(f"  ingest {label}: {docs:,} documents, {events:,} audit events, "
          f"{ingest_s:.1f} s in ingest_documents -> {docs / ingest_s:,.0f} documents/s "
          f"(wall {wall:.1f} s incl. generating the records)", flush=True)


def main() -> None:
    if os.environ.get("BENCH_LOAD_MODE"):
        run_mode(os.environ["BENCH_LOAD_MODE"])
        return
    modes = os.environ.get("BENCH_LOAD_MODES", "audit,no_audit").split(",")
    print(f"bench_load: {DOCS:,} documents in batches of {BATCH:,} (target >= 50,000 documents/s)", flush=True)
    for mode in modes:
        subprocess.run([sys.executable, __file__], env={**os.environ, "BENCH_LOAD_MODE": mode}, check=True)


if __name__ == "__main__":
    main()

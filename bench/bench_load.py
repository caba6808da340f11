"""Ingest throughput: BENCH_DOCS (default 1,000,000) generated GETINV documents loaded through the bulk ingest
path (``ingest_many``: each batch of BENCH_BATCH, default 50,000, what a sync passes, in its own transaction, the
next batch generated and parsed in a second thread while the database writes) into an empty database.
Prints documents/s with an audit event per created document (the product's behaviour), and the same path with
per-row audit events for created documents switched off (the summary event only) for comparison.
Target: >= 50,000 documents/s at 1,000,000 documents.

Beside each run it prints where the time went (CPU seconds of this Python process and of its PostgreSQL backend:
on a shared machine these say more than wall time), and a reference line: the same stored rows, dumped with
``COPY … TO`` and COPYed back (no Python formatting at all) into an empty copy of the documents table with the same
indexes and foreign keys, and the audit rows into a copy of the ledger, 50,000 per transaction — the rate the
database itself allows on this machine, whatever the client does.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_load.py

Each mode runs in its own process on a freshly created ``<bench database>_load`` database.
BENCH_LOAD_MODES=audit,no_audit chooses the modes; BENCH_LOAD_REFERENCE=0 skips the reference line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
BATCH = int(os.environ.get("BENCH_BATCH", "50000"))
PERIODS = [
    "042025",
    "052025",
    "062025",
    "072025",
    "082025",
    "092025",
    "102025",
    "112025",
    "122025",
    "012026",
    "022026",
    "032026",
]


def _load_url() -> str:
    from bench.common import DEFAULT_URL

    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    head, _, name = base.rpartition("/")
    return f"{head}/{name.split('?')[0]}_load"


class _Cpu:
    """CPU seconds of this process and of the connection's PostgreSQL backend (read from /proc when the server
    runs on this machine; None otherwise)."""

    def __init__(self, cursor):
        cursor.execute("SELECT pg_backend_pid()")
        self.stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")

    def backend(self) -> float | None:
        try:
            fields = self.stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def now(self) -> tuple[float, float, float | None]:
        return time.perf_counter(), time.process_time(), self.backend()


def _split(start, end) -> str:
    wall, py, pg = (
        e - s if s is not None and e is not None else None for s, e in zip(start, end, strict=True)
    )
    pg_text = f"{pg:.1f} s" if pg is not None else "n/a (remote server)"
    return f"CPU: Python {py:.1f} s, PostgreSQL backend {pg_text}, wall {wall:.1f} s"


def run_mode(mode: str) -> None:
    from bench.common import configure, recreate_database

    url = _load_url()
    recreate_database(url)
    configure(url)
    from django.db import connection

    from audit.services import Actor
    from gst.gstin import make_gstin
    from invoices.services.ingest import ingest_many
    from tenancy import services
    from tenancy.scoping import tenant_scope
    from tools.generator import batches, supplier_names

    actor = Actor.system("bench")
    tenant = services.create_tenant(name="Load Bench", slug="load", actor=actor)
    with tenant_scope(tenant):
        reg = services.add_registration(
            tenant=tenant, actor=actor, gstin=make_gstin("27", "AABCL1234M"), legal_name="Load Bench Ltd"
        )
    args = {"seed": 42, "recipient_gstin": reg.gstin, "n_suppliers": 5000}
    names = supplier_names(**args)
    audit_created = mode == "audit"
    with connection.cursor() as cur:
        cpu = _Cpu(cur)
    total_created = 0
    start = last = cpu.now()
    results = ingest_many(
        tenant=tenant,
        registration=reg,
        actor=actor,
        source="bench",
        supplier_names=names,
        audit_created=audit_created,
        batches=batches(**args, periods=PERIODS, n_docs=DOCS, batch_size=BATCH),
    )
    for i, result in enumerate(results):
        if result.errors:
            raise SystemExit(f"bad records: {result.errors[:3]}")
        total_created += result.created
        if i % 5 == 4:
            now = cpu.now()
            print(
                f"    {mode}: {total_created:>9,} documents, last 5 batches {5 * BATCH / (now[0] - last[0]):,.0f} "
                f"docs/s",
                flush=True,
            )
            last = now
    end = cpu.now()
    took = end[0] - start[0]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM invoices_supplierdocument")
        docs = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audit_auditevent WHERE tenant_id = %s", [tenant.pk])
        events = cur.fetchone()[0]
    label = "with an audit event per created document" if audit_created else "per-row audit for created OFF"
    print(
        f"  ingest {label}: {docs:,} documents, {events:,} audit events, {took:.1f} s "
        f"(records generated and parsed in a second thread) -> {docs / took:,.0f} documents/s",
        flush=True,
    )
    print(f"    {_split(start, end)}", flush=True)
    if audit_created and os.environ.get("BENCH_LOAD_REFERENCE", "1") != "0":
        reference(cpu)


_REFERENCE_TABLES = (
    # (table, its copy, foreign keys to give the copy: (column, referenced table))
    (
        "invoices_supplierdocument",
        "bench_ref_documents",
        (
            ("tenant_id", "tenancy_tenant"),
            ("registration_id", "tenancy_registration"),
            ("original_id", "bench_ref_documents"),
        ),
    ),
    ("audit_auditevent", "bench_ref_audit", (("tenant_id", "tenancy_tenant"),)),
)


def reference(cpu: _Cpu) -> None:
    """COPY the stored rows back into empty copies of their tables (same indexes and FKs), BATCH rows per
    transaction, from files written with COPY TO: no Python touches a row."""
    from django.db import connection, transaction

    rates = []
    total_s = 0.0
    for table, copy_name, fks in _REFERENCE_TABLES:
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {copy_name}")
            cur.execute(f"CREATE TABLE {copy_name} (LIKE {table} INCLUDING ALL)")
            for column, target in fks:
                cur.execute(
                    f"ALTER TABLE {copy_name} ADD FOREIGN KEY ({column}) REFERENCES {target} (id) "
                    "DEFERRABLE INITIALLY DEFERRED"
                )
            cur.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [copy_name])
            n_indexes = cur.fetchone()[0]
        with tempfile.TemporaryDirectory() as tmp:
            chunks = []
            with connection.cursor() as cur:
                cur.execute(f"SELECT min(id), max(id) FROM {table}")
                low, high = cur.fetchone()
                rows = 0
                for first in range(low or 0, (high or -1) + 1, BATCH):
                    path = Path(tmp) / f"{len(chunks)}.copy"
                    with (
                        path.open("wb") as out,
                        cur.cursor.copy(
                            f"COPY (SELECT * FROM {table} WHERE id >= {first} AND id < {first + BATCH} ORDER BY id) "
                            "TO STDOUT"
                        ) as copy,
                    ):
                        for data in copy:
                            out.write(data)
                    chunks.append(path)
                cur.execute(f"SELECT count(*) FROM {table}")
                rows = cur.fetchone()[0]
            start = cpu.now()
            for path in chunks:
                with (
                    transaction.atomic(),
                    connection.cursor() as cur,
                    cur.cursor.copy(f"COPY {copy_name} FROM STDIN") as copy,
                ):
                    copy.write(path.read_bytes())
            end = cpu.now()
        took = end[0] - start[0]
        total_s += took
        rates.append(rows / took)
        print(
            f"  reference: {rows:,} rows COPYed from COPY TO files (no Python formatting) into an empty copy of "
            f"{table} with its {n_indexes} indexes and {len(fks)} FKs, {BATCH:,} per transaction: "
            f"{took:.1f} s -> {rows / took:,.0f} rows/s; {_split(start, end)}",
            flush=True,
        )
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE {copy_name}")
    if len(rates) == 2:
        print(
            f"  reference floor of the bulk path (documents + one audit row each, no Python): "
            f"{1 / (1 / rates[0] + 1 / rates[1]):,.0f} documents/s",
            flush=True,
        )


def main() -> None:
    if os.environ.get("BENCH_LOAD_MODE"):
        run_mode(os.environ["BENCH_LOAD_MODE"])
        return
    modes = os.environ.get("BENCH_LOAD_MODES", "audit,no_audit").split(",")
    print(
        f"bench_load: {DOCS:,} documents in batches of {BATCH:,} (target >= 50,000 documents/s)", flush=True
    )
    for mode in modes:
        subprocess.run([sys.executable, __file__], env={**os.environ, "BENCH_LOAD_MODE": mode}, check=True)


if __name__ == "__main__":
    main()

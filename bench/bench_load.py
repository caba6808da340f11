"""Ingest throughput: BENCH_DOCS (default 1,000,000) generated GETINV documents loaded through the bulk ingest
path (``ingest_many``: each batch of BENCH_BATCH, default 50,000, what a sync passes, in its own transaction, the
next batch decoded and parsed in a second thread once the batch before is in its COPY) into an empty database.
The records are generated first and written as GETINV JSON files (what a sync downloads); the clock starts at the first file,
which the IMS import's own JSON decoder reads. Prints documents/s with an audit event per created document (the
product's behaviour), and the same path with per-row audit events for created documents switched off (the summary
event only) for comparison. Target: >= 50,000 documents/s at 1,000,000 documents.

Beside the run it prints where the time went (CPU seconds of this Python process and of its PostgreSQL backend: on
a shared machine these say more than wall time) and the bare-COPY ceilings (issue #15 §2): after each batch commits,
its stored rows are dumped with ``COPY … TO``; once the ingest is timed, in the ceilings' own window, each batch's
rows are COPYed (no Python formatting at all) into three empty tables, each batch in its own transaction, and
timed. With BENCH_LOAD_CEILINGS=interleaved they are COPYed right after each batch instead, so that a changing load
weighs on both alike (for a busy machine), at the price of each side evicting the other's index pages from the
shared buffers between batches (on a quiet machine that cost the ingest 63.9 s instead of 53–56 s and the
ceiling 49.7 s instead of 45.2 s at 1,000,000). The tables:

* a copy of the documents table as it is now (indexes with their options, foreign keys, the trigger that stands for
  the registration's foreign key, fillfactor);
* a copy of the documents table as migrations invoices 0001–0012 left it ("today's layout": 12 indexes, 3
  row-by-row foreign keys), rebuilt from :data:`_OLD_LAYOUT`;
* a copy of the audit ledger (its indexes and the trigger that stands for the tenant's foreign key), for the audit
  row of each document.

It prints each ceiling, the current layout's over today's (target >= 1.5x) and the ingest over the current layout's
ceiling of documents + audit rows (target >= 0.9x), and the load average.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_load.py

Each mode runs in its own process on a freshly created ``<bench database>_load`` database.
BENCH_LOAD_MODES=audit,no_audit chooses the modes; BENCH_LOAD_REFERENCE=0 skips the ceilings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
# When the ceilings are measured: "separate" (default), in their own window after the ingest, from the batches' rows
# kept in files; "interleaved", each batch's right after the ingest's, so that load changes weigh on both alike, but
# every COPY into a copy evicts the ingest's index pages from the shared buffers (128 MB here) before its next
# batch's lookups, and the ingest's evict the copies' (docs/performance.md §2.1).
SEPARATE = os.environ.get("BENCH_LOAD_CEILINGS", "separate") != "interleaved"
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
    """CPU seconds of this process and of the connection's PostgreSQL backend, and the seconds the backend waited
    for a core while runnable (read from /proc when the server runs on this machine; None otherwise). On a loaded
    machine the wall time of a COPY is its CPU time plus that wait, which moves with the load from one batch to the
    next: the wait per CPU-second of the ingest and of the ceilings, printed side by side, says how much of a ratio
    is the machine's."""

    def __init__(self, cursor):
        cursor.execute("SELECT pg_backend_pid()")
        self.stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")

    def backend(self) -> float | None:
        try:
            fields = self.stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def waited(self) -> float | None:
        try:
            return int(self.stat.with_name("schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return None

    def now(self) -> tuple[float, float, float | None, float | None]:
        return time.perf_counter(), time.process_time(), self.backend(), self.waited()


def _per_cpu(start, end) -> float | None:
    """The backend's wait for a core per CPU-second between two readings of :meth:`_Cpu.now`."""
    if None in (start[2], start[3], end[2], end[3]) or end[2] <= start[2]:
        return None
    return (end[3] - start[3]) / (end[2] - start[2])


def _split(start, end) -> str:
    wall, py, pg = (
        e - s if s is not None and e is not None else None for s, e in zip(start[:3], end[:3], strict=True)
    )
    pg_text = f"{pg:.1f} s" if pg is not None else "n/a (remote server)"
    return f"CPU: Python {py:.1f} s, PostgreSQL backend {pg_text}, wall {wall:.1f} s"


def run_mode(mode: str) -> None:
    from bench.common import configure, recreate_database

    url = _load_url()
    recreate_database(url)
    configure(url)

    from audit.services import Actor
    from gst.gstin import make_gstin
    from tenancy import services
    from tenancy.scoping import tenant_scope
    from tools.generator import supplier_names

    actor = Actor.system("bench")
    tenant = services.create_tenant(name="Load Bench", slug="load", actor=actor)
    with tenant_scope(tenant):
        reg = services.add_registration(
            tenant=tenant, actor=actor, gstin=make_gstin("27", "AABCL1234M"), legal_name="Load Bench Ltd"
        )
    args = {"seed": 42, "recipient_gstin": reg.gstin, "n_suppliers": 5000}
    names = supplier_names(**args)
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        files = _write_batches(Path(tmp), args)
        _ingest_and_report(mode, tenant, reg, actor, names, files)


def _write_batches(folder: Path, args: dict) -> list[Path]:
    """The generated records as GETINV JSON files of BENCH_BATCH records, written before the clock starts: a sync
    ingests what it downloaded and decoded, and generating records is no part of the product's cost."""
    from tools.generator import batches

    files = []
    for i, batch in enumerate(batches(**args, periods=PERIODS, n_docs=DOCS, batch_size=BATCH)):
        path = folder / f"getinv-{i:04d}.json"
        path.write_text(json.dumps(batch, default=float))  # amounts as JSON numbers ("1234.5" → 1234.5)
        files.append(path)
    return files


def _ingest_and_report(mode: str, tenant, reg, actor, names: dict, files: list[Path]) -> None:
    from django.db import connection

    from gst_sync.files.formats import load_json
    from invoices.services.ingest import ingest_many

    audit_created = mode == "audit"
    with_ceilings = audit_created and os.environ.get("BENCH_LOAD_REFERENCE", "1") != "0"
    with connection.cursor() as cur:
        cpu = _Cpu(cur)
    ceilings = _Ceilings() if with_ceilings else None
    load_start = os.getloadavg()
    total_created = 0
    spent = [0.0, 0.0, 0.0, 0.0]  # wall, Python CPU, backend CPU and wait outside the ingest (the ceilings')
    start = cpu.now()
    last = 0.0
    results = ingest_many(
        tenant=tenant,
        registration=reg,
        actor=actor,
        source="bench",
        supplier_names=names,
        audit_created=audit_created,
        # Each file decoded as the IMS JSON import decodes an upload (amounts with decimals as Decimal), in the
        # second thread.
        batches=(load_json(path.name, path.read_bytes()) for path in files),
    )
    for i, result in enumerate(results):
        if result.errors:
            raise SystemExit(f"bad records: {result.errors[:3]}")
        total_created += result.created
        if ceilings is not None:
            before = cpu.now()
            ceilings.after_batch(replay=SEPARATE)
            after = cpu.now()
            for k in range(4):
                spent[k] += (after[k] or 0.0) - (before[k] or 0.0)
        if i % 5 == 4:
            elapsed = time.perf_counter() - start[0] - spent[0]  # ingest time only
            print(
                f"    {mode}: {total_created:>9,} documents, last 5 batches "
                f"{5 * BATCH / (elapsed - last):,.0f} docs/s",
                flush=True,
            )
            last = elapsed
    end = cpu.now()
    end = tuple(None if e is None else e - spent[k] for k, e in enumerate(end))
    took = end[0] - start[0]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM invoices_supplierdocument")
        docs = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM audit_auditevent WHERE tenant_id = %s", [tenant.pk])
        events = cur.fetchone()[0]
    label = "with an audit event per created document" if audit_created else "per-row audit for created OFF"
    print(
        f"  ingest {label}: {docs:,} documents, {events:,} audit events, {took:.1f} s "
        f"(GETINV JSON files decoded and parsed in a second thread) -> {docs / took:,.0f} documents/s",
        flush=True,
    )
    print(f"    {_split(start, end)}", flush=True)
    load_end = os.getloadavg()
    if ceilings is not None:
        if SEPARATE:
            ceilings.replay()
        ceilings.report(docs / took, _per_cpu(start, end))
    print(
        f"  load average (1 min) at start / end of the ingest: {load_start[0]:.1f} / {load_end[0]:.1f}"
        + (f", at the end of the ceilings' window: {os.getloadavg()[0]:.1f}" if ceilings and SEPARATE else "")
        + f" ({os.cpu_count()} cores)",
        flush=True,
    )


# The documents table as migrations invoices 0001–0012 left it ("today's layout" of issue #15 §2), rebuilt here so
# that its COPY ceiling is printed beside the current layout's in the same run: columns, defaults and checks as the
# current table has them (LIKE), with that layout's fillfactor, indexes and foreign keys.
_OLD_LAYOUT = (
    "CREATE TABLE {t} (LIKE invoices_supplierdocument INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 50)",
    "ALTER TABLE {t} ADD PRIMARY KEY (id)",
    "ALTER TABLE {t} ADD UNIQUE (tenant_id, registration_id, supplier_gstin, section, doc_number, fy)",
    "CREATE INDEX ON {t} (tenant_id, doc_date DESC, id DESC)",
    "CREATE INDEX ON {t} (tenant_id, registration_id, doc_date DESC, id DESC)",
    "CREATE INDEX ON {t} (tenant_id, doc_value DESC, id DESC)",
    "CREATE INDEX ON {t} (tenant_id, registration_id, doc_value DESC, id DESC)",
    "CREATE INDEX ON {t} (tenant_id, registration_id, supplier_period)",
    "CREATE INDEX ON {t} (tenant_id, supplier_gstin, doc_date DESC, id DESC)",
    "CREATE INDEX ON {t} (tenant_id, doc_number_norm)",
    "CREATE INDEX ON {t} (original_id) WHERE original_id IS NOT NULL",
    "CREATE INDEX ON {t} (tenant_id, registration_id) WHERE is_amendment AND original_id IS NULL",
    "CREATE INDEX ON {t} USING gin ((upper(doc_number::text)) gin_trgm_ops) WITH (gin_pending_list_limit = 256)",
    "ALTER TABLE {t} ADD FOREIGN KEY (tenant_id) REFERENCES tenancy_tenant (id) DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE {t} ADD FOREIGN KEY (registration_id) REFERENCES tenancy_registration (id) "
    "DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE {t} ADD FOREIGN KEY (original_id) REFERENCES {t} (id) DEFERRABLE INITIALLY DEFERRED",
)


# Triggers that stand for a foreign key, checked once per statement (migration invoices 0013: the documents'
# registration; audit 0003: the ledger's tenant): a copy gets them, so that its ceiling pays for the check as the
# row-by-row foreign keys of today's layout make that layout's ceiling pay for theirs, and as a COPY into the table
# itself would.
_CONSTRAINT_TRIGGER_FUNCTIONS = ("invoices_doc_registration_check", "audit_event_tenant_check")


def _copy_of(cur, table: str, name: str) -> list[str]:
    """DDL of an empty copy of ``table`` as it is now: columns, indexes (with their options), checks, foreign keys
    (a reference to the table itself pointing at the copy), the triggers that stand for a foreign key and the
    table's storage options. No other triggers."""
    cur.execute(
        "SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class WHERE oid = %s::regclass",
        [table],
    )
    options = cur.fetchone()[0]
    ddl = [f"CREATE TABLE {name} (LIKE {table} INCLUDING ALL){f' WITH ({options})' if options else ''}"]
    cur.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' "
        "ORDER BY conname",
        [table],
    )
    for (definition,) in cur.fetchall():
        definition = definition.replace(f"REFERENCES {table}(", f"REFERENCES {name}(")
        ddl.append(f"ALTER TABLE {name} ADD {definition}")
    cur.execute(
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = %s::regclass AND p.proname = ANY(%s) ORDER BY t.tgname",
        [table, list(_CONSTRAINT_TRIGGER_FUNCTIONS)],
    )
    for (definition,) in cur.fetchall():
        trigger, _, rest = definition.removeprefix("CREATE TRIGGER ").partition(" ")
        ddl.append(f"CREATE TRIGGER {trigger}_ceiling {rest.replace(f' ON public.{table} ', f' ON {name} ')}")
    return ddl


class _Ceiling:
    """Empty copies of a table that receive, after each ingest batch, that batch's stored rows as ``COPY … TO``
    wrote them (no Python formatting), each batch in its own transaction, timed: the rate PostgreSQL itself allows
    for the same rows into a table of the same size, measured between the ingest's batches so that the machine's
    load weighs on both alike."""

    def __init__(self, cur, label: str, table: str, ddl: list[str]):
        self.label, self.table, self.copy_name = label, table, f"bench_ceiling_{label}"
        # ``cur``: the owner's connection (_Ceilings), whose copies these are: a COPY with no wall, what the
        # ingest's COPY would be with none.
        cur.execute(f"DROP TABLE IF EXISTS {self.copy_name}")
        for statement in ddl:
            cur.execute(statement.format(t=self.copy_name))
        cur.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [self.copy_name])
        self.indexes = cur.fetchone()[0]
        # GIN indexes: their pending lists are merged at the end of each batch's transaction, as ingest does
        # (a no-op on a list that was kept short).
        cur.execute(
            "SELECT array_agg(c.oid::regclass::text) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'gin'",
            [self.copy_name],
        )
        self.gin = cur.fetchone()[0] or []
        cur.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [self.copy_name],
        )
        self.fks = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [self.copy_name],
        )
        self.checks = cur.fetchone()[0]  # the triggers standing for a foreign key (_copy_of)
        self.rows = 0
        self.wall = 0.0
        self.cpu = 0.0
        self.waited = 0.0

    def load(self, owner, cpu: _Cpu, data: bytes, rows: int) -> None:
        start = cpu.now()
        with owner.transaction(), owner.cursor() as cur:
            cur.execute(
                "SET LOCAL work_mem = '64MB'"
            )  # as ingest's transactions (transition tables in memory)
            with cur.copy(f"COPY {self.copy_name} FROM STDIN") as copy:
                copy.write(data)
            for index in self.gin:
                cur.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        end = cpu.now()
        self.rows += rows
        self.wall += end[0] - start[0]
        self.cpu += (end[2] or 0.0) - (start[2] or 0.0)
        self.waited += (end[3] or 0.0) - (start[3] or 0.0)

    @property
    def rate(self) -> float:
        return self.rows / self.wall if self.wall else 0.0

    def line(self) -> str:
        return (
            f"{self.rows:,} rows into an empty copy of {self.table} ({self.label}: {self.indexes} indexes, "
            f"{self.fks} FKs, {self.checks} checked by trigger): {self.wall:.1f} s -> {self.rate:,.0f} rows/s (PostgreSQL backend CPU {self.cpu:.1f} s)"
        )

    def drop(self, cur) -> None:
        cur.execute(f"DROP TABLE IF EXISTS {self.copy_name}")


class _Ceilings:
    """The bare-COPY ceilings of the bulk path, fed batch by batch: documents into a copy of the current table and
    into a copy of today's layout (:data:`_OLD_LAYOUT`), audit rows into a copy of the ledger."""

    def __init__(self):
        import psycopg

        from bench.common import owner_url

        # The copies and their COPYs are the owner's, on a connection of its own (the application's login may own
        # nothing: docs/decisions/0013); its backend's CPU is read as the ingest's is.
        self.owner = psycopg.connect(owner_url(os.environ["DATABASE_URL"]), autocommit=True)  # configure()d
        with self.owner.cursor() as cur:
            self.cpu = _Cpu(cur)
            self.new = _Ceiling(
                cur, "current", "invoices_supplierdocument", _copy_of(cur, "invoices_supplierdocument", "{t}")
            )
            self.old = _Ceiling(cur, "old_layout", "invoices_supplierdocument", list(_OLD_LAYOUT))
            self.audit = _Ceiling(cur, "audit", "audit_auditevent", _copy_of(cur, "audit_auditevent", "{t}"))
        self.last = {"invoices_supplierdocument": 0, "audit_auditevent": 0}
        self.batches = 0
        self.saved = tempfile.TemporaryDirectory(prefix="bench_load_ceiling_")  # the batches, for replay()
        self.pending: list[tuple[Path, int, Path, int]] = []

    def _dump(self, table: str) -> tuple[bytes, int]:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*), max(id) FROM {table} WHERE id > %s", [self.last[table]])
            rows, high = cur.fetchone()
            with cur.cursor.copy(
                f"COPY (SELECT * FROM {table} WHERE id > {int(self.last[table])} AND id <= {int(high or 0)} "
                "ORDER BY id) TO STDOUT"
            ) as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
        self.last[table] = high or self.last[table]
        return data, rows

    def after_batch(self, replay: bool = False) -> None:
        """COPY the batch just committed into each copy (the two document layouts in alternating order); with
        ``replay``, only keep its rows in files for :meth:`replay`."""
        docs, n_docs = self._dump("invoices_supplierdocument")
        events, n_events = self._dump("audit_auditevent")
        if replay:
            folder = Path(self.saved.name)
            paths = folder / f"docs-{len(self.pending)}", folder / f"events-{len(self.pending)}"
            paths[0].write_bytes(docs)
            paths[1].write_bytes(events)
            self.pending.append((paths[0], n_docs, paths[1], n_events))
            return
        self._load(docs, n_docs, events, n_events)

    def replay(self) -> None:
        """The ceilings' own window, after the ingest: each batch's rows (read from their files, so that no read of
        the documents table fills the shared buffers between the COPYs) COPYed as :meth:`after_batch` does."""
        for docs, n_docs, events, n_events in self.pending:
            self._load(docs.read_bytes(), n_docs, events.read_bytes(), n_events)
        self.saved.cleanup()

    def _load(self, docs: bytes, n_docs: int, events: bytes, n_events: int) -> None:
        pair = (self.new, self.old) if self.batches % 2 == 0 else (self.old, self.new)
        for ceiling in pair:
            ceiling.load(self.owner, self.cpu, docs, n_docs)
        self.audit.load(self.owner, self.cpu, events, n_events)
        self.batches += 1

    def report(self, ingest_rate: float, ingest_wait: float | None) -> None:

        audit = self.audit.rate
        bulk = {c: 1 / (1 / c.rate + 1 / audit) for c in (self.new, self.old)}
        print(f"  ceiling: {self.new.line()}", flush=True)
        print(f"  ceiling: {self.old.line()}", flush=True)
        print(f"  ceiling: {self.audit.line()}", flush=True)
        print(
            f"  bare-COPY ceiling of the bulk path (documents + one audit row each, no Python): current layout "
            f"{bulk[self.new]:,.0f} documents/s, today's layout {bulk[self.old]:,.0f} documents/s; "
            f"documents alone {self.new.rate:,.0f} vs {self.old.rate:,.0f} rows/s "
            f"-> current / today's layout {self.new.rate / self.old.rate:.2f}x (target >= 1.5x)",
            flush=True,
        )
        print(
            f"  ingest / ceiling of the current layout: {ingest_rate:,.0f} / {bulk[self.new]:,.0f} = "
            f"{ingest_rate / bulk[self.new]:.2f}x (target >= 0.9x); / ceiling of today's layout "
            f"{ingest_rate / bulk[self.old]:.2f}x",
            flush=True,
        )
        cpu = self.new.cpu + self.audit.cpu
        if ingest_wait is not None and cpu:
            print(
                f"  the backend's wait for a core per CPU-second: ingest {ingest_wait:.2f} s, ceiling of the current "
                f"layout {(self.new.waited + self.audit.waited) / cpu:.2f} s",
                flush=True,
            )
        with self.owner.cursor() as cur:
            for ceiling in (self.new, self.old, self.audit):
                ceiling.drop(cur)
        self.owner.close()


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

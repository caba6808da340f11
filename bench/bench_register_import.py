"""Purchase-register import benchmark: a realistic N-row register (default 200,000) as .xlsx and as CSV, imported
through the real path — ``stage_upload`` (what the page does with the upload), ``start_staged_import`` (queue)
and ``run_import`` (what the worker runs) — timed from the upload to the rows stored, with a second connection
watching the job's progress as the page's htmx poll would.

    IMPORT_N=200000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python \
        bench/bench_register_import.py

The rows go into a database of their own (``<DATABASE_URL's name>_regimport``, created and migrated if missing).
The register uses the tenant's own headings (Tally-like, mapped once, then remembered), valid GSTINs of ~3,000
suppliers in ten states, five invoice-numbering styles, 5/12/18/28 % rates split by place of supply (CGST = SGST
within the state, IGST across), cess on some 28 % lines, credit and debit notes, Indian number styles ("1,23,456.78")
in a share of the amount cells, date cells (text dates in the CSV) and one odd row in 1,000 of each kind the
validation knows: refused because it cannot be read (impossible date, amount) or imported and flagged because it
breaks a GST rule (GSTIN check character, IGST within the state, CGST across states, CGST ≠ SGST) or repeats the ERP
reference of another document. Cases: xlsx into an empty register, CSV into an empty register, and the
xlsx re-imported with every line's amounts changed (200,000 updates, each audited with its changes).
Target (issues #6, #12): ≤ 30 s for 200,000 rows, flags included.

The floor, measured in the same run: python-calamine reading every row of the same .xlsx (nothing else), plus a bare
COPY of the same lines (as stored by the import) into an empty copy of the register table with the same indexes.
The ratio is the xlsx import's time over that floor.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_URL, as_owner, configure  # noqa: E402

N = int(os.environ.get("IMPORT_N", "200000"))
SEED = 11
SLUG = "bench-import"
BAD_EVERY = 1000  # one bad row in this many, cycling through BAD_KINDS
BAD_KINDS = ("checksum", "date", "amount", "igst_intra", "cgst_inter", "cgst_ne_sgst", "duplicate_ref")
FLAGGED_KINDS = frozenset({"checksum", "igst_intra", "cgst_inter", "cgst_ne_sgst"})  # imported with a flag
HEADINGS = [
    "Company GSTIN",
    "Party GSTIN",
    "Voucher Type",
    "Supplier Invoice No",
    "Supplier Invoice Date",
    "Taxable Amount",
    "Integrated Tax",
    "Central Tax",
    "State/UT Tax",
    "Cess Amount",
    "Place of Supply",
    "Reverse Charge",
    "Voucher No",
    "Period",
    "ITC Eligible",
]
MAPPING = {
    "recipient_gstin": "Company GSTIN",
    "supplier_gstin": "Party GSTIN",
    "kind": "Voucher Type",
    "doc_number": "Supplier Invoice No",
    "doc_date": "Supplier Invoice Date",
    "taxable": "Taxable Amount",
    "igst": "Integrated Tax",
    "cgst": "Central Tax",
    "sgst": "State/UT Tax",
    "cess": "Cess Amount",
    "pos": "Place of Supply",
    "reverse_charge": "Reverse Charge",
    "erp_ref": "Voucher No",
    "period_booked": "Period",
    "itc_claimed": "ITC Eligible",
}
STATES = (
    ("27", 30),
    ("29", 14),
    ("33", 8),
    ("24", 8),
    ("07", 8),
    ("06", 6),
    ("09", 6),
    ("36", 6),
    ("19", 4),
    ("32", 4),
)
STATE_NAMES = {
    "27": "Maharashtra",
    "29": "Karnataka",
    "33": "Tamil Nadu",
    "24": "Gujarat",
    "07": "Delhi",
    "06": "Haryana",
    "09": "Uttar Pradesh",
    "36": "Telangana",
    "19": "West Bengal",
    "32": "Kerala",
}
RATES = ((Decimal(18), 55), (Decimal(12), 15), (Decimal(5), 15), (Decimal(28), 15))
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CENT = Decimal("0.01")


def indian(amount: Decimal) -> str:
    """1,23,45,678.90 — the Indian grouping of thousands, lakhs and crores."""
    sign = "-" if amount < 0 else ""
    whole, frac = f"{abs(amount):.2f}".split(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        whole = ",".join([head, *groups, tail]) if head else ",".join([*groups, tail])
    return f"{sign}{whole}.{frac}"


def suppliers(rnd: random.Random, n: int) -> list[tuple[str, int]]:
    from gst.gstin import make_gstin

    out, seen = [], set()
    states, weights = [s for s, _ in STATES], [w for _, w in STATES]
    while len(out) < n:
        pan = (
            "".join(rnd.choice(LETTERS) for _ in range(3))
            + rnd.choice("CFP")
            + rnd.choice(LETTERS)
            + f"{rnd.randrange(1, 10000):04d}"
            + rnd.choice(LETTERS)
        )
        gstin = make_gstin(rnd.choices(states, weights)[0], pan, "1" if rnd.random() < 0.9 else "2")
        if gstin not in seen:
            seen.add(gstin)
            out.append((gstin, rnd.randrange(5)))
    return out


def number(style: int, prefix: str, fy: int, n: int, kind: str) -> str:
    if kind != "Invoice":
        tag = "CN" if kind.startswith("C") else "DN"
        return (
            f"{tag}/{fy % 100:02d}-{(fy + 1) % 100:02d}/{n:04d}",
            f"{tag}-{n}",
            f"{prefix}{tag}{n:05d}",
            f"{tag}{fy % 100:02d}/{n}",
            f"{tag}-{prefix}-{n:03d}",
        )[style]
    return (
        f"INV/{fy % 100:02d}-{(fy + 1) % 100:02d}/{n:05d}",
        f"{prefix}-{n}",
        f"{fy % 100:02d}-{(fy + 1) % 100:02d}/{prefix[0]}/{n}",
        f"SI{n:07d}",
        f"GST/{prefix}/{1000 + n}",
    )[style]


def generate(n: int, recipients: list[str], *, seed: int = SEED, version: int = 1):
    """(xlsx rows, csv rows, refused rows, flagged rows) of an n-row register. Version 2 has the same ERP references and documents
    with every line's amounts changed (a re-import that updates every line)."""
    from gst.gstin import make_gstin

    rnd = random.Random(seed)
    sup = suppliers(rnd, 3000)
    prefixes = ["".join(rnd.choice(LETTERS) for _ in range(3)) for _ in sup]
    counters: dict[tuple[int, str], int] = {}
    start = dt.date(2025, 4, 1)
    xrows, crows, bad, flagged = [], [], 0, 0
    for i in range(n):
        recipient = recipients[0 if i % 10 < 6 else 1 if i % 10 < 8 else 2]
        si = rnd.randrange(len(sup))
        gstin, style = sup[si]
        x = rnd.random()
        kind = "Invoice" if x < 0.95 else "Credit Note" if x < 0.985 else "Debit Note"
        day = start + dt.timedelta(days=rnd.randrange(365))
        fy = 2025
        counters[(si, kind)] = counters.get((si, kind), 0) + 1
        num = number(style, prefixes[si], fy, counters[(si, kind)], kind)
        rate = rnd.choices([r for r, _ in RATES], [w for _, w in RATES])[0]
        taxable = (Decimal(rnd.randrange(50_000, 50_000_000)) / 100).quantize(CENT)
        if version == 2:
            taxable += Decimal("1.00")
        tax = (taxable * rate / 100).quantize(CENT)
        pos = recipient[:2]
        if gstin[:2] == pos:
            igst, cgst = Decimal("0.00"), (tax / 2).quantize(CENT)
            sgst = cgst
        else:
            igst, cgst, sgst = tax, Decimal("0.00"), Decimal("0.00")
        cess = (taxable * 12 / 100).quantize(CENT) if rate == 28 and rnd.random() < 0.2 else Decimal("0.00")
        if kind == "Credit Note" and rnd.random() < 0.5:  # some ERPs book credit notes negative
            taxable, igst, cgst, sgst, cess = -taxable, -igst, -cgst, -sgst, -cess
        ref = f"PV/25-26/{i + 1:07d}"
        period = day.replace(day=1) + dt.timedelta(days=rnd.choice([0, 0, 0, 35]))
        rcm = "Y" if rnd.random() < 0.01 else "N"
        itc = "N" if rnd.random() < 0.03 else "Y"
        pos_text = rnd.choice([pos, f"{pos}-{STATE_NAMES.get(pos, '')}", STATE_NAMES.get(pos, pos)])
        date_text = day.strftime("%d-%m-%Y")
        if i % BAD_EVERY == BAD_EVERY // 2:
            what = BAD_KINDS[(i // BAD_EVERY) % len(BAD_KINDS)]
            if what == "duplicate_ref":
                flagged += 2  # two documents under one reference: each its own line, both flagged
            elif what in FLAGGED_KINDS:
                flagged += 1
            else:
                bad += 1
            if what == "checksum":
                last = gstin[-1]
                gstin = gstin[:-1] + ("A" if last != "A" else "B")
            elif what == "date":
                day, date_text = None, "31-02-2026"
            elif what == "amount":
                taxable = None
            elif what == "igst_intra":
                gstin = make_gstin(pos, gstin[2:12], "1")
                igst, cgst, sgst = tax, Decimal("0.00"), Decimal("0.00")
            elif what == "cgst_inter":
                gstin = make_gstin("07" if pos != "07" else "24", gstin[2:12], "1")
                igst, cgst, sgst = Decimal("0.00"), (tax / 2).quantize(CENT), (tax / 2).quantize(CENT)
            elif what == "cgst_ne_sgst":
                gstin = make_gstin(pos, gstin[2:12], "1")
                igst, cgst, sgst = Decimal("0.00"), (tax / 2).quantize(CENT), (tax / 2).quantize(CENT) + 5
            elif what == "duplicate_ref":
                ref = f"PV/25-26/{i:07d}"  # the previous row's reference, on another document
        period_text = f"{period.month:02d}{period.year}"
        amounts = [taxable, igst, cgst, sgst, cess]
        # .xlsx: numbers as number cells, one in five as text in the Indian style; dates as date cells.
        xcells = [a if a is None or rnd.random() < 0.8 else indian(a) for a in amounts]
        if taxable is None:
            xcells[0] = "12,34,5x.00"
        xrows.append(
            [
                recipient,
                gstin,
                kind,
                num,
                day if day else date_text,
                *xcells,
                pos_text,
                rcm,
                ref,
                period_text,
                itc,
            ]
        )
        ccells = [
            "12,34,5x.00" if a is None else indian(a) if rnd.random() < 0.4 else f"{a:.2f}" for a in amounts
        ]
        crows.append([recipient, gstin, kind, num, date_text, *ccells, pos_text, rcm, ref, period_text, itc])
    return xrows, crows, bad, flagged


def xlsx_bytes(rows) -> bytes:
    from ims_project.xlsx import write_xlsx

    buf = io.BytesIO()
    write_xlsx(buf, sheet_name="Purchase Register", headers=HEADINGS, rows=rows)
    return buf.getvalue()


def csv_bytes(rows) -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADINGS)
    w.writerows(rows)
    return buf.getvalue().encode()


def floor(xlsx: bytes, tenant_id: int) -> tuple[float, float]:
    """(seconds for python-calamine to read every row of the .xlsx, seconds for a bare COPY of the tenant's stored
    register lines into an empty copy of the table with its indexes)."""
    from django.db import connection
    from python_calamine import CalamineWorkbook

    t = time.perf_counter()
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx)).get_sheet_by_index(0)
    rows = sum(1 for _row in sheet.iter_rows())
    read_s = time.perf_counter() - t
    assert rows == N + 1
    with connection.cursor() as cur, as_owner(cur):  # the product's COPY runs as the owner too (rls.copy_in)
        cur.execute("DROP TABLE IF EXISTS bench_register_floor")
        cur.execute("CREATE TABLE bench_register_floor (LIKE reconciliation_purchaseline INCLUDING ALL)")
        buf = io.BytesIO()
        with cur.cursor.copy(
            "COPY (SELECT * FROM reconciliation_purchaseline WHERE tenant_id = %s) TO STDOUT", [tenant_id]
        ) as copy:
            for block in copy:
                buf.write(block)
        t = time.perf_counter()
        with cur.cursor.copy("COPY bench_register_floor FROM STDIN") as copy:
            copy.write(buf.getvalue())
        copy_s = time.perf_counter() - t
        cur.execute("DROP TABLE bench_register_floor")
    return read_s, copy_s


class ProgressWatcher(threading.Thread):
    """Polls the newest import of the tenant on its own connection (as the page's htmx poll does) and keeps the
    distinct progress states it saw."""

    def __init__(self, url: str, tenant_id: int):
        super().__init__(daemon=True)
        self.url, self.tenant_id, self.seen, self.stop = url, tenant_id, [], threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT id, status, processed, total FROM reconciliation_registerimport "
                    "WHERE tenant_id = %s ORDER BY id DESC LIMIT 1",
                    [self.tenant_id],
                ).fetchone()
                if row and (not self.seen or self.seen[-1] != row):
                    self.seen.append(row)
                time.sleep(0.2)


def main() -> None:
    import logging

    logging.basicConfig(format="  %(message)s")
    logging.getLogger("reconciliation.imports").setLevel(logging.INFO)
    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_regimport"))
    configure(url)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from audit.services import Actor
    from gst.gstin import make_gstin
    from reconciliation import services
    from reconciliation.models import PurchaseLine, RegisterImport
    from tenancy import services as tenancy_services
    from tenancy.models import Membership, Registration, Tenant
    from tenancy.scoping import tenant_scope

    actor = Actor.system("bench")
    tenant = Tenant.objects.filter(slug=SLUG).first() or tenancy_services.create_tenant(
        name="Bench Import Traders", slug=SLUG, actor=actor
    )
    user = get_user_model().objects.get_or_create(username="bench-importer")[0]
    with tenant_scope(tenant):
        membership = Membership.objects.filter(tenant=tenant, user=user).first() or Membership.objects.create(
            tenant=tenant, user=user, role="owner"
        )
        recipients = []
        for state, entity in (("27", "1"), ("27", "2"), ("29", "1")):
            gstin = make_gstin(state, "AABCT4321K", entity)
            if not Registration.objects.filter(tenant=tenant, gstin=gstin).exists():
                tenancy_services.add_registration(
                    tenant=tenant, actor=actor, gstin=gstin, legal_name="Bench Import Traders Ltd"
                )
            recipients.append(gstin)
    who = {"tenant": tenant, "membership": membership}
    t = time.perf_counter()
    xrows, crows, bad, flagged = generate(N, recipients)
    xrows2, _c2, _b2, _f2 = generate(N, recipients, version=2)
    files = {"xlsx": xlsx_bytes(xrows), "csv": csv_bytes(crows), "xlsx2": xlsx_bytes(xrows2)}
    del xrows, crows, xrows2, _c2
    print(
        f"generated {N:,} rows ({bad} that cannot be read, {flagged} to be flagged) in {time.perf_counter() - t:.1f} s: "
        + ", ".join(f"{k} {len(v) / 2**20:.1f} MB" for k, v in files.items()),
        flush=True,
    )
    # The first upload confirms the tenant's own headings once; later ones use the remembered mapping.
    with tenant_scope(tenant):
        from reconciliation.models import ColumnMapping

        ColumnMapping.objects.filter(tenant=tenant).delete()

    def clear() -> None:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM reconciliation_purchaseline WHERE tenant_id = %s", [tenant.pk])
            with as_owner(cur):
                cur.execute("ANALYZE reconciliation_purchaseline")

    def run(label: str, name: str, data: bytes, *, mapping=None, expect_created=0, expect_updated=0) -> float:
        watcher = ProgressWatcher(url, tenant.pk)
        watcher.start()
        t0 = time.perf_counter()
        with tenant_scope(tenant):
            staged = services.stage_upload(**who, name=name, data=data)
            t_stage = time.perf_counter() - t0
            job = services.start_staged_import(
                **who,
                actor=Actor.user(user),
                user=user,
                token=staged.token,
                name=staged.name,
                mapping=None if staged.ready else mapping,
            )
        t_queue = time.perf_counter() - t0
        if os.environ.get("IMPORT_PROFILE"):
            import cProfile
            import pstats

            prof = cProfile.Profile()
            job = prof.runcall(services.run_import, import_id=job.pk)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        else:
            job = services.run_import(import_id=job.pk)  # what the worker runs
        seconds = time.perf_counter() - t0
        watcher.stop.set()
        watcher.join()
        with tenant_scope(tenant):
            stored = PurchaseLine.objects.filter(tenant=tenant).count()
            from audit.models import AuditEvent

            events = AuditEvent.objects.filter(
                tenant=tenant, request_id=f"register-import-{job.pk}", action__startswith="register.line_"
            ).count()
        running = sorted({p for _i, s, p, _t in watcher.seen if s == "running"})
        print(
            f"{label}: {seconds:.2f} s, {N / seconds:,.0f} rows/s (stage {t_stage:.2f} s, queue "
            f"{t_queue - t_stage:.2f} s, worker {seconds - t_queue:.2f} s) — status {job.status}, created "
            f"{job.created:,}, updated {job.updated:,}, unchanged {job.unchanged:,}, rows with errors "
            f"{job.error_count:,}, flagged {job.flagged:,}; {stored:,} lines stored; {events:,} audit events; progress seen "
            f"{len(running)} states {running[:3]}{'…' if len(running) > 3 else ''}",
            flush=True,
        )
        problems = []
        if job.status != "done":
            problems.append(f"status {job.status}: {job.message}")
        if job.error_count != bad:
            problems.append(f"{job.error_count} rows with errors, expected {bad}")
        if job.flagged != flagged:
            problems.append(f"{job.flagged} rows flagged, expected {flagged}")
        if (job.created, job.updated) != (expect_created, expect_updated):
            problems.append(
                f"created/updated {job.created}/{job.updated}, expected {expect_created}/{expect_updated}"
            )
        if events != job.created + job.updated:
            problems.append(f"{events} per-line audit events for {job.created + job.updated} lines")
        if problems:
            raise SystemExit(f"{label}: " + "; ".join(problems))
        return seconds

    good = N - bad
    clear()
    xs = run("xlsx, empty register", "register.xlsx", files["xlsx"], mapping=MAPPING, expect_created=good)
    read_s, copy_s = floor(files["xlsx"], tenant.pk)
    print(
        f"floor: calamine reading the {N:,} rows {read_s:.2f} s + bare COPY of the {good:,} lines into an empty "
        f"copy of the table {copy_s:.2f} s = {read_s + copy_s:.2f} s; the xlsx import is {xs / (read_s + copy_s):.1f}× "
        "that",
        flush=True,
    )
    clear()
    cs = run("csv, empty register", "register.csv", files["csv"], expect_created=good)
    us = run("xlsx re-import, every line changed", "register-v2.xlsx", files["xlsx2"], expect_updated=good)
    with tenant_scope(tenant):
        jobs = RegisterImport.objects.filter(tenant=tenant).count()
    print(
        f"summary ({N:,} rows): xlsx {xs:.1f} s, csv {cs:.1f} s, re-import (update) {us:.1f} s; target ≤ 30 s "
        f"({jobs} imports so far in {url.rsplit('/', 1)[-1]})"
    )


if __name__ == "__main__":
    main()

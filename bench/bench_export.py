"""Excel export speed and memory: ims_project.xlsx vs openpyxl write-only vs XlsxWriter constant_memory.

Each engine writes the same BENCH_EXPORT_ROWS (default 100,000) rows x 20 columns of realistic document data
(GSTINs, names, numbers, dates, Decimal amounts) in its own subprocess; peak memory is that process's maximum
RSS (resource.getrusage). "rows only" generates the rows without writing them: the floor under every engine.

    .venv/bin/python bench/bench_export.py            # BENCH_EXPORT_ROWS=1000000 for a million
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["rows only", "ims_project.xlsx", "openpyxl write-only", "XlsxWriter constant_memory"]
HEADERS = [
    "Supplier GSTIN",
    "Supplier name",
    "Recipient GSTIN",
    "Section",
    "Document type",
    "Document number",
    "Document date",
    "Supplier period",
    "Filing status",
    "Filing date",
    "Place of supply",
    "Document value",
    "Taxable value",
    "IGST",
    "CGST",
    "SGST",
    "Cess",
    "IMS action",
    "Remarks",
    "Last seen at",
]
STATES = ["27", "29", "24", "07", "33", "09", "19", "36"]
NAMES = [
    "Shree Ganesh Traders",
    "Bharat Steel & Alloys Pvt Ltd",
    "Om Sai Logistics",
    "Sundaram Textiles LLP",
    "Kaveri Agro Foods",
    "Metro Electricals",
    "Rajdhani Paper Mills Ltd",
    "Annapurna Packaging",
]
RATES = [Decimal(5), Decimal(12), Decimal(18), Decimal(28)]
CENT = Decimal("0.01")


def _load(module: str, path: Path):
    """Import a pure module by file path (without importing its package's Django/Celery set-up)."""
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    spec.loader.exec_module(mod)
    return mod


def rows(n: int):
    gstin = _load("gstin", ROOT / "gst" / "gstin.py")
    rnd = random.Random(42)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    suppliers = []
    for i in range(500):
        pan = (
            "".join(rnd.choices(letters, k=3)) + "C" + rnd.choice(letters) + f"{i:04d}" + rnd.choice(letters)
        )
        suppliers.append((gstin.make_gstin(rnd.choice(STATES), pan), rnd.choice(NAMES)))
    recipient = gstin.make_gstin("27", "AAACA1234A")
    styles = ["INV/{:05d}", "GST-25-26/{}", "{:06d}", "SI{:07d}", "TI/2025/{:04d}"]
    base = dt.date(2025, 4, 1)
    pool = []  # 1,000 distinct documents, varied per row below: generation stays cheap next to writing
    for i in range(1000):
        sup, name = suppliers[i % 500]
        doc_date = base + dt.timedelta(days=rnd.randrange(365))
        taxable = (Decimal(rnd.randrange(10_000, 50_000_000)) / 100).quantize(CENT)
        tax = (taxable * rnd.choice(RATES) / 100).quantize(CENT)
        intra = sup[:2] == "27"
        half = (tax / 2).quantize(CENT)
        pool.append(
            (
                sup,
                name,
                recipient,
                "b2b",
                "Invoice",
                doc_date,
                doc_date.replace(day=1),
                "Filed",
                doc_date + dt.timedelta(days=11),
                "27",
                taxable + tax,
                taxable,
                Decimal(0) if intra else tax,
                half if intra else Decimal(0),
                tax - half if intra else Decimal(0),
                Decimal(0),
                rnd.choice("AARPN"),
                "" if i % 7 else "Rate differs from PO",
            )
        )
    seen = dt.datetime(2025, 11, 1, 10, 30)
    second = dt.timedelta(seconds=1)

    def generate():
        for i in range(n):
            p = pool[i % 1000]
            yield (*p[:5], styles[i % 5].format(i), *p[5:], seen + second * i)

    return generate()


def run_engine(engine: str, n: int) -> dict:
    out = Path(tempfile.mkdtemp()) / "bench.xlsx"
    data = rows(n)
    start = time.perf_counter()
    if engine == "rows only":
        count = sum(1 for _ in data)
    elif engine == "ims_project.xlsx":
        xlsx = _load("xlsx", ROOT / "ims_project" / "xlsx.py")
        count = xlsx.write_xlsx(out, sheet_name="Documents", headers=HEADERS, rows=data)
    elif engine == "openpyxl write-only":
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("Documents")
        ws.append(HEADERS)
        count = 0
        for count, row in enumerate(data, start=1):  # noqa: B007 - count is the result
            ws.append(row)
        wb.save(out)
    elif engine == "XlsxWriter constant_memory":
        import xlsxwriter

        wb = xlsxwriter.Workbook(str(out), {"constant_memory": True, "default_date_format": "dd-mm-yyyy"})
        ws = wb.add_worksheet("Documents")
        ws.write_row(0, 0, HEADERS)
        count = 0
        for count, row in enumerate(data, start=1):
            ws.write_row(count, 0, row)
        wb.close()
    else:
        raise SystemExit(f"unknown engine {engine!r}")
    seconds = time.perf_counter() - start
    return {
        "engine": engine,
        "rows": count,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "file_mb": out.stat().st_size / 1e6 if out.exists() else 0.0,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--engine-child":
        print(json.dumps(run_engine(sys.argv[2], int(os.environ.get("BENCH_EXPORT_ROWS", "100000")))))
        return
    n = int(os.environ.get("BENCH_EXPORT_ROWS", "100000"))
    print(f"Excel export, {n:,} rows x {len(HEADERS)} columns, each engine in its own process")
    print(
        f"{'engine':<28} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12} {'file MB':>8} {'vs openpyxl':>11}"
    )
    results = []
    for engine in ENGINES:
        proc = subprocess.run(
            [sys.executable, __file__, "--engine-child", engine], capture_output=True, text=True
        )
        if proc.returncode:
            raise SystemExit(f"{engine} failed:\n{proc.stderr}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    openpyxl_rate = next(r["rows"] / r["seconds"] for r in results if r["engine"] == "openpyxl write-only")
    for r in results:
        rate = r["rows"] / r["seconds"]
        ratio = "" if r["engine"] == "rows only" else f"{rate / openpyxl_rate:.1f}x"
        print(
            f"{r['engine']:<28} {r['seconds']:>8.2f} {rate:>9,.0f} {r['peak_rss_mb']:>12.1f} "
            f"{r['file_mb']:>8.1f} {ratio:>11}"
        )


if __name__ == "__main__":
    main()

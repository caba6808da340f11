"""End-to-end IMS sync from the sandbox portal: BENCH_SYNC_DOCS (default 200,000) documents of one recipient GSTIN,
every section queued and run through ``gst_sync.services.run_sync`` with the real GSTN adapter over HTTP (token /
FILEDET large-result path, encrypted file parts), ingested into an empty bench database. Target: <= 60 s at
200,000 documents.

    .venv/bin/python bench/bench_sync.py                 # DATABASE_URL=…/ims_bench → runs on ims_bench_sync
    BENCH_SYNC_DOCS=20000 .venv/bin/python bench/bench_sync.py

The sandbox portal runs as a subprocess on a free loopback port. Prints the total seconds, documents/s, and the
split: download (GETINV + FILEDET + file parts, decrypted), seller-side GETOUTACT, and the rest (ingest in one
transaction per section, run bookkeeping). Seeding the sandbox is not timed.
Knobs: BENCH_SYNC_RECORDS_PER_FILE (records per FILEDET part, default 10,000), BENCH_SYNC_LARGE_THRESHOLD
(GETINV answers with a token above this many records, default 500).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
DOCS = int(os.environ.get("BENCH_SYNC_DOCS", "200000"))
RECORDS_PER_FILE = int(os.environ.get("BENCH_SYNC_RECORDS_PER_FILE", "10000"))
LARGE_THRESHOLD = int(os.environ.get("BENCH_SYNC_LARGE_THRESHOLD", "500"))
RECIPIENT = "27AABCS4321K1ZE"
USERNAME, OTP = "bench_api", "575757"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"  # noqa: S105 - sandbox credentials


def bench_url(suffix: str) -> str:
    """``<bench database>_<suffix>`` next to DATABASE_URL (default ims_bench), like bench_load."""
    from bench.common import DEFAULT_URL

    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    head, _, name = base.rpartition("/")
    return f"{head}/{name.split('?')[0]}_{suffix}"


@contextmanager
def sandbox_portal(timeout: float = 600):
    """The sandbox portal as a subprocess on a free loopback port; yields an httpx client on its base URL."""
    import httpx

    proc = subprocess.Popen(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "tools.sandbox_portal",
            "--port",
            "0",
            "--docs",
            "0",
            "--gstin",
            RECIPIENT,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        if "listening on" not in line:
            raise RuntimeError(f"sandbox portal did not start: {line!r}")
        with httpx.Client(base_url=line.rsplit(" ", 1)[-1].strip(), timeout=timeout) as http:
            yield http
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def keep_tasks_in_process() -> None:
    """The services enqueue Celery tasks on commit; the bench runs them itself, so nothing may reach a real
    broker (a worker there would claim ids of another database)."""
    from ims_project.celery import app

    app.conf.broker_url = "memory://localhost/"


def seed_portal(http, docs: int, *, seed: int = 7, **faults) -> dict[str, int]:
    """Generate ``docs`` documents for the recipient inside the sandbox and set its faults; returns per section."""
    counts = http.post("/__sandbox__/seed", json={"gstin": RECIPIENT, "docs": docs, "seed": seed})
    counts.raise_for_status()
    http.post(
        "/__sandbox__/faults",
        json={"large_threshold": LARGE_THRESHOLD, "records_per_file": RECORDS_PER_FILE, **faults},
    ).raise_for_status()
    return counts.json()


class Timings:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def measure(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def timed_adapter(base_url: str, timings: Timings, **overrides):
    """The real GSTN adapter for the sandbox (built from settings pointed at it, no est wait), timing downloads."""
    from django.conf import settings

    from gst_sync.client import GstnAdapter
    from gst_sync.client.factory import portal_config

    class TimedAdapter(GstnAdapter):
        def get_ims_documents(self, **kw):
            with timings.measure("download"):
                return super().get_ims_documents(**kw)

        def get_outward_actions(self, **kw):
            with timings.measure("outward"):
                return super().get_outward_actions(**kw)

    settings.IMS_GSP_BASE_URL = base_url
    settings.IMS_GSP_CLIENT_ID, settings.IMS_GSP_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    # A long read timeout: the sandbox builds a large section's encrypted files before it answers GETINV.
    return TimedAdapter(
        portal_config(base_url=base_url, seconds_per_est_minute=0.0, read_timeout=600.0, **overrides)
    )


def connected_recipient(adapter):
    """Tenant and registration of the recipient, connected to the sandbox portal with its OTP."""
    from audit.services import Actor
    from gst_sync import services
    from tenancy import services as tenancy
    from tenancy.scoping import tenant_scope

    actor = Actor.system("bench")
    tenant = tenancy.create_tenant(name="Sync Bench", slug="sync-bench", actor=actor)
    with tenant_scope(tenant):
        reg = tenancy.add_registration(
            tenant=tenant, actor=actor, gstin=RECIPIENT, legal_name="Sync Bench Ltd"
        )
        services.request_otp(tenant=tenant, actor=actor, registration=reg, username=USERNAME, adapter=adapter)
        services.connect(tenant=tenant, actor=actor, registration=reg, otp=OTP, adapter=adapter)
    return tenant, reg


def sync_all(tenant, reg, adapter, timings: Timings | None = None) -> list:
    """Queue every section and run each queued run as the worker would; returns the finished runs."""
    from audit.services import Actor
    from gst_sync import services
    from gst_sync.models import SyncRun
    from tenancy.scoping import tenant_scope

    with tenant_scope(tenant):
        runs = services.queue_sync(
            tenant=tenant, actor=Actor.system("bench"), registration=reg, trigger="api"
        )
    for run in runs:
        with timings.measure(f"run {run.section}") if timings else nullcontext():
            services.run_sync(run.pk, adapter=adapter)
    with tenant_scope(tenant):
        return list(SyncRun.objects.filter(pk__in=[r.pk for r in runs]).order_by("id"))


def main() -> None:
    from bench.common import configure, recreate_database

    url = bench_url("sync")
    recreate_database(url)
    configure(url)
    keep_tasks_in_process()
    from invoices.models import SupplierDocument
    from tenancy.scoping import tenant_scope

    print(
        f"bench_sync: {DOCS:,} documents, {RECORDS_PER_FILE:,} records per file part "
        f"(token path above {LARGE_THRESHOLD:,}); target <= 60 s at 200,000",
        flush=True,
    )
    with sandbox_portal() as http:
        start = time.perf_counter()
        counts = seed_portal(http, DOCS)
        print(
            f"  sandbox seeded in {time.perf_counter() - start:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items()),
            flush=True,
        )
        timings = Timings()
        base_url = str(http.base_url).rstrip("/")
        with timed_adapter(base_url, timings) as adapter:
            tenant, reg = connected_recipient(adapter)
            timings.seconds.clear()
            start = time.perf_counter()
            runs = sync_all(tenant, reg, adapter, timings)
            total = time.perf_counter() - start
        calls = http.get("/__sandbox__/stats").json()["by_action"]
    with tenant_scope(tenant):
        stored = SupplierDocument.objects.filter(tenant=tenant, registration=reg).count()
    failed = [f"{r.section}: {r.error_code} {r.error_message[:200]}" for r in runs if r.status != "succeeded"]
    expected = sum(counts.values())
    download, outward = timings.seconds["download"], timings.seconds["outward"]
    print(
        f"  {len(runs)} runs, {len(runs) - len(failed)} succeeded; {stored:,} documents stored of {expected:,}"
    )
    print(
        "  per section: "
        + ", ".join(
            f"{r.section} {r.counts.get('downloaded', 0):,} docs {timings.seconds[f'run {r.section}']:.1f} s"
            for r in runs
        )
    )
    print(f"  portal calls: {', '.join(f'{k} {v}' for k, v in sorted(calls.items()))}")
    print(
        f"  total {total:.1f} s -> {stored / total:,.0f} documents/s "
        f"(download {download:.1f} s, outward {outward:.1f} s, ingest and bookkeeping "
        f"{total - download - outward:.1f} s)",
        flush=True,
    )
    if failed or stored != expected:
        raise SystemExit("sync incomplete:\n  " + "\n  ".join(failed or [f"{stored} != {expected}"]))


if __name__ == "__main__":
    main()

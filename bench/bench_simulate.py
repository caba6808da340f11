"""The daily pass of a CA firm's portfolio over many workers: sync → reconciliation → GSTR-2B preview of every GSTIN,
on 1, 2 and 4 Celery worker processes over Redis, against the sandbox portal (``make simulate``).

Full scale (``SIM_SCALE=1``) is 10,000 GSTINs of realistic sizes: 9,000 small (5–200 documents), 900 medium
(300–3,000), 90 large (5,000–30,000) and 10 giants (100,000–150,000) — about 4 million documents. ``SIM_SCALE``
keeps that many of each tier (a tier with less than one GSTIN at that scale is left out and projected from the
measured documents/s). The GSTINs belong to one CA firm (60 %) and to companies of 1–3 GSTINs each (the rest), so
the firm's batch and the companies' run side by side (fair shares, ims_project/queues.py).

For each worker count: a fresh copy of the set-up database (``CREATE DATABASE … TEMPLATE``), an emptied Redis
database, N ``celery worker --pool solo`` processes consuming every queue, and one client batch per tenant
(pipeline.batches: sync all → reconcile all → 2B preview → recommended actions). The time runs from the batches'
start to the last GSTIN done. Printed per worker count: documents/s, GSTINs/hour, and the projected hours of the
whole 10,000-GSTIN pass; and beside them the ceiling: the sandbox's own serving rate (documents/s a bare client
downloads and decrypts with stored sessions, 4 threads, nothing written).

    make simulate                                   # SIM_SCALE=0.003 (29 GSTINs), workers 1, 2, 4
    SIM_SCALE=0.002 SIM_WORKERS=1,2 .venv/bin/python bench/bench_simulate.py

Knobs: SIM_SCALE (0.003), SIM_WORKERS (1,2,4), SIM_POOL (solo; ``threads`` runs SIM_THREADS, 8, tasks at once in
each worker process), SIM_ROUND_TIMEOUT (seconds per worker count, 600), SIM_REDIS_URL
(redis://127.0.0.1:6379/14 — EMPTIED before each round), DATABASE_URL (its name + ``_sim`` / ``_sim_wN`` are used).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("SIM_SCALE", "0.003"))
WORKERS = [int(w) for w in os.environ.get("SIM_WORKERS", "1,2,4").split(",") if w.strip()]
ROUND_TIMEOUT = float(os.environ.get("SIM_ROUND_TIMEOUT", "600"))
REDIS_URL = os.environ.get("SIM_REDIS_URL", "redis://127.0.0.1:6379/14")
CLIENT_ID, CLIENT_SECRET = "sim-client", "sim-secret"  # noqa: S105 - sandbox credentials
USERNAME, OTP = "sim_api", "575757"
FULL_GSTINS = 10_000
# (name, GSTINs at full scale, fewest documents, most documents)
TIERS = (
    ("small", 9_000, 5, 200),
    ("medium", 900, 300, 3_000),
    ("large", 90, 5_000, 30_000),
    ("giant", 10, 100_000, 150_000),
)
WINDOW_HOURS = 24.0  # the pass runs daily; the 14th–20th window is seven of them


def tier_sizes(scale: float) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """The (tier, documents) of each simulated GSTIN, and the GSTINs of each tier left out at this scale."""
    rng = random.Random(2026)  # noqa: S311 - test data
    sizes, left_out = [], {}
    for name, count, low, high in TIERS:
        n = int(count * scale + 1e-9)
        if n < 1:
            left_out[name] = count
            continue
        # Most GSTINs of a tier sit at its small end (a log-uniform draw).
        sizes += [(name, int(low * (high / low) ** rng.random())) for _ in range(n)]
    return sizes, left_out


def full_scale_documents() -> dict[str, float]:
    """The expected documents of each tier at full scale (log-uniform mean × GSTINs)."""
    import math

    return {name: count * (high - low) / math.log(high / low) for name, count, low, high in TIERS}


def db_url(suffix: str) -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/ims_bench"
    head, _, name = base.rpartition("/")
    return f"{head}/{name.split('?')[0]}_{suffix}"


def admin_execute(url: str, *statements: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def gstin(n: int) -> str:
    from gst.gstin import make_gstin

    state = ("27", "29", "24", "07", "33", "09")[n % 6]
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    pan = f"AA{letters[n // 240 % 24]}{letters[n // 10 % 24]}C{n % 10000:04d}{letters[n % 24]}"
    return make_gstin(state, pan)


@contextmanager
def sandbox():
    """The sandbox portal as a subprocess on a free loopback port; yields its base URL."""
    import select

    proc = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "tools.sandbox_portal", "--port", "0", "--docs", "0"]
        + ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET],
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
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def worker_env(url: str, portal_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "ims_project.settings_test",
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "IMS_GSP_BASE_URL": portal_url,
        "IMS_GSP_CLIENT_ID": CLIENT_ID,
        "IMS_GSP_CLIENT_SECRET": CLIENT_SECRET,
        "IMS_BATCH_TICK_SECONDS": "3",
        "LOG_LEVEL": "WARNING",
    }


def set_up(base: str, portal_url: str, sizes: list[tuple[str, int]]) -> None:
    """Seed the sandbox, then create the tenants, GSTINs and portal connections in the base database."""
    import httpx

    with httpx.Client(base_url=portal_url, timeout=600) as http:
        # est 0: the real portal asks a client to wait "est" minutes before fetching a large result's files, and
        # the client sleeps that long in its worker (gst_sync/client/gstn.py); here the sandbox has them at once, so
        # the figures are this product's own work (the waits are reported apart).
        http.post(
            "/__sandbox__/faults", json={"large_threshold": 500, "records_per_file": 10_000, "est_minutes": 0}
        )
        for n, (_, docs) in enumerate(sizes):
            http.post(
                "/__sandbox__/seed", json={"gstin": gstin(n), "docs": docs, "seed": n + 1}
            ).raise_for_status()

    os.environ.update(worker_env(base, portal_url))
    from bench.common import configure

    configure(base)
    from django.db import connections

    from audit.services import Actor
    from gst_sync import services as sync
    from gst_sync.client.factory import make_adapter
    from tenancy import services as tenancy
    from tenancy.scoping import tenant_scope
    from tests import factories

    actor = Actor.system("simulation")
    firm_share = int(len(sizes) * 0.6)
    owners = []
    firm = tenancy.create_tenant(name="Sharma & Associates (CA)", slug="sim-ca-firm", actor=actor)
    tenants = [firm] * firm_share
    company = None
    for n in range(firm_share, len(sizes)):
        if company is None or (n - firm_share) % 3 == 0:  # companies of up to 3 GSTINs
            company = tenancy.create_tenant(name=f"Company {n}", slug=f"sim-co-{n}", actor=actor)
        tenants.append(company)
    with make_adapter() as portal:
        for n, tenant in enumerate(tenants):
            with tenant_scope(tenant):
                reg = tenancy.add_registration(
                    tenant=tenant, actor=actor, gstin=gstin(n), legal_name=f"Client {n}"
                )
                sync.request_otp(
                    tenant=tenant, actor=actor, registration=reg, username=USERNAME, adapter=portal
                )
                sync.connect(tenant=tenant, actor=actor, registration=reg, otp=OTP, adapter=portal)
    for tenant in dict.fromkeys(tenants):
        user = factories.make_user(f"owner-{tenant.slug}")
        factories.make_member(tenant, user, "owner")
        owners.append(user.pk)
    connections.close_all()


_LOG_DIR: list[Path] = []  # the workers' log folder, made by the first round that needs one (not on import)


def log_dir() -> Path:
    if not _LOG_DIR:
        _LOG_DIR.append(Path(tempfile.mkdtemp(prefix="ims-simulate-")))
    return _LOG_DIR[0]


# Each worker process's pool: "solo" (one task at a time, the default) or "threads" (SIM_THREADS tasks at once: a
# task waiting on the per-GSTIN portal limit, or on the portal, sleeps without holding the others back).
POOL = os.environ.get("SIM_POOL", "solo")
THREADS = int(os.environ.get("SIM_THREADS", "8"))
TASK_DONE = re.compile(r"Task ([\w.]+)\[[0-9a-f-]+\] succeeded in ([0-9.]+)s")


def start_workers(n: int, env: dict) -> list[subprocess.Popen]:
    from ims_project import queues

    procs = []
    for i in range(n):
        with (log_dir() / f"w{n}-{i}.log").open("w") as log:
            procs.append(
                subprocess.Popen(  # noqa: S603 - celery from our venv
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "ims_project",
                        "worker",
                        "--pool",
                        POOL,
                        *(["--concurrency", str(THREADS)] if POOL == "threads" else []),
                        "-l",
                        "INFO",
                    ]
                    + [
                        "-Q",
                        ",".join(queues.ALL),
                        "-n",
                        f"sim{i}@%h",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return procs


def task_seconds(n: int) -> dict[str, tuple[int, float]]:
    """(tasks, seconds) per task name over the round's worker logs: where the workers' time went."""
    out: dict[str, list] = {}
    for path in log_dir().glob(f"w{n}-*.log"):
        for m in TASK_DONE.finditer(path.read_text(errors="replace")):
            entry = out.setdefault(m.group(1), [0, 0.0])
            entry[0] += 1
            entry[1] += float(m.group(2))
    return {k: (c, t) for k, (c, t) in sorted(out.items(), key=lambda kv: -kv[1][1])}


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_workers(n: int, timeout: float = 120) -> None:
    from ims_project.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= n:
            return
    raise RuntimeError(f"{n} worker(s) did not answer within {timeout:.0f} s")


def run_round(n: int, base: str, portal_url: str) -> dict:
    """Clone the base database, start ``n`` workers, run every tenant's batch; returns the figures."""
    import redis

    url = db_url(f"sim_w{n}")
    name, base_name = urlsplit(url).path.lstrip("/"), urlsplit(base).path.lstrip("/")
    admin_execute(
        url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{base_name}"',
    )
    redis.Redis.from_url(REDIS_URL).flushdb()
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    procs = start_workers(n, worker_env(url, portal_url))
    try:
        wait_for_workers(n)
        before = portal_stats(portal_url)
        figures = drive(n)
        after = portal_stats(portal_url)
        calls = {k: v - before["by_action"].get(k, 0) for k, v in after["by_action"].items()}
        figures["portal_calls"] = sum(calls.values())
        figures["calls_by_action"] = {k: v for k, v in sorted(calls.items()) if v}
        figures["too_many"] = sum(after["too_many_requests"].values()) - sum(
            before["too_many_requests"].values()
        )
        return figures
    finally:
        stop_workers(procs)
        if "figures" in locals():
            figures["tasks"] = task_seconds(n)
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = base_name
        admin_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def portal_stats(portal_url: str) -> dict:
    import httpx

    return httpx.get(f"{portal_url}/__sandbox__/stats", timeout=30).json()


class Analyzer(threading.Thread):
    """ANALYZE the round's database every 10 s, as autovacuum's auto-analyze does in production (docker-compose):
    tables filled from empty during the run otherwise keep the planner's empty-table guesses, and one ITC-claims
    refresh took 8 minutes on such a plan."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg
        from django.conf import settings

        db = settings.DATABASES["default"]
        with psycopg.connect(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], autocommit=True
        ) as conn:
            conn.execute(
                "SET lock_timeout = '500ms'"
            )  # never queue behind a job's lock (nor make others queue)
            while not self.stop.wait(10):
                try:
                    conn.execute("ANALYZE")
                except psycopg.errors.LockNotAvailable:
                    continue


def drive(n: int) -> dict:
    from audit.services import Actor
    from pipeline import batches
    from pipeline.models import ClientBatch
    from tenancy.models import Membership
    from tenancy.scoping import scopes_disabled, tenant_scope

    with scopes_disabled():
        members = list(
            Membership.objects.select_related("tenant", "user").filter(
                role="owner", tenant__slug__startswith="sim-"
            )
        )
    start = time.perf_counter()
    analyzer = (
        Analyzer()
    )  # autovacuum is off on the development machines: fresh statistics as it would keep them
    analyzer.start()
    ids = []
    for m in members:
        with tenant_scope(m.tenant):
            ids.append(
                batches.start_batch(tenant=m.tenant, actor=Actor.user(m.user), user=m.user, membership=m).pk
            )
    while True:
        with scopes_disabled():
            running = ClientBatch.objects.filter(pk__in=ids, status="running").count()
        elapsed = time.perf_counter() - start
        if not running or elapsed > ROUND_TIMEOUT:
            break
        time.sleep(1.0)
    analyzer.stop.set()
    analyzer.join()
    totals = {"gstins": 0, "finished": 0, "documents": 0, "failed": 0}
    with scopes_disabled():
        for batch in ClientBatch.objects.filter(pk__in=ids):
            p = batches.progress(batch)
            totals["gstins"] += p["gstins"]
            totals["finished"] += p["finished"]
            totals["failed"] += p["stages"]["failed"]
            totals["documents"] += p["documents"]
    return {"workers": n, "seconds": elapsed, "timed_out": bool(running), **totals}


def ceiling(portal_url: str, count: int) -> tuple[float, int]:
    """Documents/s the sandbox serves to a bare client (GETINV + file parts, decrypted; 4 threads, nothing
    written), over the same GSTINs."""
    from gst.sections import Section
    from gst_sync.client import GstnAdapter
    from gst_sync.client.factory import portal_config

    def login(n: int) -> None:
        portal.request_otp(gstin=gstin(n), username=f"{USERNAME}_c")
        portal.authenticate(gstin=gstin(n), username=f"{USERNAME}_c", otp=OTP)

    def download(n: int) -> int:
        return sum(len(portal.get_ims_documents(gstin=gstin(n), section=s.value)) for s in Section)

    with (
        GstnAdapter(portal_config()) as portal,
        ThreadPoolExecutor(4) as pool,
    ):  # no shared limit: the portal's pace
        list(pool.map(login, range(count)))  # not timed: the product syncs with stored sessions
        start = time.perf_counter()
        docs = sum(pool.map(download, range(count)))
        return docs / (time.perf_counter() - start), docs


def main() -> int:
    from bench.common import check_bench_database

    sizes, left_out = tier_sizes(SCALE)
    base = db_url("sim")
    name = urlsplit(base).path.lstrip("/")
    check_bench_database(name)
    for n in WORKERS:
        admin_execute(
            base, f'DROP DATABASE IF EXISTS "{urlsplit(db_url(f"sim_w{n}")).path.lstrip("/")}" WITH (FORCE)'
        )
    admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    full_docs = full_scale_documents()
    print(
        f"simulation at SIM_SCALE={SCALE}: {len(sizes):,} GSTINs, {sum(d for _, d in sizes):,} documents on the "
        f"portal (full scale: {FULL_GSTINS:,} GSTINs, ~{sum(full_docs.values()) / 1e6:.1f} M documents)"
        + (
            f"; left out at this scale: {', '.join(f'{c:,} {t}' for t, c in left_out.items())}"
            if left_out
            else ""
        )
        + f"; each worker process: pool {POOL}"
        + (f", {THREADS} threads" if POOL == "threads" else ""),
        flush=True,
    )
    with sandbox() as portal_url:
        t0 = time.perf_counter()
        set_up(base, portal_url, sizes)
        print(
            f"set-up (sandbox seeded, tenants, GSTINs connected by OTP): {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        ceiling_rate, ceiling_docs = ceiling(portal_url, len(sizes))
        print(
            f"ceiling: the sandbox serves {ceiling_rate:,.0f} documents/s to a bare client ({ceiling_docs:,} documents)"
        )
        rows = [run_round(n, base, portal_url) for n in WORKERS]
    sampled = {t: c for t, c, _, _ in TIERS if t not in left_out}
    sample_gstins = len(sizes)
    left_docs = sum(full_docs[t] for t in left_out)
    print()
    print(
        "workers  GSTINs done  failed  documents   seconds  documents/s  GSTINs/hour  vs ceiling  projected h (10,000)"
    )
    for r in rows:
        dps = r["documents"] / r["seconds"] if r["seconds"] else 0.0
        gph = r["finished"] / r["seconds"] * 3600 if r["seconds"] else 0.0
        # The sampled tiers scale with their GSTIN count; the tiers left out add their documents at the measured rate.
        sampled_part = (sum(sampled.values()) / sample_gstins) * r["seconds"]
        left_part = left_docs / dps if dps else 0
        projected = sampled_part + left_part
        r["parts"] = (sampled_part / 3600, left_part / 3600)
        print(
            f"{r['workers']:>7}  {r['finished']:>5}/{r['gstins']:<5}  {r['failed']:>6}  {r['documents']:>9,}  "
            f"{r['seconds']:>8.1f}  {dps:>11,.0f}  {gph:>11,.0f}  {dps / ceiling_rate:>9.2f}x  "
            f"{projected / 3600:>8.1f} h{'  (TIMED OUT)' if r['timed_out'] else ''}"
        )
    if left_out:
        for r in rows:
            print(
                f"{r['workers']} worker(s): projected = the sampled tiers {r['parts'][0]:.1f} h + the tiers left out "
                f"{r['parts'][1]:.1f} h ({left_docs / 1e6:.1f} M documents at this run's documents/s, which is "
                "small GSTINs' per-GSTIN work: an upper bound; a large GSTIN syncs thousands a second, bench_sync.py)"
            )
    for r in rows:
        print(
            f"{r['workers']} worker(s): {r['portal_calls']:,} portal calls, {r['too_many']} answered 429; "
            f"by action: {r['calls_by_action']}"
        )
        busy = sum(t for _, t in r.get("tasks", {}).values())
        print(
            f"  worker time {busy:.0f} s by task: "
            + ", ".join(
                f"{k.rsplit('.', 1)[-1]} {c}× {t:.0f} s" for k, (c, t) in list(r.get("tasks", {}).items())[:8]
            )
        )
    print(
        f"\nprojected hours: the whole 10,000-GSTIN daily pass (sync, reconciliation, 2B preview); it must fit in "
        f"{WINDOW_HOURS:.0f} h, seven times over in the 14th-20th window. Ceiling = the sandbox's own serving rate."
    )
    return 1 if any(r["timed_out"] or r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

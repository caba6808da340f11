"""Under load, and while heavy jobs run (issue #15 §3), at BENCH_DOCS (default 1,000,000) documents of the bench tenant.

1. **Load test**: locust, headless, against gunicorn on 127.0.0.1 only: LOAD_USERS (50) concurrent reviewers, each
   logged in, with 0.5–1.5 s of think time, on the list page (six filters and sorts), a document's page, the bulk
   preview of 50 documents and the API list, for LOAD_SECONDS (60). Prints requests, failures and p50/p95 per kind
   of request, beside the floor: the same number of users fetching a static file from the same server (WSGI with
   no database and no template) in the same run. Fails (exit 1) on any failed request.
2. **Interference**: the list page's p95 (one logged-in client, sequential) idle, then while a 1,000,000 ×
   1,000,000 reconciliation (bench_recon.py, RECON_N) and a 200,000-document sync (bench_sync.py, BENCH_SYNC_DOCS)
   run beside it on the same PostgreSQL, at the CPU priority the worker runs its tasks at (IMS_WORKER_NICE), and
   the ratio (target <= 2×). BENCH_INTERFERENCE=0 skips it,
   BENCH_LOAD_TEST=0 the load test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_concurrency.py
    BENCH_DOCS=100000 LOAD_SECONDS=20 RECON_N=100000 BENCH_SYNC_DOCS=20000 .venv/bin/python bench/bench_concurrency.py

GUNICORN_WORKERS (default 4) sets the server's processes; the server keeps its database connections between requests
as production does (CONN_MAX_AGE, default 60 here as in settings.py and docker-compose; the test settings the server
runs with close them after every request, which cost the load test half its throughput: docs/performance.md §3.11).
Printed beside the latencies: the server's CPU per request (its workers' user + system time over the requests
answered), a figure the other work on a shared machine does not move much. Reruns on the same database: the bench user, token and
tenant are reused; the reconciliation reuses its register (RECON_REUSE=1 unless set to 0; loaded when missing).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")

from bench import common  # noqa: E402

DOCS = int(os.environ.get("BENCH_DOCS", "1000000"))
USERS = int(os.environ.get("LOAD_USERS", "50"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
WORKERS = int(os.environ.get("GUNICORN_WORKERS", "4"))
CONN_MAX_AGE = os.environ.get("CONN_MAX_AGE", "60")
INTERFERENCE = os.environ.get("BENCH_INTERFERENCE", "1") != "0"
LOAD = os.environ.get("BENCH_LOAD_TEST", "1") != "0"
IDLE_SAMPLES = (
    200  # the idle p95 from a sample as large as the busy window's (60 made it move by half from run to run)
)
RECON_N = int(os.environ.get("RECON_N", "1000000"))
SYNC_DOCS = int(os.environ.get("BENCH_SYNC_DOCS", "200000"))
USERNAME, PASSWORD = "loadbench", "load bench pass 42"
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(tenant, regs) -> dict:
    """The bench owner (password login), an API token, and document ids to open."""
    from django.contrib.auth import get_user_model

    from audit.services import Actor
    from invoices.models import SupplierDocument
    from tenancy import services, tokens
    from tenancy.models import Membership
    from tenancy.scoping import tenant_scope

    user, _ = get_user_model().objects.get_or_create(username=USERNAME, defaults={"email": "load@bench.in"})
    user.set_password(PASSWORD)
    user.save()
    with tenant_scope(tenant):
        if not Membership.objects.filter(tenant=tenant, user=user).exists():
            services.add_member(tenant=tenant, actor=Actor.system("bench"), user=user, role="owner")
        _token, key = tokens.create_token(
            tenant=tenant, actor=Actor.system("bench"), user=user, name="load test", scopes=["read"]
        )
        ids = list(
            SupplierDocument.objects.filter(tenant=tenant).values_list("id", flat=True)[
                :: max(1, DOCS // 5000)
            ]
        )
        period = (
            SupplierDocument.objects.filter(tenant=tenant).values_list("supplier_period", flat=True).first()
        )
    return {
        "slug": tenant.slug,
        "username": USERNAME,
        "password": PASSWORD,
        "token": key,
        "ids": ids,
        "period": period.strftime("%m%Y") if hasattr(period, "strftime") else str(period),
    }


class Server:
    """gunicorn on a free loopback port, with the bench database."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ims_project.settings_test",
            "LOG_LEVEL": "WARNING",
            "CONN_MAX_AGE": CONN_MAX_AGE,
        }
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "ims_project.wsgi",
                "-w",
                str(WORKERS),
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=HERE.parent,
            env=env,
        )
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/accounts/login/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes so far (its workers and the master)."""
        import psutil

        master = psutil.Process(self.proc.pid)
        total = 0.0
        for proc in [master, *master.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def stop(self):
        """Graceful stop; a worker still busy after 30 s (a slow request on a loaded machine) is killed, so the
        script never fails on its way out."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            import psutil

            for proc in [*psutil.Process(self.proc.pid).children(recursive=True), self.proc]:
                proc.kill()
            self.proc.wait(30)


def _locust(server: Server, params_file: str, user_class: str, out: str) -> list[dict]:
    env = {**os.environ, "LOAD_PARAMS": params_file}
    subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            str(HERE / "load" / "locustfile.py"),
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(max(1, USERS // 2)),
            "-t",
            f"{SECONDS}s",
            "--host",
            server.url,
            "--csv",
            out,
            "--only-summary",
            "--stop-timeout",
            "5",
            "--loglevel",
            "WARNING",
            user_class,
        ],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # its summary table: the figures are printed below
    )
    with open(f"{out}_stats.csv") as fh:
        return [row for row in csv.DictReader(fh) if row["Name"] != "Aggregated"]


def load_test(server: Server, params_file: str, tmp: str) -> int:
    cpu0 = server.cpu_seconds()
    floor = _locust(server, params_file, "Floor", f"{tmp}/floor")
    cpu1 = server.cpu_seconds()
    rows = _locust(server, params_file, "Reviewer", f"{tmp}/load")
    cpu2 = server.cpu_seconds()
    floor_p95 = float(floor[0]["95%"]) if floor else float("nan")
    print(
        f"[load] {USERS} users, {SECONDS} s each run, gunicorn {WORKERS} workers, CONN_MAX_AGE {CONN_MAX_AGE}, "
        f"{DOCS:,} documents",
        flush=True,
    )
    print(f"[load] {'request':<28} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7}  p95 / floor")
    failures = 0
    for row in floor + rows:
        fails = int(row["Failure Count"])
        failures += fails if row not in floor else 0
        ratio = float(row["95%"]) / floor_p95 if floor_p95 else float("nan")
        print(
            f"[load] {row['Name']:<28} {int(row['Request Count']):>7,} {fails:>5} {float(row['50%']):>7.0f} "
            f"{float(row['95%']):>7.0f}  {ratio:.1f}×"
        )
    answered = sum(int(r["Request Count"]) for r in rows)
    floor_n = sum(int(r["Request Count"]) for r in floor)
    print(
        f"[load] throughput {answered / SECONDS:.1f} requests/s (floor {floor_n / SECONDS:.1f}); server CPU "
        f"{(cpu2 - cpu1) * 1000 / max(answered, 1):.0f} ms a request (floor {(cpu1 - cpu0) * 1000 / max(floor_n, 1):.1f} ms)"
    )
    print(f"[load] errors: {failures}")
    return failures


def _list_sampler(server: Server, params: dict):
    import httpx

    client = httpx.Client(base_url=server.url, timeout=60)
    client.get("/accounts/login/")
    client.post(
        "/accounts/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
    )
    url = f"/t/{params['slug']}/documents/"

    def sample() -> float:
        start = time.perf_counter()
        answer = client.get(url)
        answer.raise_for_status()
        return (time.perf_counter() - start) * 1000

    return sample


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def interference(server: Server, params: dict) -> None:
    sample = _list_sampler(server, params)
    for _ in range(5):
        sample()
    idle = [sample() for _ in range(IDLE_SAMPLES)]
    from django.conf import settings

    # The jobs run as the worker runs its tasks (BENCH_AS_WORKER): at its CPU priority (IMS_WORKER_NICE), their
    # database sessions too where the server has the prioritize extension (ims_project.priority).
    # RECON_REUSE: the register an earlier bench_recon loaded is kept (loaded first when it is not there), so that the
    # busy window is the reconciliation itself, not the generation and import of its register.
    env = {
        **os.environ,
        "RECON_N": str(RECON_N),
        "RECON_REUSE": os.environ.get("RECON_REUSE", "1"),
        "BENCH_SYNC_DOCS": str(SYNC_DOCS),
        "BENCH_AS_WORKER": "1",
    }
    logs = tempfile.mkdtemp(prefix="ims-interference-")
    started = time.perf_counter()
    jobs = [
        subprocess.Popen(
            [sys.executable, str(HERE / name)],
            cwd=HERE.parent,
            env=env,
            stdout=open(f"{logs}/{name}.log", "w"),  # noqa: SIM115 - the child process holds it
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as make run starts the worker: a session, hence a scheduling group, of its own
        )
        for name in ("bench_recon.py", "bench_sync.py")
    ]
    busy = []
    while any(j.poll() is None for j in jobs):
        busy.append(sample())
        time.sleep(0.2)
    took = time.perf_counter() - started
    codes = [j.returncode for j in jobs]
    p95_idle, p95_busy = _p95(idle), _p95(busy)
    print(
        f"[interference] list page idle: p50 {statistics.median(idle):.0f} ms, p95 {p95_idle:.0f} ms "
        f"({len(idle)} samples)"
    )
    print(
        f"[interference] while a {RECON_N:,} × {RECON_N:,} reconciliation and a {SYNC_DOCS:,}-document sync ran "
        f"(at the worker's nice {settings.IMS_WORKER_NICE}) "
        f"({took:.0f} s, exits {codes}, logs in {logs}): p50 {statistics.median(busy):.0f} ms, p95 {p95_busy:.0f} ms "
        f"({len(busy)} samples)"
    )
    from django.db import connection

    from ims_project import priority

    with connection.cursor() as cur:
        lowered = priority.session_state(cur)["nice"] is not None  # None: no prioritize extension
    print(
        "[interference] the jobs' database sessions: "
        + (
            f"at nice {settings.IMS_WORKER_NICE} (prioritize extension)"
            if lowered and settings.IMS_WORKER_NICE > 0
            else "at the page's priority (no prioritize extension on the server)"
        )
    )
    print(f"[interference] p95 busy / idle: {p95_busy / p95_idle:.2f}× (target <= 2×)")


def main() -> int:
    common.configure()
    tenant, regs = common.ensure_documents(DOCS)
    params = _prepare(tenant, regs)
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp:
        params_file = f"{tmp}/params.json"
        Path(params_file).write_text(json.dumps(params))
        server = Server()
        try:
            failures = load_test(server, params_file, tmp) if LOAD else 0
            if INTERFERENCE:
                interference(server, params)
        finally:
            server.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

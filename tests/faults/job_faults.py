"""docs/reliability.md R5–R7 under real faults, bounded, for every kind of background job (issue #13 §3).

Two Celery worker processes take ``--jobs`` jobs round-robin over ``--tenants`` tenants from a Redis this script
starts on a port of its own: bulk-action runs, exports and 2B preview rebuilds, portal syncs and pushes (against
the sandbox portal, tools/sandbox_portal, over HTTP), register imports and reconciliation runs (and the reruns an
import queues); one job of every kind per tenant is queued at the start, just before the kill and just before Redis
stops, so every kind is in flight at each fault. One worker is killed with SIGKILL mid-job, Redis is stopped for
``--redis-down`` seconds (its queue lost with it: no persistence), and every job is delivered twice. The sweeps of celery beat's schedule (one per kind of job,
``ims_project.leases.sweep``) run every ``--sweep-every`` seconds instead of every few minutes.

Passes when every job is done exactly once in effect (each document changed and audited once and one summary per
bulk run; one file and one completion event per export; one snapshot per rebuild; one completion event per sync,
each portal document created once; one completion event per push batch, each action on the portal and audited once,
no batch sent twice; one completion event per import, each register line created once; one completion event per
reconciliation), none is left queued or running, jobs of every kind were in flight at each fault, and no tenant is
starved (each has at least half its share done when half of all jobs are done). Prints the figures (jobs by kind,
faults injected and survived, stuck jobs, effects applied twice) and exits 1 when a check fails.

    DATABASE_URL=postgres://…/<a migrated scratch database> python -m tests.faults.job_faults --jobs 1000

The database must be the run's alone: the sweeps, as in production, hand every stale job of the database to this
run's workers, so two runs on one database take each other's jobs (an export then writes its file into the other
run's folder).

``tests/ims_project/test_jobs_under_faults.py`` runs it against the test database (``make faults``, in CI after
``make test``); ``make probe`` runs it too and prints its figures. ``JOB_FAULTS_LOGS=<folder>`` keeps each worker's
log there (with ``JOB_FAULTS_LOGLEVEL=INFO``) and, when jobs are left stuck, the Redis keys and clients and every
worker thread's stack; ``JOB_FAULTS_KEEP=1`` keeps the run's folder (exports, Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = "summary: "  # the line that carries the figures as JSON


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of this script's own, without persistence: stopping it loses what it held."""

    def __init__(self, port: int, folder: Path):
        self.port, self.folder, self.proc = port, folder, None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - the redis-server binary, our arguments
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class Sandbox:
    """The sandbox portal (tools/sandbox_portal) on a port of its own: syncs and pushes talk to it over HTTP."""

    CLIENT_ID, CLIENT_SECRET = "faults-client", "faults-secret"

    def __init__(self):
        self.proc = subprocess.Popen(  # noqa: S603 - our interpreter and module
            [sys.executable, "-m", "tools.sandbox_portal", "--port", "0", "--docs", "0"]
            + ["--client-id", self.CLIENT_ID, "--client-secret", self.CLIENT_SECRET],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.proc.stdout.readline()  # "... listening on http://127.0.0.1:<port>"
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"the sandbox portal did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[-1].strip()

    def post(self, name: str, body: dict) -> dict:
        import httpx

        response = httpx.post(f"{self.url}/__sandbox__/{name}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        import httpx

        return httpx.get(f"{self.url}/__sandbox__/stats", timeout=30).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc.stdout.close()


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--tenants", type=int, default=5)
    p.add_argument("--lease", type=int, default=20, help="IMS_SYNC_LEASE_SECONDS of this run")
    p.add_argument("--sweep-every", type=float, default=5.0)
    p.add_argument("--redis-down", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=900.0, help="give up (and fail) after this many seconds")
    return p.parse_args()


def main() -> int:
    args = parse()
    folder = Path(tempfile.mkdtemp(prefix="job-faults-"))
    redis = Redis(free_port(), folder)
    redis.start()
    portal = Sandbox()
    os.environ.update(
        REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
        IMS_GSP_BASE_URL=portal.url,
        IMS_GSP_CLIENT_ID=Sandbox.CLIENT_ID,
        IMS_GSP_CLIENT_SECRET=Sandbox.CLIENT_SECRET,
        IMS_SYNC_LEASE_SECONDS=str(args.lease),
        IMS_BULK_ACTION_SYNC_MAX="0",  # every bulk action goes to a worker
        EXPORT_DIR=str(folder / "exports"),
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")
    workers: list[subprocess.Popen] = []
    try:
        return run(args, redis, portal, workers)
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
        redis.stop()
        portal.stop()
        if not os.environ.get("JOB_FAULTS_KEEP"):
            shutil.rmtree(folder, ignore_errors=True)


# The kinds of job (issue #13 §3): where each keeps its rows, the status it ends in when done, its active statuses.
DONE = {"sync": "succeeded"}  # every other kind ends "done"
ACTIVE = ("queued", "running", "sending", "polling")
SPECIAL = (
    "sync",
    "push",
    "import",
    "recon",
)  # only in the waves (one of every kind per tenant before each fault)
SYNC_SECTIONS = (
    "b2bcn",
    "b2bdn",
    "b2ba",
    "isd",
    "impg",
)  # one sync job per section and wave (one active each)
CSV_HEAD = (
    "Recipient GSTIN,Supplier GSTIN,Document type,Document number,Document date,Taxable value,IGST,CGST,"
    "SGST/UTGST,Cess,ERP reference,Place of supply\n"
)


def run(args, redis: Redis, portal: Sandbox, workers: list[subprocess.Popen]) -> int:  # noqa: C901, PLR0912, PLR0915 - one script, read top down
    import django

    django.setup()
    import datetime as dt

    from django.conf import settings
    from django.db import connection

    from actions import services as actions_services
    from actions.models import BulkActionRun
    from audit.models import AuditEvent
    from audit.services import Actor
    from exports import services as exports_services
    from exports.models import ExportJob
    from gst_sync import push as push_services
    from gst_sync import services as sync_services
    from gst_sync.client.factory import make_adapter
    from gst_sync.models import PushBatch, SyncRun
    from ims_project.celery import app
    from invoices.models import SupplierDocument
    from reconciliation import services as recon_services
    from reconciliation.models import PurchaseLine, ReconRun, RegisterImport
    from returns import services as returns_services
    from returns.models import PreviewRebuild, TwobPreview
    from tenancy.models import Membership
    from tenancy.scoping import scopes_disabled, tenant_scope
    from tests import factories
    from tests.documents.helpers import SUPPLIER_1, make_doc
    from tests.gst_sync.conftest import doc as portal_doc

    assert args.lease == settings.IMS_SYNC_LEASE_SECONDS
    started = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    oct_ = dt.date(2025, 10, 1)
    system = Actor.system("job-faults")
    models = {
        "bulk": BulkActionRun,
        "export": ExportJob,
        "rebuild": PreviewRebuild,
        "sync": SyncRun,
        "push": PushBatch,
        "import": RegisterImport,
        "recon": ReconRun,
    }

    # --- the tenants: a registration for bulk actions and rebuilds, one connected to the sandbox portal --------
    people = []
    for t in range(args.tenants):
        tenant = factories.make_tenant(f"Faults {t} {tag}", f"faults-{tag}-{t}")
        reg = factories.make_registration(tenant, n=9000 + t)
        gstin_reg = factories.make_registration(tenant, n=9100 + t)
        user = factories.make_user(f"faults-{tag}-{t}")
        factories.make_member(tenant, user, "owner")
        people.append((tenant, reg, gstin_reg, user, Membership.objects.get(tenant=tenant, user=user)))
    tenant_ids = [p[0].pk for p in people]
    pushed: dict[int, str] = {}  # document id -> the action pushed
    with make_adapter() as adapter:
        for t, (tenant, _reg, gstin_reg, _user, _m) in enumerate(people):
            records = {"b2b": [portal_doc(f"P{t}-{i}") for i in range(2 * 3)]}
            for s in SYNC_SECTIONS:
                records[s] = [portal_doc(f"{s.upper()}{t}-{i}", section=s) for i in range(2)]
            portal.post("seed", {"gstin": gstin_reg.gstin, "records": records})
            with tenant_scope(tenant):
                sync_services.request_otp(
                    tenant=tenant, actor=system, registration=gstin_reg, username="faults", adapter=adapter
                )
                sync_services.connect(
                    tenant=tenant, actor=system, registration=gstin_reg, otp="575757", adapter=adapter
                )
                (first,) = sync_services.queue_sync(
                    tenant=tenant, actor=system, registration=gstin_reg, sections=["b2b"]
                )
            # The documents the pushes act on, synced before the faults (the b2b sync below is no job of the run).
            sync_services.run_sync(first.pk, adapter=adapter)
    sync_sections: Counter = Counter()
    pushes: Counter = Counter()
    imports: Counter = Counter()

    def special(kind: str, t: int) -> list[int]:
        """Queue one job of ``kind`` for tenant ``t`` through the product's services; the ids of its rows."""
        tenant, _reg, gstin_reg, user, membership = people[t]
        with tenant_scope(tenant):
            if kind == "sync":
                section = SYNC_SECTIONS[sync_sections[t] % len(SYNC_SECTIONS)]
                sync_sections[t] += 1
                return [
                    r.pk
                    for r in sync_services.queue_sync(
                        tenant=tenant, actor=system, registration=gstin_reg, sections=[section], trigger="api"
                    )
                ]
            if kind == "push":
                number = f"P{t}-{pushes[t]}"
                pushes[t] += 1
                document = SupplierDocument.objects.get(registration=gstin_reg, doc_number=number)
                action = "A"
                SupplierDocument.objects.filter(pk=document.pk).update(local_action=action)
                pushed[document.pk] = action
                return [
                    b.pk
                    for b in push_services.queue_push(tenant=tenant, actor=system, registration=gstin_reg)
                ]
            if kind == "import":
                n = imports[t]
                imports[t] += 1
                rows = "".join(
                    f"{gstin_reg.gstin},{SUPPLIER_1},Invoice,R{t}-{n}-{i},05-10-2025,10000,1800,0,0,0,"
                    f"faults-{tag}-{t}-{n}-{i},29\n"
                    for i in range(3)
                )
                job = recon_services.start_import(
                    tenant=tenant,
                    actor=Actor.user(user),
                    user=user,
                    membership=membership,
                    name=f"register-{n}.csv",  # a file of its own: importing it again would replace its lines
                    data=(CSV_HEAD + rows).encode(),
                )
                return [job.pk]
            run_ = recon_services.start_run(
                tenant=tenant,
                actor=Actor.user(user),
                user=user,
                membership=membership,
                registrations=[gstin_reg],
                date_from=oct_,
                date_to=dt.date(2025, 10, 31),
            )
            return [run_.pk]

    # --- the jobs, queued through the product's services (messages into our Redis) -----------------------------
    jobs: list[tuple[str, int, int]] = []  # (kind, tenant index, job id)

    months = Counter()
    keys = iter(range(10**9))  # idempotency keys of the bulk actions

    def main_kind(kind: str, t: int) -> int:
        """Queue one bulk action, export or 2B rebuild for tenant ``t``; its row's id."""
        tenant, reg, _gstin_reg, user, membership = people[t]
        with tenant_scope(tenant):
            if kind == "bulk":
                ids = [make_doc(reg, twob_period=oct_).pk for _ in range(2)]
                return actions_services.bulk_set_action(
                    tenant=tenant,
                    actor=Actor.user(user),
                    user=user,
                    membership=membership,
                    ids=ids,
                    action="A",
                    remarks="",
                    idempotency_key=f"faults-{next(keys)}",
                ).run_id
            if kind == "export":
                return exports_services.start_export(tenant=tenant, user=user, kind="documents", params={}).pk
            period = dt.date(2020 + months[t] // 12, months[t] % 12 + 1, 1)
            months[t] += 1
            return returns_services.request_rebuild(
                tenant=tenant, actor=Actor.user(user), registration=reg, period=period
            )[0].pk

    def wave(label: str) -> Counter:
        """One job of every kind for every tenant, queued now: each kind is in flight at the fault that follows."""
        queued = Counter()
        for t in range(args.tenants):
            for kind in models:
                for pk in special(kind, t) if kind in SPECIAL else [main_kind(kind, t)]:
                    jobs.append((kind, t, pk))
                    queued[kind] += 1
        print(f"{label}: queued {dict(queued)}", flush=True)
        return queued

    kinds = ("bulk", "bulk", "export", "bulk", "rebuild", "bulk", "export", "bulk")
    for i in range(args.jobs - len(models) * args.tenants * 3):  # the rest: three waves of every kind
        t = i % args.tenants
        kind = kinds[(i // args.tenants) % len(kinds)]
        jobs.append((kind, t, main_kind(kind, t)))
    wave("before the workers start")
    task_of = {
        "bulk": actions_services.tasks.run_bulk_action_task,
        "export": exports_services.tasks.run_export_task,
        "rebuild": returns_services.tasks.rebuild_preview,
        "sync": sync_services.tasks.sync_section,
        "push": push_services.tasks.push_batch,
        "import": recon_services.tasks.run_import_task,
        "recon": recon_services.tasks.run_recon_task,
    }

    def twins(batch: list[tuple[str, int, int]]) -> None:
        for kind, _t, pk in batch:  # the same job delivered twice (R5, R6): every message has a twin
            task_of[kind].delay(pk)

    twins(jobs)
    print(
        f"queued {len(jobs)} jobs ({dict(Counter(k for k, _t, _pk in jobs))}) over {args.tenants} tenants, "
        "each delivered twice",
        flush=True,
    )

    # --- two workers on every queue these tasks are routed to ------------------------------------------------
    # (A task naming its own queue in its decorator is not in the router's table: ask the task first.)
    queues = sorted(
        {
            getattr(task, "queue", None) or app.amqp.router.route({}, task.name)["queue"].name
            for task in task_of.values()
        }
        | {"default"}  # beat's sweeps
    )

    def worker(n: int) -> subprocess.Popen:
        # Its database sessions carry a name of their own, so this script sees when it is in the middle of a job.
        url = urlsplit(os.environ["DATABASE_URL"])
        query = "&".join(filter(None, [url.query, f"application_name=faults{n}-{tag}"]))
        logs = os.environ.get("JOB_FAULTS_LOGS")
        log = open(Path(logs) / f"worker{n}.log", "ab") if logs else subprocess.DEVNULL  # noqa: SIM115
        return subprocess.Popen(  # noqa: S603 - our interpreter, Celery's own command line
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ims_project",
                "worker",
                "--pool",
                "solo",
                "-Q",
                ",".join(queues),
            ]
            + ["-n", f"faults{n}-{tag}@%h", "--without-gossip", "--without-mingle"]
            + ["-l", os.environ.get("JOB_FAULTS_LOGLEVEL", "WARNING")],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": urlunsplit(url._replace(query=query))},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches all of it
        )

    workers += [worker(0), worker(1)]
    # Beat's sweeps, as its schedule names them (every kind must have one, or a lost message leaves its job
    # stuck): run here every --sweep-every seconds instead of every few minutes.
    sweeps = sorted(
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values() if ".sweep_stale" in entry["task"]
    )

    def rows(kind: str):
        """Every row of ``kind`` in the run's tenants: the jobs queued here and those they queued in turn (an
        import of a reconciled GSTIN queues a reconciliation again)."""
        return models[kind]._base_manager.filter(tenant_id__in=tenant_ids)

    def unfinished() -> Counter:
        with scopes_disabled():
            return Counter({kind: rows(kind).filter(status__in=ACTIVE).count() for kind in models})

    def counts() -> Counter:
        with scopes_disabled():
            out = Counter()
            for kind in models:
                for status, n in Counter(rows(kind).values_list("status", flat=True)).items():
                    out["done" if status == DONE.get(kind, "done") else status] += n
        return out

    def done_jobs() -> int:
        with scopes_disabled():
            return sum(
                models[kind]
                ._base_manager.filter(
                    pk__in=[pk for k, _t, pk in jobs if k == kind],
                    status__in=[DONE.get(kind, "done"), "failed"],
                )
                .count()
                for kind in models
            )

    job_tables = [model._meta.db_table for model in models.values()]

    def in_a_job(n: int) -> bool:
        """Worker ``n`` holds a claimed job and is writing it: a session of its own is in a transaction that wrote
        to a job table (a chunk or a job's end renews its job row first and keeps that lock until it commits) and
        is neither the claim nor the heartbeat thread's renewal (which may be waiting on a row its job is about to
        finish). A plain read, or a write of a task that is no leased job, is no proof."""
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
                "JOIN pg_class c ON c.oid = l.relation WHERE a.application_name = %s "
                "AND a.backend_xid IS NOT NULL AND l.mode = 'RowExclusiveLock' AND c.relname = ANY(%s) "
                "AND a.query NOT LIKE '%%attempts + 1%%' AND a.query NOT LIKE '%%SET heartbeat_at = %%'",
                [f"faults{n}-{tag}", job_tables],
            )
            return cur.fetchone()[0] > 0

    killed = redis_stopped = mid_job = False
    at_fault: dict[str, Counter] = {}  # per fault, the jobs of each kind not finished when it struck
    swept = 0
    last_sweep = time.monotonic()
    half_time: dict[int, int] | None = None
    while True:
        done = done_jobs()
        if half_time is None and done >= len(jobs) / 2:
            half_time = done_per_tenant(jobs, models, scopes_disabled)
        if (
            done >= len(jobs) and not sum(unfinished().values())
        ) or time.monotonic() - started > args.timeout:
            break
        if not killed and done >= len(jobs) * 0.15:
            new = len(jobs)
            wave("before the kill")
            twins(jobs[new:])
            deadline = time.monotonic() + 30
            while not (mid_job := in_a_job(0)) and time.monotonic() < deadline:
                time.sleep(0.002)
            at_fault["kill"] = unfinished()
            os.killpg(workers[0].pid, signal.SIGKILL)  # R5: the whole worker, mid-job
            workers[0].wait(timeout=30)
            killed = True
            when = "mid-job" if mid_job else "between jobs"
            print(f"killed worker 0 (SIGKILL) {when} at {done} done", flush=True)
        elif killed and not redis_stopped and done >= len(jobs) * 0.4:
            new = len(jobs)
            wave("before Redis stops")
            twins(jobs[new:])
            at_fault["redis"] = unfinished()
            redis.stop()  # its queue goes with it
            print(f"stopped Redis at {done} done, for {args.redis_down:g} s", flush=True)
            time.sleep(args.redis_down)
            redis.start()
            redis_stopped = True
        if time.monotonic() - last_sweep >= args.sweep_every:
            last_sweep = time.monotonic()
            for name in sweeps:  # what celery beat has a worker do every few minutes in production
                try:
                    found = app.tasks[name]()
                    swept += sum(found.values()) if isinstance(found, dict) else found
                except Exception as exc:  # noqa: BLE001 - the broker may be away: the next sweep tries again
                    print(f"sweep failed: {type(exc).__name__}", flush=True)
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    if os.environ.get("JOB_FAULTS_LOGS") and sum(unfinished().values()):
        debug_dump(redis, Path(os.environ["JOB_FAULTS_LOGS"]), workers)

    # --- what the jobs did ------------------------------------------------------------------------------------
    failures: list[str] = []
    final = counts()
    left = unfinished()
    stuck = sum(left.values())
    ids_of = {kind: [pk for k, _t, pk in jobs if k == kind] for kind in models}

    def events(action: str, ids, object_type: str | None = None) -> Counter:
        qs = AuditEvent.objects.filter(
            tenant_id__in=tenant_ids, action=action, object_id__in=[str(i) for i in ids]
        )
        if object_type:
            qs = qs.filter(object_type=object_type)
        return Counter(qs.values_list("object_id", flat=True))

    def twice(counter: Counter) -> int:
        return sum(n - 1 for n in counter.values() if n > 1)

    dup: Counter = Counter()  # effects applied more than once, by kind
    with scopes_disabled():
        # Bulk actions: each document accepted and audited once, one summary per run.
        runs = list(BulkActionRun.objects.filter(pk__in=ids_of["bulk"]))
        doc_ids = [i for r in runs for i in r.params["ids"]]
        changed = events("ims.action_set", doc_ids, "invoices.supplierdocument")
        not_accepted = (
            SupplierDocument.objects.filter(pk__in=doc_ids)
            .exclude(local_action="A")
            .exclude(portal_action="A")
            .count()
        )
        summaries = events("ims.bulk_action", ids_of["bulk"])
        dup["bulk"] = twice(changed) + twice(summaries)
        if any(r.applied + r.already != r.total for r in runs):
            failures.append("a bulk run's counts do not add up")
        if sum(r.applied for r in runs) != len(changed) or not_accepted:
            failures.append(f"bulk effect: {len(changed)} documents audited, {not_accepted} not accepted")
        if len(summaries) != len(runs):
            failures.append(f"bulk summaries {len(summaries)}/{len(runs)}")
        # Exports: one completion event and one file each.
        completed = events("export.completed", ids_of["export"])
        files = sum(
            1 for j in ExportJob.objects.filter(pk__in=ids_of["export"]) if exports_services.job_file(j)
        )
        if files != len(ids_of["export"]) and os.environ.get("JOB_FAULTS_LOGS"):
            with open(Path(os.environ["JOB_FAULTS_LOGS"]) / "exports.txt", "w") as out:
                for j in ExportJob.objects.filter(pk__in=ids_of["export"]).order_by("pk"):
                    out.write(
                        f"{j.pk} {j.status} attempt {j.attempts} {j.file_name} {exports_services.job_file(j)}\n"
                    )
                out.writelines(f"{p}\n" for p in sorted(Path(settings.EXPORT_DIR).rglob("*")))
        dup["export"] = twice(completed)
        if len(completed) != len(ids_of["export"]) or files != len(ids_of["export"]):
            failures.append(f"exports {len(completed)} completed, {files} files, of {len(ids_of['export'])}")
        # 2B rebuilds: one snapshot per registration and period.
        rebuilds = list(PreviewRebuild.objects.filter(pk__in=ids_of["rebuild"]))
        snapshots = Counter(
            TwobPreview.objects.filter(
                registration_id__in=[p[1].pk for p in people], period__in=[r.period for r in rebuilds]
            ).values_list("registration_id", "period")
        )
        dup["rebuild"] = twice(snapshots)
        if len(snapshots) != len(rebuilds):
            failures.append(f"snapshots {len(snapshots)} for {len(rebuilds)} rebuilds")
        # Syncs: one completion event per run, each seeded document of its section created once.
        sync_runs = list(SyncRun.objects.filter(pk__in=ids_of["sync"]))
        sync_done = events("sync.run_completed", ids_of["sync"])
        gstin_regs = [p[2].pk for p in people]
        synced = SupplierDocument.objects.filter(
            registration_id__in=gstin_regs, section__in=sorted({r.section for r in sync_runs})
        )
        created = events("document.created", synced.values_list("pk", flat=True))
        dup["sync"] = twice(sync_done) + twice(created)
        if (
            len(sync_done) != len(sync_runs)
            or synced.count() != 2 * len(sync_runs)
            or len(created) != synced.count()
        ):
            failures.append(
                f"syncs: {len(sync_done)} completed of {len(sync_runs)}, {synced.count()} documents "
                f"({len(created)} created) for {2 * len(sync_runs)} seeded"
            )
        # Pushes: one completion event per batch, each action on the portal and audited once, sent once.
        push_done = events("push.completed", ids_of["push"])
        acted = events("ims.action_pushed", list(pushed), "invoices.supplierdocument")
        on_portal = dict(
            SupplierDocument.objects.filter(pk__in=list(pushed)).values_list("pk", "portal_action")
        )
        dup["push"] = twice(push_done) + twice(acted)
        saves = portal.stats()["by_action"].get("SAVE", 0)
        if len(push_done) != len(ids_of["push"]) or len(acted) != len(pushed) or on_portal != pushed:
            failures.append(
                f"pushes: {len(push_done)} completed of {len(ids_of['push'])}, {len(acted)} documents audited, "
                f"{sum(on_portal[k] == v for k, v in pushed.items())} of {len(pushed)} on the portal"
            )
        if saves > len(ids_of["push"]):
            dup["push"] += saves - len(ids_of["push"])
        # Register imports: one completion event per import, each line created once.
        imported = events("register.imported", ids_of["import"])
        lines = PurchaseLine.objects.filter(tenant_id__in=tenant_ids, erp_ref__startswith=f"faults-{tag}-")
        line_events = events("register.line_created", lines.values_list("pk", flat=True))
        dup["import"] = twice(imported) + twice(line_events)
        if (
            len(imported) != len(ids_of["import"])
            or lines.count() != 3 * len(ids_of["import"])
            or len(line_events) != lines.count()
        ):
            failures.append(
                f"imports: {len(imported)} completed of {len(ids_of['import'])}, {lines.count()} lines "
                f"({len(line_events)} audited) for {3 * len(ids_of['import'])} rows"
            )
        # Reconciliations (those queued here and those the imports queued): one completion event each.
        recon_ids = list(rows("recon").values_list("pk", flat=True))
        reconciled = events("recon.run_completed", recon_ids)
        dup["recon"] = twice(reconciled)
        if len(reconciled) != len(recon_ids):
            failures.append(f"reconciliations: {len(reconciled)} completed of {len(recon_ids)}")
        attempts: dict[str, Counter] = {
            kind: Counter(rows(kind).values_list("attempts", flat=True)) for kind in models
        }
    duplicates = sum(dup.values())
    if stuck:
        failures.append(f"{stuck} jobs left queued or running: {dict(+left)}")
    if final["failed"]:
        failures.append(f"{final['failed']} jobs failed")
    if duplicates:
        failures.append(f"{duplicates} effects applied twice: {dict(+dup)}")
    if killed and not mid_job:  # R5 is about a job cut off halfway: a kill between jobs proves less
        failures.append("the SIGKILL did not land while worker 0 was writing a job (waited 30 s)")
    for fault, name in (("kill", "the kill"), ("redis", "the Redis stop")):
        missing = [k for k in models if not at_fault.get(fault, Counter())[k]]
        if missing:
            failures.append(f"no {', '.join(missing)} job in flight at {name}")
    share = len(jobs) / args.tenants / 2
    starved = [t for t, n in (half_time or {}).items() if n < share / 2]
    if half_time is None or starved:
        failures.append(f"tenants starved at half-time: {starved}")
    taken_over = {k: sum(n for a, n in c.items() if a > 1) for k, c in attempts.items()}
    # Not a check: the kill lands while worker 0 writes a job row, but that transaction may be the job's last one
    # committing at that instant (the job then ends done and nothing needs taking over); in most runs one job is.

    by_kind = Counter(k for k, _t, _pk in jobs)
    print(
        f"jobs {len(jobs)} · workers 2 (1 killed with SIGKILL) · Redis stopped {args.redis_down:g} s · "
        f"lease {args.lease} s · {elapsed:.0f} s",
        flush=True,
    )
    print("jobs by kind " + " · ".join(f"{k} {by_kind[k]}" for k in models))
    for fault, name in (("kill", "worker killed"), ("redis", "Redis stopped")):
        print(
            f"in flight when {name}: "
            + " · ".join(f"{k} {at_fault.get(fault, Counter())[k]}" for k in models)
        )
    faults = 3 if killed and redis_stopped else 1 + killed + redis_stopped
    print(
        f"faults injected {faults} (worker SIGKILL {'mid-job' if mid_job else 'between jobs'}, Redis stopped, "
        f"every job delivered twice) · survived {faults if not failures else 0}"
    )
    print(f"done {final['done']} · failed {final['failed']} · stuck {stuck} · applied twice {duplicates}")
    print("taken over after the kill (attempt > 1) " + " · ".join(f"{k} {taken_over[k]}" for k in models))
    print(
        f"sent again by the sweep {swept} · portal SAVE calls {saves} for {len(ids_of['push'])} push batches"
    )
    print(f"done per tenant when half of all jobs were done {half_time} (fair share {share:.0f})")
    for failure in failures:
        print(f"FAIL {failure}")
    summary = {
        "jobs": len(jobs),
        "by_kind": {k: by_kind[k] for k in models},
        "faults_injected": faults,
        "faults_survived": faults if not failures else 0,
        "stuck": stuck,
        "duplicates": duplicates,
        "failed": final["failed"],
        "seconds": round(elapsed),
    }
    print(f"{SUMMARY}{json.dumps(summary)}")  # for make probe (scripts/probe.py)
    print("OK" if not failures else "FAILED", flush=True)
    return 1 if failures else 0


def debug_dump(redis: Redis, folder: Path, workers) -> None:
    import redis as redis_py

    client = redis_py.Redis(port=redis.port)
    with open(folder / "redis.txt", "w") as out:
        for info in client.client_list():
            out.write(f"{info}\n")
        for key in client.scan_iter():
            kind = client.type(key).decode()
            size = client.llen(key) if kind == "list" else client.hlen(key) if kind == "hash" else ""
            out.write(f"{key!r} {kind} {size}\n")
    for w in workers:
        if w.poll() is None:
            os.kill(
                w.pid, signal.SIGUSR1
            )  # celery's "cry" handler: every thread's stack into the worker's log
    time.sleep(3)


def done_per_tenant(jobs, models, scopes_disabled) -> dict[int, int]:
    out = Counter({t: 0 for _k, t, _pk in jobs})
    with scopes_disabled():
        for kind, model in models.items():
            done = set(
                model.objects.filter(
                    pk__in=[pk for k, _t, pk in jobs if k == kind], status=DONE.get(kind, "done")
                ).values_list("pk", flat=True)
            )
            out.update(t for k, t, pk in jobs if k == kind and pk in done)
    return dict(sorted(out.items()))


if __name__ == "__main__":
    sys.exit(main())

"""docs/reliability.md R5–R7 under real faults, bounded: two Celery worker processes take ``--jobs`` background jobs
(bulk-action runs, exports and 2B preview rebuilds, round-robin over ``--tenants`` tenants) from a Redis this script
starts on a port of its own; one worker is killed with SIGKILL mid-run, Redis is stopped for ``--redis-down``
seconds (its queue lost with it: no persistence), and every job is also delivered twice from the start. The beat
sweep of each job kind (``ims_project.leases.sweep``) runs every ``--sweep-every`` seconds, as celery beat would.

Passes when every job is done exactly once in effect (each document changed and audited once, one summary per run,
one file and one completion event per export, one snapshot per rebuild), none is left queued or running, and no
tenant is starved (each has at least half its share done when half of all jobs are done). Prints the figures and
exits 1 when a check fails.

    DATABASE_URL=postgres://…/<a migrated scratch database> python -m tests.faults.job_faults --jobs 1000

``tests/ims_project/test_jobs_under_faults.py`` runs it against the test database (slow-marked).
"""

from __future__ import annotations

import argparse
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
    os.environ.update(
        REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
        IMS_SYNC_LEASE_SECONDS=str(args.lease),
        IMS_BULK_ACTION_SYNC_MAX="0",  # every bulk action goes to a worker
        EXPORT_DIR=str(folder / "exports"),
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")
    workers: list[subprocess.Popen] = []
    try:
        return run(args, redis, workers)
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                try:
                    w.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def run(args, redis: Redis, workers: list[subprocess.Popen]) -> int:  # noqa: C901, PLR0915 - one script, read top down
    import django

    django.setup()
    import datetime as dt

    from django.conf import settings
    from django.db import connection

    from actions import services as actions_services
    from actions import tasks as actions_tasks
    from actions.models import BulkActionRun
    from audit.models import AuditEvent
    from audit.services import Actor
    from exports import services as exports_services
    from exports.models import ExportJob
    from ims_project.celery import app
    from invoices.models import SupplierDocument
    from returns import services as returns_services
    from returns.models import PreviewRebuild, TwobPreview
    from tenancy.models import Membership
    from tenancy.scoping import scopes_disabled, tenant_scope
    from tests import factories
    from tests.documents.helpers import make_doc

    assert args.lease == settings.IMS_SYNC_LEASE_SECONDS
    started = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    oct_ = dt.date(2025, 10, 1)

    # --- the tenants and the jobs, queued through the product's services (messages into our Redis) ----------
    people = []
    for t in range(args.tenants):
        tenant = factories.make_tenant(f"Faults {t} {tag}", f"faults-{tag}-{t}")
        reg = factories.make_registration(tenant, n=9000 + t)
        user = factories.make_user(f"faults-{tag}-{t}")
        factories.make_member(tenant, user, "owner")
        people.append((tenant, reg, user, Membership.objects.get(tenant=tenant, user=user)))
    jobs: list[tuple[str, int, int]] = []  # (kind, tenant index, job id)
    kinds = ("bulk", "bulk", "export", "bulk", "rebuild", "bulk", "export", "bulk")
    months = Counter()
    for i in range(args.jobs):
        t = i % args.tenants
        tenant, reg, user, membership = people[t]
        kind = kinds[(i // args.tenants) % len(kinds)]
        with tenant_scope(tenant):
            if kind == "bulk":
                ids = [make_doc(reg, twob_period=oct_).pk for _ in range(2)]
                result = actions_services.bulk_set_action(
                    tenant=tenant,
                    actor=Actor.user(user),
                    user=user,
                    membership=membership,
                    ids=ids,
                    action="A",
                    remarks="",
                    idempotency_key=f"faults-{i}",
                )
                pk = result.run_id
            elif kind == "export":
                pk = exports_services.start_export(tenant=tenant, user=user, kind="documents", params={}).pk
            else:
                period = dt.date(2020 + months[t] // 12, months[t] % 12 + 1, 1)
                months[t] += 1
                pk = returns_services.request_rebuild(
                    tenant=tenant, actor=Actor.user(user), registration=reg, period=period
                )[0].pk
        jobs.append((kind, t, pk))
    by_kind = Counter(k for k, _t, _pk in jobs)
    task_of = {
        "bulk": actions_tasks.run_bulk_action_task,
        "export": exports_services.tasks.run_export_task,
        "rebuild": returns_services.tasks.rebuild_preview,
    }
    for kind, _t, pk in jobs:  # the same job delivered twice (R5, R6): every message has a twin
        task_of[kind].delay(pk)
    print(
        f"queued {len(jobs)} jobs ({dict(by_kind)}) over {args.tenants} tenants, each delivered twice",
        flush=True,
    )

    # --- two workers on the queues these tasks are routed to --------------------------------------------------
    # (A task naming its own queue in its decorator is not in the router's table: ask the task first.)
    queues = sorted(
        {
            getattr(task, "queue", None) or app.amqp.router.route({}, task.name)["queue"].name
            for task in task_of.values()
        }
    )

    def worker(n: int) -> subprocess.Popen:
        # Its database sessions carry a name of their own, so this script sees when it is in the middle of a job.
        url = urlsplit(os.environ["DATABASE_URL"])
        query = "&".join(filter(None, [url.query, f"application_name=faults{n}-{tag}"]))
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
            + ["-n", f"faults{n}-{tag}@%h", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": urlunsplit(url._replace(query=query))},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: SIGKILL reaches all of it
        )

    workers += [worker(0), worker(1)]
    models = {"bulk": BulkActionRun, "export": ExportJob, "rebuild": PreviewRebuild}
    sweeps = (
        actions_services.requeue_stale_runs,
        exports_services.requeue_stale_jobs,
        returns_services.requeue_stale_rebuilds,
    )

    def counts() -> Counter:
        with scopes_disabled():
            out = Counter()
            for kind, model in models.items():
                ids = [pk for k, _t, pk in jobs if k == kind]
                for status, n in Counter(
                    model.objects.filter(pk__in=ids).values_list("status", flat=True)
                ).items():
                    out[status] += n
        return out

    def in_a_job(n: int) -> bool:
        """Worker ``n`` holds a claimed job and is working on it (not claiming it, not idle)."""
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND (state = 'idle in transaction' OR (state = 'active' AND query NOT LIKE '%%attempts + 1%%'))",
                [f"faults{n}-{tag}"],
            )
            return cur.fetchone()[0] > 0

    killed = redis_stopped = mid_job = False
    swept = 0
    last_sweep = time.monotonic()
    half_time: dict[int, int] | None = None
    while True:
        now = counts()
        done = now["done"] + now["failed"]
        if half_time is None and done >= len(jobs) / 2:
            half_time = done_per_tenant(jobs, models, scopes_disabled)
        if done >= len(jobs) or time.monotonic() - started > args.timeout:
            break
        if not killed and done >= len(jobs) * 0.15:
            deadline = time.monotonic() + 30
            while not (mid_job := in_a_job(0)) and time.monotonic() < deadline:
                time.sleep(0.002)
            os.killpg(workers[0].pid, signal.SIGKILL)  # R5: the whole worker, mid-job
            workers[0].wait(timeout=30)
            killed = True
            when = "mid-job" if mid_job else "between jobs"
            print(f"killed worker 0 (SIGKILL) {when} at {done} done", flush=True)
        elif killed and not redis_stopped and done >= len(jobs) * 0.4:
            redis.stop()  # its queue goes with it
            print(f"stopped Redis at {done} done, for {args.redis_down:g} s", flush=True)
            time.sleep(args.redis_down)
            redis.start()
            redis_stopped = True
        if time.monotonic() - last_sweep >= args.sweep_every:
            last_sweep = time.monotonic()
            for sweep in sweeps:  # what celery beat does every few minutes in production
                try:
                    swept += sweep()
                except Exception as exc:  # noqa: BLE001 - the broker may be away: the next sweep tries again
                    print(f"sweep failed: {type(exc).__name__}", flush=True)
        time.sleep(0.5)
    elapsed = time.monotonic() - started

    # --- what the jobs did ------------------------------------------------------------------------------------
    failures: list[str] = []
    final = counts()
    stuck = final["queued"] + final["running"]
    with scopes_disabled():
        bulk_ids = [pk for k, _t, pk in jobs if k == "bulk"]
        runs = list(BulkActionRun.objects.filter(pk__in=bulk_ids))
        doc_ids = [i for r in runs for i in r.params["ids"]]
        changed = Counter(
            AuditEvent.objects.filter(action="ims.action_set", object_type="invoices.supplierdocument")
            .filter(object_id__in=[str(i) for i in doc_ids])
            .values_list("object_id", flat=True)
        )
        not_accepted = (
            SupplierDocument.objects.filter(pk__in=doc_ids)
            .exclude(local_action="A")
            .exclude(portal_action="A")
            .count()
        )
        summaries = Counter(
            AuditEvent.objects.filter(
                action="ims.bulk_action", object_id__in=[str(i) for i in bulk_ids]
            ).values_list("object_id", flat=True)
        )
        export_ids = [pk for k, _t, pk in jobs if k == "export"]
        completed = Counter(
            AuditEvent.objects.filter(
                action="export.completed", object_id__in=[str(i) for i in export_ids]
            ).values_list("object_id", flat=True)
        )
        files = sum(1 for j in ExportJob.objects.filter(pk__in=export_ids) if exports_services.job_file(j))
        rebuild_ids = [pk for k, _t, pk in jobs if k == "rebuild"]
        rebuilds = list(PreviewRebuild.objects.filter(pk__in=rebuild_ids))
        snapshots = Counter(
            TwobPreview.objects.filter(
                registration_id__in=[p[1].pk for p in people], period__in=[r.period for r in rebuilds]
            ).values_list("registration_id", "period")
        )
        attempts = Counter()
        for model in models.values():
            ids = [pk for k, _t, pk in jobs if models[k] is model]
            attempts.update(a for a in model.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    duplicates = (
        sum(n - 1 for n in changed.values() if n > 1)
        + sum(n - 1 for n in summaries.values() if n > 1)
        + sum(n - 1 for n in completed.values() if n > 1)
        + sum(n - 1 for n in snapshots.values() if n > 1)
    )
    if stuck:
        failures.append(f"{stuck} jobs left queued or running")
    if final["failed"]:
        failures.append(f"{final['failed']} jobs failed")
    if any(r.applied + r.already != r.total for r in runs):
        failures.append("a bulk run's counts do not add up")
    if sum(r.applied for r in runs) != len(changed) or not_accepted:
        failures.append(f"bulk effect: {len(changed)} documents audited, {not_accepted} not accepted")
    if len(summaries) != len(runs) or len(completed) != len(export_ids) or files != len(export_ids):
        failures.append(
            f"summaries {len(summaries)}/{len(runs)}, exports {len(completed)}/{files}/{len(export_ids)}"
        )
    if len(snapshots) != len(rebuilds):
        failures.append(f"snapshots {len(snapshots)} for {len(rebuilds)} rebuilds")
    if duplicates:
        failures.append(f"{duplicates} effects applied twice")
    share = len(jobs) / args.tenants / 2
    starved = [t for t, n in (half_time or {}).items() if n < share / 2]
    if half_time is None or starved:
        failures.append(f"tenants starved at half-time: {starved}")

    print(
        f"jobs {len(jobs)} · workers 2 (1 killed with SIGKILL) · Redis stopped {args.redis_down:g} s · "
        f"lease {args.lease} s · {elapsed:.0f} s",
        flush=True,
    )
    print(f"done {final['done']} · failed {final['failed']} · stuck {stuck} · applied twice {duplicates}")
    taken_over = sum(n for a, n in attempts.items() if a > 1)
    if mid_job and not taken_over:
        failures.append("the job the killed worker held was not taken over")
    print(f"attempts per job {dict(sorted(attempts.items()))} · sent again by the sweep {swept}")
    print(f"done per tenant when half of all jobs were done {half_time} (fair share {share:.0f})")
    for failure in failures:
        print(f"FAIL {failure}")
    print("OK" if not failures else "FAILED", flush=True)
    return 1 if failures else 0


def done_per_tenant(jobs, models, scopes_disabled) -> dict[int, int]:
    out = Counter({t: 0 for _k, t, _pk in jobs})
    with scopes_disabled():
        for kind, model in models.items():
            done = set(
                model.objects.filter(
                    pk__in=[pk for k, _t, pk in jobs if k == kind], status="done"
                ).values_list("pk", flat=True)
            )
            out.update(t for k, t, pk in jobs if k == kind and pk in done)
    return dict(sorted(out.items()))


if __name__ == "__main__":
    sys.exit(main())

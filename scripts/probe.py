#!/usr/bin/env python
"""``make probe``: the black-box probe of issue #13 against a database of its own, printing its figures.

1. The database: ``PROBE_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/ims_probe``), created when
   missing, migrated, and seeded with the demo organisation (``manage.py seed_demo``; a second run finds it there).
2. ``tools.probe``: every route × every demo role, anonymous and another organisation's owner; then every route
   with hostile values in every field the code reads (each request rolled back, so the probe changes nothing).
3. The bounded fault run (``tests/faults/job_faults.py``, docs/reliability.md R5-R7) in a database of its own
   (``PROBE_FAULTS_DATABASE_URL``, default ``…/ims_probe_faults``): ``PROBE_FAULT_JOBS`` jobs (300) of every kind
   over 5 tenants, two workers, one killed with SIGKILL mid-job, its Redis stopped 10 s, every job delivered twice.
4. Prints routes × roles, requests, 500s, leaks, bad inputs sent and refused, faults injected and survived, stuck
   jobs and jobs done twice, then each 500 and leak found; exits 1 when there is any 500, leak, stuck job or
   effect applied twice.

``PROBE_ROUTES=t/,api/`` limits the routes to those containing one of the given strings; ``PROBE_FAULT_JOBS=0``
leaves the fault run out (its lines then say "not covered").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
URL = os.environ.get("PROBE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_probe")
FAULTS_URL = os.environ.get("PROBE_FAULTS_DATABASE_URL", URL.rsplit("/", 1)[0] + "/ims_probe_faults")
FAULT_JOBS = int(os.environ.get("PROBE_FAULT_JOBS", "300"))


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def fault_run() -> dict | None:
    """The bounded fault run on a migrated database of its own; its summary (None when left out). Its own output
    goes to stderr as it runs."""
    if FAULT_JOBS <= 0:
        return None
    ensure_database(FAULTS_URL)
    env = {**os.environ, "DATABASE_URL": FAULTS_URL, "DJANGO_SETTINGS_MODULE": "ims_project.settings_test"}
    env.pop("REDIS_URL", None)  # the fault run starts a Redis of its own
    subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-m", "tests.faults.job_faults", "--jobs", str(FAULT_JOBS), "--tenants", "5"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    sys.stderr.write(proc.stdout)
    from tests.faults.job_faults import SUMMARY

    lines = [line for line in proc.stdout.splitlines() if line.startswith(SUMMARY)]
    if not lines:
        raise SystemExit(f"the fault run ended without its figures (exit {proc.returncode})")
    return json.loads(lines[-1][len(SUMMARY) :])


def main() -> int:
    faults = fault_run()
    ensure_database(URL)
    env = {
        **os.environ,
        "DATABASE_URL": URL,
        "DJANGO_SETTINGS_MODULE": "ims_project.settings",
        # Pages render without collectstatic: the plain static storage, not the production manifest.
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "CRITICAL"),
    }
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "manage.py", *command],
            cwd=BASE_DIR,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    os.environ.update(env)

    import django

    django.setup()
    import logging

    logging.disable(logging.CRITICAL)  # the 4xx answers and the 500s found are counted, not logged
    from tools import probe

    wanted = [w for w in os.environ.get("PROBE_ROUTES", "").split(",") if w]
    routes = [r for r in probe.probe_routes() if any(w in r for w in wanted)] if wanted else None
    started = time.monotonic()
    figures = probe.run(routes=routes)
    figures.faults = faults
    for line in figures.lines():
        print(line)
    print(f"seconds: {time.monotonic() - started:.0f}")
    broken = faults is not None and (faults["stuck"] or faults["duplicates"] or not faults["faults_survived"])
    return 1 if figures.server_errors or figures.leaks or broken else 0


if __name__ == "__main__":
    sys.exit(main())

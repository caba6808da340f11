#!/usr/bin/env python
"""``make probe``: the black-box probe of issue #13 against a database of its own, printing its figures.

1. The database: ``PROBE_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/ims_probe``), created when
   missing, migrated, and seeded with the demo organisation (``manage.py seed_demo``; a second run finds it there).
2. ``tools.probe``: every route × every demo role, anonymous and another organisation's owner; then every route
   with hostile values in every field the code reads (each request rolled back, so the probe changes nothing).
3. Prints routes × roles, requests, 500s, leaks, bad inputs sent and refused, then each 500 and leak found; exits 1
   when there is any 500 or leak.

``PROBE_ROUTES=t/,api/`` limits the routes to those containing one of the given strings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
URL = os.environ.get("PROBE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_probe")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
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
    for line in figures.lines():
        print(line)
    print(f"seconds: {time.monotonic() - started:.0f}")
    return 1 if figures.server_errors or figures.leaks else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""``make run``: the whole product on one machine, from nothing but Python 3.11.

1. PostgreSQL: ``DATABASE_URL`` if set, otherwise the embedded server (``ims_project.devdb``, data in var/pgdata),
   whose URL is exported to every child.
2. ``manage.py migrate``, then ``manage.py seed_demo`` unless the demo organisation already exists.
3. Children: the web server on http://127.0.0.1:8000 and a Celery worker with beat (Redis if ``REDIS_URL`` is
   set, otherwise the filesystem broker under var/celery-broker). A ping task proves the worker consumes.
4. Ctrl-C (SIGINT) or SIGTERM stops every child and then the embedded PostgreSQL. If a child dies, the rest stop.

Environment: HOST/PORT (127.0.0.1/8000), SANDBOX_PORT (8765; the app is pointed at it), CELERY_QUEUES (queues the worker consumes), DEMO_TENANT_SLUG (demo).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
VAR_DIR = Path(os.environ.get("IMS_VAR_DIR", BASE_DIR / "var"))
PY = sys.executable
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")
QUEUES = os.environ.get("CELERY_QUEUES", "default,sync,push,reconcile,rebuild,exports,notifications")
DEMO_SLUG = os.environ.get("DEMO_TENANT_SLUG", "demo")
SANDBOX_PORT = os.environ.get("SANDBOX_PORT", "8765")

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class Stop(Exception):
    """Raised by the signal handler so that every path out goes through the same shutdown."""


def say(msg: str) -> None:
    print(f"[run] {msg}", flush=True)


def children_spec() -> list[tuple[str, list[str]]]:
    """The long-running processes, started in this order and stopped in reverse."""
    manage = [PY, str(BASE_DIR / "manage.py")]
    celery = [PY, "-m", "celery", "-A", "ims_project"]
    return [
        ("web", [*manage, "runserver", f"{HOST}:{PORT}", "--noreload"]),
        ("worker", [*celery, "worker", "-B", "-l", "INFO", "-Q", QUEUES, "--concurrency", "2"]),
        # The sandbox GST portal (settings' IMS_GSP_BASE_URL defaults to it); its state survives restarts.
        (
            "portal",
            [
                PY,
                "-m",
                "tools.sandbox_portal",
                "--port",
                SANDBOX_PORT,
                "--docs",
                "0",
                "--state-file",
                str(VAR_DIR / "sandbox-portal.json"),
            ],
        ),
    ]


def prepare_env() -> tuple[dict[str, str], bool]:
    """The environment of every child; True if this process started the embedded PostgreSQL."""
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("IMS_GSP_BASE_URL", f"http://127.0.0.1:{SANDBOX_PORT}")  # the sandbox portal started below
    for sub in ("celery-broker/processed", "celery-broker/control", "exports", "media", "ping"):
        (VAR_DIR / sub).mkdir(parents=True, exist_ok=True)
    started_pg = False
    if not env.get("DATABASE_URL"):
        from ims_project.devdb import PGDATA, embedded_database_url

        say(f"DATABASE_URL is not set: starting the embedded PostgreSQL (data in {PGDATA})")
        env["DATABASE_URL"] = embedded_database_url()
        started_pg = True
    if not env.get("REDIS_URL"):
        say(f"REDIS_URL is not set: Celery uses the filesystem broker in {VAR_DIR / 'celery-broker'}")
    os.environ.update(env)
    return env, started_pg


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR, check=True)  # noqa: S603


def demo_exists() -> bool:
    import django

    django.setup()
    from django.db import connection

    from tenancy.models import Tenant

    try:
        return Tenant.objects.filter(slug=DEMO_SLUG).exists()
    finally:
        connection.close()


def seed_demo(env: dict[str, str]) -> None:
    if demo_exists():
        say(f"Demo organisation '{DEMO_SLUG}' already there: skipping seed_demo")
        return
    say("Loading the demo data (manage.py seed_demo; only on the first start)")
    try:
        manage(env, "seed_demo", "--url", f"http://{HOST}:{PORT}/")
    except subprocess.CalledProcessError as exc:
        say(f"WARNING: seed_demo failed (exit {exc.returncode}); the site starts without demo data")


def start(name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Own process group: Ctrl-C reaches only this script, which then stops the children in order.
    return subprocess.Popen(cmd, env=env, cwd=BASE_DIR, start_new_session=True)  # noqa: S603


def wait_http(url: str, procs: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(procs)
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback URL)
                return
        except urllib.error.HTTPError as exc:
            say(f"WARNING: {url} answered HTTP {exc.code}")
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"The web server did not answer {url} within {timeout:.0f} s")


def ping_worker(procs: dict[str, subprocess.Popen], timeout: float = 60) -> float:
    """Send the ping task through the broker and wait for the worker's answer; returns seconds taken."""
    import django

    django.setup()
    from ims_project.tasks import ping, ping_marker

    token = f"run-{uuid.uuid4().hex[:12]}"
    marker = ping_marker(token)
    t0 = time.monotonic()
    ping.delay(token)
    while time.monotonic() - t0 < timeout:
        check_alive(procs)
        if marker.exists():
            marker.unlink()
            return time.monotonic() - t0
        time.sleep(0.2)
    raise RuntimeError(f"The Celery worker did not run the ping task within {timeout:.0f} s")


def seed_sandbox_portal(procs: dict[str, subprocess.Popen]) -> None:
    """The first time, fill the sandbox portal with the demo's documents (same generator, same seeds)."""
    url = f"http://127.0.0.1:{SANDBOX_PORT}"
    wait_http(f"{url}/__sandbox__/stats", procs)
    marker = VAR_DIR / "sandbox-portal.seeded"
    if marker.exists() or not demo_exists():
        return
    import django

    django.setup()
    from demo.sandbox import seed_sandbox

    say(f"Sandbox GST portal: loaded {seed_sandbox(url)} demo documents")
    marker.touch()


def check_alive(procs: dict[str, subprocess.Popen]) -> None:
    for name, proc in procs.items():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")


def stop_children(procs: dict[str, subprocess.Popen], grace: float = 20) -> None:
    for name, proc in reversed(list(procs.items())):
        if proc.poll() is None:
            say(f"stopping {name} (pid {proc.pid})")
            proc.send_signal(signal.SIGTERM)  # the main process stops its own pool and beat
    deadline = time.monotonic() + grace
    for name, proc in procs.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in {grace:.0f} s: killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Pool processes of the worker share its group: make sure none is left behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def login_banner() -> str:
    url = f"http://{HOST}:{PORT}/"
    lines = ["", "=" * 78, f"  IMS is running on {url}  (login page: {url}accounts/login/)", ""]
    if demo_exists():
        from demo.services import login_help

        lines += [f"  {line}" for line in login_help(url).splitlines()]
    else:
        lines.append("  No demo data: create a user with `.venv/bin/python manage.py createsuperuser`.")
    lines += [
        "",
        f"  Sandbox GST portal on http://127.0.0.1:{SANDBOX_PORT}: on the 'GST portal' page enter any",
        "  username, press 'Request OTP', then connect with the sandbox OTP 575757 and press 'Sync now'.",
        "",
        "  Ctrl-C stops the web server, the worker, the sandbox portal and the embedded PostgreSQL.",
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    def on_signal(signum, _frame):
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: dict[str, subprocess.Popen] = {}
    started_pg = False
    code = 0
    try:
        env, started_pg = prepare_env()
        say("Applying migrations")
        manage(env, "migrate", "--noinput", "-v", "0")
        seed_demo(env)
        for name, cmd in children_spec():
            procs[name] = start(name, cmd, env)
        wait_http(f"http://{HOST}:{PORT}/accounts/login/", procs)
        seed_sandbox_portal(procs)
        say(f"Worker answered the ping task in {ping_worker(procs):.1f} s")
        print(login_banner(), flush=True)
        while True:
            check_alive(procs)
            time.sleep(0.5)
    except Stop as sig:
        say(f"{sig} received: shutting down")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        say(f"ERROR: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_children(procs)
        if started_pg:
            from ims_project.devdb import stop_embedded

            say("stopping the embedded PostgreSQL")
            stop_embedded()
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())

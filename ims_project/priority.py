"""Background work at a lower CPU priority than the pages (``IMS_WORKER_NICE``; docs/decisions/0014).

A Celery worker lowers its own CPU priority when it starts, and its pool inherits it. That leaves the work its
database sessions do for it (a reconciliation is mostly SQL) at the pages' priority: on a host where the database
shares the cores, a page waits behind the jobs' backends. PostgreSQL has no priority of its own; the ``prioritize``
extension (Debian and PGDG package ``postgresql-NN-prioritize``) lets a session raise its own backend's niceness.

* ``migrate`` (:func:`install`, as the owner) creates the extension when the server has it and the owner may, and the
  function ``ims_lower_priority(nice)``: it raises the calling session's backend to niceness ``nice`` (never lowers
  it, never past 19), and answers the niceness it then has, or NULL where the extension is missing. It works for the
  application's role, which owns nothing: a SECURITY DEFINER function that touches no backend but the caller's.
* A worker process (:func:`lower_this_process`) lowers its own priority and marks its database sessions as background
  ones: each new connection is named ``ims-worker`` (``application_name``, what ``pg_stat_activity`` shows) and calls
  that function (the database backend of ``ims_project.rls``).

Without the extension everything works as before, at the pages' priority, and ``migrate`` says so. This module
imports nothing of ours (the ims_project room).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXTENSION = "prioritize"
FUNCTION = "ims_lower_priority(integer)"
APPLICATION_NAME = "ims-worker"
MAX_NICE = 19

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# The niceness of this process's background database sessions: 0 for the web (nothing done), IMS_WORKER_NICE in a
# worker (lower_this_process). Read by the database backend at every new connection.
_background_nice = 0


def background_nice() -> int:
    return _background_nice


def lower_this_process(nice: int, connections=None) -> None:
    """A worker's start: :func:`lower_cpu`, then :func:`lower_sessions` (the open ``connections`` closed)."""
    lower_cpu(nice)
    lower_sessions(nice, connections)


def lower_cpu(nice: int) -> None:
    """Lower this process's CPU priority by ``nice``; its children inherit it."""
    if nice <= 0:
        return
    os.nice(nice)
    if os.getsid(0) == os.getpid():
        # The leader of its own session (make run starts the worker so; bench_concurrency its jobs): Linux schedules a
        # session as one group (autogroup) against the others, whatever its processes' niceness, so the group itself
        # is lowered. Not the group of a worker started beside the web in one session: that would lower the web too.
        # No autogroup in this kernel, or not allowed: the niceness above still holds within the group.
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(f"{min(int(nice), MAX_NICE)}\n")


def lower_sessions(nice: int, connections=None) -> None:
    """Run this process's database sessions at niceness ``nice`` from their next connection on (the open
    ``connections`` are closed, so that they reconnect so)."""
    global _background_nice
    if nice <= 0:
        return
    _background_nice = min(int(nice), MAX_NICE)
    if connections is not None:
        connections.close_all()


def session_sql() -> str:
    """The statement a background session runs once it is connected: its name (unless the connection was given one,
    e.g. ``?application_name=`` in ``DATABASE_URL``), its backend's niceness, and no parallel workers (the server
    starts them at its own priority, so part of the job's work would escape it)."""
    return (
        "SELECT set_config('application_name', coalesce(nullif(current_setting('application_name'), ''), %s), "
        "false), ims_lower_priority(%s), "
        "set_config('max_parallel_workers_per_gather', '0', false), "
        "set_config('max_parallel_maintenance_workers', '0', false)"
    )


def session_state(cursor) -> dict[str, Any]:
    """A session's name and its backend's niceness (None without the extension, or before ``migrate``), as the
    worker's readiness report shows them."""
    cursor.execute("SELECT current_setting('application_name'), to_regprocedure(%s) IS NOT NULL", [FUNCTION])
    name, made = cursor.fetchone()
    nice = None
    if made:
        cursor.execute("SELECT ims_lower_priority(0)")  # 0: raises nothing, answers the niceness
        nice = cursor.fetchone()[0]
    return {"session": name, "nice": nice}


def install(conn) -> list[str]:
    """Create the ``prioritize`` extension where the server has it (and the connecting user may), and
    ``ims_lower_priority``; run by ``migrate`` as the owner. Returns what is missing, in words (empty: the worker's
    sessions will run at its lower priority)."""
    from psycopg import errors  # noqa: PLC0415 - migrate only

    gaps: list[str] = []
    with conn.cursor() as cur:
        cur.execute("SELECT current_schema()")
        schema = cur.fetchone()[0]
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"the schema's name must be a plain identifier, not {schema!r}")
        cur.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = %s", [EXTENSION]
        )
        row = cur.fetchone()
        if row is None:
            cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", [EXTENSION])
            if cur.fetchone() is None:
                gaps.append(
                    f"the database server has no {EXTENSION} extension (package postgresql-NN-{EXTENSION}): the "
                    "worker's database sessions run at the pages' CPU priority (docs/operations.md §9)"
                )
            else:
                try:
                    with conn.connection.transaction(), conn.connection.cursor() as raw:
                        raw.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION} WITH SCHEMA {schema}")
                    row = (schema,)
                except errors.InsufficientPrivilege:
                    gaps.append(
                        f"the {EXTENSION} extension can be created only by a superuser: run CREATE EXTENSION "
                        f"{EXTENSION} once as one, or the worker's database sessions run at the pages' CPU priority "
                        "(docs/operations.md §9)"
                    )
        where = row[0] if row is not None else schema
        if not _IDENTIFIER.fullmatch(where):
            raise ValueError(f"the {EXTENSION} extension's schema must be a plain identifier, not {where!r}")
        cur.execute(_function_sql(schema, where))
    return gaps


def _function_sql(schema: str, extension_schema: str) -> str:
    """``ims_lower_priority``: the extension's functions are called by name through EXECUTE, so the function exists
    (and answers NULL) where the extension does not."""
    get = f"{extension_schema}.get_backend_priority(pg_backend_pid())"
    return f"""
CREATE OR REPLACE FUNCTION {schema}.ims_lower_priority(nice integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp SET client_min_messages = warning AS $fn$
DECLARE
  niceness integer;
BEGIN
  IF to_regprocedure('{extension_schema}.set_backend_priority(integer, integer)') IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE 'SELECT {get}' INTO niceness;
  IF nice IS NOT NULL AND nice > niceness THEN
    EXECUTE 'SELECT {extension_schema}.set_backend_priority(pg_backend_pid(), $1)' USING least(nice, {MAX_NICE});
    EXECUTE 'SELECT {get}' INTO niceness;
  END IF;
  RETURN niceness;
END $fn$"""

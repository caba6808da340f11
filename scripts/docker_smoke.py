"""Smoke check of a built production image (issue #13: the image serves pages with ``DEBUG=0``).

Runs the image against a PostgreSQL and a Redis that answer on this machine's 127.0.0.1 (``--network host``):

1. ``manage.py migrate`` in a throw-away container (the compose ``migrate`` service's command);
2. the web: the image's own CMD (gunicorn), its ``--bind`` moved to a free local port, with ``DEBUG=0``;
   ``/healthz`` 200, ``/readyz`` 200, the login page 200 whose every stylesheet and script is a hashed
   ``/static/`` name served 200 (whitenoise, collected at build time), and an unknown page a 404 that carries the
   same stylesheet (the site's page, not a bare one);
3. the worker: docker-compose.yml's ``worker`` command (one pool process), whose own ``/readyz`` must answer 200
   (the database and the broker reached) and whose log must say it is ready;
4. no 500 and no traceback in either container's log.

    python scripts/docker_smoke.py ims-ci:latest
    python scripts/docker_smoke.py ims:latest --database-url postgres://postgres@127.0.0.1:5432/ims_smoke

The database is created when missing (through the image's psycopg, on the server's ``postgres`` database).
Exit 0 when every check passed, 1 otherwise; each check is printed with what it got. Containers are removed at the
end (``--keep`` leaves them for a look).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# A hashed name as CompressedManifestStaticFilesStorage writes it: name.<12 hex>.ext
HASHED_STATIC = re.compile(r"^/static/.+\.[0-9a-f]{12}\.(css|js)$")
STATIC_REFERENCE = re.compile(r"""(?:href|src)="(/static/[^"]+\.(?:css|js))\"""")
START_TIMEOUT = 90  # seconds for a container to answer /healthz or /readyz
CREATE_DATABASE = """
import sys, psycopg
from psycopg import sql
url, name = sys.argv[1], sys.argv[2]
with psycopg.connect(url, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
"""


class Smoke:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.failures: list[str] = []
        self.containers: list[str] = []
        self.suffix = secrets.token_hex(4)
        self.env = {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "LOG_FORMAT": "text",
        }

    # -- reporting -------------------------------------------------------------------------------------------------
    def check(self, ok: bool, what: str, got: str) -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {got}", flush=True)
        if not ok:
            self.failures.append(what)
        return ok

    # -- docker ----------------------------------------------------------------------------------------------------
    def docker_args(self, env: dict[str, str]) -> list[str]:
        args = ["--network", "host"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return args

    def run_once(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        return docker("run", "--rm", *self.docker_args(self.env), self.args.image, *command, timeout=600)

    def start(self, role: str, command: list[str], env: dict[str, str]) -> str:
        name = f"ims-smoke-{role}-{self.suffix}"
        docker("run", "-d", "--name", name, *self.docker_args(env), self.args.image, *command, check=True)
        self.containers.append(name)
        return name

    def logs(self, name: str) -> str:
        done = docker("logs", name)
        return done.stdout + done.stderr

    def running(self, name: str) -> bool:
        return docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"

    def remove_containers(self) -> None:
        for name in self.containers:
            if self.args.keep:
                print(f"kept container {name}")
            else:
                docker("rm", "-f", name)

    def image_cmd(self) -> list[str]:
        done = docker("image", "inspect", "--format", "{{json .Config.Cmd}}", self.args.image, check=True)
        return json.loads(done.stdout)

    # -- http ------------------------------------------------------------------------------------------------------
    @staticmethod
    def get(url: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, headers={"Host": "localhost"})  # noqa: S310 (our own loopback URL)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 (our own loopback URL)
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def wait_for(self, name: str, url: str) -> tuple[int, bytes]:
        deadline = time.monotonic() + START_TIMEOUT
        status, body = 0, b""
        while time.monotonic() < deadline:
            if not self.running(name):
                return 0, f"container {name} exited".encode()
            try:
                status, _, body = self.get(url)
            except OSError as error:
                status, body = 0, str(error).encode()
            if status == 200:
                break
            time.sleep(1)
        return status, body

    # -- the checks ------------------------------------------------------------------------------------------------
    def prepare_database(self) -> bool:
        url = self.args.database_url
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        maintenance = url.rsplit("/", 1)[0] + "/postgres"
        done = self.run_once(["python", "-c", CREATE_DATABASE, maintenance, name])
        if not self.check(
            done.returncode == 0, f"database {name} exists", done.stderr.strip()[-300:] or "yes"
        ):
            return False
        done = self.run_once(["python", "manage.py", "migrate", "--noinput"])
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        return self.check(
            done.returncode == 0, "manage.py migrate in the image", f"exit {done.returncode}: {tail[0]}"
        )

    def web(self) -> None:
        port = free_port()
        command = self.image_cmd()
        if "--bind" in command:
            command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
        print(f"web: {' '.join(command)}")
        name = self.start("web", command, self.env)
        base = f"http://127.0.0.1:{port}"
        status, body = self.wait_for(name, f"{base}/healthz")
        self.check(status == 200, "GET /healthz", f"{status} {body[:80].decode(errors='replace')}")
        status, _, body = self.get(f"{base}/readyz")
        self.check(status == 200, "GET /readyz", f"{status} {body[:160].decode(errors='replace')}")

        status, _, body = self.get(f"{base}/accounts/login/")
        page = body.decode(errors="replace")
        self.check(status == 200, "GET /accounts/login/ with DEBUG=0", str(status))
        assets = STATIC_REFERENCE.findall(page)
        self.check(
            any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets),
            "the login page links stylesheets and scripts",
            ", ".join(assets) or "none",
        )
        for asset in assets:
            self.check(
                bool(HASHED_STATIC.match(asset)),
                f"{asset} is a hashed name",
                "yes" if HASHED_STATIC.match(asset) else "no",
            )
            status, headers, content = self.get(f"{base}{asset}")
            kind = headers.get("Content-Type", "")
            self.check(
                status == 200 and len(content) > 0 and ("css" in kind or "javascript" in kind),
                f"GET {asset}",
                f"{status} {kind} {len(content)} bytes, Cache-Control {headers.get('Cache-Control', '-')}",
            )

        status, _, body = self.get(f"{base}/no-such-page-{self.suffix}/")
        stylesheets = [
            a for a in STATIC_REFERENCE.findall(body.decode(errors="replace")) if a.endswith(".css")
        ]
        self.check(status == 404, "GET an unknown page", str(status))
        self.check(
            bool(stylesheets), "the 404 page carries the site's stylesheet", ", ".join(stylesheets) or "none"
        )
        self.no_errors(name)

    def worker(self) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        command = [expand_default(part) for part in compose["services"]["worker"]["command"]]
        if "--concurrency" in command:
            command[command.index("--concurrency") + 1] = "1"
        port = free_port()
        env = {**self.env, "IMS_WORKER_HTTP_PORT": str(port), "IMS_WORKER_HTTP_HOST": "127.0.0.1"}
        print(f"worker: {' '.join(command)}")
        name = self.start("worker", command, env)
        status, body = self.wait_for(name, f"http://127.0.0.1:{port}/readyz")
        self.check(status == 200, "worker GET /readyz", f"{status} {body[:160].decode(errors='replace')}")
        deadline = time.monotonic() + START_TIMEOUT
        while "ready." not in self.logs(name) and time.monotonic() < deadline and self.running(name):
            time.sleep(1)
        log = self.logs(name)
        connected = [line.strip() for line in log.splitlines() if "Connected to" in line or " ready." in line]
        self.check(
            " ready." in log, "worker connected to the broker and ready", " | ".join(connected) or "no"
        )
        self.no_errors(name)

    def no_errors(self, name: str) -> None:
        log = self.logs(name)
        bad = [line for line in log.splitlines() if "Traceback" in line or re.search(r'" 500 \d', line)]
        self.check(not bad, f"no 500 and no traceback in {name}'s log", " | ".join(bad[:3]) or "none")

    def run(self) -> int:
        try:
            if self.prepare_database():
                self.web()
                self.worker()
        finally:
            self.remove_containers()
        if self.failures:
            print(f"Docker smoke check FAILED ({len(self.failures)}): {'; '.join(self.failures)}")
            return 1
        print(
            f"Docker smoke check passed: {self.args.image} serves pages with DEBUG=0 and its worker connects."
        )
        return 0


def docker(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker") or "docker"
    return subprocess.run(  # noqa: S603 (docker with arguments built here)
        [executable, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def expand_default(value: str) -> str:
    """``${NAME:-default}`` of the compose file, as compose expands it with NAME unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ims_docker_smoke")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--keep", action="store_true", help="leave the containers (docker rm -f them after)")
    return Smoke(parser.parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())

"""The sandbox portal runs as a separate process on a loopback port for the whole session; each test resets it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gst_sync.client import GstnAdapter, GstnConfig, PollPolicy, RetryPolicy
from gst_sync.client import factory as adapter_factory
from gst_sync.client.base import IMS_SECTIONS

ROOT = Path(__file__).resolve().parents[2]
RECIPIENT = "27AAICZ1234Q1ZQ"
USERNAME = "acme_api"
OTP = "575757"
CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret-7f3a9c"


@pytest.fixture(scope="session")
def sandbox_url():
    proc = subprocess.Popen(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "tools.sandbox_portal",
            "--port",
            "0",
            "--docs",
            "40",
            "--gstin",
            RECIPIENT,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    yield line.rsplit(" ", 1)[-1].strip()
    proc.terminate()
    proc.wait(timeout=10)


class Sandbox:
    def __init__(self, url: str):
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def post(self, name: str, body: dict | None = None) -> dict:
        response = self.http.post(f"/__sandbox__/{name}", json=body or {})
        response.raise_for_status()
        return response.json()

    def faults(self, **faults) -> dict:
        return self.post("faults", faults)

    def seed(self, gstin: str = RECIPIENT, **sections) -> dict:
        """Replace the GSTIN's documents: the given sections, every other section empty."""
        return self.post("seed", {"gstin": gstin, "records": {**dict.fromkeys(IMS_SECTIONS, []), **sections}})

    def stats(self) -> dict:
        return self.http.get("/__sandbox__/stats").json()

    def certificate(self) -> bytes:
        return self.http.get("/__sandbox__/certificate").content


# The waits of a test's own adapter (make_config): the sandbox answers at once, so retries and polls need none.
QUICK = dict(
    retry=RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01),
    poll=PollPolicy(max_polls=6, first_delay=0.001, max_delay=0.01),
    seconds_per_est_minute=0.0,
)


@pytest.fixture
def sandbox(sandbox_url, monkeypatch):
    """The sandbox, reset. Adapters the product builds from settings (a task, a view, a live server in this process)
    wait as briefly as the tests' own, instead of the production poll delays (2 s first)."""
    box = Sandbox(sandbox_url)
    box.post("reset")
    portal_config = adapter_factory.portal_config
    monkeypatch.setattr(
        adapter_factory, "portal_config", lambda **overrides: portal_config(**{**QUICK, **overrides})
    )
    yield box
    box.http.close()


def make_config(sandbox: Sandbox, **overrides) -> GstnConfig:
    values = dict(
        base_url=sandbox.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        gstn_certificate=sandbox.certificate(),
        read_timeout=10,
        **QUICK,
    )
    values.update(overrides)
    return GstnConfig(**values)


@pytest.fixture
def adapter(sandbox):
    with GstnAdapter(make_config(sandbox)) as client:
        yield client


@pytest.fixture
def portal(adapter):
    """The same client under the name service tests pass as ``adapter=``."""
    return adapter


def connect_gstin(tenant, registration, portal, actor) -> None:
    """Connect ``registration`` to the sandbox portal through the services, as a user does (OTP request, OTP)."""
    from gst_sync import services
    from tenancy.scoping import tenant_scope

    with tenant_scope(tenant):
        services.request_otp(
            tenant=tenant, actor=actor, registration=registration, username=USERNAME, adapter=portal
        )
        services.connect(tenant=tenant, actor=actor, registration=registration, otp=OTP, adapter=portal)


@pytest.fixture
def authed(adapter):
    adapter.request_otp(gstin=RECIPIENT, username=USERNAME)
    adapter.authenticate(gstin=RECIPIENT, username=USERNAME, otp=OTP)
    return adapter


def save_body(record: dict, action: str | None, **extra) -> dict:
    """A SAVE/RESET record from a downloaded one (docs/rules/portal-api.md §3): same fields, prev_status = portal action."""
    body = {
        k: v
        for k, v in record.items()
        if k not in ("hash", "srcfilstatus", "ispendactblocked", "isRemarksBlocked", "action")
    }
    body["prev_status"] = record["action"]
    if action:
        body["action"] = action
    body.update(extra)
    return body


def doc(
    number: str,
    *,
    section: str = "b2b",
    stin: str = "29AAJFY9012N1ZE",
    action: str = "N",
    blocked: str = "N",
    period: str = "102025",
    filed: bool = True,
    tax=("9000", "0", "0"),
) -> dict:
    """A GETINV record to seed the sandbox with."""
    note = section in ("b2bcn", "b2bdn", "b2bcna", "b2bdna")
    iamt, camt, samt = tax
    rec = {
        "stin": stin,
        ("nt_num" if note else "inum"): number,
        ("nt_dt" if note else "idt"): "15-10-2025",
        "inv_typ": "R",
        "srcform": "R1",
        "rtnprd": period,
        "srcfilstatus": "Filed" if filed else "Not Filed",
        "val": "59000",
        "pos": "27",
        "txval": "50000",
        "iamt": iamt,
        "camt": camt,
        "samt": samt,
        "cess": "0",
        "action": action,
        "ispendactblocked": blocked,
    }
    if section.endswith("a"):
        rec["ont_num" if note else "oinum"] = number + "-O"
        rec["ont_dt" if note else "oidt"] = "01-10-2025"
    return rec

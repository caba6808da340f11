"""Limits on portal calls shared by every worker (gst_sync/limits.py) and the back-off on the portal's own "too
many requests", against the sandbox portal over HTTP and the real Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
import redis
from django.conf import settings

from gst_sync.client import GstnAdapter, RetryPolicy
from gst_sync.limits import PortalThrottle, Rate

from .conftest import CLIENT_ID, CLIENT_SECRET, RECIPIENT, USERNAME, make_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OTHER_GSTIN = "29AAJFY9012N1ZE"


@pytest.fixture
def prefix():
    """Redis keys of this test's limits only; deleted afterwards."""
    value = f"ims-test-limit-{uuid.uuid4().hex}"
    yield value
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{value}*"))
    if keys:
        client.delete(*keys)


NO_LIMIT = Rate(0, 0)


def throttle(prefix, *, gstin=NO_LIMIT, client=NO_LIMIT, sleep=time.sleep) -> PortalThrottle:
    return PortalThrottle(
        redis.Redis.from_url(settings.REDIS_URL),
        client_id=CLIENT_ID,
        per_gstin=gstin,
        per_client=client,
        prefix=prefix,
        sleep=sleep,
    )


def workers(sandbox, prefix, *, shared: bool, calls: int, rate: float = 0, burst: int = 0) -> list[dict]:
    """Two worker processes calling the sandbox for the same GSTIN at once, under the shared throttle or none."""
    start_at = time.time() + 4
    procs = [
        subprocess.Popen(  # noqa: S603 - our own module
            [
                sys.executable,
                "-m",
                "tests.gst_sync.limit_worker",
                sandbox.url,
                RECIPIENT,
                str(calls),
                settings.REDIS_URL if shared else "-",
                prefix,
                str(rate),
                str(burst),
                str(start_at),
                f"{USERNAME}_{n}",  # a session each: two logins of one username would replace each other's OTP
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        for n in range(2)
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@pytest.mark.django_db
def test_two_workers_sharing_redis_stay_under_the_portals_limit(sandbox, prefix):
    sandbox.faults(rate_limit_per_gstin=3, retry_after=1)
    # Without the shared limit, two workers calling as fast as they can get "too many requests".
    alone = workers(sandbox, prefix, shared=False, calls=20)
    assert sum(w["failed"] for w in alone) > 0
    assert sandbox.stats()["too_many_requests"].get("gstin", 0) > 0

    sandbox.post("reset")
    sandbox.faults(rate_limit_per_gstin=3, retry_after=1)
    # With it (1.5 calls/s, burst 1: at most 2.5 calls in any second from both workers together, leaving room for
    # a busy machine delaying one call more than the next), none.
    both = workers(sandbox, prefix, shared=True, calls=5, rate=1.5, burst=1)
    assert [w["failed"] for w in both] == [0, 0]
    assert sum(w["ok"] for w in both) == 10
    assert sandbox.stats()["too_many_requests"] == {}
    times = sorted(t for w in both for t in w["times"])
    # The two workers' calls together keep the shared pace: 10 calls at 1.5/s after a burst of 1 span >= 5.3 s.
    assert times[-1] - times[0] >= (len(times) - 1 - 1) / 1.5 - 0.3


def test_the_bucket_is_one_for_every_process(prefix):
    """Two processes trying to take 10 tokens each from a bucket of 5 that hardly refills get 5 between them."""
    script = (
        "import sys, redis; from gst_sync.limits import PortalThrottle, Rate;"
        "t = PortalThrottle(redis.Redis.from_url(sys.argv[1]), client_id='c', per_gstin=Rate(0.0001, 5),"
        " per_client=Rate(0, 0), prefix=sys.argv[2]);"
        "print(sum(1 for _ in range(10) if t.try_acquire('27AAICZ1234Q1ZQ') == 0))"
    )
    procs = [
        subprocess.Popen(  # noqa: S603 - our own code
            [sys.executable, "-c", script, settings.REDIS_URL, prefix],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        for _ in range(2)
    ]
    taken = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert sum(taken) == 5
    # Another GSTIN has its own bucket; the credential's bucket (unlimited here) does not hold it back.
    assert throttle(prefix, gstin=Rate(0.0001, 5)).try_acquire(OTHER_GSTIN) == 0


def test_a_credential_limit_holds_every_gstin(prefix):
    first = throttle(prefix, client=Rate(0.0001, 2))
    assert first.try_acquire(RECIPIENT) == 0
    assert first.try_acquire(OTHER_GSTIN) == 0
    assert throttle(prefix, client=Rate(0.0001, 2)).try_acquire("07AAACB1234C1Z5") > 0


def test_a_pause_after_429_holds_every_worker(prefix):
    one, two = throttle(prefix), throttle(prefix)
    assert one.pause(RECIPIENT, 2) == 2
    assert 1.5 < two.try_acquire(RECIPIENT) <= 2
    assert two.try_acquire(OTHER_GSTIN) == 0  # only that GSTIN
    one.pause(RECIPIENT, 0, whole_credential=True)  # the credential, at least the minimum pause
    assert two.try_acquire(OTHER_GSTIN) > 0


@pytest.mark.django_db
def test_the_client_backs_off_on_429_for_the_retry_after_and_succeeds(sandbox, prefix):
    sandbox.faults(rate_limit_per_gstin=2, retry_after=1)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    shared = throttle(prefix, sleep=sleep)  # no rate of its own: only the portal's 429s hold it
    config = make_config(sandbox, retry=RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01))
    with GstnAdapter(config, throttle=shared, sleep=sleep) as portal:
        portal.request_otp(gstin=RECIPIENT, username=USERNAME)
        portal.authenticate(gstin=RECIPIENT, username=USERNAME, otp="575757")
        counts = [portal.get_ims_counts(gstin=RECIPIENT) for _ in range(5)]
        assert len(counts) == 5  # every call got its answer in the end
    assert sandbox.stats()["too_many_requests"]["gstin"] >= 1
    assert max(sleeps) >= 1.0  # waited the portal's Retry-After, not the retry policy's milliseconds


@pytest.mark.django_db
def test_sandbox_429_mode_answers_with_retry_after_and_scope(sandbox):
    sandbox.faults(rate_limit_per_client=1, retry_after=3)
    with GstnAdapter(make_config(sandbox, retry=RetryPolicy(max_attempts=1))) as portal:
        portal.request_otp(gstin=RECIPIENT, username=USERNAME)
        response = sandbox.http.get(
            "/taxpayerapi/v0.3/returns/ims",
            params={"action": "GETCNT", "gstin": RECIPIENT},
            headers={"clientid": CLIENT_ID, "client-secret": CLIENT_SECRET, "gstin": RECIPIENT},
        )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.headers["X-RateLimit-Scope"] == "client"
    sandbox.faults(clear=True, fail_next=1, error_status=429)
    again = sandbox.http.get("/taxpayerapi/v0.3/returns/ims", params={"action": "GETCNT"})
    assert again.status_code == 429
    assert "Retry-After" in again.headers


@pytest.mark.django_db
def test_a_sync_the_portal_keeps_refusing_as_too_many_waits_its_turn_then_fails(
    sandbox, portal, django_capture_on_commit_callbacks
):
    from audit.services import Actor
    from gst_sync import services
    from gst_sync.models import RunStatus, SyncRun
    from ims_project import queues
    from tenancy import services as tenancy_services
    from tenancy.scoping import tenant_scope
    from tests import factories
    from tests.scale.test_queues import drain

    from .conftest import connect_gstin

    actor = Actor.system("tests")
    tenant = factories.make_tenant("Busy", "busy-co")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=actor, gstin=RECIPIENT, legal_name="Busy"
        )
        connect_gstin(tenant, reg, portal, actor)
        (run,) = services.queue_sync(tenant=tenant, actor=actor, registration=reg, sections=["b2b"])
    drain(queues.SYNC)
    sandbox.faults(fail_next=1000, error_status=429, retry_after=0)
    for attempt in range(1, services.TOO_MANY_ATTEMPTS):
        with django_capture_on_commit_callbacks(execute=True):
            services.run_sync(run.pk, adapter=portal)
        with tenant_scope(tenant):
            run = SyncRun.objects.get(pk=run.pk)
        assert (run.status, run.error_code, run.attempts) == (RunStatus.QUEUED, "HTTP429", attempt)
        (message,) = drain(queues.SYNC)  # delivered again, later, at batch priority
        assert message["args"] == [run.pk]
        assert message["priority"] == queues.BATCH
    services.run_sync(run.pk, adapter=portal)
    with tenant_scope(tenant):
        run = SyncRun.objects.get(pk=run.pk)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "HTTP429"


def test_with_redis_away_the_limits_let_calls_go_instead_of_failing_the_job(sandbox):
    """Redis stopped (docs/reliability.md R5-R7): the shared limits cannot be read, so the call goes and the portal's
    own "too many requests" still decides; a sync or push in flight does not fail because Redis is away."""
    with socket.socket() as s:  # a port nobody listens on: Redis is away
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    away = PortalThrottle(
        redis.Redis(host="127.0.0.1", port=port),
        client_id=CLIENT_ID,
        per_gstin=Rate(1, 1),
        per_client=NO_LIMIT,
    )
    assert away.try_acquire(RECIPIENT) == 0
    assert away.wait(RECIPIENT) == 0
    assert away.pause(RECIPIENT, 2) == 2  # nothing held: no worker can see the pause without Redis
    with GstnAdapter(make_config(sandbox), throttle=away) as portal:
        portal.request_otp(gstin=RECIPIENT, username=USERNAME)
        assert portal.authenticate(gstin=RECIPIENT, username=USERNAME, otp="575757")

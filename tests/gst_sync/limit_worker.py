"""One "worker" process for tests/gst_sync/test_portal_limits.py: calls the sandbox portal through the GSTN client under
the shared Redis throttle (or none) and prints one JSON line: {"ok": n, "failed": n, "times": [...]}.

    python -m tests.gst_sync.limit_worker SANDBOX_URL GSTIN CALLS REDIS_URL|- PREFIX RATE BURST START_AT USERNAME
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def main(argv: list[str]) -> int:
    url, gstin, calls, redis_url, prefix, rate, burst, start_at, username = argv
    from gst_sync.client import GstnAdapter, GstnConfig, RetryPolicy
    from gst_sync.client.errors import PortalError

    throttle = None
    if redis_url != "-":
        import redis

        from gst_sync.limits import PortalThrottle, Rate

        throttle = PortalThrottle(
            redis.Redis.from_url(redis_url),
            client_id="sandbox-client",
            per_gstin=Rate(float(rate), int(burst)),
            per_client=Rate(0, 0),
            prefix=prefix,
        )
    config = GstnConfig(
        base_url=url,
        client_id="sandbox-client",
        client_secret="sandbox-secret-7f3a9c",  # noqa: S106 - the tests' sandbox credentials
        gstn_certificate=httpx.get(f"{url}/__sandbox__/certificate").content,
        retry=RetryPolicy(max_attempts=1),  # no retry: a 429 counts as a failed call
    )
    ok = failed = 0
    times = []
    with GstnAdapter(config, throttle=throttle) as portal:
        for _ in range(10):  # logging in is limited too: the two workers log in at once
            try:
                portal.request_otp(gstin=gstin, username=username)
                portal.authenticate(gstin=gstin, username=username, otp="575757")
                break
            except PortalError:
                time.sleep(1)
        time.sleep(max(float(start_at) - time.time(), 0))  # both workers start together
        for _ in range(int(calls)):
            try:
                portal.get_ims_counts(gstin=gstin)
                ok += 1
                times.append(time.time())
            except PortalError:
                failed += 1
    print(json.dumps({"ok": ok, "failed": failed, "times": times}))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

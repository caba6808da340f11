"""Limits on portal calls shared by every worker: a token bucket per GSTIN and one per GSP credential, in Redis.

Before each HTTP call the GSTN client (``gst_sync.client.gstn``) asks :meth:`PortalThrottle.wait` for a token from
both buckets of the call (its GSTIN's and its client id's); one Lua script checks and takes both atomically, on the
Redis server's clock, so any number of worker processes on any number of machines together stay under the limits
(``IMS_PORTAL_GSTIN_RATE``/``_BURST``, ``IMS_PORTAL_CLIENT_RATE``/``_BURST``). A call that cannot go yet sleeps for
the time the script says the next token needs. When the portal still answers "too many requests" (HTTP 429), the
client calls :meth:`PortalThrottle.pause`: every worker then holds that GSTIN's calls (or, if the portal says so,
the whole credential's) for the Retry-After it gave, at least ``IMS_PORTAL_429_PAUSE`` seconds.

Without ``REDIS_URL`` (``make run``, one worker) :func:`portal_throttle` returns None: no shared limit, and 429s
are still retried after their Retry-After by the client itself. When Redis is away (stopped, restarting,
unreachable), the limits cannot be read: the call goes without them for :data:`AWAY_SECONDS` (one warning) rather
than failing the sync or push that makes it, and the portal's own 429 still decides (docs/reliability.md R5-R7).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings

log = logging.getLogger(__name__)
AWAY_SECONDS = (
    5.0  # after Redis failed to answer, calls go without the shared limits this long before it is asked again
)

# KEYS: the buckets. ARGV: per bucket, rate (tokens/s) and burst; then "1" to take a token, "0" to only look.
# Returns 0 when a token was taken from every bucket, else the milliseconds until one can be (nothing taken).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, tokens = 0, {}
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local h = redis.call('HMGET', KEYS[i], 'tokens', 'ts', 'until')
  local have = tonumber(h[1]) or burst
  local ts = tonumber(h[2]) or now
  local paused = tonumber(h[3]) or 0
  have = math.min(burst, have + math.max(0, now - ts) * rate / 1000)
  tokens[i] = have
  if paused > now then wait = math.max(wait, paused - now) end
  if have < 1 then wait = math.max(wait, math.ceil((1 - have) * 1000 / rate)) end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tokens[i] - 1, 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 1000 / rate) + 60000)
end
return 0
"""
# KEYS[1]: a bucket; ARGV[1]: milliseconds. Holds the bucket until now + ms (never shortens a longer pause).
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untl = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'until')) or 0
if untl > cur then redis.call('HSET', KEYS[1], 'until', untl) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) + 60000 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 60000) end
return untl
"""


@dataclass(frozen=True)
class Rate:
    """``per_second`` calls on average, up to ``burst`` at once after a quiet spell; 0 calls/s = no limit."""

    per_second: float
    burst: int

    @property
    def limited(self) -> bool:
        return self.per_second > 0 and self.burst > 0


class PortalThrottle:
    """The shared limits of one GSP credential (``client_id``) and of each GSTIN it calls for."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        client_id: str,
        per_gstin: Rate,
        per_client: Rate,
        min_pause: float = 1.0,
        prefix: str = "ims:portal-limit",
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.redis = client
        self.client_id = client_id
        self.per_gstin, self.per_client = per_gstin, per_client
        self.min_pause = min_pause
        self.prefix = prefix
        self._sleep = sleep
        self._take = client.register_script(_TAKE)
        self._pause = client.register_script(_PAUSE)
        self.waited = 0.0  # seconds this instance spent waiting for tokens or pauses
        self._away_until = 0.0  # monotonic time until which Redis is not asked (it failed to answer)

    def _redis_away(self, exc: redis.RedisError) -> None:
        if time.monotonic() >= self._away_until:
            log.warning(
                "portal limits: Redis is away (%s); calls go without the shared limits", type(exc).__name__
            )
        self._away_until = time.monotonic() + AWAY_SECONDS

    def gstin_key(self, gstin: str) -> str:
        return f"{self.prefix}:gstin:{gstin}"

    def client_key(self) -> str:
        return f"{self.prefix}:client:{self.client_id}"

    def _buckets(self, gstin: str) -> tuple[list[str], list[float]]:
        keys: list[str] = []
        args: list[float] = []
        # The pause of a bucket applies even when its rate is unlimited: an unlimited bucket gets a rate so high
        # that it never runs out.
        for key, rate in ((self.gstin_key(gstin), self.per_gstin), (self.client_key(), self.per_client)):
            keys.append(key)
            args += [rate.per_second, rate.burst] if rate.limited else [1e9, 1e9]
        return keys, args

    def try_acquire(self, gstin: str) -> float:
        """Take a token for one call for ``gstin``: 0.0 when taken, else the seconds until one can be (nothing
        taken)."""
        if time.monotonic() < self._away_until:
            return 0.0
        keys, args = self._buckets(gstin)
        try:
            return int(self._take(keys=keys, args=args)) / 1000
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._redis_away(exc)
            return 0.0

    def wait(self, gstin: str, *, max_wait: float = 900.0) -> float:
        """Block until a call for ``gstin`` may go (a token taken from both buckets); returns seconds waited.
        Gives up waiting after ``max_wait`` seconds and lets the call go (the portal's own 429 then decides)."""
        waited = 0.0
        while True:
            delay = self.try_acquire(gstin)
            if delay <= 0 or waited >= max_wait:
                self.waited += waited
                return waited
            delay = min(delay, max_wait - waited)
            self._sleep(delay)
            waited += delay

    def pause(self, gstin: str, seconds: float | None, *, whole_credential: bool = False) -> float:
        """The portal answered "too many requests": hold every worker's calls for ``gstin`` (or for the whole
        credential) for ``seconds`` (its Retry-After), at least ``min_pause``. Returns the pause applied."""
        seconds = max(float(seconds or 0), self.min_pause)
        key = self.client_key() if whole_credential else self.gstin_key(gstin)
        if time.monotonic() >= self._away_until:
            try:
                self._pause(keys=[key], args=[int(seconds * 1000)])
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_away(exc)  # the client still waits the Retry-After itself before trying again
        return seconds


def portal_throttle() -> PortalThrottle | None:
    """The throttle of the configured GSP credential, on the Redis of ``REDIS_URL``; None without Redis or when
    both rates are 0."""
    per_gstin = Rate(settings.IMS_PORTAL_GSTIN_RATE, settings.IMS_PORTAL_GSTIN_BURST)
    per_client = Rate(settings.IMS_PORTAL_CLIENT_RATE, settings.IMS_PORTAL_CLIENT_BURST)
    if not settings.REDIS_URL or not (per_gstin.limited or per_client.limited):
        return None
    return PortalThrottle(
        _redis(settings.REDIS_URL),
        client_id=settings.IMS_GSP_CLIENT_ID,
        per_gstin=per_gstin,
        per_client=per_client,
        min_pause=settings.IMS_PORTAL_429_PAUSE,
        prefix=settings.IMS_PORTAL_LIMIT_PREFIX,
    )


_CLIENTS: dict[str, redis.Redis] = {}


def _redis(url: str) -> redis.Redis:
    """One connection pool per URL and process (a worker runs thousands of syncs)."""
    if url not in _CLIENTS:
        # Bounded waits: a Redis that hangs holds a portal call for two seconds at most, then the call goes.
        _CLIENTS[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return _CLIENTS[url]

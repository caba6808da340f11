"""Portal errors (docs/rules/portal-api.md §5) sorted into what the caller should do about them.

* :class:`Transient` — try again later: the client retries these itself with exponential backoff and jitter
  (bounded by :class:`RetryPolicy`); if they persist the last one is raised.
* :class:`Reauth` — the session is gone (expired, invalidated, OTP asked for): ask the user for an OTP and call
  ``authenticate`` again. :class:`OtpRequired` is the subclass for the portal explicitly asking for an OTP.
* :class:`Permanent` — retrying will not help; ``message`` is safe to show to the user.
* :class:`NoData` — the portal's "nothing found" codes; adapter methods turn them into empty results.
* :class:`IntegrityError` — a decrypted payload failed its HMAC or a file part its SHA-256 (possible tampering or
  a damaged download). Not retried blindly; re-run the download.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


class PortalError(Exception):
    """Base class. ``code`` is the portal's ``error_cd`` (or ``HTTP<status>``), ``message`` is user-safe."""

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.http_status = http_status


class Transient(PortalError):
    pass


class Reauth(PortalError):
    pass


class OtpRequired(Reauth):
    pass


class Permanent(PortalError):
    pass


class NoData(PortalError):
    pass


class IntegrityError(Permanent):
    pass


class TwoBNotGenerated(Permanent):
    """RET2B1023 (not generated yet) or GTR2B-002 (not generated because the previous GSTR-3B was filed late): GSTR-2B
    of that period is not there; offer ``gen_2b`` (generate now)."""


TRANSIENT_CODES = frozenset({"RTN_24", "RETINPROGRESS", "SWEB_9000", "SWEB_9035", "TEC9001"})
OTP_CODES = frozenset({"RETOTPREQUEST", "EVCREQUEST"})
REAUTH_CODES = OTP_CODES | frozenset(
    {"AUTH4033", "AUTH4038", "AUTH158", "RET11402", "RET2B1010", "RT-R1R3BAV-1007"}
)
NO_DATA_CODES = frozenset(
    {"RET13508", "RET13509", "RET13510", "RET11416", "RET11417", "RET2B1016", "IMS0027"}
)
TWOB_NOT_GENERATED_CODES = frozenset({"RET2B1023", "GTR2B-002"})
MESSAGES = {
    "IMSSAV0010": "Previous action is incorrect or the supplier edited the record: download again and re-apply.",
    "GEN5001": "A mandatory parameter was missing in the request to the portal.",
    "TEC4002": "The GSTN public certificate is invalid or out of date: update the configured certificate.",
    "RET2B1023": "GSTR-2B for this period has not been generated yet: regenerate it.",
    "GTR2B-002": "GSTR-2B for this period was not generated because the GSTR-3B of the previous period was filed "
    "late: generate it now.",
    "RET2B1018": "GSTR-2B was requested before the cut-off date for the period.",
    "AUTH403": "The maximum number of portal sessions for this user/GSP is in use: try again later or close one.",
    "AUTH4033": "The portal session is invalid: authenticate again with an OTP.",
    "AUTH4038": "The portal session has expired: authenticate again with an OTP.",
    "RETOTPREQUEST": "The portal asks for an OTP: authenticate again.",
}
# Codes of a save's error report (per record), docs/rules/portal-api.md §5: what the product shows on the document.
RECORD_MESSAGES = {
    "IMSSAV0054": "The portal refused this accept without the answer to whether ITC needs to be reduced "
    "(itcRedReq). Choose Yes, partly or No on the document and push again.",
}


def record_message(code: str, portal_message: str = "") -> str:
    """The message shown on a document the portal refused in a save's error report: ours for the codes we know
    (with the portal's own words after it), else the portal's."""
    ours = RECORD_MESSAGES.get((code or "").strip())
    if ours is None:
        return portal_message
    return f"{ours} (Portal: {portal_message})" if portal_message else ours


RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
# PUT/POST are retried only when the portal surely did not process them (overload / gateway answers).
RETRYABLE_HTTP_UNSAFE = frozenset({429, 502, 503, 504})


def classify(code: str, message: str = "", *, http_status: int | None = None) -> PortalError:
    """The exception for a portal ``error_cd`` (or, with no code, an HTTP status)."""
    code = (code or "").strip()
    text = MESSAGES.get(code) or message or "The portal refused the request."
    if code in OTP_CODES:
        return OtpRequired(text, code=code, http_status=http_status)
    if code in REAUTH_CODES or (not code and http_status in (401, 403)):
        return Reauth(
            text if code else "The portal refused the session: authenticate again.",
            code=code or f"HTTP{http_status}",
            http_status=http_status,
        )
    if code in NO_DATA_CODES:
        return NoData(text, code=code, http_status=http_status)
    if code in TWOB_NOT_GENERATED_CODES:
        return TwoBNotGenerated(text, code=code, http_status=http_status)
    if code in TRANSIENT_CODES or (not code and http_status in RETRYABLE_HTTP):
        return Transient(
            text if code else f"The portal answered HTTP {http_status}.",
            code=code or f"HTTP{http_status}",
            http_status=http_status,
        )
    return Permanent(
        text, code=code or (f"HTTP{http_status}" if http_status else ""), http_status=http_status
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)) seconds."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between attempts (``max_attempts - 1`` of them)."""
        rng = rng or random.Random()  # noqa: S311  # nosec B311  # back-off jitter, not security
        for n in range(max(self.max_attempts - 1, 0)):
            yield rng.uniform(0, min(self.max_delay, self.base_delay * 2**n))


@dataclass(frozen=True)
class PollPolicy:
    """Polling of asynchronous portal work (REQSTS, GENSTS2B, FILEDET after ``est``): bounded, growing waits."""

    max_polls: int = 12
    first_delay: float = 2.0
    factor: float = 1.8
    max_delay: float = 600.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.max_polls):
            yield min(delay, self.max_delay)
            delay *= self.factor

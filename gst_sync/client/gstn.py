"""The GSTN taxpayer-API client (through a GSP) over httpx: :class:`GstnAdapter` implements ``PortalAdapter``.

Everything GSP-specific (base URL, API paths, client id/secret, GSTN certificate) comes from :class:`GstnConfig`.
Retries: transport errors and HTTP 429/5xx are retried with exponential backoff and full jitter, bounded by
``config.retry`` (PUT/POST only on 429/502/503/504 and connection failures, when the portal surely did not act).
Asynchronous work (REQSTS, GENSTS2B, FILEDET after ``est``) is polled with ``config.poll``. Secrets (client
secret, auth tokens, app key, sek, OTP, file tokens) never reach a log line: our lines carry none, and a filter on
the ``gst_sync`` and ``httpx`` loggers masks any registered secret that slips into a message.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx

from gst.sections import GoodsType, section_info
from gst_sync.client import errors
from gst_sync.client.base import IMS_SECTIONS, PortalSession, RequestStatus, ReturnFiling, utcnow
from ims_project.metrics import observe_portal_call

from . import crypto

# GETCNT ``goods_typ`` values and the key of their counts (docs/rules/portal-api.md §1.2): all other ITC, inward
# supplies from an ISD, import of goods.
GOODS_TYPES = {"ALL_OTH": "all_oth", "INV_SUPP_ISD": "inv_supp_isd", "IMP_GDS": "imp_gds"}

log = logging.getLogger("gst_sync.gstn")


# --- log redaction ----------------------------------------------------------------------------------------

_SECRETS: deque[str] = deque(maxlen=2048)
_SECRETS_LOCK = threading.Lock()


def register_secret(value: str | bytes | None) -> None:
    """Mask ``value`` (and its base64 form if bytes) in every record of the ``gst_sync``/``httpx`` loggers."""
    if not value:
        return
    texts = [crypto.b64(value)] if isinstance(value, bytes) else [value]
    with _SECRETS_LOCK:
        for text in texts:
            if len(text) >= 4 and text not in _SECRETS:
                _SECRETS.append(text)


def redact(text: str) -> str:
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()
for _name in ("gst_sync", "httpx", "httpcore"):
    if not any(isinstance(f, RedactingFilter) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_FILTER)


# --- configuration ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GstnConfig:
    """GSP connection settings. ``gstn_certificate`` (PEM bytes) wins over ``gstn_certificate_path``."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    gstn_certificate: bytes | None = field(default=None, repr=False)
    gstn_certificate_path: str | None = None
    ip_usr: str = "127.0.0.1"
    auth_path: str = "taxpayerapi/v1.0/authenticate"
    ims_path: str = "taxpayerapi/v0.3/returns/ims"
    gstr2b_path: str = "taxpayerapi/v4.0/returns/gstr2b"
    # The GSP's common (public) API: return tracking, no taxpayer session (docs/rules/portal-api.md §7).
    common_returns_path: str = "commonapi/v1.0/returns"
    # Native action name of the supplier-side "outward documents with recipient action" call is UNVERIFIED.
    outward_action: str = "GETOUTACT"
    extra_headers: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    write_timeout: float = 60.0
    pool_timeout: float = 10.0
    max_connections: int = 10
    max_keepalive_connections: int = 5
    retry: errors.RetryPolicy = errors.RetryPolicy()
    poll: errors.PollPolicy = errors.PollPolicy()
    refresh_margin: dt.timedelta = dt.timedelta(minutes=10)
    seconds_per_est_minute: float = 60.0  # FILEDET: wait est × this before the first try…
    max_est_wait: float = 600.0  # …but never longer than this

    def certificate(self) -> bytes:
        if self.gstn_certificate:
            return self.gstn_certificate
        if self.gstn_certificate_path:
            return Path(self.gstn_certificate_path).read_bytes()
        raise errors.Permanent(
            "No GSTN public certificate configured (gstn_certificate or gstn_certificate_path)."
        )


# --- the client -------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """httpx's default certificate verification, built once per process and shared by every client: loading the CA
    bundle takes ~0.1 s, which a worker paid on each of its thousands of short sync tasks."""
    return httpx.create_ssl_context()


class Throttle(Protocol):
    """Limits on portal calls shared between workers (``gst_sync.limits.PortalThrottle``)."""

    def wait(self, gstin: str) -> float:
        """Block until a call for ``gstin`` may go; returns the seconds waited."""
        ...

    def pause(self, gstin: str, seconds: float | None, *, whole_credential: bool = False) -> float:
        """The portal answered 429: hold calls for ``gstin`` (or the credential); returns the pause applied."""
        ...


class GstnAdapter:
    """``PortalAdapter`` over HTTP. One instance may serve many GSTINs (one session each); close it when done."""

    def __init__(
        self,
        config: GstnConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        throttle: Throttle | None = None,
    ):
        self.config = config
        self._throttle = throttle
        register_secret(config.client_secret)
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311  # nosec B311  # back-off jitter, not security
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.write_timeout,
                pool=config.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_keepalive_connections,
            ),
            transport=transport,
            follow_redirects=False,
            verify=tls_context(),
        )
        self._sessions: dict[str, PortalSession] = {}
        self._otp_app_keys: dict[str, bytes] = {}
        self._lock = threading.RLock()
        # Told what a long download is doing: ``progress(text, done, total)`` (see gst_sync.services.run_sync).
        self.progress: Callable[[str, int | None, int | None], None] | None = None

    def _report(self, text: str, done: int | None = None, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(text, done, total)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GstnAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sessions -----------------------------------------------------------------------------------------

    def session(self, gstin: str) -> PortalSession | None:
        return self._sessions.get(gstin)

    def load_session(self, session: PortalSession) -> None:
        """Use a stored session (e.g. from :func:`gst_sync.client.base.open_session`)."""
        for secret in (session.auth_token, session.sek, session.app_key):
            register_secret(secret)
        with self._lock:
            self._sessions[session.gstin] = session

    def forget_session(self, gstin: str) -> None:
        with self._lock:
            self._sessions.pop(gstin, None)

    def request_otp(self, *, gstin: str, username: str) -> None:
        """OTPREQUEST: the portal sends an OTP to the taxpayer. Follow with :meth:`authenticate`."""
        app_key = crypto.generate_app_key()
        register_secret(app_key)
        body = {"action": "OTPREQUEST", "app_key": self._rsa(app_key), "username": username}
        self._envelope(
            "POST", self.config.auth_path, action="OTPREQUEST", gstin=gstin, username=username, json_body=body
        )
        with self._lock:
            self._otp_app_keys[gstin] = app_key

    def authenticate(self, *, gstin: str, username: str, otp: str) -> PortalSession:
        """AUTHTOKEN with the OTP: opens (and returns) the session for ``gstin``."""
        register_secret(otp)
        with self._lock:
            app_key = self._otp_app_keys.pop(gstin, None) or crypto.generate_app_key()
        register_secret(app_key)
        body = {
            "action": "AUTHTOKEN",
            "app_key": self._rsa(app_key),
            "username": username,
            "otp": crypto.encrypt_otp(otp, app_key),
        }
        env = self._envelope(
            "POST", self.config.auth_path, action="AUTHTOKEN", gstin=gstin, username=username, json_body=body
        )
        session = self._session_from(env, gstin=gstin, username=username, app_key=app_key)
        log.info("gstn session opened gstin=%s expires_at=%s", gstin, session.expires_at.isoformat())
        return session

    def refresh(self, *, gstin: str) -> PortalSession:
        """REFRESHTOKEN: a new token and sek before the old ones expire. Raises ``Reauth`` if already expired."""
        with self._lock:
            old = self._live(gstin, refresh=False)
            new_key = crypto.generate_app_key()
            register_secret(new_key)
            body = {
                "action": "REFRESHTOKEN",
                "app_key": crypto.aes_encrypt(old.sek, new_key),
                "username": old.username,
                "auth_token": old.auth_token,
            }
            env = self._envelope(
                "POST",
                self.config.auth_path,
                action="REFRESHTOKEN",
                gstin=gstin,
                username=old.username,
                json_body=body,
                auth_token=old.auth_token,
            )
            session = self._session_from(env, gstin=gstin, username=old.username, app_key=new_key)
        log.info("gstn session refreshed gstin=%s expires_at=%s", gstin, session.expires_at.isoformat())
        return session

    def _rsa(self, app_key: bytes) -> str:
        try:
            return crypto.rsa_encrypt(self.config.certificate(), app_key)
        except crypto.CryptoError as exc:
            raise errors.Permanent(f"The configured GSTN certificate cannot be used: {exc}") from exc

    def _session_from(self, env: dict, *, gstin: str, username: str, app_key: bytes) -> PortalSession:
        try:
            token, sek_b64, minutes = env["auth_token"], env["sek"], int(env.get("expiry") or 0)
            sek = crypto.decrypt_sek(sek_b64, app_key)
        except (KeyError, ValueError, crypto.CryptoError) as exc:
            raise errors.Permanent("The portal's authentication answer could not be read.") from exc
        register_secret(token)
        register_secret(sek)
        session = PortalSession(
            gstin=gstin,
            username=username,
            auth_token=token,
            sek=sek,
            app_key=app_key,
            expires_at=utcnow() + dt.timedelta(minutes=minutes),
        )
        with self._lock:
            self._sessions[gstin] = session
        return session

    def _live(self, gstin: str, *, refresh: bool = True) -> PortalSession:
        with self._lock:
            session = self._sessions.get(gstin)
            if session is None:
                raise errors.Reauth(
                    f"No portal session for {gstin}: authenticate with an OTP.", code="NOSESSION"
                )
            if session.is_expired():
                self._sessions.pop(gstin, None)
                raise errors.Reauth(
                    f"The portal session for {gstin} has expired: authenticate again.", code="AUTH4038"
                )
            if refresh and session.expires_within(self.config.refresh_margin):
                session = self.refresh(gstin=gstin)
            return session

    # --- common API -----------------------------------------------------------------------------------------

    def get_return_filings(self, *, gstin: str, fy: str, return_type: str = "R3B") -> list[ReturnFiling]:
        """RETTRACK: the returns ``gstin`` filed in financial year ``fy`` (``YYYY-YY``), narrowed to
        ``return_type`` (``R3B``, ``R1``; empty for all). A GSP common-API call: the GSP's client credentials,
        no taxpayer session, a plain JSON answer; works for any GSTIN (our own and suppliers')."""
        params = {"action": "RETTRACK", "gstin": gstin, "fy": fy}
        if return_type:
            params["type"] = return_type
        headers = {
            "clientid": self.config.client_id,
            "client-secret": self.config.client_secret,
            "ip-usr": self.config.ip_usr,
            "txn": uuid.uuid4().hex,
            **self.config.extra_headers,
        }
        response = self._send(
            "GET",
            self.config.common_returns_path,
            action="RETTRACK",
            gstin=gstin,
            headers=headers,
            params=params,
        )
        env = _json(response)
        if str(env.get("status_cd", "1")) == "0" or "error" in env:
            err = env.get("error") or {}
            raise errors.classify(
                str(err.get("error_cd", "")), str(err.get("message", "")), http_status=response.status_code
            )
        body = env["data"] if isinstance(env.get("data"), dict) else env
        return ReturnFiling.parse_list(gstin, body)

    # --- IMS ----------------------------------------------------------------------------------------------

    def get_ims_documents(self, *, gstin: str, section: str) -> list[dict[str, Any]]:
        """GETINV for one section (key ``b2bcn`` or code ``CN``): the records, via FILEDET when large."""
        info = section_info(section)
        params = {"section": info.api_code}
        if info.goods_typ != GoodsType.ALL_OTHER:  # Import of Goods and ISD tabs (docs/rules/sections.md §4)
            params["goods_typ"] = info.goods_typ.value
        return self._section_records(gstin, self.config.ims_path, "GETINV", params, info.key.value)

    def get_outward_actions(self, *, gstin: str, section: str) -> list[dict[str, Any]]:
        """Supplier side: recipients' actions on ``gstin``'s own outward documents of one section."""
        info = section_info(section)
        return self._section_records(
            gstin,
            self.config.ims_path,
            self.config.outward_action,
            {"section": info.api_code},
            info.key.value,
        )

    def get_ims_counts(self, *, gstin: str, goods_typ: str = "ALL_OTH") -> dict[str, Any]:
        """GETCNT of one ``goods_typ`` (:data:`GOODS_TYPES`: ``ALL_OTH``, ``INV_SUPP_ISD``, ``IMP_GDS``; any case):
        ``{"all_oth": {"b2b": {"noaction","accept","reject","pending"}, …, "ttl_cnt"}}``, the counts under
        ``all_oth``, ``inv_supp_isd`` or ``imp_gds`` (the answer's keys read in lower case). An unknown
        ``goods_typ`` is refused before anything is sent (docs/rules/portal-api.md §1.2)."""
        code = str(goods_typ or "").strip().upper()
        if code not in GOODS_TYPES:
            raise errors.Permanent(
                f"goods_typ {goods_typ!r} is not one of {', '.join(GOODS_TYPES)}.", code="GEN5001"
            )
        try:
            data = self._call("GET", self.config.ims_path, "GETCNT", gstin, params={"goods_typ": code})
        except errors.NoData:
            return {}
        return {str(k).lower(): v for k, v in (data or {}).items()}

    def get_all_ims_counts(self, *, gstin: str) -> dict[str, Any]:
        """GETCNT of every ``goods_typ``: ``{"all_oth": {…}, "inv_supp_isd": {…}, "imp_gds": {…}}`` (a type with
        nothing is an empty object)."""
        out: dict[str, Any] = {}
        for code, key in GOODS_TYPES.items():
            out[key] = self.get_ims_counts(gstin=gstin, goods_typ=code).get(key, {})
        return out

    def save_actions(self, *, gstin: str, invdata: dict[str, list[dict[str, Any]]]) -> str:
        """SAVE: records (with ``action`` and ``prev_status``) per section key. Returns the reference id."""
        return self._put_ims(gstin, "SAVE", "SAVE", invdata)

    def reset_actions(self, *, gstin: str, invdata: dict[str, list[dict[str, Any]]]) -> str:
        """RESETIMS: records (with ``prev_status``, no ``action``) back to No Action. Returns the reference id."""
        return self._put_ims(gstin, "RESETIMS", "RESET", invdata)

    def request_status(self, *, gstin: str, reference_id: str) -> RequestStatus:
        data = self._call("GET", self.config.ims_path, "REQSTS", gstin, params={"int_tran_id": reference_id})
        return RequestStatus.parse(reference_id, data or {})

    def wait_for_request(self, *, gstin: str, reference_id: str) -> RequestStatus:
        """Poll REQSTS with ``config.poll`` until it is not IP; after the last poll the IP status is returned."""
        return self._wait(lambda: self.request_status(gstin=gstin, reference_id=reference_id))

    def _put_ims(self, gstin: str, action: str, reqtyp: str, invdata: dict[str, list[dict[str, Any]]]) -> str:
        unknown = sorted(set(invdata) - set(IMS_SECTIONS))
        if unknown or not any(invdata.values()):
            raise errors.Permanent(
                f"Nothing to send or unknown IMS sections: {', '.join(unknown) or 'empty'}."
            )
        payload = {"rtin": gstin, "reqtyp": reqtyp, "invdata": {k: v for k, v in invdata.items() if v}}
        data = self._call("PUT", self.config.ims_path, action, gstin, payload=payload)
        return self._reference(data)

    # --- GSTR-2B ------------------------------------------------------------------------------------------

    def get_2b(self, *, gstin: str, period: str) -> dict[str, Any]:
        """GET2B of ``period`` (MMYYYY): the decrypted ``data`` object, file parts 1..fc merged.

        Document lists of ``docdata``/``docRejdata`` (and list-valued summaries) are concatenated across parts;
        scalar fields come from the first part. No documents (RET2B1016) gives empty ``docdata``/``docRejdata``.
        Raises ``TwoBNotGenerated`` (RET2B1023) when the period has no 2B yet.
        """
        params = {"rtnprd": period}
        try:
            first = self._call(
                "GET", self.config.gstr2b_path, "GET2B", gstin, params=params, ret_period=period
            )
        except errors.NoData:
            return {"gstin": gstin, "rtnprd": period, "docdata": {}, "docRejdata": {}}
        merged = dict((first or {}).get("data") or {})
        file_count = int(merged.get("fc") or 0)
        if file_count:
            for file_num in range(1, file_count + 1):
                part = self._call(
                    "GET",
                    self.config.gstr2b_path,
                    "GET2B",
                    gstin,
                    params={**params, "file_num": str(file_num)},
                    ret_period=period,
                )
                _merge(merged, (part or {}).get("data") or {})
        merged.setdefault("docdata", {})
        merged.setdefault("docRejdata", {})
        return merged

    def gen_2b(self, *, gstin: str, period: str) -> str:
        """GEN2B: ask the portal to (re)generate the 2B of ``period``. Returns the reference id."""
        data = self._call(
            "PUT", self.config.gstr2b_path, "GEN2B", gstin, payload={"rtin": gstin, "itcprd": period}
        )
        return self._reference(data)

    def gen_2b_status(self, *, gstin: str, reference_id: str) -> RequestStatus:
        data = self._call(
            "GET", self.config.gstr2b_path, "GENSTS2B", gstin, params={"int_tran_id": reference_id}
        )
        return RequestStatus.parse(reference_id, data or {})

    def wait_for_2b(self, *, gstin: str, reference_id: str) -> RequestStatus:
        return self._wait(lambda: self.gen_2b_status(gstin=gstin, reference_id=reference_id))

    # --- plumbing -----------------------------------------------------------------------------------------

    def _wait(self, poll: Callable[[], RequestStatus]) -> RequestStatus:
        status = None
        for delay in self.config.poll.delays():
            self._sleep(delay)
            status = poll()
            if status.done:
                return status
        return status if status is not None else poll()

    @staticmethod
    def _reference(data: Any) -> str:
        ref = (data or {}).get("reference_id") if isinstance(data, dict) else None
        if not ref:
            raise errors.Permanent("The portal accepted the request but returned no reference id.")
        return str(ref)

    def _section_records(self, gstin: str, path: str, action: str, params: dict, key: str) -> list[dict]:
        try:
            data = self._call("GET", path, action, gstin, params=params)
        except errors.NoData:
            return []
        data = data or {}
        if "token" in data:
            data = self._download_files(gstin, path, str(data["token"]), data.get("est"))
        records = data.get(key)
        if records is None:  # the portal keys by section; take the only list if it used another spelling
            lists = [v for v in data.values() if isinstance(v, list)]
            records = lists[0] if len(lists) == 1 else []
        return list(records)

    def _download_files(self, gstin: str, path: str, token: str, est: Any) -> dict[str, Any]:
        """The large-result path: wait ``est``, poll FILEDET until ready, fetch every part, check, merge."""
        register_secret(token)
        try:
            minutes = float(est or 0)
        except (TypeError, ValueError):
            minutes = 0.0
        about = f" (about {minutes:g} min)" if minutes else ""
        self._report(f"Waiting for the portal to prepare its file{about}")
        self._sleep(min(minutes * self.config.seconds_per_est_minute, self.config.max_est_wait))
        details = None
        for check, delay in enumerate([0.0, *self.config.poll.delays()], start=1):
            self._sleep(delay)
            if check > 1:
                self._report(f"Waiting for the portal's file: not ready yet (asked {check} times)")
            try:
                details = self._call("GET", path, "FILEDET", gstin, params={"token": token})
                break
            except errors.Transient as exc:
                if exc.http_status is not None and exc.code.startswith("HTTP"):
                    raise
                log.info("gstn FILEDET not ready gstin=%s code=%s", gstin, exc.code)
        if details is None:
            raise errors.Transient(
                "The portal has not prepared the files yet; try again later.", code="RTN_24"
            )
        try:
            ek = crypto.unb64(details["ek"])
            urls = list(details["urls"])
        except (KeyError, TypeError, crypto.CryptoError) as exc:
            raise errors.Permanent("The portal's file list could not be read.") from exc
        register_secret(ek)
        merged: dict[str, Any] = {}
        for n, entry in enumerate(urls, start=1):
            self._report(f"Downloading the portal's file, part {n} of {len(urls)}", n - 1, len(urls))
            raw = self._download(gstin, entry["ul"])
            try:
                part = crypto.open_file(raw, ek, entry.get("hash", ""))
            except crypto.CryptoError as exc:
                raise errors.IntegrityError(
                    f"File part {n} of {len(urls)} failed its integrity check ({exc}); download again.",
                    code="FILEHASH",
                ) from exc
            _merge(merged, part or {})
        return merged

    def _download(self, gstin: str, url: str) -> bytes:
        target = (
            url
            if url.startswith(("http://", "https://"))
            else urljoin(str(self._http.base_url), url.lstrip("/"))
        )
        response = self._send("GET", target, action="FILE", gstin=gstin, headers={})
        return response.content

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        gstin: str,
        *,
        params: dict | None = None,
        payload: Any = None,
        ret_period: str | None = None,
    ) -> Any:
        """An authenticated call: session (refreshed if near expiry), encryption both ways, error mapping."""
        session = self._live(gstin)
        if method == "GET":
            query, body = {"action": action, "gstin": gstin, **(params or {})}, None
        else:
            query, body = None, {"action": action, **crypto.seal_request(payload, session.sek)}
        try:
            env = self._envelope(
                method,
                path,
                action=action,
                gstin=gstin,
                username=session.username,
                params=query,
                json_body=body,
                auth_token=session.auth_token,
                ret_period=ret_period,
            )
        except errors.Reauth:
            self.forget_session(gstin)
            raise
        if "data" not in env:
            return {k: v for k, v in env.items() if k != "status_cd"}
        try:
            return crypto.open_response(env, session.sek)
        except (KeyError, crypto.CryptoError) as exc:
            raise errors.IntegrityError(
                f"The portal's {action} answer failed decryption or its HMAC check.", code="HMAC"
            ) from exc

    def _headers(
        self, gstin: str, username: str, auth_token: str | None, ret_period: str | None
    ) -> dict[str, str]:
        headers = {
            "clientid": self.config.client_id,
            "client-secret": self.config.client_secret,
            "state-cd": gstin[:2],
            "ip-usr": self.config.ip_usr,
            "txn": uuid.uuid4().hex,
            "username": username,
            "gstin": gstin,
            **self.config.extra_headers,
        }
        if auth_token:
            headers["auth-token"] = auth_token
        if ret_period:
            headers["ret_period"] = ret_period
        return headers

    def _envelope(
        self,
        method: str,
        path: str,
        *,
        action: str,
        gstin: str,
        username: str,
        params: dict | None = None,
        json_body: dict | None = None,
        auth_token: str | None = None,
        ret_period: str | None = None,
    ) -> dict[str, Any]:
        """Send with retries and return the JSON envelope of a successful answer (``status_cd`` 1)."""
        headers = self._headers(gstin, username, auth_token, ret_period)
        response = self._send(
            method, path, action=action, gstin=gstin, headers=headers, params=params, json_body=json_body
        )
        env = _json(response)
        if str(env.get("status_cd", "1")) == "0" or "error" in env:
            err = env.get("error") or {}
            raise errors.classify(
                str(err.get("error_cd", "")), str(err.get("message", "")), http_status=response.status_code
            )
        return env

    def _send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        gstin: str,
        headers: dict[str, str],
        params: dict | None = None,
        json_body: dict | None = None,
    ) -> httpx.Response:
        safe = method == "GET"
        retryable_http = errors.RETRYABLE_HTTP if safe else errors.RETRYABLE_HTTP_UNSAFE
        content = crypto.dumps(json_body).encode() if json_body is not None else None
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        delays = self.config.retry.delays(self._rng)
        attempt = 0
        while True:
            attempt += 1
            failure: errors.PortalError
            sent = time.perf_counter()
            retry_after: float | None = None
            if self._throttle is not None:
                self._throttle.wait(gstin)
            try:
                response = self._http.request(method, url, params=params, content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                observe_portal_call(action, "connect_error", time.perf_counter() - sent)
                failure = errors.Transient(
                    f"Could not reach the portal ({type(exc).__name__}).", code="CONNECT"
                )
            except httpx.TransportError as exc:
                observe_portal_call(action, "transport_error", time.perf_counter() - sent)
                failure = errors.Transient(
                    f"The portal connection failed ({type(exc).__name__}).", code="TRANSPORT"
                )
                if not safe:  # the portal may have acted on it: do not send it twice
                    log.warning(
                        "gstn %s %s gstin=%s txn=%s failed after sending: %s",
                        method,
                        action,
                        gstin,
                        headers.get("txn"),
                        type(exc).__name__,
                    )
                    raise failure from exc
            else:
                observe_portal_call(action, str(response.status_code), time.perf_counter() - sent)
                log.info(
                    "gstn %s %s gstin=%s txn=%s status=%s attempt=%d",
                    method,
                    action,
                    gstin,
                    headers.get("txn"),
                    response.status_code,
                    attempt,
                )
                if response.status_code < 400:
                    return response
                if response.status_code not in retryable_http:
                    return response if _has_error_body(response) else _raise_http(response)
                failure = errors.classify("", http_status=response.status_code)
                if response.status_code == 429:
                    # Too many requests: wait its Retry-After, and every worker holds off (gst_sync/limits.py).
                    retry_after = _retry_after(response)
                    if self._throttle is not None:
                        scope = response.headers.get("X-RateLimit-Scope", "").lower()
                        retry_after = self._throttle.pause(
                            gstin, retry_after, whole_credential=scope == "client"
                        )
            delay = next(delays, None)
            if delay is not None and retry_after is not None:  # the portal said how long: wait at least that
                delay = max(delay, retry_after)
            if delay is None:
                log.warning(
                    "gstn %s %s gstin=%s gave up after %d attempts: %s",
                    method,
                    action,
                    gstin,
                    attempt,
                    failure.code,
                )
                raise failure
            log.info("gstn %s %s gstin=%s retry in %.2fs (%s)", method, action, gstin, delay, failure.code)
            self._sleep(delay)


def _retry_after(response: httpx.Response) -> float:
    """Seconds the portal asks to wait after a 429 (its ``Retry-After`` in seconds; 0 when absent or unreadable)."""
    try:
        return min(max(float(response.headers.get("Retry-After") or 0), 0.0), 600.0)
    except ValueError:
        return 0.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = crypto.loads(response.content)
    except ValueError as exc:
        raise errors.Permanent(
            f"The portal answered HTTP {response.status_code} with no JSON.", http_status=response.status_code
        ) from exc
    if not isinstance(body, dict):
        raise errors.Permanent(
            "The portal answered with an unexpected JSON shape.", http_status=response.status_code
        )
    return body


def _has_error_body(response: httpx.Response) -> bool:
    try:
        return isinstance(crypto.loads(response.content).get("error"), dict)
    except (ValueError, AttributeError):
        return False


def _raise_http(response: httpx.Response) -> httpx.Response:
    raise errors.classify("", http_status=response.status_code)


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Deep merge of file parts: dicts recurse, lists concatenate, scalars keep the first value."""
    for key, value in part.items():
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        elif isinstance(into[key], list) and isinstance(value, list):
            into[key] = into[key] + value

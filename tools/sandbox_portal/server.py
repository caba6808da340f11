"""HTTP face of the sandbox portal: stdlib ``ThreadingHTTPServer``, loopback only.

API (same encryption as GSTN, see ``gst_sync.client.crypto``); the version segment of the path is not checked:
  POST .../authenticate                  OTPREQUEST, AUTHTOKEN, REFRESHTOKEN
  GET  .../returns/ims?action=GETINV|FILEDET|GETCNT|REQSTS|GETOUTACT
  PUT  .../returns/ims                   SAVE, RESETIMS
  GET  .../returns/gstr2b?action=GET2B|GENSTS2B
  PUT  .../returns/gstr2b                GEN2B
  GET  /files/<token>/<n>.tar.gz         FILEDET parts (no auth, like the GSTN file server)
  GET  .../commonapi/.../returns?action=RETTRACK&gstin=&fy=[&type=R3B|R1]
                                         return tracking: GSP client credentials only, no session, plain JSON
Sandbox-only control:
  GET  /__sandbox__/certificate          the portal's public certificate (PEM) for client configuration
  POST /__sandbox__/faults               latency_ms, error_rate, error_status, fail_next, expire_sessions_now,
                                         expire_after_calls, break_file_hash, filedet_not_ready, status_ip_polls,
                                         supplier_edit {gstin, section, number[, stin, txval_delta]},
                                         large_threshold, records_per_file, est_minutes, twob_records_per_file,
                                         session_minutes, late_3b_periods [MMYYYY: GET2B answers GTR2B-002
                                         until a GEN2B], rate_limit_per_gstin, rate_limit_per_client,
                                         retry_after ["too many requests": over N calls/s per GSTIN or
                                         client id answer 429 with Retry-After], clear
  POST /__sandbox__/reset                {seed?, docs?}
  POST /__sandbox__/seed                 {gstin, records: {section: [...]}} or {gstin, docs, seed}
  POST /__sandbox__/filings              {gstin, ret_prd, dof[, rtntype, arn]} the GSTIN filed that return;
                                         {gstin, ret_prd, remove: true}; {gstin, clear: true}
  GET  /__sandbox__/stats                API calls counted per action
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gst_sync.client import crypto
from tools.sandbox_portal.portal import Portal, SandboxError

log = logging.getLogger("tools.sandbox_portal")
MAX_BODY = 8 * 1024 * 1024
FILE_RE = re.compile(r"^/files/([0-9a-f]{32})/(\d{1,4})\.tar\.gz$")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def is_private(host: str) -> bool:
    """Loopback or a private-range address (a container network, with --allow-private-network)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return addr.is_loopback or addr.is_private


class Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, each response waits ~40 ms for the
    # client's delayed ACK of the headers (keep-alive connections).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # --- plumbing -----------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        if not (is_private if self.server.allow_private else is_loopback)(self.client_address[0]):
            self._send(
                403, {"status_cd": "0", "error": {"error_cd": "SBX-LOOPBACK", "message": "loopback only"}}
            )
            return
        url = urlsplit(self.path)
        self.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            body = self._body()
            if url.path.startswith("/__sandbox__/"):
                self._control(method, url.path, body)
            elif (m := FILE_RE.match(url.path)) and method == "GET":
                raw = self.server.portal.file_part(m.group(1), int(m.group(2)))
                if raw is None:
                    self._send(
                        404, {"status_cd": "0", "error": {"error_cd": "RET11417", "message": "No file"}}
                    )
                else:
                    self._send_bytes(200, raw, "application/gzip")
            else:
                self._api(method, url.path, body)
        except SandboxError as exc:
            self._send(
                exc.status, {"status_cd": "0", "error": {"error_cd": exc.code, "message": exc.message}}
            )
        except (ValueError, KeyError, TypeError) as exc:
            self._send(
                400, {"status_cd": "0", "error": {"error_cd": "GEN5001", "message": f"Bad request: {exc}"}}
            )

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise SandboxError("SBX-SIZE", "request body too large", 413)
        if not length:
            return {}
        try:
            return crypto.loads(self.rfile.read(length))
        except json.JSONDecodeError as exc:
            raise SandboxError("GEN5001", "body is not JSON", 400) from exc

    def _send(self, status: int, payload: Any) -> None:
        self._send_bytes(status, crypto.dumps(payload).encode(), "application/json")

    def _send_bytes(self, status: int, raw: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _too_many(self, retry_after: int, scope: str) -> None:
        """HTTP 429 as a rate-limiting gateway sends it: Retry-After, and which limit was hit."""
        raw = b"Too many requests"
        self.send_response(429)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Retry-After", str(retry_after))
        self.send_header("X-RateLimit-Scope", scope)
        self.end_headers()
        self.wfile.write(raw)

    # --- control ------------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: dict) -> None:
        portal = self.server.portal
        name = path.removeprefix("/__sandbox__/").strip("/")
        if method == "GET" and name == "certificate":
            self._send_bytes(200, portal.certificate_pem, "application/x-pem-file")
        elif method == "GET" and name == "health":
            self._send(200, {"ok": True})
        elif method == "GET" and name == "stats":
            self._send(200, portal.snapshot_stats())
        elif method == "POST" and name == "faults":
            self._send(200, portal.set_faults(body))
        elif method == "POST" and name == "reset":
            portal.reset(seed=body.get("seed"), docs=body.get("docs"))
            self._send(200, {"ok": True})
        elif method == "POST" and name == "seed":
            self._send(200, portal.seed_docs(body))
        elif method == "POST" and name == "filings":
            self._send(200, portal.set_filing(body))
        else:
            self._send(404, {"error": "unknown sandbox control endpoint"})

    # --- API ----------------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: dict) -> None:
        portal = self.server.portal
        h = self.headers
        action = str(self.query.get("action") or body.get("action") or "")
        failure = portal.before_call(action or path)
        if failure == 429:
            self._too_many(int(portal.faults.get("retry_after") or 0), "gstin")
            return
        if failure:
            self._send_bytes(failure, b"Service temporarily unavailable", "text/plain")
            return
        portal.check_client(h.get("clientid"), h.get("client-secret"))
        limited = portal.too_many(
            h.get("gstin") or str(self.query.get("gstin") or ""), h.get("clientid") or ""
        )
        if limited:
            self._too_many(*limited)
            return
        if "/commonapi/" in f"/{path.lstrip('/')}":  # the GSP's common API: client credentials, no session
            if method != "GET" or action != "RETTRACK" or not path.rstrip("/").endswith("/returns"):
                raise SandboxError("GEN5001", f"Unknown common API call {action!r} on {path}", 404)
            result = portal.rettrack(
                str(self.query.get("gstin") or ""),
                str(self.query.get("fy") or ""),
                self.query.get("type", ""),
            )
            self._send(200, {"status_cd": "1", **result})
            return
        gstin, username = h.get("gstin") or "", h.get("username") or ""
        if len(gstin) != 15 or h.get("state-cd") != gstin[:2] or not username or not h.get("txn"):
            raise SandboxError("GEN5001", "Mandatory headers missing (gstin, state-cd, username, txn)")
        if path.endswith("/authenticate") and method == "POST":
            self._send(200, portal.authenticate(gstin, username, body))
            return
        sek = portal.session_for(h.get("auth-token") or "", gstin, username)
        if gstin != self.query.get("gstin", gstin):
            raise SandboxError("GEN5001", "gstin parameter differs from the gstin header")
        result = self._route(method, path, action, gstin, body, sek)
        self._send(200, {"status_cd": "1", **crypto.seal_response(result, sek)})

    def _route(self, method: str, path: str, action: str, gstin: str, body: dict, sek: bytes) -> Any:
        portal, q = self.server.portal, self.query
        if method == "PUT":
            try:
                payload = crypto.open_request(body, sek)
            except (KeyError, crypto.CryptoError) as exc:
                raise SandboxError(
                    "SBX-HMAC", f"Request body could not be decrypted or verified: {exc}"
                ) from exc
            kinds = {("ims", "SAVE"): "SAV", ("ims", "RESETIMS"): "RST", ("gstr2b", "GEN2B"): "GEN2B"}
            kind = kinds.get((path.rsplit("/", 1)[-1], action))
            if kind is None:
                raise SandboxError("GEN5001", f"Unknown action {action}")
            return portal.submit(gstin, kind, payload)
        if method != "GET":
            raise SandboxError("GEN5001", "Unsupported method", 405)
        if path.endswith("/returns/ims"):
            if action == "GETINV":
                return portal.getinv(gstin, q["section"], q.get("goods_typ"))
            if action == "FILEDET":
                return portal.filedet(gstin, q["token"], base="")
            if action == "GETCNT":
                return portal.counts(gstin, q.get("goods_typ", "ALL_OTH"))
            if action == "REQSTS":
                return portal.status(gstin, q["int_tran_id"])
            if action == "GETOUTACT":
                return portal.outward(gstin, q["section"])
        if path.endswith("/returns/gstr2b"):
            if action == "GET2B":
                return portal.get2b(gstin, q["rtnprd"], q.get("file_num"))
            if action == "GENSTS2B":
                return portal.status(gstin, q["int_tran_id"])
        raise SandboxError("GEN5001", f"Unknown action {action!r} for {path}", 404)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, portal: Portal, host: str = "127.0.0.1", port: int = 0, *, allow_private: bool = False
    ):
        # Loopback only, unless told it runs inside a private container network (docker-compose's sandbox
        # service): then it may bind every interface but still answers private-range clients only.
        if not is_loopback(host) and not (allow_private and host == "0.0.0.0"):  # noqa: S104
            raise ValueError(
                "the sandbox portal binds to loopback only (or 0.0.0.0 with --allow-private-network)"
            )
        self.portal = portal
        self.allow_private = allow_private
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

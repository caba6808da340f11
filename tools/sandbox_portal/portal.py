"""State and behaviour of the sandbox portal, independent of HTTP (``server.py`` maps requests onto it).

Validation error codes whose real portal code is not documented (docs/rules/portal-api.md §5 lists none) are prefixed
``SBX-``; documented ones (IMSSAV0010, RET13509, RET2B1016, RTN_24, AUTH4033/4034/4038, GEN5001, TEC4002) are used
as the portal uses them.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import random
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gst.periods import india_today
from gst.sections import SECTIONS, SECTIONS_BY_GOODS_TYPE, DocKind, GoodsType, Section, section_info
from gst_sync.client import crypto
from tools.sandbox_portal import generator

SANDBOX_OTP = "575757"  # as on the GSTN sandbox
DEFAULT_GSTINS = ("27AAICZ1234Q1ZQ",)
AMOUNT_FIELDS = ("val", "txval", "iamt", "camt", "samt", "cess")
IDENTITY_FIELDS = ("inv_typ", "rtnprd", "pos")
ITC_RED_SECTIONS = {"b2ba", "b2bcn", "b2bcna", "b2bdna"}
# Accept of a specified record without itcRedReq (docs/rules/ims-actions.md §4.4), with the portal's own words.
ITC_RED_MISSING = ("IMSSAV0054", "Error! Please enter value for the column itcRedReq.")
ITC_RED_FROM = (2025, 10)  # the declaration applies from the October-2025 period
# GETCNT goods_typ → the key of its counts and the sections they cover (docs/rules/portal-api.md §1.2).
COUNT_GROUPS = {
    g.value: (g.value.lower(), tuple(s.value for s in SECTIONS_BY_GOODS_TYPE[g])) for g in GoodsType
}
# A bill of entry cannot be rejected (docs/rules/sections.md §4.1); the portal's code is not published.
BOE_REJECT = ("SBX-IMPGREJ", "Reject is not allowed for Import of Goods records")
FILED = {"filed", "f"}  # srcfilstatus spellings that mean filed ("Filed", "FILED", "F")
DECL_HEADS = (("declIgst", "iamt"), ("declCgst", "camt"), ("declSgst", "samt"), ("declCess", "cess"))
DEFAULT_FAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "error_rate": 0.0,  # share of API calls answered with ``error_status``
    "error_status": 503,
    "fail_next": 0,  # the next N API calls answer ``error_status`` (deterministic)
    "expire_after_calls": None,  # sessions expire after N more authenticated calls
    "break_file_hash": None,  # FILEDET part number (1-based) served with damaged bytes
    "file_latency_ms": 0,  # each FILEDET part is served this late (a large file on a slow line)
    "filedet_not_ready": 0,  # FILEDET answers RTN_24 this many times per token
    "status_ip_polls": 1,  # REQSTS / GENSTS2B answer IP this many times first
    "large_threshold": 500,  # GETINV above this many records goes the token/FILEDET way
    "records_per_file": 200,
    "est_minutes": 1,  # GETINV's "est" (minutes until the FILEDET parts are ready) on the large-result path
    "twob_records_per_file": 500,
    "session_minutes": 360,
    # GET2B of these periods (MMYYYY) answers GTR2B-002 (not generated: the previous GSTR-3B was filed late) until a
    # GEN2B of the period is done.
    "late_3b_periods": [],
    # "Too many requests" mode: more than this many API calls within one second for one GSTIN (per_gstin) or for
    # one client id (per_client) answer HTTP 429 with Retry-After: retry_after seconds (0 = no limit).
    "rate_limit_per_gstin": 0,
    "rate_limit_per_client": 0,
    "retry_after": 1,
}
MAX_LATENCY_MS = 10_000


class SandboxError(Exception):
    def __init__(self, code: str, message: str, status: int = 200):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def _make_keypair() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IMS sandbox portal")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


class Portal:
    def __init__(
        self,
        *,
        seed: int = 1,
        docs: int = 40,
        gstins: tuple[str, ...] = DEFAULT_GSTINS,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",  # noqa: S107
        state_file: str | None = None,
    ):
        self.lock = threading.RLock()
        self.private_key, self.certificate_pem = _make_keypair()
        self.client_id, self.client_secret = client_id, client_secret
        self.seed, self.default_docs, self.gstins = seed, docs, tuple(gstins)
        self.state_file = Path(state_file) if state_file else None
        keep = bool(self.state_file and self.state_file.exists())
        self.reset(save=not keep)
        if keep:
            self._load()

    # --- control ------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, docs: int | None = None, save: bool = True) -> None:
        with self.lock:
            self.docs: dict[str, dict[str, list[dict]]] = {}
            self.sessions: dict[str, dict[str, Any]] = {}
            self.otp_keys: dict[tuple[str, str], bytes] = {}
            self.requests: dict[str, dict[str, Any]] = {}
            self.tokens: dict[str, dict[str, Any]] = {}
            self.twob: dict[tuple[str, str], dict[str, Any]] = {}
            self.filings: dict[str, list[dict[str, Any]]] = {}  # GSTIN → RETTRACK entries (EFiledlist)
            self.faults: dict[str, Any] = dict(DEFAULT_FAULTS)
            self.stats: Counter[str] = Counter()
            self.limit_stats: Counter[str] = Counter()  # 429 answers by scope (gstin / client)
            self.call_windows: dict[str, list[float]] = {}
            self.rng = random.Random(seed if seed is not None else self.seed)  # noqa: S311
            for gstin in self.gstins:
                self.docs[gstin] = generator.generate(
                    gstin,
                    docs=docs if docs is not None else self.default_docs,
                    seed=seed if seed is not None else self.seed,
                )
            if save:
                self._save()

    def seed_docs(self, body: dict[str, Any]) -> dict[str, int]:
        """``{"gstin", "records": {section: [...]}}`` replaces those sections; ``{"gstin", "docs", "seed"}``
        regenerates the GSTIN's documents."""
        gstin = str(body.get("gstin") or "")
        if len(gstin) != 15:
            raise SandboxError("SBX-SEED", "gstin (15 characters) is required", 400)
        with self.lock:
            if "records" in body:
                target = self.docs.setdefault(gstin, {})
                for key, records in body["records"].items():
                    key = section_info(key).key.value
                    target[key] = [self._normalise(dict(r)) for r in records]
            else:
                self.docs[gstin] = generator.generate(
                    gstin,
                    docs=int(body.get("docs", self.default_docs)),
                    seed=int(body.get("seed", self.seed)),
                )
            self.twob = {k: v for k, v in self.twob.items() if k[0] != gstin}
            self._save()
            return {k: len(v) for k, v in self.docs[gstin].items()}

    @staticmethod
    def _normalise(rec: dict[str, Any]) -> dict[str, Any]:
        for f in AMOUNT_FIELDS:
            if f in rec:
                rec[f] = _dec(rec[f])
        rec.setdefault("action", "N")
        if "ispendactblocked" not in rec and "ispendactnallwd" not in rec:
            rec["ispendactblocked"] = "N"
        rec.setdefault("hash", generator.record_hash(rec))
        return rec

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if body.get("clear"):
                self.faults = dict(DEFAULT_FAULTS)
            if body.get("expire_sessions_now"):
                self._expire_all()
            edit = body.get("supplier_edit")
            if edit:
                self._supplier_edit(edit)
            for key, value in body.items():
                if key in DEFAULT_FAULTS:
                    self.faults[key] = value
            return dict(self.faults)

    def _expire_all(self) -> None:
        for s in self.sessions.values():
            s["expires_at"] = 0.0

    def _supplier_edit(self, edit: dict[str, Any]) -> None:
        """The supplier amends a saved record: values change, the hash changes, the recipient's action resets."""
        key = section_info(edit["section"]).key.value
        info = SECTIONS[Section(key)]
        rec = self._find(
            str(edit["gstin"]), key, str(edit.get("stin") or ""), str(edit["number"]), info.number_field
        )
        if rec is None:
            raise SandboxError("SBX-EDIT", "no such document to edit", 404)
        delta = _dec(edit.get("txval_delta", "100"))
        rec["txval"] = _dec(rec["txval"]) + delta
        rec["val"] = _dec(rec["val"]) + delta
        rec["action"] = "N"
        for k in ("remarks", "itcRedReq", "declIgst", "declCgst", "declSgst", "declCess"):
            rec.pop(k, None)
        rec["hash"] = generator.record_hash(rec)
        self._save()

    # --- return filings (RETTRACK) ------------------------------------------------------------------------

    def set_filing(self, body: dict[str, Any]) -> dict[str, Any]:
        """Control: ``{"gstin", "ret_prd": "MMYYYY", "dof": "DD-MM-YYYY"[, "rtntype": "GSTR3B", "arn"]}`` records
        that the GSTIN filed that return (replacing an earlier entry of the same type and period);
        ``{"gstin", "ret_prd", "remove": true}`` takes it back; ``{"gstin", "clear": true}`` forgets them all."""
        gstin = str(body.get("gstin") or "")
        if len(gstin) != 15:
            raise SandboxError("SBX-FILING", "gstin (15 characters) is required", 400)
        with self.lock:
            entries = self.filings.setdefault(gstin, [])
            if body.get("clear"):
                entries.clear()
            else:
                rtntype = str(body.get("rtntype") or "GSTR3B").upper()
                ret_prd = str(body.get("ret_prd") or "")
                try:
                    dt.datetime.strptime(ret_prd, "%m%Y")  # noqa: DTZ007 - a period, not a moment
                    if not body.get("remove"):
                        dt.datetime.strptime(str(body.get("dof") or ""), "%d-%m-%Y")  # noqa: DTZ007
                except ValueError as exc:
                    raise SandboxError(
                        "SBX-FILING", f"ret_prd MMYYYY and dof DD-MM-YYYY: {exc}", 400
                    ) from exc
                entries[:] = [e for e in entries if (e["rtntype"], e["ret_prd"]) != (rtntype, ret_prd)]
                if not body.get("remove"):
                    entries.append(
                        {
                            "valid": "Y",
                            "mof": "ONLINE",
                            "dof": str(body["dof"]),
                            "rtntype": rtntype,
                            "ret_prd": ret_prd,
                            "arn": str(body.get("arn") or f"AA{gstin[:2]}{ret_prd}{len(entries):07d}"),
                            "status": "Filed",
                        }
                    )
            self._save()
            return {"gstin": gstin, "filings": len(entries)}

    def rettrack(self, gstin: str, fy: str, return_type: str = "") -> dict[str, Any]:
        """RETTRACK: the returns ``gstin`` filed in ``fy`` (``YYYY-YY``), of ``return_type`` (``R3B``, ``R1``)."""
        if len(gstin) != 15:
            raise SandboxError("GEN5001", "gstin is required", 400)
        try:
            start = int(fy[:4])
        except ValueError as exc:
            raise SandboxError("GEN5001", "fy must be YYYY-YY", 400) from exc
        wanted = {"R3B": "GSTR3B", "R1": "GSTR1"}.get(return_type.upper(), return_type.upper())
        with self.lock:
            rows = []
            for e in self.filings.get(gstin, []):
                month, year = int(e["ret_prd"][:2]), int(e["ret_prd"][2:])
                if (year if month >= 4 else year - 1) != start or (wanted and e["rtntype"] != wanted):
                    continue
                rows.append(dict(e))
            return {"EFiledlist": rows}

    def snapshot_stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.stats.values()),
                "by_action": dict(self.stats),
                "too_many_requests": dict(self.limit_stats),
            }

    # --- faults applied to every API call -----------------------------------------------------------------

    def before_call(self, action: str) -> int | None:
        """Count the call, sleep for latency, and return an HTTP status to fail with (or None)."""
        with self.lock:
            self.stats[action] += 1
            latency = min(int(self.faults.get("latency_ms") or 0), MAX_LATENCY_MS)
            fail = None
            if int(self.faults.get("fail_next") or 0) > 0:
                self.faults["fail_next"] -= 1
                fail = int(self.faults["error_status"])
            elif self.rng.random() < float(self.faults.get("error_rate") or 0):
                fail = int(self.faults["error_status"])
        if latency:
            time.sleep(latency / 1000)
        return fail

    def too_many(self, gstin: str, client_id: str) -> tuple[int, str] | None:
        """The "too many requests" mode: (Retry-After seconds, "gstin" | "client") when this call is over the
        per-GSTIN or per-client limit of the last second (the call is then not counted), else None."""
        with self.lock:
            limits = (
                ("gstin", f"g:{gstin}", int(self.faults.get("rate_limit_per_gstin") or 0)),
                ("client", f"c:{client_id}", int(self.faults.get("rate_limit_per_client") or 0)),
            )
            if not any(limit for _, _, limit in limits):
                return None
            now = time.monotonic()
            for scope, key, limit in limits:
                window = self.call_windows.setdefault(key, [])
                window[:] = [t for t in window if now - t < 1.0]
                if limit and len(window) >= limit:
                    self.limit_stats[scope] += 1
                    return max(int(self.faults.get("retry_after") or 0), 0), scope
            for _, key, _ in limits:
                self.call_windows[key].append(now)
        return None

    # --- authentication -----------------------------------------------------------------------------------

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id or client_secret != self.client_secret:
            raise SandboxError("SBX-CLIENT", "Invalid GSP client id or client secret", 401)

    def authenticate(self, gstin: str, username: str, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action")
        with self.lock:
            if action == "OTPREQUEST":
                self.otp_keys[(gstin, username)] = self._rsa(body.get("app_key", ""))
                return {"status_cd": "1"}
            if action == "AUTHTOKEN":
                app_key = self._rsa(body.get("app_key", ""))
                if self.otp_keys.get((gstin, username)) is None:
                    raise SandboxError("RETOTPREQUEST", "Request an OTP first")
                try:
                    otp = crypto.aes_decrypt(app_key, body.get("otp", "")).decode()
                except (crypto.CryptoError, UnicodeDecodeError):
                    otp = ""
                if otp != SANDBOX_OTP:
                    raise SandboxError("AUTH4034", "Invalid OTP")
                del self.otp_keys[(gstin, username)]
                return self._new_session(gstin, username, app_key)
            if action == "REFRESHTOKEN":
                old = self._session(str(body.get("auth_token") or ""), gstin, username, count=False)
                try:
                    new_key = crypto.aes_decrypt(old["sek"], body.get("app_key", ""))
                except crypto.CryptoError as exc:
                    raise SandboxError("AUTH4033", "Invalid session: app key not readable") from exc
                self.sessions.pop(str(body["auth_token"]), None)
                return self._new_session(gstin, username, new_key)
        raise SandboxError("GEN5001", f"unknown authentication action {action!r}")

    def _rsa(self, app_key_b64: str) -> bytes:
        try:
            key = crypto.rsa_decrypt(self.private_key, app_key_b64)
        except crypto.CryptoError as exc:
            raise SandboxError("TEC4002", "App key not encrypted with the portal's public key") from exc
        if len(key) != crypto.APP_KEY_BYTES:
            raise SandboxError("TEC4002", "App key must be 32 bytes")
        return key

    def _new_session(self, gstin: str, username: str, app_key: bytes) -> dict[str, Any]:
        token, sek = uuid.uuid4().hex, crypto.generate_app_key()
        minutes = int(self.faults["session_minutes"])
        self.sessions[token] = {
            "gstin": gstin,
            "username": username,
            "sek": sek,
            "expires_at": time.time() + minutes * 60,
        }
        return {
            "status_cd": "1",
            "auth_token": token,
            "expiry": minutes,
            "sek": crypto.aes_encrypt(app_key, sek),
        }

    def _session(self, token: str, gstin: str, username: str, *, count: bool = True) -> dict[str, Any]:
        session = self.sessions.get(token)
        if session is None or session["gstin"] != gstin or session["username"] != username:
            raise SandboxError("AUTH4033", "Invalid Session", 401)
        if count and self.faults.get("expire_after_calls") is not None:
            left = int(self.faults["expire_after_calls"])
            if left <= 0:
                self._expire_all()
                self.faults["expire_after_calls"] = None
            else:
                self.faults["expire_after_calls"] = left - 1
        if session["expires_at"] <= time.time():
            raise SandboxError("AUTH4038", "Session Expired", 401)
        return session

    def session_for(self, token: str, gstin: str, username: str) -> bytes:
        with self.lock:
            return self._session(token, gstin, username)["sek"]

    # --- IMS ----------------------------------------------------------------------------------------------

    def getinv(self, gstin: str, section: str, goods_typ: str | None = None) -> dict[str, Any]:
        key = self._section(section)
        wanted = SECTIONS[Section(key)].goods_typ.value
        if goods_typ and str(goods_typ).strip().upper() != wanted:
            raise SandboxError(
                "GEN5001", f"Section {section!r} is not of goods_typ {goods_typ!r} (it is {wanted})"
            )
        with self.lock:
            self._process_pending(gstin)
            records = copy.deepcopy(self.docs.get(gstin, {}).get(key, []))
            return self._maybe_large(gstin, key, records)

    def outward(self, gstin: str, section: str) -> dict[str, Any]:
        key = self._section(section)
        with self.lock:
            for recipient in list(self.docs):
                self._process_pending(recipient)
            records = [
                {**copy.deepcopy(r), "rtin": recipient}
                for recipient, by_section in self.docs.items()
                for r in by_section.get(key, [])
                if r.get("stin") == gstin
            ]
            return self._maybe_large(gstin, key, records)

    def _maybe_large(self, gstin: str, key: str, records: list[dict]) -> dict[str, Any]:
        if not records:
            raise SandboxError("RET13509", "No document found for the provided inputs")
        if len(records) <= int(self.faults["large_threshold"]):
            return {key: records}
        per_file = max(int(self.faults["records_per_file"]), 1)
        ek = crypto.generate_app_key()
        parts = [
            crypto.seal_file({key: records[i : i + per_file]}, ek, f"{key}_{n + 1}.json")
            for n, i in enumerate(range(0, len(records), per_file))
        ]
        token = uuid.uuid4().hex
        self.tokens[token] = {
            "gstin": gstin,
            "ek": ek,
            "parts": parts,
            "counts": [len(records[i : i + per_file]) for i in range(0, len(records), per_file)],
            "not_ready": int(self.faults["filedet_not_ready"] or 0),
        }
        return {"token": token, "est": str(self.faults.get("est_minutes", 1))}

    def filedet(self, gstin: str, token: str, base: str) -> dict[str, Any]:
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or entry["gstin"] != gstin:
                raise SandboxError("RET11417", "No file found for the token")
            if entry["not_ready"] > 0:
                entry["not_ready"] -= 1
                raise SandboxError("RTN_24", "File generation is in progress, please try after sometime")
            urls = [
                {"ul": f"{base}/files/{token}/{n}.tar.gz", "ic": count, "hash": crypto.sha256_hex(part)}
                for n, (part, count) in enumerate(zip(entry["parts"], entry["counts"], strict=True), start=1)
            ]
            return {"urls": urls, "ek": crypto.b64(entry["ek"]), "fc": len(urls)}

    def file_part(self, token: str, number: int) -> bytes | None:
        latency = min(int(self.faults.get("file_latency_ms") or 0), MAX_LATENCY_MS)
        if latency:
            time.sleep(latency / 1000)
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or not 1 <= number <= len(entry["parts"]):
                return None
            raw = entry["parts"][number - 1]
            if self.faults.get("break_file_hash") in (number, str(number)) or (
                self.faults.get("break_file_hash") is True and number == 1
            ):
                raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
            return raw

    def counts(self, gstin: str, goods_typ: str = "ALL_OTH") -> dict[str, Any]:
        """GETCNT of one ``goods_typ`` (ALL_OTH, INV_SUPP_ISD, IMP_GDS): ``{<all_oth | inv_supp_isd | imp_gds>:
        {section: {noaction, accept, reject, pending}, …, "ttl_cnt"}}``."""
        names = {"A": "accept", "R": "reject", "P": "pending", "N": "noaction"}
        group = COUNT_GROUPS.get(str(goods_typ or "").strip().upper())
        if group is None:
            raise SandboxError("GEN5001", f"goods_typ must be one of {', '.join(COUNT_GROUPS)}")
        out_key, sections = group
        with self.lock:
            self._process_pending(gstin)
            counts: dict[str, Any] = {}
            total = 0
            for key in sections:
                bucket = dict.fromkeys(names.values(), 0)
                for rec in self.docs.get(gstin, {}).get(key, []):
                    bucket[names.get(rec.get("action", "N"), "noaction")] += 1
                counts[key] = bucket
                total += sum(bucket.values())
            counts["ttl_cnt"] = total
            return {out_key: counts}

    def submit(self, gstin: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(payload, dict) or payload.get("rtin") != gstin:
            raise SandboxError("GEN5001", "rtin is missing or differs from the gstin header")
        if kind in ("SAV", "RST"):
            invdata = payload.get("invdata")
            if not isinstance(invdata, dict) or not invdata:
                raise SandboxError("GEN5001", "invdata is missing")
        elif not str(payload.get("itcprd") or "").isdigit():
            raise SandboxError("GEN5001", "itcprd (MMYYYY) is missing")
        ref = "SBX" + uuid.uuid4().hex[:12].upper()
        with self.lock:
            self.requests[ref] = {
                "gstin": gstin,
                "kind": kind,
                "payload": payload,
                "polls": 0,
                "result": None,
            }
        return {"reference_id": ref}

    def status(self, gstin: str, ref: str) -> dict[str, Any]:
        with self.lock:
            req = self.requests.get(ref)
            if req is None or req["gstin"] != gstin:
                raise SandboxError("GEN5001", "Invalid reference id")
            if req["polls"] < int(self.faults["status_ip_polls"] or 0):
                req["polls"] += 1
                self._process(ref)
                return {"status_cd": "IP", "transTypCd": req["kind"]}
            self._process(ref)
            return req["result"]

    def _process_pending(self, gstin: str) -> None:
        for ref, req in list(self.requests.items()):
            if req["gstin"] == gstin and req["result"] is None:
                self._process(ref)

    def _process(self, ref: str) -> None:
        req = self.requests[ref]
        if req["result"] is not None:
            return
        if req["kind"] == "GEN2B":
            period = str(req["payload"]["itcprd"])
            snapshot = self._build_2b(req["gstin"], period)
            if snapshot is None:
                req["result"] = {
                    "status_cd": "ER",
                    "err_cd": "RET2B1016",
                    "err_msg": "No documents for the period",
                }
            else:
                self.twob[(req["gstin"], period)] = snapshot
                req["result"] = {"status_cd": "P"}
            self._save()
            return
        report: dict[str, list[dict]] = {}
        processed = 0
        for key, records in req["payload"]["invdata"].items():
            index = self._index(req["gstin"], key)
            for sent in records if isinstance(records, list) else []:
                err = self._apply(req["gstin"], key, sent, reset=req["kind"] == "RST", index=index)
                if err:
                    code, message = err
                    info = SECTIONS.get(key)
                    number_field = info.number_field if info else "inum"
                    report.setdefault(key, []).append(
                        {
                            "stin": sent.get("stin", ""),
                            "error_cd": code,
                            "error_msg": message,
                            "inv": [
                                {"rtnprd": sent.get("rtnprd", ""), number_field: sent.get(number_field, "")}
                            ],
                        }
                    )
                else:
                    processed += 1
        errors = sum(len(v) for v in report.values())
        result: dict[str, Any] = {
            "status_cd": "PE" if errors else "P",
            "transTypCd": req["kind"],
            "proc_cnt": processed,
            "err_cnt": errors,
        }
        if errors:
            result["error_report"] = report
        req["result"] = result
        self._save()

    def _apply(
        self,
        gstin: str,
        key: str,
        sent: dict[str, Any],
        *,
        reset: bool,
        index: dict[tuple[str, str], dict] | None = None,
    ) -> tuple[str, str] | None:
        """Validate one SAVE/RESET record against the portal's rules and apply it; an error tuple otherwise."""
        if key not in SECTIONS:
            return ("SBX-SECTION", f"Unknown section {key}")
        info = SECTIONS[Section(key)]
        stin, number = str(sent.get("stin") or ""), str(sent.get(info.number_field) or "")
        if index is not None and stin:
            rec = index.get((stin, number))
        else:
            rec = self._find(gstin, key, stin, number, info.number_field)
        stale = ("IMSSAV0010", "Either previous action is incorrect/ invoice might have edited by supplier")
        if rec is None or sent.get("prev_status") != rec.get("action"):
            return stale
        # the record's own amount and identity fields (a bill of entry has no val, pos or inv_typ)
        amounts = [f for f in AMOUNT_FIELDS if f in rec or info.goods_typ == GoodsType.ALL_OTHER]
        try:
            if any(_dec(sent.get(f)) < 0 for f in amounts):
                return ("SBX-NEGAMT", "Amounts must be positive")
            if any(_dec(sent.get(f)) != _dec(rec.get(f)) for f in amounts):
                return stale
        except ValueError:
            return ("SBX-AMOUNT", "Amounts must be numbers")
        identity = [f for f in IDENTITY_FIELDS if f in rec or info.goods_typ == GoodsType.ALL_OTHER]
        if any(str(sent.get(f, "")) != str(rec.get(f, "")) for f in (*identity, info.date_field)):
            return stale
        if reset:
            rec["action"] = "N"
            for k in ("remarks", "itcRedReq", "declIgst", "declCgst", "declSgst", "declCess"):
                rec.pop(k, None)
            return None
        action = sent.get("action")
        if action not in ("A", "R", "P"):
            return ("SBX-ACTION", "Action must be A, R or P (use RESETIMS for no action)")
        if action == "R" and info.is_bill_of_entry:
            return BOE_REJECT
        if action == "P" and _flag(rec, "ispendactblocked", "ispendactnallwd"):
            return ("SBX-PENDBLK", "Pending action is not allowed for this record")
        if sent.get("remarks") and _flag(rec, "isRemarksBlocked"):
            return ("SBX-RMKBLK", "Remarks are not allowed for this record")
        if (
            action == "A"
            and "itcRedReq" not in sent
            and not _flag(rec, "isItcRedReqBlocked", "itcRedReqBlocked")
            and self._specified(gstin, key, rec)
        ):
            return ITC_RED_MISSING
        decl = self._check_declaration(key, rec, sent, action)
        if isinstance(decl, tuple):
            return decl
        rec["action"] = action
        if sent.get("remarks"):
            rec["remarks"] = str(sent["remarks"])
        else:
            rec.pop("remarks", None)
        for k in ("itcRedReq", "declIgst", "declCgst", "declSgst", "declCess"):
            rec.pop(k, None)
        rec.update(decl)
        return None

    @staticmethod
    def _check_declaration(key: str, rec: dict, sent: dict, action: str) -> dict[str, Any] | tuple[str, str]:
        flag = sent.get("itcRedReq")
        heads = {k: sent[k] for k, _ in DECL_HEADS if k in sent}
        if flag is None and not heads:
            return {}
        bad = "SBX-ITCRED"
        if action != "A":
            return (bad, "ITC-reduction declaration is allowed only with Accept")
        if key not in ITC_RED_SECTIONS:
            return (bad, "ITC-reduction declaration is not applicable to this section")
        if flag not in ("Y", "N"):
            return (bad, "itcRedReq must be Y or N")
        if _flag(rec, "isItcRedReqBlocked", "itcRedReqBlocked") and _declared(sent) != _current(rec):
            # A locked declaration may only be repeated as the record holds it (none on an accepted record = full).
            return (bad, "ITC-reduction declaration is blocked for this record")
        try:
            values = {k: _dec(heads.get(k, 0)) for k, _ in DECL_HEADS}
        except ValueError:
            return (bad, "Declared amounts must be numbers")
        for k, tax_field in DECL_HEADS:
            if values[k] < 0 or values[k] > _dec(rec.get(tax_field)):
                return (bad, f"{k} must be between 0 and the document's {tax_field}")
        if values["declCgst"] != values["declSgst"]:
            return (bad, "Declared CGST must equal declared SGST")
        if flag == "N" and any(values.values()):
            return (bad, "itcRedReq N cannot carry declared amounts")
        if flag == "Y" and heads and not any(values.values()):
            return (bad, "itcRedReq Y needs a declared amount above zero (or none for full reduction)")
        return {"itcRedReq": flag, **({k: values[k] for k in heads} if heads else {})}

    def _specified(self, gstin: str, key: str, rec: dict) -> bool:
        """Whether an Accept of ``rec`` needs ``itcRedReq``: a credit note; an upward amendment of a credit note; a
        downward amendment of an invoice or debit note (an amendment whose original the portal does not hold counts
        as specified), of a return period from October 2025."""
        period = str(rec.get("rtnprd") or "")
        if (
            key not in ITC_RED_SECTIONS
            or len(period) != 6
            or (int(period[2:]), int(period[:2])) < ITC_RED_FROM
        ):
            return False
        if key == "b2bcn":
            return True
        info = SECTIONS[Section(key)]
        original_key = info.original_section.value if info.original_section else ""
        orig = self._find(
            gstin,
            original_key,
            str(rec.get("stin") or ""),
            str(rec.get(info.orig_number_field or "") or ""),
            SECTIONS[Section(original_key)].number_field,
        )
        if orig is None:
            return True
        tax, orig_tax = (sum(_dec(r.get(f)) for f in ("iamt", "camt", "samt", "cess")) for r in (rec, orig))
        if tax == orig_tax:
            tax, orig_tax = _dec(rec.get("txval")), _dec(orig.get("txval"))
        return tax > orig_tax if key == "b2bcna" else tax < orig_tax

    def _index(self, gstin: str, key: str) -> dict[tuple[str, str], dict] | None:
        """(stin, number) → record of one section (the first, as ``_find``), so that a request of thousands of
        records is not a scan of the section per record."""
        if key not in SECTIONS:
            return None
        number_field = SECTIONS[Section(key)].number_field
        index: dict[tuple[str, str], dict] = {}
        for rec in self.docs.get(gstin, {}).get(key, []):
            index.setdefault((str(rec.get("stin") or ""), str(rec.get(number_field))), rec)
        return index

    def _find(self, gstin: str, key: str, stin: str, number: str, number_field: str) -> dict | None:
        for rec in self.docs.get(gstin, {}).get(key, []):
            if str(rec.get(number_field)) == number and (not stin or rec.get("stin") == stin):
                return rec
        return None

    @staticmethod
    def _section(section: str) -> str:
        try:
            return section_info(section).key.value
        except ValueError as exc:
            raise SandboxError("GEN5001", f"Invalid section {section!r}") from exc

    # --- GSTR-2B ------------------------------------------------------------------------------------------

    def get2b(self, gstin: str, period: str, file_num: str | None) -> dict[str, Any]:
        with self.lock:
            self._process_pending(gstin)
            snapshot = self.twob.get((gstin, period))
            if snapshot is None and period in (self.faults.get("late_3b_periods") or []):
                raise SandboxError(
                    "GTR2B-002",
                    "Either there is no record for GSTR 2B or GSTR 2B for current return period is not generated by "
                    "system (due to non-filing GSTR 3B of last return period till GSTR 2B cut-off date of current "
                    "return period), kindly generate 2B ondemand",
                )
            if snapshot is None:
                snapshot = self._build_2b(gstin, period)
                if snapshot is None:
                    raise SandboxError("RET2B1016", "No document found for the return period")
                self.twob[(gstin, period)] = snapshot
            parts = snapshot["parts"]
            head = {"gstin": gstin, "rtnprd": period, "version": "1.0", "gendt": snapshot["gendt"]}
            if len(parts) == 1 and not file_num:
                return {"chksum": snapshot["chksum"], "data": {**head, **snapshot["summary"], **parts[0]}}
            if not file_num:
                return {"chksum": snapshot["chksum"], "data": {**head, "fc": len(parts)}}
            n = int(file_num) if str(file_num).isdigit() else 0
            if not 1 <= n <= len(parts):
                raise SandboxError("GEN5001", "Invalid file_num")
            data = {**head, "fc": len(parts), **(snapshot["summary"] if n == 1 else {}), **parts[n - 1]}
            return {"chksum": snapshot["chksum"], "data": data}

    def _build_2b(self, gstin: str, period: str) -> dict[str, Any] | None:
        docs: list[tuple[str, str, dict]] = []  # (bucket, IMS section key, IMS record)
        for key, records in self.docs.get(gstin, {}).items():
            for rec in records:
                if (
                    str(rec.get("srcfilstatus", "Filed")).strip().lower() not in FILED
                    or _rtnprd(rec) != period
                ):
                    continue
                action = rec.get("action", "N")
                if action in ("A", "N"):
                    docs.append(("docdata", key, rec))
                elif action == "R":
                    docs.append(("docRejdata", key, rec))
        if not docs:
            return None
        per_file = max(int(self.faults["twob_records_per_file"]), 1)
        parts = [self._group(docs[i : i + per_file]) for i in range(0, len(docs), per_file)]
        summary = {"itcsumm": self._itcsumm(docs), "cpsumm": {}}
        chksum = crypto.sha256_hex(crypto.dumps(parts).encode()).upper()[:40]
        gendt = india_today().strftime("%d-%m-%Y")
        return {"parts": parts, "summary": summary, "chksum": chksum, "gendt": gendt}

    @staticmethod
    def _group(docs: list[tuple[str, str, dict]]) -> dict[str, Any]:
        out: dict[str, dict[str, list]] = {"docdata": {}, "docRejdata": {}}
        for bucket, key, rec in docs:
            twob_section = SECTIONS[Section(key)].twob_section
            if key in ("impg", "impga"):  # flat bill-of-entry records, no supplier
                out[bucket].setdefault(twob_section, []).append(_twob_doc(key, rec)[1])
                continue
            suppliers = out[bucket].setdefault(twob_section, [])
            supplier = next((s for s in suppliers if s["ctin"] == rec["stin"]), None)
            if supplier is None:
                supplier = {
                    "ctin": rec["stin"],
                    "trdnm": f"Supplier {rec['stin'][2:7]}",
                    "supfildt": "11-" + _rtnprd(rec)[:2] + "-" + _rtnprd(rec)[2:],
                    "supprd": _rtnprd(rec),
                }
                suppliers.append(supplier)
            list_key, doc = _twob_doc(key, rec)
            supplier.setdefault(list_key, []).append(doc)
        return out

    @staticmethod
    def _itcsumm(docs: list[tuple[str, str, dict]]) -> dict[str, Any]:
        summ: dict[str, Any] = {}
        for bucket, key, rec in docs:
            info = SECTIONS[Section(key)]
            twob_section = info.twob_section
            block = "itcRejected" if bucket == "docRejdata" else "itcavl"
            group = info.twob_group
            if block == "itcRejected" and group == "othersup":
                group = "isdsup" if info.is_isd else "nonrevsup"
            node = summ.setdefault(block, {}).setdefault(
                group, {"igst": Decimal(0), "cgst": Decimal(0), "sgst": Decimal(0), "cess": Decimal(0)}
            )
            sec = node.setdefault(
                twob_section, {"igst": Decimal(0), "cgst": Decimal(0), "sgst": Decimal(0), "cess": Decimal(0)}
            )
            for head, field in (("igst", "iamt"), ("cgst", "camt"), ("sgst", "samt"), ("cess", "cess")):
                node[head] += _dec(rec.get(field))
                sec[head] += _dec(rec.get(field))
        return summ

    # --- persistence --------------------------------------------------------------------------------------

    def _save(self) -> None:
        if not self.state_file:
            return
        state = {
            "docs": self.docs,
            "twob": [{"gstin": g, "period": p, **snap} for (g, p), snap in self.twob.items()],
            "filings": self.filings,
        }
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(crypto.dumps(state))
        os.replace(tmp, self.state_file)

    def _load(self) -> None:
        state = crypto.loads(self.state_file.read_text())
        with self.lock:
            self.docs = state.get("docs", {})
            self.twob = {(s.pop("gstin"), s.pop("period")): s for s in state.get("twob", [])}
            self.filings = state.get("filings", {})


def _flag(rec: dict, *names: str) -> bool:
    """A block flag as the portal may send it (docs/rules/portal-api.md §2.1): a boolean or "Y"/"N", under the
    first of ``names`` present."""
    for name in names:
        if name in rec and rec[name] is not None:
            value = rec[name]
            return value is True or str(value).strip().upper() in ("Y", "YES", "TRUE")
    return False


def _declared(sent: dict) -> tuple[str, tuple[Decimal, ...] | None]:
    heads = [k for k, _ in DECL_HEADS if k in sent]
    return str(sent.get("itcRedReq") or ""), (
        tuple(_dec(sent.get(k)) for k, _ in DECL_HEADS) if heads else None
    )


def _current(rec: dict) -> tuple[str, tuple[Decimal, ...] | None]:
    flag, amounts = _declared(rec)
    if not flag and rec.get("action") == "A":
        return "Y", None  # accepted without an answer: a full reduction
    return flag, amounts


def _rtnprd(rec: dict) -> str:
    """A record's return period MMYYYY; a bill of entry's is the month of its ICEGATE reference date (or of the bill
    of entry)."""
    if rec.get("rtnprd"):
        return str(rec["rtnprd"])
    day = str(rec.get("refdt") or rec.get("boedt") or "")
    return day[3:5] + day[6:10] if len(day) == 10 else ""


def _twob_doc(key: str, rec: dict) -> tuple[str, dict[str, Any]]:
    info = SECTIONS[Section(key)]
    twob_section = info.twob_section
    if info.is_bill_of_entry:  # docs/rules/gstr2b.md: impg flat records; impgsez under the SEZ supplier
        boe = {
            "refdt": rec.get("refdt") or rec.get("boedt"),
            "recdt": rec.get("refdt") or rec.get("boedt"),
            "portcode": rec.get("portcode"),
            "boenum": rec.get("boenum"),
            "boedt": rec.get("boedt"),
            "isamd": "Y" if info.amendment else "N",
            "txval": rec.get("txval"),
            "igst": rec.get("iamt"),
            "cess": rec.get("cess"),
        }
        return "boe", boe
    if info.is_isd:
        doc = {
            "doctyp": "ISDC" if info.kind == DocKind.CREDIT_NOTE else "ISDI",
            "docnum": rec.get("docnum"),
            "docdt": rec.get("docdt"),
            "itcelg": rec.get("itcelg", "Y"),
            "igst": rec.get("iamt"),
            "cgst": rec.get("camt"),
            "sgst": rec.get("samt"),
            "cess": rec.get("cess"),
        }
        if info.amendment:
            doc.update({"odoctyp": doc["doctyp"], "odocnum": rec.get("odocnum"), "odocdt": rec.get("odocdt")})
        return "doclist", doc
    amounts = {
        "txval": rec.get("txval"),
        "igst": rec.get("iamt"),
        "cgst": rec.get("camt"),
        "sgst": rec.get("samt"),
        "cess": rec.get("cess"),
    }
    common = {
        "val": rec.get("val"),
        "pos": rec.get("pos"),
        "rev": "N",
        "itcavl": "Y",
        "rsn": "",
        "diffprcnt": 1,
    }
    if twob_section in ("cdnr", "cdnra"):
        note_type = "C" if info.kind == DocKind.CREDIT_NOTE else "D"
        doc = {
            "ntnum": rec.get("nt_num"),
            "typ": note_type,
            "suptyp": rec.get("inv_typ", "R"),
            "dt": rec.get("nt_dt"),
            **common,
            **amounts,
        }
        if twob_section == "cdnra":
            doc.update({"onttyp": doc["typ"], "ontnum": rec.get("ont_num"), "ontdt": rec.get("ont_dt")})
        return "nt", doc
    doc = {"inum": rec.get("inum"), "typ": rec.get("inv_typ", "R"), "dt": rec.get("idt"), **common, **amounts}
    if twob_section in ("b2ba", "ecoma"):
        doc.update({"oinum": rec.get("oinum"), "oidt": rec.get("oidt")})
    if rec.get("irn"):  # an e-invoice: its IRN as the 2B lists it (docs/rules/portal-api.md §2.1)
        doc.update(
            {"srctyp": "e-Invoice", "irn": rec["irn"], "irngendate": rec.get("irngendate") or rec.get("idt")}
        )
    return "inv", doc

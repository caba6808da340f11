"""The portal adapter interface the rest of the product codes against, and the values it returns.

Records are the portal's own dicts (GETINV record fields of docs/rules/portal-api.md §2, 2B documents of docs/rules/gstr2b.md §6) so nothing is
lost between download and the next SAVE; callers map them to models. Amount fields stay as the portal sent them
(JSON numbers or strings) — convert with ``Decimal(str(value))``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from gst.sections import Section

from . import crypto

IMS_SECTIONS = tuple(s.value for s in Section)  # every tab: all other ITC, Import of Goods, ISD
STATUS_PROCESSED = "P"
STATUS_PROCESSED_WITH_ERRORS = "PE"
STATUS_ERROR = "ER"
STATUS_IN_PROGRESS = "IP"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class PortalSession:
    """One authenticated taxpayer-API session (per GSTIN + username). Holds secrets: store it only sealed."""

    gstin: str
    username: str
    auth_token: str = field(repr=False)
    sek: bytes = field(repr=False)
    expires_at: dt.datetime  # UTC
    app_key: bytes = field(default=b"", repr=False)
    issued_at: dt.datetime = field(default_factory=utcnow)

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    def expires_within(self, margin: dt.timedelta, now: dt.datetime | None = None) -> bool:
        return (now or utcnow()) + margin >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sek"] = crypto.b64(self.sek)
        d["app_key"] = crypto.b64(self.app_key)
        d["expires_at"] = self.expires_at.isoformat()
        d["issued_at"] = self.issued_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PortalSession:
        return cls(
            gstin=d["gstin"],
            username=d["username"],
            auth_token=d["auth_token"],
            sek=crypto.unb64(d["sek"]),
            app_key=crypto.unb64(d.get("app_key") or ""),
            expires_at=dt.datetime.fromisoformat(d["expires_at"]),
            issued_at=dt.datetime.fromisoformat(d["issued_at"]),
        )


class SessionKeyMissing(RuntimeError):
    pass


def session_fernet(key: str | bytes | None = None) -> Fernet:
    """Fernet from ``key``, else the ``IMS_SESSION_KEY`` setting (make one with ``Fernet.generate_key()``)."""
    key = key or (settings.IMS_SESSION_KEY if settings.configured else None)
    if not key:
        raise SessionKeyMissing("IMS_SESSION_KEY is not set: portal sessions cannot be stored encrypted")
    return Fernet(key)


def seal_session(session: PortalSession, *, key: str | bytes | None = None) -> str:
    """Encrypt a session for storage at rest (Fernet: AES-128-CBC + HMAC-SHA256, timestamped)."""
    return session_fernet(key).encrypt(json.dumps(session.to_dict()).encode()).decode()


def open_session(blob: str | bytes, *, key: str | bytes | None = None) -> PortalSession:
    """Inverse of :func:`seal_session`; raises ``ValueError`` if the blob was altered or the key differs."""
    try:
        raw = session_fernet(key).decrypt(blob.encode() if isinstance(blob, str) else blob)
    except InvalidToken as exc:
        raise ValueError(
            "stored portal session cannot be decrypted (wrong IMS_SESSION_KEY or altered)"
        ) from exc
    return PortalSession.from_dict(json.loads(raw))


@dataclass(frozen=True)
class RecordError:
    """One entry of a REQSTS ``error_report``: the portal's complaint about one or more records of a supplier."""

    section: str
    stin: str
    error_cd: str
    error_msg: str
    inv: list[dict[str, Any]]  # [{"rtnprd", "inum" | "nt_num", ...}] as sent by the portal


@dataclass(frozen=True)
class RequestStatus:
    """Parsed REQSTS / GENSTS2B answer. ``status`` is P, PE, ER or IP."""

    reference_id: str
    status: str
    proc_cnt: int = 0
    err_cnt: int = 0
    err_cd: str = ""
    err_msg: str = ""
    trans_type: str = ""
    errors: list[RecordError] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status != STATUS_IN_PROGRESS

    @property
    def ok(self) -> bool:
        return self.status == STATUS_PROCESSED

    @classmethod
    def parse(cls, reference_id: str, data: dict[str, Any]) -> RequestStatus:
        errors = [
            RecordError(
                section=section,
                stin=e.get("stin", ""),
                error_cd=e.get("error_cd", ""),
                error_msg=e.get("error_msg", ""),
                inv=list(e.get("inv") or []),
            )
            for section, entries in (data.get("error_report") or {}).items()
            for e in entries or []
        ]
        return cls(
            reference_id=reference_id,
            status=str(data.get("status_cd", "")),
            proc_cnt=int(data.get("proc_cnt") or 0),
            err_cnt=int(data.get("err_cnt") or 0),
            err_cd=data.get("err_cd") or "",
            err_msg=data.get("err_msg") or "",
            trans_type=data.get("transTypCd") or "",
            errors=errors,
            raw=data,
        )


@dataclass(frozen=True)
class ReturnFiling:
    """One filed return of a GSTIN as the return-tracking call (RETTRACK, docs/rules/portal-api.md §7) lists it:
    ``return_type`` as the portal names it (``GSTR3B``, ``GSTR1`` …), ``period`` the first of the return period's
    month, ``filed_on`` the date of filing."""

    gstin: str
    return_type: str
    period: dt.date
    filed_on: dt.date
    arn: str = ""
    mode: str = ""

    @classmethod
    def parse_list(cls, gstin: str, data: dict[str, Any]) -> list[ReturnFiling]:
        """The filed, valid entries of a RETTRACK answer (``EFiledlist``); other entries and unreadable dates are
        left out (an empty list when nothing is filed)."""
        out = []
        for row in (data or {}).get("EFiledlist") or []:
            if str(row.get("valid", "Y")).upper() != "Y" or str(row.get("status", "")).lower() != "filed":
                continue
            try:
                period = dt.datetime.strptime(str(row.get("ret_prd", "")), "%m%Y").date()  # noqa: DTZ007
                filed_on = dt.datetime.strptime(str(row.get("dof", "")), "%d-%m-%Y").date()  # noqa: DTZ007
            except ValueError:
                continue
            out.append(
                cls(
                    gstin=gstin,
                    return_type=str(row.get("rtntype", "")).upper(),
                    period=period,
                    filed_on=filed_on,
                    arn=str(row.get("arn") or ""),
                    mode=str(row.get("mof") or ""),
                )
            )
        return out


@runtime_checkable
class PortalAdapter(Protocol):
    """What sync and push services use. Every method except the auth ones and the
    common-API one (return tracking) needs a live session for ``gstin``."""

    # Set by a sync run while it downloads: called with (what it is doing, parts done, parts in all).
    progress: Callable[[str, int | None, int | None], None] | None

    # --- sessions
    def request_otp(self, *, gstin: str, username: str) -> None: ...
    def authenticate(self, *, gstin: str, username: str, otp: str) -> PortalSession: ...
    def refresh(self, *, gstin: str) -> PortalSession: ...
    def session(self, gstin: str) -> PortalSession | None: ...
    def load_session(self, session: PortalSession) -> None: ...
    def forget_session(self, gstin: str) -> None: ...

    # --- IMS, recipient side
    def get_ims_documents(self, *, gstin: str, section: str) -> list[dict[str, Any]]: ...
    def get_ims_counts(self, *, gstin: str, goods_typ: str = "ALL_OTH") -> dict[str, Any]: ...
    def save_actions(self, *, gstin: str, invdata: dict[str, list[dict[str, Any]]]) -> str: ...
    def reset_actions(self, *, gstin: str, invdata: dict[str, list[dict[str, Any]]]) -> str: ...
    def request_status(self, *, gstin: str, reference_id: str) -> RequestStatus: ...
    def wait_for_request(self, *, gstin: str, reference_id: str) -> RequestStatus: ...

    # --- GSTR-2B
    def get_2b(self, *, gstin: str, period: str) -> dict[str, Any]: ...
    def gen_2b(self, *, gstin: str, period: str) -> str: ...
    def gen_2b_status(self, *, gstin: str, reference_id: str) -> RequestStatus: ...
    def wait_for_2b(self, *, gstin: str, reference_id: str) -> RequestStatus: ...

    # --- IMS, supplier side
    def get_outward_actions(self, *, gstin: str, section: str) -> list[dict[str, Any]]: ...

    # --- common (public) API: no session needed
    def get_return_filings(self, *, gstin: str, fy: str, return_type: str = "R3B") -> list[ReturnFiling]: ...

"""Portal adapters: the interface (``base``), error classes (``errors``) and the GSTN/GSP client (``gstn``)."""

from gst_sync.adapters.base import (
    PortalAdapter,
    PortalSession,
    RecordError,
    RequestStatus,
    open_session,
    seal_session,
)
from gst_sync.adapters.errors import (
    IntegrityError,
    NoData,
    OtpRequired,
    Permanent,
    PollPolicy,
    PortalError,
    Reauth,
    RetryPolicy,
    Transient,
    TwoBNotGenerated,
)
from gst_sync.adapters.gstn import GstnAdapter, GstnConfig

__all__ = [
    "GstnAdapter",
    "GstnConfig",
    "IntegrityError",
    "NoData",
    "OtpRequired",
    "Permanent",
    "PollPolicy",
    "PortalAdapter",
    "PortalError",
    "PortalSession",
    "Reauth",
    "RecordError",
    "RequestStatus",
    "RetryPolicy",
    "Transient",
    "TwoBNotGenerated",
    "open_session",
    "seal_session",
]

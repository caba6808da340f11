"""The GST portal client: the adapter protocol and session (base), the GSTN/GSP taxpayer-API client over httpx
(gstn), its cryptography (crypto), portal errors sorted by what the caller does (errors) and the factory that builds
the configured adapter (factory)."""

from gst_sync.client.base import (
    PortalAdapter,
    PortalSession,
    RecordError,
    RequestStatus,
    ReturnFiling,
    open_session,
    seal_session,
)
from gst_sync.client.errors import (
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
from gst_sync.client.gstn import GstnAdapter, GstnConfig

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
    "ReturnFiling",
    "Transient",
    "TwoBNotGenerated",
    "open_session",
    "seal_session",
]

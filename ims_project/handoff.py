"""The one seam between a job that has finished and what runs next.

A feature app ends a job by saying what happened — ``handoff.announce(SyncFinished(...))`` — once its own writes
are committed, and calls nobody else: it does not know what follows. The pipeline app (``pipeline/flows.py``) is
the one place that decides what follows each event; it routes every event type below to exactly one flow when
Django starts, and a second route for an event type is refused, so the whole walk reads in that one module.

``announce`` calls the flow at once, in the announcing worker. A flow schedules heavy follow-ups itself (on
commit, as Celery tasks) and never raises into the job that finished: a failure is logged, the finished job's
data stands. Without a route (a test that builds only part of the product), an event is dropped.

A job whose result only its flow delivers may ask first whether the flow could reach anyone (``refusal``: a
write-back marked sent with no webhook to carry it would be a lie); the pipeline routes that check too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncFinished:
    """A sync of one section of one GSTIN succeeded (``gst_sync``); ``changed``: documents were created, changed,
    vanished or reappeared. ``return_filings``: the GSTIN's filed GSTR-3Bs as the portal's return tracking listed
    them (``gst_sync.client.ReturnFiling``), fetched by the last run of a sync; None when not fetched. A small
    GSTIN's sections synced by one job (``gst_sync.models.SyncJob``) are announced once: ``runs`` are its section
    runs that succeeded, ``run`` the last of them."""

    tenant: Any
    registration: Any
    run: Any
    changed: bool
    return_filings: Sequence[Any] | None = None
    runs: Sequence[Any] = ()


@dataclass(frozen=True)
class PortalFileImported:
    """An IMS JSON file from the portal was imported for one GSTIN (``gst_sync.files``), standing in for a sync."""

    tenant: Any
    registration: Any
    files: Sequence[str]
    changed: bool


@dataclass(frozen=True)
class RegisterChanged:
    """Purchase-register lines of these GSTINs were written (``reconciliation``: a file import, even one that
    stopped half-way, or an ERP upsert); ``reason`` says which, for the people who see what follows."""

    tenant_id: int
    registration_ids: Sequence[int]
    reason: str


@dataclass(frozen=True)
class ReconciliationFinished:
    """A reconciliation run finished and its results are stored (``reconciliation``)."""

    run: Any


@dataclass(frozen=True)
class PushFinished:
    """The portal answered a push batch and the answers are recorded (``gst_sync.push``); ``saved_document_ids``:
    the documents whose rejection or remarked pending the portal saved."""

    tenant: Any
    batch: Any
    saved_document_ids: Sequence[int]


@dataclass(frozen=True)
class WritebackQueued:
    """A person sent reconciliation corrections to the ERP (``reconciliation``): ``proposals`` are the payloads, each
    with its ``idempotency_key``, to deliver to the organisation's webhooks."""

    tenant: Any
    proposals: Sequence[dict[str, Any]]


Event = (
    SyncFinished
    | PortalFileImported
    | RegisterChanged
    | ReconciliationFinished
    | PushFinished
    | WritebackQueued
)
Flow = Callable[[Any], object]

_routes: dict[type, Flow] = {}


class RouteTaken(RuntimeError):
    """An event type already has its flow: what follows an event is decided in one place only."""


def route(event_type: type, flow: Flow) -> None:
    """Send every ``event_type`` to ``flow`` (called by the pipeline app at startup; idempotent for one flow)."""
    current = _routes.get(event_type)
    if current is not None and current is not flow:
        raise RouteTaken(f"{event_type.__name__} already goes to {current.__qualname__}")
    _routes[event_type] = flow


def routes() -> dict[type, Flow]:
    return dict(_routes)


Check = Callable[[Any], str | None]
_checks: dict[type, Check] = {}


def check(event_type: type, fn: Check) -> None:
    """Let ``fn`` say, before a job commits to an ``event_type``, why its flow could reach nobody (the pipeline app
    at startup, beside the route; idempotent for one function)."""
    current = _checks.get(event_type)
    if current is not None and current is not fn:
        raise RouteTaken(f"{event_type.__name__} is already checked by {current.__qualname__}")
    _checks[event_type] = fn


def refusal(event: Event) -> str | None:
    """Why ``event``'s flow would reach nobody now — a message naming what to set up — or None (also when no check
    is routed). Asked by a job before it records as done what only the flow delivers (a write-back marked sent
    with no webhook to send it)."""
    fn = _checks.get(type(event))
    return None if fn is None else fn(event)


def announce(event: Event) -> None:
    """Hand ``event`` to its flow, now; a failing flow is logged and never raised to the announcing job."""
    flow = _routes.get(type(event))
    if flow is None:
        return
    try:
        flow(event)
    except Exception:  # noqa: BLE001 - the job that finished is saved; what follows must not fail it
        log.exception("the flow after %s failed", type(event).__name__)

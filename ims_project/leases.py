"""Compare-and-set claims with a lease, shared by every background job (docs/decisions/0007-shared-lease-helper.md).

A row is claimable when it is queued, or when it is in one of its running states but its heartbeat is older than
``settings.IMS_SYNC_LEASE_SECONDS`` (its worker died) or missing (it was advanced outside any lease). The claim is one conditional UPDATE, so two deliveries of the
same task never both proceed.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import Model, Q
from django.utils import timezone

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The lease of this attempt was taken over by another worker (ours expired): stop without touching the job."""


def claim(
    model: type[Model], pk: int, *, running: tuple[str, ...], new_status_sql: str, set_started: bool = False
) -> bool:
    """Claim row ``pk`` of ``model``: set ``status = new_status_sql``, the heartbeat and ``attempts + 1``
    (and ``started_at`` when asked). True when this caller got it."""
    return (
        claim_attempt(model, pk, running=running, new_status_sql=new_status_sql, set_started=set_started)
        is not None
    )


def claim_attempt(
    model: type[Model], pk: int, *, running: tuple[str, ...], new_status_sql: str, set_started: bool = False
) -> int | None:
    """As :func:`claim`, returning this caller's attempt number (the row's new ``attempts``), None when not
    claimed. Attempt > 1 means an earlier worker died holding the job: its half-done work must be undone or
    found idempotent. Keep the number for :func:`renew`."""
    now = timezone.now()
    started = ", started_at = %(now)s" if set_started else ""
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE {model._meta.db_table}
                SET status = {new_status_sql}, heartbeat_at = %(now)s, attempts = attempts + 1{started}
                WHERE id = %(pk)s AND (status = 'queued' OR (status = ANY(%(running)s)
                    AND (heartbeat_at IS NULL OR heartbeat_at < %(stale)s)))
                RETURNING attempts""",  # nosec B608  # model table name, status SQL a code literal; values as params
            {
                "now": now,
                "pk": pk,
                "running": list(running),
                "stale": now - dt.timedelta(seconds=settings.IMS_SYNC_LEASE_SECONDS),
            },
        )
        row = cur.fetchone()
        return row[0] if row else None


def renew(model: type[Model], pk: int, attempt: int, *, running: tuple[str, ...], **fields) -> None:
    """Heartbeat of attempt ``attempt`` of row ``pk`` (and ``fields`` set with it, e.g. progress). Raises
    :class:`LeaseLost` when the row is no longer this attempt's (taken over after its lease expired, or finished).
    Inside a transaction the row stays locked until it ends, so a takeover waits for it — call it first in a
    transaction that must only commit while the lease is held."""
    updated = model._base_manager.filter(pk=pk, attempts=attempt, status__in=running).update(
        heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise LeaseLost(f"{model._meta.label} #{pk}: attempt {attempt} lost its lease")


# --- every job kind: heartbeats during long steps, a failure path on a fresh connection, the sweep ---------------


def lease_seconds() -> int:
    return int(settings.IMS_SYNC_LEASE_SECONDS)


def stale_cutoff() -> dt.datetime:
    """Older heartbeats than this belong to dead workers (and queued rows older than this to lost deliveries)."""
    return timezone.now() - dt.timedelta(seconds=lease_seconds())


class Heartbeat:
    """What :func:`heartbeat` hands its body: whether the lease was lost while the body ran."""

    def __init__(self, model: type[Model], pk: int, attempt: int, running: tuple[str, ...]):
        self.model, self.pk, self.attempt, self.running = model, pk, attempt, running
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._requests: queue.Queue[tuple[dict[str, Any], threading.Event | None] | None] = queue.Queue()
        self.beats = 0

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        """Raise :class:`LeaseLost` when a heartbeat found the lease taken over: stop before writing anything."""
        if self.lost:
            raise LeaseLost(f"{self.model._meta.label} #{self.pk}: attempt {self.attempt} lost its lease")

    def report(self, *, timeout: float = 5.0, **fields) -> None:
        """Write ``fields`` (e.g. ``progress``) on the row with a heartbeat now, on the thread's own connection, so
        they are seen at once even while the job's own transaction is open (one that renews last, not first: a
        row the job holds locked makes the write wait, then skip). Returns once written, skipped, or after
        ``timeout`` seconds."""
        if self.lost or self._stop.is_set():
            return
        written = threading.Event()
        self._requests.put((fields, written))
        written.wait(timeout)

    def _beat(self, fields: dict[str, Any] | None = None) -> None:
        """One renewal on this thread's own connection (with ``fields`` when reported). It gives up on a row
        lock after two seconds: the holder is the job itself (a transaction that renewed first), or a takeover
        in progress, which the next beat sees."""
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '2s'")
            updated = self.model._base_manager.filter(
                pk=self.pk, attempts=self.attempt, status__in=self.running
            ).update(heartbeat_at=timezone.now(), **(fields or {}))
            if updated == 0 and not fields:  # a report that finds no row is not shown; the beats and the
                self._lost.set()  # job's final renew tell a lost lease
        self.beats += 1

    def _run(self, every: float) -> None:
        try:
            while not self.lost:
                try:
                    request = self._requests.get(timeout=every)
                except queue.Empty:
                    request = ({}, None)
                if request is None or self._stop.is_set():
                    break
                fields, written = request
                try:
                    self._beat(fields)
                except OperationalError:  # lock timeout, or the database away for a moment: try next time
                    log.warning("heartbeat of %s #%s skipped", self.model._meta.label, self.pk, exc_info=True)
                    connection.close()
                finally:
                    if written is not None:
                        written.set()
        finally:
            connections.close_all()  # this thread's connections only (they are per thread)


@contextlib.contextmanager
def heartbeat(
    model: type[Model], pk: int, attempt: int, *, running: tuple[str, ...], every: float | None = None
) -> Iterator[Heartbeat]:
    """Keep attempt ``attempt`` of row ``pk`` alive while the body runs: a thread renews the heartbeat every
    ``every`` seconds (a fifth of the lease by default) on a connection of its own, so a portal download, a file
    wait or one long statement never outlives the lease unseen. When a renewal finds the row no longer this
    attempt's (taken over, or finished), it stops and the handle's ``lost`` turns true: the body calls
    :meth:`Heartbeat.check` before each write, and its final writes go through :func:`renew` in their
    transaction, so a run that lost its lease writes nothing more."""
    beat = Heartbeat(model, pk, attempt, running)
    thread = threading.Thread(
        # In the job's context: its tenant scope, and so its row-level security tenant (ims_project.rls).
        target=contextvars.copy_context().run,
        args=(beat._run, every if every is not None else max(lease_seconds() / 5, 0.05)),
        name=f"heartbeat-{model._meta.label}-{pk}",
        daemon=True,
    )
    thread.start()
    try:
        yield beat
    finally:
        beat._stop.set()
        beat._requests.put(None)
        thread.join(timeout=30)


def fresh_connection() -> None:
    """Drop this thread's database connection unless a transaction is open on it: the next query opens a new one.
    A failure path calls it first, since the failure may be the connection itself (its session terminated by
    ``pg_terminate_backend``, a failover, a restart): Django would otherwise reuse the dead connection."""
    if not connection.in_atomic_block:
        connection.close()


def fail(model: type[Model], pk: int, attempt: int, *, running: tuple[str, ...], **fields) -> bool:
    """End attempt ``attempt`` of row ``pk`` as ``fields`` say (status failed, the error, finished_at), written on
    a fresh connection (:func:`fresh_connection`) and only while the row is still this attempt's: a run that lost
    its lease does not overwrite its successor. Tried twice, a second apart (the database may be back). Returns
    whether it wrote."""
    for tries in (1, 2):
        fresh_connection()
        try:
            return bool(
                model._base_manager.filter(pk=pk, attempts=attempt, status__in=running).update(**fields)
            )
        except OperationalError:
            if tries == 2:
                raise
            time.sleep(1)
    return False  # pragma: no cover - the loop returns or raises


def release(
    model: type[Model], pk: int, attempt: int, *, running: tuple[str, ...], queued: str = "queued"
) -> bool:
    """Hand attempt ``attempt``'s row back as queued (on a fresh connection), so a redelivery or the sweep takes
    it at once instead of after the lease: for a failure that a new attempt may get past (the session
    terminated, the database restarting), with the work committed so far kept."""
    # The heartbeat is set past the lease: the next sweep delivers the row again even if nothing else does.
    return fail(
        model, pk, attempt, running=running, status=queued, heartbeat_at=stale_cutoff() - dt.timedelta(1)
    )


def stale_ids(
    model: type[Model], *, running: tuple[str, ...], queued: str = "queued", where: Q | None = None
) -> list[int]:
    """The rows the sweep hands to a worker again: running with a heartbeat older than the lease (the worker
    died), or queued for that long (the delivery was lost, or an attempt was released and nobody took it); of
    those matching ``where`` when given (rows another job's lease covers are left to that job's sweep)."""
    cutoff = stale_cutoff()
    rows = model._base_manager.filter(where or Q()).filter(
        Q(status__in=running, heartbeat_at__lt=cutoff)
        | Q(status=queued, created_at__lt=cutoff, heartbeat_at__isnull=True)
        | Q(status=queued, heartbeat_at__lt=cutoff)  # released by a failed attempt
    )
    return sorted(rows.values_list("id", flat=True))


MAX_ATTEMPTS = 5  # attempts of one job that may end in a lost connection before it fails for good


def retryable(exc: BaseException, attempt: int) -> bool:
    """Whether attempt ``attempt`` failed in a way a new attempt may get past: the database connection was lost
    (the session terminated, a failover, a restart), and fewer than :data:`MAX_ATTEMPTS` attempts were made."""
    return isinstance(exc, OperationalError | InterfaceError | psycopg.OperationalError) and (
        attempt < MAX_ATTEMPTS
    )


def end_failed(
    model: type[Model],
    pk: int,
    attempt: int,
    exc: BaseException,
    *,
    running: tuple[str, ...],
    task: Any,
    countdown: float,
    **failed: Any,
) -> None:
    """End attempt ``attempt`` of row ``pk`` that raised ``exc``: a failure a new attempt may get past
    (:func:`retryable`) hands the row back as queued and sends ``task`` again after ``countdown`` seconds; any other
    fails it with the fields ``failed`` (status, error), finished now, only while the row is still this attempt's."""
    if retryable(exc, attempt):
        if release(model, pk, attempt, running=running):
            deliver_later(task, pk, countdown=countdown)
    else:
        fail(model, pk, attempt, running=running, finished_at=timezone.now(), **failed)


def failure_message(exc: BaseException, what: str) -> str:
    """A failed job's message, safe to show: the kind of error, never its text (which may hold SQL or data)."""
    return f"The job failed because of an internal error ({type(exc).__name__}); it is logged as {what}."


def deliver_later(task: Any, *args: Any, countdown: float) -> None:
    """Send ``task`` again after ``countdown`` seconds; when the broker is away too, the sweep does it later."""
    try:
        task.apply_async(args, countdown=countdown)
    except Exception:  # noqa: BLE001 - the row is released: the beat sweep delivers it
        log.warning("could not deliver %s%s again; the sweep will", task.name, args, exc_info=True)


def sweep(
    model: type[Model],
    task: Any,
    *,
    running: tuple[str, ...],
    queued: str = "queued",
    where: Q | None = None,
) -> int:
    """The beat sweep of one kind of job: send ``task`` again for each of :func:`stale_ids`. A queued row that is
    sent is stamped (its heartbeat), so a backlog longer than the lease is sent again once per lease, not at
    every sweep; a running row keeps its stale heartbeat, which is what lets the delivery claim it. Stops at the
    first send that fails (the broker away): the rest wait for the next sweep. Returns how many were sent."""
    sent: list[int] = []
    for pk in stale_ids(model, running=running, queued=queued, where=where):
        try:
            task.delay(pk)
        except Exception:  # noqa: BLE001 - the broker is away: the next sweep tries again
            log.warning("sweep of %s stopped: could not send #%s", model._meta.label, pk, exc_info=True)
            break
        sent.append(pk)
    if sent:
        model._base_manager.filter(pk__in=sent, status=queued).update(heartbeat_at=timezone.now())
    return len(sent)

"""Writers of IMS actions: one document (:func:`set_action`) or many (:func:`bulk_set_action`), set-based.

The action store is the document's ``local_*`` columns (pushed to the portal later). Every change is checked by the
pure rules (``gst.rules``), written with one ``UPDATE … WHERE id = ANY(%s)`` per distinct new state
(a handful at most), and audited in the same transaction: one ``ims.action_set`` event per changed document plus,
for a bulk action, one ``ims.bulk_action`` summary. Refused documents are left unchanged and listed with the reason;
documents already in the requested state are counted, not touched.

A bulk action over more than ``settings.IMS_BULK_ACTION_SYNC_MAX`` documents (default 20,000) is recorded as a
queued :class:`~actions.models.BulkActionRun` and applied by a worker in chunks (``IMS_BULK_ACTION_CHUNK``, default
50,000 documents, one transaction each).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import namedtuple
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import Actor, Canonical, Event, canonical_json, record_many
from gst.rule_data import DEFAULT_RULES
from gst.rules import ActionRequest, evaluate_many
from ims_project import leases
from invoices.models import SupplierDocument
from tenancy.models import Membership, Tenant
from tenancy.roles import Capability, can
from tenancy.scoping import scopes_disabled, tenant_scope

from . import facts as rule_facts
from . import gates, selectors, tasks
from .errors import ActionError, ActionRefused, IdempotencyConflict
from .models import BulkActionRun, IdempotencyKey, RunStatus
from .requests import action_request, parse_overrides, request_from_json, request_json, require_act

log = logging.getLogger(__name__)

OBJECT_TYPE = "invoices.supplierdocument"
_RUNNING = (RunStatus.RUNNING,)  # the lease's running state (ims_project.leases)
RETRY_AFTER = 10  # seconds before a released run is delivered again
REFUSED_KEEP = 1000  # refusals listed on a run (all are counted)
ACTION_WORDS = {"A": "accept", "R": "reject", "P": "pending", "N": "reset"}


def sync_max() -> int:
    return settings.IMS_BULK_ACTION_SYNC_MAX


def chunk_size() -> int:
    return settings.IMS_BULK_ACTION_CHUNK


# --- the engine: rows → decisions → set-based update + audit --------------------------------------------------


@dataclass
class Outcome:
    applied: int = 0
    already: int = 0
    refused_count: int = 0
    refused: list[dict] = field(default_factory=list)
    warnings: dict[str, dict] = field(default_factory=dict)
    events: int = 0
    held: int = 0  # changed documents held for approval (approvals app)
    seen: int = 0  # documents locked and looked at (those that no longer match the filter included)


def _apply(
    *,
    tenant: Tenant,
    actor: Actor,
    qs,
    request: ActionRequest,
    run_id: int | None = None,
    request_id: str = "",
    limit_after: int | None = None,
    limit: int | None = None,
    max_id: int | None = None,
) -> tuple[Outcome, int | None]:
    """Decide and apply ``request`` on the documents of ``qs`` (or the next ``limit`` of them after id
    ``limit_after``, up to ``max_id``). Must run inside a transaction. Returns the outcome and the last id seen.

    Set-based: the documents are grouped in SQL by the columns the rules read (a few hundred kinds for 100,000
    documents); the rules decide each kind once; one ``UPDATE … FROM`` per new state writes the change and returns
    each changed document with its state before, from which the audit events are written by COPY."""
    declaring = selectors.uses_declaration(request)
    if limit_after is not None:
        qs = qs.filter(pk__gt=limit_after)
    if max_id is not None:
        qs = qs.filter(pk__lte=max_id)
    out = Outcome()
    # Lock the target rows first (in id order, so two writers cannot deadlock), then read them again in a new
    # statement: under READ COMMITTED that statement sees whatever a concurrent writer (a person's action on one
    # of these documents) committed before the lock was granted, and nobody can change a locked row until this
    # transaction ends. So the rules decide on the current state, the filter is re-applied to it (a document
    # that no longer matches is skipped), and the audit's "before" is the true before.
    locked = selectors.lock_documents(tenant=tenant, qs=qs, limit=limit)
    if not locked:
        return out, None
    out.seen = len(locked)
    last = locked[-1]
    selectors.keep_statistics(len(locked))
    qs = qs.filter(pk__in=selectors.ids_in(locked))
    kinds = selectors.kinds(qs, request)
    if not kinds:
        return out, last
    regs, filed = selectors.rule_inputs(tenant=tenant)
    builder = rule_facts.FactsBuilder(registrations=regs, filed=filed, declaring=declaring)
    decisions = evaluate_many(request, (builder.facts(k) for k in kinds), selectors.rule_context())
    changes: dict[rule_facts.State, list[int]] = {}
    refused: list[tuple[int, str, object]] = []
    for kind, decision in zip(kinds, decisions, strict=True):
        ids = kind.ids
        outcome, state = selectors.classify(kind, request, decision, declaring)
        if outcome == "refused":
            out.refused_count += len(ids)
            refused.extend((i, kind.section, decision) for i in ids)
        elif outcome == "already":
            out.already += len(ids)
        else:
            changes.setdefault(state, []).extend(ids)
            rule_facts.count_notices(out.warnings, decision, len(ids))
    if refused:
        out.refused = _refusals(tenant, refused)
    if changes:
        rows = _update(tenant=tenant, actor=actor, changes=changes)
        out.applied = sum(len(group) for group in rows.values())
        record_many(tenant=tenant, actor=actor, events=_events(rows, run_id), request_id=request_id)
        out.events = out.applied
        # Maker-checker: changes an approval policy catches stay out of the push queue until approved.
        out.held = gates.hold(
            tenant=tenant, actor=actor, changes=rows, request=request, run_id=run_id, request_id=request_id
        )
    return out, last


def _refusals(tenant: Tenant, refused: list[tuple[int, str, object]]) -> list[dict]:
    """The first :data:`REFUSED_KEEP` refusals in id order, with their document numbers."""
    refused.sort(key=lambda r: r[0])
    keep = refused[:REFUSED_KEEP]
    numbers = dict(
        SupplierDocument.objects.filter(
            tenant=tenant, pk__in=selectors.ids_in([r[0] for r in keep])
        ).values_list("pk", "doc_number")
    )
    return [
        {
            "id": i,
            "number": numbers.get(i, ""),
            "section": section,
            "code": d.code,
            "field": d.field,
            "message": d.message,
        }
        for i, section, d in keep
    ]


# What the UPDATE returns of each changed document: the document's own columns, then its local state before.
_RETURNED = (
    "id",
    "supplier_gstin",
    "section",
    "doc_number",
    "portal_action",
    "registration_id",
    "doc_value",
    "supplier_filing_status",
)
_Changed = namedtuple("_Changed", (*_RETURNED, *rule_facts.LOCAL_FIELDS))


def _update(
    *, tenant: Tenant, actor: Actor, changes: dict[rule_facts.State, list[int]]
) -> dict[rule_facts.State, list]:
    """One ``UPDATE … FROM`` per new state; returns state → the changed documents (:data:`_Changed`, in id order)
    with their local state before the change, as the approval gate (``actions.gates``) and the audit events read
    them. Only the ``local_*`` columns change: no index covers them, so the rows are updated in place (HOT) where
    their page has room."""
    now = timezone.now()
    returned = ", ".join(f"d.{c}" for c in _RETURNED)
    old = ", ".join(rule_facts.LOCAL_FIELDS)
    out: dict[rule_facts.State, list] = {}
    with connection.cursor() as cur:
        for state, ids in changes.items():
            cols = state.as_columns()
            sets = ", ".join(f"{c} = %s" for c in cols)
            ids.sort()
            cur.execute(
                f"UPDATE invoices_supplierdocument d SET {sets}, local_updated_at = %s, local_updated_by = %s "  # nosec B608  # column names from actions.facts, values as params
                f"FROM (SELECT id, {old} FROM invoices_supplierdocument WHERE tenant_id = %s AND id = ANY(%s)) o "
                f"WHERE d.id = o.id AND d.tenant_id = %s RETURNING {returned}, "
                + ", ".join(f"o.{c}" for c in rule_facts.LOCAL_FIELDS),
                [*cols.values(), now, actor.id, tenant.pk, ids, tenant.pk],
            )
            rows = [_Changed._make(r) for r in cur.fetchall()]
            rows.sort(key=lambda r: r.id)
            out[state] = rows
    return out


def _events(rows: dict[rule_facts.State, list], run_id: int | None):
    """One ``ims.action_set`` event per changed document. The ``changes`` and ``metadata`` JSON of documents with
    the same state before and after (nearly all of a bulk action) are encoded once."""
    changes_text: dict[tuple, Canonical] = {}
    meta_text: dict[str, Canonical] = {}
    n_local = len(rule_facts.LOCAL_FIELDS)
    for state, group in rows.items():
        new = state.as_columns()
        new_values = tuple(new.values())
        for row in group:
            before = row[-n_local:]
            changes = changes_text.get(before)
            if changes is None:
                changes = changes_text[before] = canonical_json(
                    {
                        k: [o, v]
                        for k, o, v in zip(rule_facts.LOCAL_FIELDS, before, new_values, strict=True)
                        if o != v or k == "local_action"
                    }
                )
            metadata = meta_text.get(row.portal_action)
            if metadata is None:
                meta = {"portal_action": row.portal_action}
                if run_id is not None:
                    meta["run"] = run_id
                metadata = meta_text[row.portal_action] = canonical_json(meta)
            yield Event(
                "ims.action_set",
                OBJECT_TYPE,
                str(row.id),
                f"{row.supplier_gstin} {row.section} {row.doc_number}",
                changes,
                metadata,
            )
        changes_text.clear()


# --- one document ----------------------------------------------------------------------------------------------


@dataclass
class ActionResult:
    document_id: int
    changed: bool
    local_action: str | None
    effective_action: str
    warnings: list[dict]
    held: bool = False  # awaiting approval before it can be pushed


def set_action(
    *,
    tenant: Tenant,
    actor: Actor,
    membership: Membership | None,
    document: SupplierDocument,
    action: str,
    remarks: str = "",
    declaration: dict | None = None,
    itc_red_default: str | None = DEFAULT_RULES.itc_red_default,
    request_id: str = "",
) -> ActionResult:
    """Take ``action`` (A, R, P or N = reset) on one document the caller has already found visible.

    An Accept of a specified record carries the answer to "Whether ITC needs to be reduced?": the ``declaration``
    given, else ``itc_red_default`` (the portal's default, Yes = full; None refuses an Accept without an answer,
    ``declaration_required``), docs/rules/ims-actions.md §4.4.

    Raises :class:`ActionForbidden` (role), :class:`ActionError` (invalid request) or :class:`ActionRefused`
    (the rules refuse it on this document: the document is unchanged). Equal to what the portal has: the local
    action is cleared (nothing to push). Audited as one ``ims.action_set`` event when something changed."""
    require_act(membership, tenant)
    request = action_request(
        action=action, remarks=remarks, declaration=declaration, itc_red_default=itc_red_default
    )
    qs = SupplierDocument.objects.filter(tenant=tenant, pk=document.pk)
    with transaction.atomic():
        qs.select_for_update().values_list("pk").get()
        out, _last = _apply(tenant=tenant, actor=actor, qs=qs, request=request, request_id=request_id)
        if out.refused_count:
            refusal = out.refused[0]
            raise ActionRefused(refusal["field"], refusal["code"], refusal["message"])
    local, portal = qs.values_list("local_action", "portal_action").get()
    return ActionResult(
        document.pk,
        bool(out.applied),
        local,
        local or portal,
        [{"code": c, "message": w["message"]} for c, w in out.warnings.items()],
        bool(out.held),
    )


# --- bulk ------------------------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    """The outcome of a bulk action. ``status`` "done" (applied in the request) or "queued" (a worker applies it;
    follow the run). ``refused`` lists the first refusals (id, number, section, code, message)."""

    run_id: int
    status: str
    total: int
    applied: int = 0
    already: int = 0
    refused_count: int = 0
    refused: list[dict] = field(default_factory=list)
    warnings: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of_run(cls, run: BulkActionRun) -> BulkResult:
        return cls(
            run.pk,
            run.status,
            run.total,
            run.applied,
            run.already,
            run.refused_count,
            run.refused,
            run.warnings,
        )

    def as_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "total": self.total,
            "applied": self.applied,
            "already": self.already,
            "refused_count": self.refused_count,
            "refused": self.refused,
            "warnings": self.warnings,
        }


def fingerprint(
    *, ids=None, filters=None, request: ActionRequest, overrides: dict[str, dict[str, str]] | None = None
) -> str:
    target = (
        {"ids": sorted({int(i) for i in ids})}
        if ids is not None
        else {"filter": {k: sorted(v) for k, v in selectors.filter_data(filters).lists()}}
    )
    body = {"target": target, "request": request_json(request)}
    if overrides:
        body["overrides"] = overrides
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _override_ids(groups: list[tuple[list[int], ActionRequest, dict[str, str]]]) -> list[int]:
    return sorted(i for ids, _request, _declaration in groups for i in ids)


def _overrides_json(
    groups: list[tuple[list[int], ActionRequest, dict[str, str]]],
) -> dict[str, dict[str, str]]:
    return {str(i): declaration for ids, _request, declaration in groups for i in ids}


def bulk_set_action(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    ids=None,
    filters=None,
    action: str,
    remarks: str = "",
    declaration: dict | None = None,
    itc_red_default: str | None = DEFAULT_RULES.itc_red_default,
    overrides: dict[str, dict[str, object]] | dict[int, dict[str, object]] | None = None,
    idempotency_key: str | None = None,
    request_id: str = "",
) -> BulkResult:
    """Take ``action`` on the documents ``ids`` or on every document matching ``filters`` (the list's query).

    An Accept answers "Whether ITC needs to be reduced?" once for the batch (docs/rules/ims-actions.md §4.4):
    ``itc_red_default`` ("Y" full, the portal's default, or "N") for every specified record of the selection, other
    records taking no answer; ``overrides`` (``{document id: {itc_red_req, decl_*}}``) give single documents of the
    selection their own declaration. ``declaration`` makes one declaration on every document instead.

    Ids are re-checked against what ``user`` may see: one foreign or invisible id refuses the whole request
    (:class:`~actions.errors.DocumentsNotFound`, nothing changed). Refused documents are left unchanged and listed;
    the rest go through. Up to ``IMS_BULK_ACTION_SYNC_MAX`` documents are applied here, in one transaction with
    their audit events and the summary; more are queued for a worker (the overridden documents are applied here
    first). With ``idempotency_key``, a repeat of the same request returns the first result without acting again;
    another request under that key raises :class:`~actions.errors.IdempotencyConflict`."""
    require_act(membership, tenant)
    if (ids is None) == (filters is None):
        raise ActionError("ids", "no_target", "Give either document ids or a filter.")
    request = action_request(
        action=action, remarks=remarks, declaration=declaration, itc_red_default=itc_red_default
    )
    groups = parse_overrides(overrides, action=action, remarks=remarks, itc_red_default=itc_red_default)
    override_ids = _override_ids(groups)
    with transaction.atomic():
        key = None
        if idempotency_key:
            key, replay = _claim_key(
                tenant=tenant,
                user=user,
                key=idempotency_key,
                print_=fingerprint(
                    ids=ids, filters=filters, request=request, overrides=_overrides_json(groups)
                ),
            )
            if replay is not None:
                return replay
        qs, total, max_id = selectors.target(
            tenant=tenant, user=user, membership=membership, ids=ids, filters=filters
        )
        if total == 0:
            raise ActionError(
                "ids" if ids is not None else "filter", "no_documents", "No documents match: nothing to do."
            )
        if override_ids:
            selectors.check_in_target(qs, override_ids)
        params = {"request": request_json(request)}
        params.update(
            {"ids": sorted({int(i) for i in ids})}
            if ids is not None
            else {"filter": dict(selectors.filter_data(filters).lists())}
        )
        if override_ids:
            params["overrides"] = _overrides_json(groups)
        run = BulkActionRun.objects.create(
            tenant=tenant,
            user_id=user.pk,
            actor_type=str(actor.type),
            actor_label=actor.label,
            action=request.action,
            params=params,
            total=total,
            max_id=max_id,
        )
        # Documents with their own declaration first, each group under its own request.
        for group_ids, group_request, _declaration in groups:
            out, _last = _apply(
                tenant=tenant,
                actor=actor,
                qs=qs.filter(pk__in=selectors.ids_in(group_ids)),
                request=group_request,
                run_id=run.pk,
                request_id=request_id,
            )
            _add(run, out)
        rest = qs.exclude(pk__in=selectors.ids_in(override_ids)) if override_ids else qs
        if total > sync_max():
            if override_ids:
                run.save()
            transaction.on_commit(lambda: _enqueue(run.pk))
        else:
            run.status, run.started_at = RunStatus.RUNNING, timezone.now()
            out, _last = _apply(
                tenant=tenant,
                actor=actor,
                qs=rest,
                request=request,
                run_id=run.pk,
                request_id=request_id,
                max_id=max_id,
            )
            _add(run, out)
            run.processed = run.total
            _finish(run, actor, request_id)
        result = BulkResult.of_run(run)
        if key is not None:
            key.response = result.as_json()
            key.status_code = 200 if result.status == RunStatus.DONE else 202
            key.save(update_fields=["response", "status_code"])
    return result


def _enqueue(run_id: int) -> None:

    tasks.run_bulk_action_task.delay(run_id)


def _claim_key(*, tenant, user, key: str, print_: str) -> tuple[IdempotencyKey | None, BulkResult | None]:
    """Claim ``key`` for this request (a concurrent twin waits on the unique index, then replays)."""
    if len(key) > 200:
        raise ActionError(
            "Idempotency-Key", "invalid", "The Idempotency-Key may have at most 200 characters."
        )
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                tenant=tenant, user_id=user.pk, key=key, fingerprint=print_
            ), None
    except IntegrityError:
        pass
    stored = IdempotencyKey.objects.get(tenant=tenant, user_id=user.pk, key=key)
    if stored.fingerprint != print_:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request; use a new key for a new request."
        )
    return None, BulkResult.of_run(revive(BulkActionRun.objects.get(pk=stored.response["run_id"])))


def _live(run: BulkActionRun) -> bool:
    """A worker holds the run under a lease that has not expired."""
    return (
        run.status == RunStatus.RUNNING
        and run.heartbeat_at is not None
        and run.heartbeat_at >= leases.stale_cutoff()
    )


def revive(run: BulkActionRun) -> BulkActionRun:
    """What a retry with the run's idempotency key does to it: a finished run or one a worker holds is returned
    as it is; a failed run is queued again (from its last committed chunk: ``cursor``), and a queued one whose
    worker or message may be gone is delivered again. The claim of :mod:`ims_project.leases` makes a twin
    delivery a no-op, so delivering again is always safe (docs/decisions/0007-shared-lease-helper.md)."""
    if run.status == RunStatus.DONE or _live(run):
        return run
    if run.status == RunStatus.FAILED:
        BulkActionRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).update(
            status=RunStatus.QUEUED, finished_at=None, heartbeat_at=None
        )
        run.refresh_from_db()
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _add(run: BulkActionRun, out: Outcome) -> None:
    run.applied += out.applied
    run.already += out.already
    run.refused_count += out.refused_count
    run.refused = (run.refused + out.refused)[:REFUSED_KEEP]
    for code, w in out.warnings.items():
        entry = run.warnings.setdefault(code, {"message": w["message"], "count": 0})
        entry["count"] += w["count"]


def _finish(run: BulkActionRun, actor: Actor, request_id: str = "") -> None:
    """Mark ``run`` done and write its summary event (in the transaction of its last changes)."""
    run.status, run.finished_at = RunStatus.DONE, timezone.now()
    run.save()
    summary = Event(
        "ims.bulk_action",
        "actions.bulkactionrun",
        str(run.pk),
        f"Bulk {ACTION_WORDS.get(run.action, run.action)} of {run.total:,} documents",
        {},
        {
            "action": run.action,
            "total": run.total,
            "applied": run.applied,
            "already": run.already,
            "refused": run.refused_count,
            "target": "ids" if "ids" in run.params else "filter",
            "filter": run.params.get("filter"),
            "request": run.params["request"],
        },
    )
    record_many(tenant=run.tenant_id, actor=actor, events=[], summary=summary, request_id=request_id)


def run_bulk_action(*, run_id: int) -> str | None:
    """Apply a queued run chunk by chunk (each chunk one transaction with its events and the run's progress), so a
    worker killed half-way resumes where it stopped. Returns the run's status when this delivery ends (None: no
    such run).

    The run is claimed with the lease of :mod:`ims_project.leases`: a twin delivery while a worker holds it does
    nothing, a run whose worker died is taken over once its heartbeat is older than the lease (the sweep
    delivers it again). A heartbeat thread keeps the lease while a chunk runs, and each chunk's transaction
    renews it first, so an attempt that lost its lease commits nothing more. When the run's own database session
    dies (terminated, failover), the failure path writes on a fresh connection: the run is handed back as queued,
    delivered again shortly, and a retry with its idempotency key resumes it (:func:`revive`); after
    ``leases.MAX_ATTEMPTS`` such failures, or any other error, the run fails with a message."""
    with scopes_disabled():
        run = BulkActionRun.objects.filter(pk=run_id).select_related("tenant").first()
    if run is None:
        return None
    attempt = leases.claim_attempt(BulkActionRun, run_id, running=_RUNNING, new_status_sql="'running'")
    if attempt is None:  # a twin delivery of a run a worker holds, or a finished run
        return run.status if run.finished else _status(run_id)
    with tenant_scope(run.tenant):
        try:
            with leases.heartbeat(BulkActionRun, run_id, attempt, running=_RUNNING):
                while advance_run(run_id=run_id, attempt=attempt):
                    pass
        except leases.LeaseLost:
            log.warning("bulk action run %s: attempt %s lost its lease; stopped", run_id, attempt)
        except Exception as exc:  # noqa: BLE001 - a run must end released or failed, never stuck
            log.exception("bulk action run %s: attempt %s failed", run_id, attempt)
            leases.end_failed(
                BulkActionRun,
                run_id,
                attempt,
                exc,
                running=_RUNNING,
                task=tasks.run_bulk_action_task,
                countdown=RETRY_AFTER,
                status=RunStatus.FAILED,
                error=leases.failure_message(exc, f"bulk action run {run_id}"),
            )
        return _status(run_id)


def _status(run_id: int) -> str:
    leases.fresh_connection()
    with scopes_disabled():
        return BulkActionRun.objects.filter(pk=run_id).values_list("status", flat=True).get()


def requeue_stale_runs() -> int:
    """The beat sweep: deliver again the runs whose worker died (running past the lease) or whose delivery was
    lost (queued that long, or released and not taken); the claim re-checks the lease."""
    return leases.sweep(BulkActionRun, tasks.run_bulk_action_task, running=_RUNNING)


def advance_run(*, run_id: int, attempt: int | None = None) -> bool:
    """Apply the next chunk of a run; returns whether more remain. The caller opens the run's tenant scope. With
    ``attempt`` (the worker's lease), the chunk's transaction renews the lease first and raises
    :class:`~ims_project.leases.LeaseLost` when the run is no longer that attempt's."""
    with transaction.atomic():
        if attempt is not None:
            leases.renew(
                BulkActionRun, run_id, attempt, running=_RUNNING
            )  # locks the run until the chunk ends
        # Lock the run only: a plain FOR UPDATE would lock the joined tenant row too, stalling every write of the
        # tenant that checks a foreign key to it (at commit, for deferred keys) until the chunk ends, and
        # deadlocking with a person's action that holds a row of the chunk.
        run = BulkActionRun.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=run_id)
        if run.finished:
            return False
        actor = Actor(run.actor_type, run.actor_label, run.user_id)
        user = get_user_model().objects.filter(pk=run.user_id).first()
        membership = Membership.objects.filter(tenant=run.tenant, user_id=run.user_id).first()
        if user is None or membership is None or not can(membership.role, Capability.ACT):
            run.status, run.error, run.finished_at = (
                RunStatus.FAILED,
                "The user may no longer act.",
                timezone.now(),
            )
            run.save()
            return False
        if run.status == RunStatus.QUEUED:
            run.status, run.started_at = RunStatus.RUNNING, timezone.now()
        size = chunk_size()
        request = request_from_json(run.params["request"])
        ids = run.params.get("ids")
        # Documents with their own declaration were applied when the run was queued.
        done = {int(i) for i in run.params.get("overrides") or {}}
        if ids is not None:
            # The run's ids are stored sorted: the next chunk is cut here, and visibility re-checked on it.
            remaining = [i for i in ids if run.cursor < i <= run.max_id and i not in done]
            chunk = remaining[:size]
            qs = (
                selectors.target_documents(
                    tenant=run.tenant, user=user, membership=membership, ids=chunk, strict=False
                )
                if chunk
                else None
            )
            out, last = (
                _apply(tenant=run.tenant, actor=actor, qs=qs, request=request, run_id=run.pk)
                if chunk
                else (Outcome(), None)
            )
            last, seen = (chunk[-1] if chunk else None), len(chunk)
            more = len(remaining) > size
        else:
            qs = selectors.target_documents(
                tenant=run.tenant,
                user=user,
                membership=membership,
                filters=run.params.get("filter"),
                strict=False,
            )
            if done:
                qs = qs.exclude(pk__in=selectors.ids_in(sorted(done)))
            out, last = _apply(
                tenant=run.tenant,
                actor=actor,
                qs=qs,
                request=request,
                run_id=run.pk,
                limit_after=run.cursor,
                limit=size,
                max_id=run.max_id,
            )
            seen = out.seen
            more = seen >= size
        _add(run, out)
        run.processed = min(run.total, run.processed + seen)
        if not more:
            run.processed = run.total
            _finish(run, actor)
            return False
        run.cursor = last
        run.save()
        return True


__all__ = [
    "ActionResult",
    "BulkResult",
    "action_request",
    "bulk_set_action",
    "run_bulk_action",
    "set_action",
]

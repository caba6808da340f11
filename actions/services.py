"""Writers of IMS actions: one document (:func:`set_action`) or many (:func:`bulk_set_action`), set-based.

The action store is the document's ``local_*`` columns (pushed to the portal later). Every change is checked by the
pure rules (``invoices.domain.rules``), written with one ``UPDATE … WHERE id = ANY(%s)`` per distinct new state
(a handful at most), and audited in the same transaction: one ``ims.action_set`` event per changed document plus,
for a bulk action, one ``ims.bulk_action`` summary. Refused documents are left unchanged and listed with the reason;
documents already in the requested state are counted, not touched.

A bulk action over more than ``settings.IMS_BULK_ACTION_SYNC_MAX`` documents (default 20,000) is recorded as a
queued :class:`~actions.models.BulkActionRun` and applied by a worker in chunks (``IMS_BULK_ACTION_CHUNK``, default
10,000 documents, one transaction each).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from approvals.services import hold_actions
from audit.services import Actor, Event, record_many
from invoices.domain.rules import HEADS, ActionRequest, evaluate_many
from invoices.models import SupplierDocument
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.scoping import scopes_disabled, tenant_scope

from . import facts as F
from . import selectors
from .errors import ActionError, ActionRefused, IdempotencyConflict
from .models import BulkActionRun, Gstr3bFiling, IdempotencyKey, RunStatus
from .requests import action_request, request_from_json, request_json, require_act

OBJECT_TYPE = "invoices.supplierdocument"
REFUSED_KEEP = 1000  # refusals listed on a run (all are counted)
ACTION_WORDS = {"A": "accept", "R": "reject", "P": "pending", "N": "reset"}


def sync_max() -> int:
    return getattr(settings, "IMS_BULK_ACTION_SYNC_MAX", 20_000)


def chunk_size() -> int:
    return getattr(settings, "IMS_BULK_ACTION_CHUNK", 10_000)


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


def _apply(*, tenant: Tenant, actor: Actor, qs, request: ActionRequest, run_id: int | None = None,
           request_id: str = "", limit_after: int | None = None, limit: int | None = None,
           max_id: int | None = None) -> tuple[Outcome, int | None]:
    """Decide and apply ``request`` on the documents of ``qs`` (or the next ``limit`` of them after id
    ``limit_after``, up to ``max_id``). Must run inside a transaction. Returns the outcome and the last id seen."""
    declaring = selectors.has_declaration(request)
    regs, filed = selectors.rule_inputs(tenant=tenant)
    builder = F.FactsBuilder(registrations=regs, filed=filed, declaring=declaring)
    if limit_after is not None:
        qs = qs.filter(pk__gt=limit_after)
    if max_id is not None:
        qs = qs.filter(pk__lte=max_id)
    rows_qs = selectors.fact_rows(
        qs.order_by("pk"), request, "id", "doc_number", "supplier_gstin", "local_remarks", "doc_value",
        *(f"local_decl_{h}" for h in HEADS) if not declaring else (),
    )
    rows = list(rows_qs[:limit] if limit else rows_qs)
    out = Outcome()
    if not rows:
        return out, None
    decisions = evaluate_many(request, (builder.facts(r) for r in rows), selectors.rule_context())
    changes: dict[F.State, list] = {}
    for row, decision in zip(rows, decisions, strict=True):
        outcome, state = selectors.classify(row, request, decision, declaring)
        if outcome == "refused":
            out.refused_count += 1
            if len(out.refused) < REFUSED_KEEP:
                out.refused.append({"id": row.id, "number": row.doc_number, "section": row.section,
                                    "code": decision.code, "field": decision.field, "message": decision.message})
        elif outcome == "already":
            out.already += 1
        else:
            changes.setdefault(state, []).append(row)
            F.count_notices(out.warnings, decision, 1)
    if changes:
        now = timezone.now()
        with connection.cursor() as cur:
            for state, group in changes.items():
                cols = state.as_columns()
                sets = ", ".join(f"{c} = %s" for c in cols)
                cur.execute(
                    f"UPDATE invoices_supplierdocument SET {sets}, local_updated_at = %s, local_updated_by = %s "
                    "WHERE tenant_id = %s AND id = ANY(%s)",
                    [*cols.values(), now, actor.id, tenant.pk, [r.id for r in group]],
                )
                out.applied += cur.rowcount
        events = (_event(row, state, run_id) for state, group in changes.items() for row in group)
        record_many(tenant=tenant, actor=actor, events=events, request_id=request_id)
        out.events = out.applied
        # Maker-checker: changes an approval policy catches stay out of the push queue until approved.
        out.held = hold_actions(tenant=tenant, actor=actor, changes=changes, request=request, run_id=run_id,
                                request_id=request_id)
    return out, rows[-1].id


def _event(row, state: F.State, run_id: int | None) -> Event:
    old = {
        "local_action": row.local_action,
        "local_remarks": row.local_remarks,
        "local_itc_red_req": row.local_itc_red_req,
        **{f"local_decl_{h}": getattr(row, f"local_decl_{h}") for h in HEADS},
    }
    new = state.as_columns()
    changes = {k: [old[k], v] for k, v in new.items() if old[k] != v or k == "local_action"}
    metadata = {"portal_action": row.portal_action}
    if run_id is not None:
        metadata["run"] = run_id
    return Event("ims.action_set", OBJECT_TYPE, str(row.id), f"{row.supplier_gstin} {row.section} {row.doc_number}",
                 changes, metadata)


# --- one document ----------------------------------------------------------------------------------------------


@dataclass
class ActionResult:
    document_id: int
    changed: bool
    local_action: str | None
    effective_action: str
    warnings: list[dict]
    held: bool = False  # awaiting approval before it can be pushed


def set_action(*, tenant: Tenant, actor: Actor, membership: Membership | None, document: SupplierDocument,
               action: str, remarks: str = "", declaration: dict | None = None,
               request_id: str = "") -> ActionResult:
    """Take ``action`` (A, R, P or N = reset) on one document the caller has already found visible.

    Raises :class:`ActionForbidden` (role), :class:`ActionError` (invalid request) or :class:`ActionRefused`
    (the rules refuse it on this document: the document is unchanged). Equal to what the portal has: the local
    action is cleared (nothing to push). Audited as one ``ims.action_set`` event when something changed."""
    require_act(membership, tenant)
    request = action_request(action=action, remarks=remarks, declaration=declaration)
    qs = SupplierDocument.objects.filter(tenant=tenant, pk=document.pk)
    with transaction.atomic():
        qs.select_for_update().values_list("pk").get()
        out, _last = _apply(tenant=tenant, actor=actor, qs=qs, request=request, request_id=request_id)
        if out.refused_count:
            refusal = out.refused[0]
            raise ActionRefused(refusal["field"], refusal["code"], refusal["message"])
    local, portal = qs.values_list("local_action", "portal_action").get()
    return ActionResult(document.pk, bool(out.applied), local, local or portal,
                        [{"code": c, "message": w["message"]} for c, w in out.warnings.items()], bool(out.held))


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
        return cls(run.pk, run.status, run.total, run.applied, run.already, run.refused_count, run.refused,
                   run.warnings)

    def as_json(self) -> dict:
        return {
            "run_id": self.run_id, "status": self.status, "total": self.total, "applied": self.applied,
            "already": self.already, "refused_count": self.refused_count, "refused": self.refused,
            "warnings": self.warnings,
        }


def fingerprint(*, ids=None, filters=None, request: ActionRequest) -> str:
    target = {"ids": sorted({int(i) for i in ids})} if ids is not None else {
        "filter": {k: sorted(v) for k, v in selectors.filter_data(filters).lists()}
    }
    body = json.dumps({"target": target, "request": request_json(request)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def bulk_set_action(*, tenant: Tenant, actor: Actor, user, membership: Membership | None, ids=None,
                    filters=None, action: str, remarks: str = "", declaration: dict | None = None,
                    idempotency_key: str | None = None, request_id: str = "") -> BulkResult:
    """Take ``action`` on the documents ``ids`` or on every document matching ``filters`` (the list's query).

    Ids are re-checked against what ``user`` may see: one foreign or invisible id refuses the whole request
    (:class:`~actions.errors.DocumentsNotFound`, nothing changed). Refused documents are left unchanged and listed;
    the rest go through. Up to ``IMS_BULK_ACTION_SYNC_MAX`` documents are applied here, in one transaction with
    their audit events and the summary; more are queued for a worker. With ``idempotency_key``, a repeat of the
    same request returns the first result without acting again; another request under that key raises
    :class:`~actions.errors.IdempotencyConflict`."""
    require_act(membership, tenant)
    if (ids is None) == (filters is None):
        raise ActionError("ids", "no_target", "Give either document ids or a filter.")
    request = action_request(action=action, remarks=remarks, declaration=declaration)
    with transaction.atomic():
        key = None
        if idempotency_key:
            key, replay = _claim_key(tenant=tenant, user=user, key=idempotency_key,
                                     print_=fingerprint(ids=ids, filters=filters, request=request))
            if replay is not None:
                return replay
        qs = selectors.target_documents(tenant=tenant, user=user, membership=membership, ids=ids, filters=filters)
        total, max_id = selectors.target_size(qs)
        if total == 0:
            raise ActionError("ids" if ids is not None else "filter", "no_documents",
                              "No documents match: nothing to do.")
        params = {"request": request_json(request)}
        params.update({"ids": sorted({int(i) for i in ids})} if ids is not None else
                      {"filter": dict(selectors.filter_data(filters).lists())})
        run = BulkActionRun.objects.create(
            tenant=tenant, user_id=user.pk, actor_type=str(actor.type), actor_label=actor.label,
            action=request.action, params=params, total=total, max_id=max_id,
        )
        if total > sync_max():
            transaction.on_commit(lambda: _enqueue(run.pk))
        else:
            run.status, run.started_at = RunStatus.RUNNING, timezone.now()
            out, _last = _apply(tenant=tenant, actor=actor, qs=qs, request=request, run_id=run.pk,
                                request_id=request_id, max_id=max_id)
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
    from .tasks import run_bulk_action_task

    run_bulk_action_task.delay(run_id)


def _claim_key(*, tenant, user, key: str, print_: str) -> tuple[IdempotencyKey | None, BulkResult | None]:
    """Claim ``key`` for this request (a concurrent twin waits on the unique index, then replays)."""
    if len(key) > 200:
        raise ActionError("Idempotency-Key", "invalid", "The Idempotency-Key may have at most 200 characters.")
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(tenant=tenant, user_id=user.pk, key=key, fingerprint=print_), None
    except IntegrityError:
        pass
    stored = IdempotencyKey.objects.get(tenant=tenant, user_id=user.pk, key=key)
    if stored.fingerprint != print_:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request; use a new key for a new request."
        )
    return None, BulkResult.of_run(BulkActionRun.objects.get(pk=stored.response["run_id"]))


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
        "ims.bulk_action", "actions.bulkactionrun", str(run.pk),
        f"Bulk {ACTION_WORDS.get(run.action, run.action)} of {run.total:,} documents",
        {},
        {"action": run.action, "total": run.total, "applied": run.applied, "already": run.already,
         "refused": run.refused_count, "target": "ids" if "ids" in run.params else "filter",
         "filter": run.params.get("filter"), "request": run.params["request"]},
    )
    record_many(tenant=run.tenant_id, actor=actor, events=[], summary=summary, request_id=request_id)


def run_bulk_action(*, run_id: int) -> str | None:
    """Apply a queued run chunk by chunk (each chunk one transaction with its events and the run's progress), so a
    worker killed half-way resumes where it stopped. Returns the run's final status (None: no such run)."""
    with scopes_disabled():
        run = BulkActionRun.objects.filter(pk=run_id).select_related("tenant").first()
    if run is None:
        return None
    with tenant_scope(run.tenant):
        while advance_run(run_id=run_id):
            pass
        return BulkActionRun.objects.get(pk=run_id).status


def advance_run(*, run_id: int) -> bool:
    """Apply the next chunk of a run; returns whether more remain. The caller opens the run's tenant scope."""
    with transaction.atomic():
        run = BulkActionRun.objects.select_for_update().select_related("tenant").get(pk=run_id)
        if run.finished:
            return False
        actor = Actor(run.actor_type, run.actor_label, run.user_id)
        user = get_user_model().objects.filter(pk=run.user_id).first()
        membership = Membership.objects.filter(tenant=run.tenant, user_id=run.user_id).first()
        if user is None or membership is None or not can(membership.role, Capability.ACT):
            run.status, run.error, run.finished_at = RunStatus.FAILED, "The user may no longer act.", timezone.now()
            run.save()
            return False
        if run.status == RunStatus.QUEUED:
            run.status, run.started_at = RunStatus.RUNNING, timezone.now()
        qs = selectors.target_documents(tenant=run.tenant, user=user, membership=membership,
                                        ids=run.params.get("ids"), filters=run.params.get("filter"), strict=False)
        size = chunk_size()
        out, last = _apply(tenant=run.tenant, actor=actor, qs=qs, request=request_from_json(run.params["request"]),
                           run_id=run.pk, limit_after=run.cursor, limit=size, max_id=run.max_id)
        _add(run, out)
        seen = out.applied + out.already + out.refused_count
        run.processed = min(run.total, run.processed + seen)
        if last is None or seen < size:
            run.processed = run.total
            _finish(run, actor)
            return False
        run.cursor = last
        run.save()
        return True


# --- GSTR-3B filing status -------------------------------------------------------------------------------------


def mark_gstr3b_filed(*, tenant: Tenant, actor: Actor, registration: Registration, period, filed_on) -> Gstr3bFiling:
    """Record that the GSTR-3B of ``period`` (a return period: the month, or the quarter's last month for QRMP)
    of ``registration`` was filed: accepted and rejected documents of that GSTR-2B period can no longer change."""
    from invoices.domain.duedates import return_period

    if registration.tenant_id != tenant.pk:
        raise ActionError("registration", "invalid", "Choose one of your GSTINs.")
    period = return_period(period, registration.filing_frequency)
    with transaction.atomic():
        filing, created = Gstr3bFiling.objects.update_or_create(
            tenant=tenant, registration=registration, period=period, defaults={"filed_on": filed_on}
        )
        record_many(tenant=tenant, actor=actor, events=[Event(
            "gstr3b.filed", "actions.gstr3bfiling", str(filing.pk), f"{registration.gstin} GSTR-3B {period:%m%Y}",
            {"filed_on": [None, filed_on]} if created else {}, {"period": period.strftime("%m%Y")},
        )])
    return filing


__all__ = [
    "ActionResult", "BulkResult", "action_request", "bulk_set_action", "mark_gstr3b_filed", "run_bulk_action",
    "set_action",
]

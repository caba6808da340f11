"""Writers of reconciliation data: the purchase register (file import, REST upsert), matching rules, runs and
manual links. Every write is audited in its transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from actions.models import IdempotencyKey
from audit.services import Actor, Event, record, record_many
from ims_project import handoff, leases
from ims_project.handoff import RegisterChanged, WritebackQueued
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.scoping import scopes_disabled, tenant_scope
from tenancy.selectors import registrations_for_capability

from . import imports, register_file, selectors, tasks
from .domain import register_rows
from .domain.rules import RuleError, RuleSet
from .engine import apply_manual
from .models import (
    DEFAULT_OUTCOME_ACTIONS,
    RECOMMENDED_ACTIONS,
    ColumnMapping,
    JobStatus,
    LinkKind,
    ManualLink,
    OutcomeActionMap,
    PurchaseLine,
    ReconRun,
    RegisterImport,
    RuleSetVersion,
    RunScope,
    WritebackSent,
)

CHUNK = imports.CHUNK
MAX_API_LINES = 10_000
KEEP_ERRORS = imports.KEEP_ERRORS
_COLS = register_rows.CLEAN_COLUMNS
# Values of the optional columns for a line given without them (fixtures, benchmarks).
_LINE_DEFAULTS = {
    "supply_type": "regular",
    "irn": "",
    "posting_date": None,
    "exempt_value": Decimal("0.00"),
    "boe_number": "",
    "boe_date": None,
    "port_code": "",
    "source_file": "",
    "flags": "{}",
}
log = logging.getLogger(__name__)
IMPORT_RETRY_AFTER = 10  # seconds before an import handed back after a lost connection is delivered again


class ReconError(ValueError):
    def __init__(self, field: str, message: str, code: str = "invalid"):
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


class Forbidden(PermissionError):
    pass


def require(membership: Membership | None, tenant: Tenant, capability: Capability = Capability.ACT) -> None:
    if membership is None or membership.tenant_id != tenant.pk or not can(membership.role, capability):
        raise Forbidden("Your role does not allow this.")


def import_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "recon-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- register: set-based upsert -------------------------------------------------------------------------------


def _upsert(tenant_id: int, lines: list[dict]) -> tuple[int, int]:
    """Upsert ``lines`` (dicts of the register's clean columns) on (tenant, erp_ref), touching only changed rows,
    without audit (benchmarks and fixtures); the last of a repeated reference wins. Returns (created, updated).
    Must run inside a transaction."""
    unique = {line["erp_ref"]: line for line in lines}
    with imports.Stage() as stage:
        for n, line in enumerate(unique.values(), 1):
            values = {**_LINE_DEFAULTS, **line}
            if isinstance(values["flags"], dict):
                values["flags"] = register_rows.flags_json(values["flags"])
            stage.add(tuple(values[c] for c in _COLS), n)
        stage.flush()
        rows = stage.upsert(tenant_id=tenant_id, lo=0, hi=stage.count)
    created = sum(1 for r in rows if r[1])
    return created, len(rows) - created


def recipients_for(*, tenant: Tenant, user, membership: Membership | None) -> dict[str, int]:
    regs = registrations_for_capability(
        tenant=tenant, user=user, capability=Capability.ACT, membership=membership
    )
    return dict(regs.values_list("gstin", "pk"))


def upsert_lines(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    lines: list[dict],
    idempotency_key: str | None = None,
) -> tuple[int, dict]:
    """REST bulk upsert of up to 10,000 register lines (fields as the template, by field name). Valid lines are
    written (re-sending an ERP reference updates it); each invalid line is reported with its index, field and
    message. Returns (HTTP status, body). The same Idempotency-Key with the same body replays the first answer."""
    require(membership, tenant)
    if not isinstance(lines, list) or not lines:
        raise ReconError("lines", "Send a non-empty list of lines.")
    if len(lines) > MAX_API_LINES:
        raise ReconError("lines", f"At most {MAX_API_LINES:,} lines per call; split the batch.")
    body_print = hashlib.sha256(json.dumps(lines, sort_keys=True, default=str).encode()).hexdigest()
    recipients = recipients_for(tenant=tenant, user=user, membership=membership)
    with transaction.atomic():
        key = None
        if idempotency_key:
            if len(idempotency_key) > 150:
                raise ReconError("Idempotency-Key", "The Idempotency-Key may have at most 150 characters.")
            try:
                with transaction.atomic():
                    key = IdempotencyKey.objects.create(
                        tenant=tenant,
                        user_id=user.pk,
                        key=f"register:{idempotency_key}",
                        fingerprint=body_print,
                    )
            except IntegrityError:
                stored = IdempotencyKey.objects.get(
                    tenant=tenant, user_id=user.pk, key=f"register:{idempotency_key}"
                )
                if stored.fingerprint != body_print:
                    raise ReconError(
                        "Idempotency-Key",
                        "This Idempotency-Key was already used with another body.",
                        "idempotency_key_reused",
                    ) from None
                return stored.status_code, stored.response
        checker = register_rows.RowChecker(
            recipients, default_recipient=next(iter(recipients)) if len(recipients) == 1 else ""
        )
        errors: list[dict] = []
        flagged: list[dict[str, Any]] = []
        built: dict[str, int] = {}
        by_label = {label: f for f, label in register_rows.LABELS.items()}
        with imports.Stage() as stage:
            for index, raw in enumerate(lines):
                if not isinstance(raw, dict):
                    errors.append({"index": index, "field": None, "message": "each line must be an object"})
                    continue
                clean, problems = checker.check([raw.get(f) for f in register_rows.FIELDS], index)
                errors += [
                    {"index": index, "field": by_label[p.field], "message": f"{p.field} {p.message}"}
                    for p in problems
                ]
                if clean and not str(raw.get("erp_ref") or "").strip():
                    # No ERP reference: the reference built from the key, numbered when the call repeats it (a bill
                    # sent as several lines stays several lines; sending the same batch again updates them).
                    ref = clean[register_rows.ERP_REF_INDEX]
                    built[ref] = built.get(ref, 0) + 1
                    if built[ref] > 1:
                        i = register_rows.ERP_REF_INDEX
                        clean = (*clean[:i], f"{ref[:95]}#{built[ref]}", *clean[i + 1 :])
                if clean:
                    stage.add(clean, index)
                    if clean[-1] != "{}":
                        flagged.append({"index": index, "flags": json.loads(clean[-1])})
            # One ERP reference on several lines: one bill's lines are one line (amounts added up), different
            # documents each their own line, flagged (imports.Stage.resolve_repeats).
            summed: list[dict[str, Any]] = []
            for repeat in stage.resolve_repeats(checker, "lines (indexes)"):
                if repeat.merged:
                    summed.append(
                        {"erp_ref": repeat.ref, "indexes": repeat.lines, "flags": json.loads(repeat.flags)}
                    )
                else:
                    before = {f["index"]: f["flags"] for f in flagged if f["index"] in repeat.lines}
                    flagged = [f for f in flagged if f["index"] not in repeat.lines]
                    for i in repeat.lines:
                        flagged.append(
                            {
                                "index": i,
                                "flags": {
                                    **before.get(i, {}),
                                    "erp_ref_shared": f"ERP reference {repeat.ref[:60]!r} is on lines (indexes) "
                                    f"{', '.join(map(str, repeat.lines[:10]))} for different documents: each is "
                                    f"imported as its own line, {repeat.ref[:90]}#<index>",
                                },
                            }
                        )
            flagged.sort(key=lambda f: f["index"])
            errors.sort(key=lambda e: e["index"])
            good = stage.count - stage.folded
            bad = len({e["index"] for e in errors})
            since = timezone.now()
            created, updated = imports.write_chunk(
                stage, tenant=tenant, actor=actor, lo=0, hi=stage.count, request_id=""
            )
            touched = _staged_registrations(tenant, since) if created or updated else []
        body = {
            "received": len(lines),
            "created": created,
            "updated": updated,
            "unchanged": good - created - updated,
            "rejected": bad,
            "errors": errors,
            "flagged": flagged,
            "summed": summed,
        }
        record(
            tenant=tenant,
            actor=actor,
            action="register.upserted",
            object_type="reconciliation.purchaseline",
            metadata={
                **{k: v for k, v in body.items() if k not in ("errors", "flagged", "summed")},
                "flagged": len(flagged),
            },
        )
        status = 200 if not errors else 207
        if key is not None:
            key.response, key.status_code = body, status
            key.save(update_fields=["response", "status_code"])
        handoff.announce(
            RegisterChanged(
                tenant_id=tenant.pk,
                registration_ids=touched,
                reason=f"a purchase register upsert by {actor.label} ({created} new, {updated} changed)",
            )
        )
    return status, body


def _staged_registrations(tenant: Tenant, since) -> list[int]:
    """GSTINs of the staged lines the upsert just created or changed (``updated_at`` from ``since``)."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT DISTINCT p.registration_id FROM {imports.STAGE} s JOIN reconciliation_purchaseline p "  # nosec B608  # stage table name constant; values as params
            "ON p.tenant_id = %s AND p.erp_ref = s.erp_ref WHERE p.updated_at >= %s",
            [tenant.pk, since],
        )
        return [r[0] for r in cur.fetchall()]


def _imported_registrations(job: RegisterImport) -> list[int]:
    """GSTINs with a register line the import created or changed (or another change since it was queued), among
    those ever reconciled (no other can be rerun): one scan of their lines, nothing when the import wrote none."""
    if not (job.created or job.updated):
        return []
    reconciled = {
        i
        for ids in ReconRun.objects.filter(tenant=job.tenant)
        .order_by()
        .values_list("registration_ids", flat=True)
        .distinct()
        for i in ids
    }
    if not reconciled:
        return []
    return list(
        PurchaseLine.objects.filter(
            tenant=job.tenant, registration_id__in=reconciled, updated_at__gte=job.created_at
        )
        .values_list("registration_id", flat=True)
        .distinct()
        .order_by()
    )


# --- register: file import ------------------------------------------------------------------------------------


IGNORED = "_ignored"  # key of the remembered mapping: the file headings the tenant chose not to import
_STAGED_RE = re.compile(r"^[0-9a-f]{32}\.(csv|txt|xlsx|xlsm|xls|ods)$")


def remembered_mapping(*, tenant: Tenant) -> dict:
    """``{field: heading}`` the tenant confirmed last, plus ``IGNORED``: headings it chose not to import."""
    found = ColumnMapping.objects.filter(tenant=tenant).first()
    return dict(found.mapping) if found else {}


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded register file kept until the user confirms its column mapping."""

    token: str
    name: str
    headers: list[str]
    guess: dict[str, str]
    missing: list[str]  # labels of required fields no heading was recognised for
    unrecognised: list[str]  # headings mapped to no field (and not ignored before)
    samples: list[list[str]] = field(default_factory=list)  # the first rows under the headings, as text

    @property
    def ready(self) -> bool:
        return not self.missing and not self.unrecognised

    def column_samples(self) -> dict[str, list[str]]:
        """{heading: its cells in the sample rows}."""
        return {h: [row[i] for row in self.samples] for i, h in enumerate(self.headers) if h}


def _staged_path(tenant: Tenant, token: str) -> Path:
    path = import_dir() / f"staged-{tenant.pk}-{token}"
    if not _STAGED_RE.match(token or "") or not path.is_file():
        raise ReconError("file", "This upload is no longer available; upload the file again.")
    return path


SAMPLE_ROWS = 3


def _staged(tenant: Tenant, token: str, name: str, head: tuple[list[str], list[list[str]]]) -> StagedUpload:
    headers, samples = head
    remembered = remembered_mapping(tenant=tenant)
    guess = register_rows.guess_mapping(headers, remembered)
    ignored = set(remembered.get(IGNORED, []))
    unrecognised = [
        h
        for h in headers
        if h and h not in guess.values() and h not in ignored and not register_rows.other_heading(h)
    ]
    return StagedUpload(
        token, name, headers, guess, register_rows.missing_required(guess), unrecognised, samples
    )


def stage_upload(*, tenant: Tenant, membership: Membership | None, name: str, data: bytes) -> StagedUpload:
    """Keep an uploaded register file and say how its headings map to the register's fields. When it is not
    ``ready`` the user confirms a mapping and :func:`start_staged_import` imports it. Raises ReconError on a bad
    file."""
    require(membership, tenant)
    head = _head(name, data)
    token = f"{uuid.uuid4().hex}{Path(name).suffix.lower()}"
    if not _STAGED_RE.match(token):
        raise ReconError("file", "Upload an Excel (.xlsx, .xls), OpenDocument (.ods) or CSV file.")
    (import_dir() / f"staged-{tenant.pk}-{token}").write_bytes(data)
    return _staged(tenant, token, Path(name).name[:200], head)


def staged_upload(*, tenant: Tenant, membership: Membership | None, token: str, name: str) -> StagedUpload:
    """A kept upload of this tenant by its token (ReconError when gone)."""
    require(membership, tenant)
    path = _staged_path(tenant, token)
    return _staged(tenant, token, Path(name).name[:200], _head(token, path.read_bytes()))


def start_staged_import(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    token: str,
    name: str,
    mapping: dict[str, str] | None = None,
    default_recipient: str = "",
) -> RegisterImport:
    """Queue the import of a kept upload with ``mapping`` (the guess when None), remembering it for the tenant."""
    require(membership, tenant)
    path = _staged_path(tenant, token)
    job = start_import(
        tenant=tenant,
        actor=actor,
        user=user,
        membership=membership,
        name=f"{Path(name).stem[:150] or 'register'}{path.suffix}",
        data=path.read_bytes(),
        mapping=mapping,
        default_recipient=default_recipient,
    )
    path.unlink(missing_ok=True)
    return job


def _head(name: str, data: bytes) -> tuple[list[str], list[list[str]]]:
    """The file's heading row and first rows after the file checks (size, type, zip bomb); ReconError naming the
    problem."""
    try:
        return register_file.read_head(name, data, SAMPLE_ROWS)
    except register_file.RegisterFileError as e:
        raise ReconError("file", str(e)) from None


def _headers(name: str, data: bytes) -> list[str]:
    return _head(name, data)[0]


def default_recipient_for(
    *, tenant: Tenant, user: Any, membership: Membership | None, chosen: str, mapping: dict[str, str]
) -> str:
    """The GSTIN of an upload's rows that name none: ``chosen`` (one of the user's GSTINs, else ReconError), the
    only GSTIN the user may import for, or "" when the file's Recipient GSTIN column is to say (ReconError when
    the file has no such column and nothing was chosen)."""
    recipients = recipients_for(tenant=tenant, user=user, membership=membership)
    chosen = (chosen or "").strip().upper()
    if chosen:
        if chosen not in recipients:
            raise ReconError("recipient", f"{chosen} is not one of the GSTINs you may import for.")
        return chosen
    if len(recipients) == 1:
        return next(iter(recipients))
    if not mapping.get("recipient_gstin"):
        raise ReconError(
            "recipient",
            "The file has no Recipient GSTIN column: choose the GSTIN these lines were booked for.",
        )
    return ""


def start_import(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    name: str,
    data: bytes,
    mapping: dict[str, str] | None = None,
    default_recipient: str = "",
) -> RegisterImport:
    """Check the file (size, zip bomb, headings), remember its column mapping for the tenant and queue the import.
    Headings of the file left out of a given ``mapping`` are remembered as ignored (see :func:`stage_upload`).
    ``default_recipient``: the GSTIN of rows that name none (:func:`default_recipient_for`).
    Raises :class:`ReconError` naming the problem; nothing is queued then."""
    require(membership, tenant)
    headers = _headers(name, data)
    remembered = remembered_mapping(tenant=tenant)
    ignored = set(remembered.get(IGNORED, []))
    by_hand = mapping is not None and any(mapping.values())
    if by_hand:
        mapping = {k: v for k, v in (mapping or {}).items() if k in register_rows.FIELDS and v}
        ignored |= {h for h in headers if h and h not in mapping.values()}
    else:
        mapping = register_rows.guess_mapping(headers, remembered)
    chosen_twice = next((h for h in mapping.values() if list(mapping.values()).count(h) > 1), None)
    if chosen_twice is not None:
        fields = [register_rows.LABELS[f] for f, h in mapping.items() if h == chosen_twice]
        raise ReconError(
            "mapping",
            f"Column {chosen_twice!r} is chosen for {' and '.join(fields)}: map each column to one field at most.",
        )
    unknown = [v for v in mapping.values() if v not in headers]
    if unknown:
        raise ReconError("mapping", f"The file has no column {unknown[0]!r}.")
    missing = register_rows.missing_required(mapping)
    if missing:
        raise ReconError(
            "mapping",
            "Choose the file's column for each required field: "
            + ", ".join(missing)
            + " (the file's columns: "
            + ", ".join(repr(h) for h in headers if h)[:500]
            + ").",
        )
    default_recipient = default_recipient_for(
        tenant=tenant, user=user, membership=membership, chosen=default_recipient, mapping=mapping
    )
    stored = f"{uuid.uuid4().hex}{Path(name).suffix.lower()[:6]}"
    (import_dir() / stored).write_bytes(data)
    with transaction.atomic():
        ColumnMapping.objects.update_or_create(
            tenant=tenant,
            defaults={
                "mapping": {
                    **mapping,
                    **({IGNORED: sorted(ignored)} if ignored else {}),
                    **(
                        {register_rows.SAP_CHOSEN: True}
                        if by_hand and register_rows.sap_shaped(headers)
                        else {}
                    ),
                }
            },
        )
        job = RegisterImport.objects.create(
            tenant=tenant,
            user_id=user.pk,
            actor_type=str(actor.type),
            actor_label=actor.label,
            file_name=Path(name).name[:200],
            stored_name=stored,
            mapping=mapping,
            default_recipient=default_recipient,
        )
        record(
            tenant=tenant,
            actor=actor,
            action="register.import_started",
            obj=job,
            metadata={"file": job.file_name, "bytes": len(data)},
        )

        tasks.run_import_task.delay_on_commit(job.pk)
    return job


def run_import(*, import_id: int) -> RegisterImport | None:
    """Import a queued file (called by the worker; a second delivery of a claimed job does nothing): every row is
    checked, rows with problems are skipped and listed in the error report, the others are created or updated by
    ERP reference with one audit event per line, with progress (:mod:`reconciliation.imports`). A file that
    cannot be imported at all fails the job with the reason and writes nothing."""
    with scopes_disabled():
        job = RegisterImport.objects.filter(pk=import_id).select_related("tenant").first()
    if job is None:
        return None
    with tenant_scope(job.tenant):
        if not imports.claim(job):  # the lease: a live twin or a finished job is left alone
            return RegisterImport.objects.get(pk=job.pk)
        removed: set[int] = set()
        try:
            # A heartbeat thread keeps the lease between progress writes too (a slow read of a large file).
            with leases.heartbeat(RegisterImport, job.pk, job.attempts, running=imports._RUNNING):
                removed = _run_import(job)
        except imports.LeaseLost:  # our lease expired and another worker took the job over: it finishes it
            log.warning("register import %s: lease lost to another worker", job.pk)
            return None
        except register_file.RegisterFileError as e:
            _fail(job, str(e))
        except Exception as exc:
            log.exception("register import %s failed", job.pk)
            leases.fresh_connection()  # the failure may be the connection itself (its session terminated)
            if leases.retryable(exc, job.attempts):
                # Handed back as queued: lines are matched by ERP reference, so the next attempt completes it.
                if leases.release(RegisterImport, job.pk, job.attempts, running=imports._RUNNING):
                    leases.deliver_later(tasks.run_import_task, job.pk, countdown=IMPORT_RETRY_AFTER)
                return RegisterImport.objects.get(pk=job.pk)
            _fail(
                job,
                "The import stopped on an unexpected error"
                + (
                    f" after {job.created + job.updated:,} lines were written; importing the file again completes it "
                    "(lines are matched by ERP reference)."
                    if job.created or job.updated
                    else "; nothing was written."
                ),
            )
        try:  # what was written, even by an import that stopped half-way, is reconciled again
            handoff.announce(
                RegisterChanged(
                    tenant_id=job.tenant_id,
                    registration_ids=sorted(set(_imported_registrations(job)) | removed),
                    reason=f"register import #{job.pk} ({job.file_name})",
                )
            )
        except Exception:  # noqa: BLE001 - the import is saved; finding what to rerun must not fail it
            log.exception("register import %s: finding the GSTINs to reconcile again failed", job.pk)
        return RegisterImport.objects.get(pk=job.pk)


def _fail(job: RegisterImport, message: str) -> None:
    (import_dir() / f"{job.stored_name}.errors.csv").unlink(missing_ok=True)
    RegisterImport.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, message=message, error_file="", finished_at=timezone.now()
    )
    (import_dir() / job.stored_name).unlink(missing_ok=True)


def _run_import(job: RegisterImport) -> set[int]:

    path = import_dir() / job.stored_name
    if not path.is_file():
        raise register_file.RegisterFileError("The uploaded file is no longer available; upload it again.")
    user = get_user_model().objects.filter(pk=job.user_id).first()
    membership = Membership.objects.filter(tenant=job.tenant, user_id=job.user_id).first()
    recipients = (
        recipients_for(tenant=job.tenant, user=user, membership=membership) if user and membership else {}
    )
    actor = Actor(job.actor_type, job.actor_label, job.user_id)
    removed = imports.import_file(
        job,
        path=path,
        error_path=import_dir() / f"{job.stored_name}.errors.csv",
        recipients=recipients,
        actor=actor,
    )
    path.unlink(missing_ok=True)
    return removed


# --- rules ---------------------------------------------------------------------------------------------------


def active_rules(*, tenant: Tenant) -> RuleSetVersion:
    """The tenant's rules in force (version 1 = the defaults, created on first use)."""
    current = RuleSetVersion.objects.filter(tenant=tenant).order_by("-version").first()
    if current is None:
        try:
            with transaction.atomic():
                current = RuleSetVersion.objects.create(
                    tenant=tenant, version=1, params=RuleSet().as_json(), created_by="defaults"
                )
        except IntegrityError:
            current = RuleSetVersion.objects.filter(tenant=tenant).order_by("-version").first()
    return current


def save_rules(
    *, tenant: Tenant, actor: Actor, membership: Membership | None, params: dict
) -> RuleSetVersion:
    """A new version of the tenant's rules (owners and admins). Raises ReconError on a bad value."""
    require(membership, tenant, Capability.MANAGE_REGISTRATIONS)
    try:
        rules = RuleSet.from_json(params)
    except RuleError as e:
        raise ReconError(e.field, e.message) from None
    with transaction.atomic():
        current = active_rules(tenant=tenant)
        before = RuleSet.from_json(current.params).as_json()  # normalised: "0" and "0.00" are the same rule
        if before == rules.as_json():
            return current
        new = RuleSetVersion.objects.create(
            tenant=tenant, version=current.version + 1, params=rules.as_json(), created_by=actor.label
        )
        changes = {k: [before.get(k), v] for k, v in new.params.items() if before.get(k) != v}
        record(tenant=tenant, actor=actor, action="recon.rules_changed", obj=new, changes=changes)
    return new


# --- runs -----------------------------------------------------------------------------------------------------


def start_run(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    registrations,
    date_from,
    date_to,
    scope: str = RunScope.REGISTER,
) -> ReconRun:
    """Queue a reconciliation of ``registrations`` (visible to the user, else ReconError) for documents dated
    ``date_from`` … ``date_to`` on both sides; a worker runs it (:func:`reconciliation.engine.execute_run`).
    ``scope`` (:class:`~reconciliation.models.RunScope`) limits "only in supplier data" to what the register
    covers."""
    require(membership, tenant)
    if scope not in RunScope.values:
        raise ReconError("scope", "Choose what the register covers: " + ", ".join(RunScope.labels) + ".")
    regs = list(registrations)
    allowed = set(
        registrations_for_capability(
            tenant=tenant, user=user, capability=Capability.ACT, membership=membership
        ).values_list("pk", flat=True)
    )
    if not regs:
        raise ReconError("registrations", "Choose at least one GSTIN.")
    if any(r.pk not in allowed for r in regs):
        raise ReconError("registrations", "Choose among your GSTINs.")
    if date_to < date_from:
        raise ReconError("date_to", "The end date is before the start date.")
    if (date_to - date_from).days > 3 * 366:
        raise ReconError("date_to", "Reconcile at most three years at once.")
    with transaction.atomic():
        run = ReconRun.objects.create(
            tenant=tenant,
            user_id=user.pk,
            actor_type=str(actor.type),
            actor_label=actor.label,
            registration_ids=sorted(r.pk for r in regs),
            date_from=date_from,
            date_to=date_to,
            rules=active_rules(tenant=tenant),
            scope=scope,
        )
        record(
            tenant=tenant,
            actor=actor,
            action="recon.run_started",
            obj=run,
            metadata={
                "gstins": sorted(r.gstin for r in regs),
                "from": date_from,
                "to": date_to,
                "rules_version": run.rules.version,
                "scope": scope,
            },
        )

        tasks.run_recon_task.delay_on_commit(run.pk)
    return run


def queue_batch_runs(
    *,
    tenant: Tenant,
    actor: Actor,
    registration_ids: list[int],
    date_from: dt.date,
    date_to: dt.date,
    priority: int | None = None,
) -> list[ReconRun]:
    """One reconciliation per GSTIN of ``registration_ids`` for a batch the caller has already authorised (a CA
    firm's "sync all → reconcile all", ``pipeline.batches``), with the rules in force; delivered on commit on the
    ``reconcile`` queue at ``priority``. Returns the runs, in the order of ``registration_ids``."""
    rules = active_rules(tenant=tenant)
    runs = []
    with transaction.atomic():
        for rid in registration_ids:
            run = ReconRun.objects.create(
                tenant=tenant,
                user_id=actor.id or 0,
                actor_type=str(actor.type),
                actor_label=actor.label,
                registration_ids=[int(rid)],
                date_from=date_from,
                date_to=date_to,
                rules=rules,
            )
            runs.append(run)
        if runs:
            record(
                tenant=tenant,
                actor=actor,
                action="recon.batch_started",
                obj=runs[0],
                metadata={"runs": [r.pk for r in runs], "from": date_from, "to": date_to},
            )
            ids = [r.pk for r in runs]
            transaction.on_commit(
                lambda: [tasks.run_recon_task.apply_async((i,), priority=priority) for i in ids]
            )
    return runs


RERUN_LOCK = 7_260_020  # pg_advisory_xact_lock(namespace, tenant_id): one rerun decision per tenant at a time
RERUN_REDELIVER_SECONDS = 30 * 60  # a rerun still queued after this long is delivered to the worker again
AUTO_LABEL = "rerun after "  # actor label of an automatic run: this, then the reason


def rerun_after_change(*, tenant: Tenant | int, registration_ids, reason: str) -> None:
    """Reconcile again the GSTINs among ``registration_ids`` whose data just changed (a sync, a register import
    or upsert), once the caller's transaction commits (at once outside one): see :func:`queue_reruns`. Never
    raises — a failure is logged, so the change that triggered it (already saved) never fails because of it."""
    try:
        tenant_id = tenant if isinstance(tenant, int) else tenant.pk
        ids = sorted({int(i) for i in registration_ids or ()})
        if not ids:
            return

        def queue() -> None:
            try:
                queue_reruns(tenant=tenant_id, registration_ids=ids, reason=reason)
            except Exception:  # noqa: BLE001 - the change is saved; a rerun that cannot be queued must not undo it
                log.exception(
                    "reconciliation rerun after %s (tenant %s, GSTINs %s) failed", reason, tenant_id, ids
                )

        transaction.on_commit(queue)
    except Exception:  # noqa: BLE001 - as above
        log.exception("reconciliation rerun after %s could not be scheduled", reason)


def queue_reruns(*, tenant: Tenant | int, registration_ids, reason: str) -> list[ReconRun]:
    """For each GSTIN of ``registration_ids`` that has been reconciled, queue a run like its latest run — the same
    GSTINs (a run replaces the results of older runs sharing a GSTIN, so the whole scope is rerun) and the same
    date range — with the rules in force, as the system actor, ``reason`` in the run's actor label and in the
    audit metadata. A full rerun of the range, not a delta. GSTINs never reconciled are left alone.

    Debounced: when that latest run is still queued it will read the change when it starts, so nothing is added
    (it is delivered to the worker again if it has waited more than :data:`RERUN_REDELIVER_SECONDS`); when it is
    running or finished one run is queued. Decisions are serialised per tenant (advisory lock), so concurrent
    changes do not pile up runs. Returns the runs queued."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    with scopes_disabled():
        tenant = Tenant.objects.get(pk=tenant_id)
    queued: list[ReconRun] = []
    with tenant_scope(tenant), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [RERUN_LOCK, tenant_id])
        templates: dict[int, ReconRun] = {}
        for rid in sorted({int(i) for i in registration_ids}):
            latest = (
                ReconRun.objects.filter(tenant=tenant, registration_ids__contains=[rid])
                .order_by("-created_at", "-pk")
                .first()
            )
            if latest is not None:
                templates[latest.pk] = latest
        if not templates:
            return queued
        stale = timezone.now() - dt.timedelta(seconds=RERUN_REDELIVER_SECONDS)
        rules = active_rules(tenant=tenant)
        actor = Actor.system(f"{AUTO_LABEL}{reason}"[:200])
        gstins = dict(Registration.objects.filter(tenant=tenant).values_list("pk", "gstin"))
        for template in sorted(
            templates.values(), key=lambda r: r.pk
        ):  # the newest scope's rerun stays newest
            if template.status == JobStatus.QUEUED:
                if template.created_at < stale:
                    transaction.on_commit(
                        partial(_deliver, template.pk)
                    )  # a lost delivery; a twin is a no-op
                continue
            run = ReconRun.objects.create(
                tenant=tenant,
                user_id=0,
                actor_type=str(actor.type),
                actor_label=actor.label,
                registration_ids=sorted(template.registration_ids),
                date_from=template.date_from,
                date_to=template.date_to,
                rules=rules,
                scope=template.scope,
            )
            record(
                tenant=tenant,
                actor=actor,
                action="recon.run_started",
                obj=run,
                metadata={
                    "gstins": sorted(gstins.get(r, str(r)) for r in run.registration_ids),
                    "from": run.date_from,
                    "to": run.date_to,
                    "rules_version": rules.version,
                    "automatic": True,
                    "reason": reason[:500],
                    "after_run": template.pk,
                },
            )
            transaction.on_commit(partial(_deliver, run.pk))
            queued.append(run)
    return queued


def _deliver(run_id: int) -> None:
    """Hand a queued run to the worker; when the broker refuses, the run stays queued and the next change
    delivers it again (:data:`RERUN_REDELIVER_SECONDS`)."""

    try:
        tasks.run_recon_task.delay(run_id)
    except Exception:  # noqa: BLE001 - the change that asked for the rerun is saved; it must not fail
        log.exception("reconciliation run %s could not be handed to the worker", run_id)


# --- manual links ---------------------------------------------------------------------------------------------


def _check_pair(tenant, purchase, document, registrations) -> None:
    allowed = set(registrations.values_list("pk", flat=True))
    if (
        purchase.tenant_id != tenant.pk
        or document.tenant_id != tenant.pk
        or purchase.registration_id not in allowed
        or document.registration_id not in allowed
    ):
        raise ReconError("pair", "No such register line or document.", "not_found")
    if purchase.registration_id != document.registration_id:
        raise ReconError("pair", "The line and the document belong to different GSTINs.")


def link(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    purchase: PurchaseLine,
    document,
    note: str = "",
) -> ManualLink:
    """Pair ``purchase`` with ``document`` by hand (kept across runs). Either side's other manual link is
    replaced; the latest run shows the pair as a manual match at once."""
    require(membership, tenant)
    regs = registrations_for_capability(
        tenant=tenant, user=user, capability=Capability.ACT, membership=membership
    )
    _check_pair(tenant, purchase, document, regs)
    with transaction.atomic():
        replaced = list(
            ManualLink.objects.filter(tenant=tenant, kind=LinkKind.LINK)
            .filter(purchase=purchase)
            .exclude(document=document)
        ) + list(
            ManualLink.objects.filter(tenant=tenant, kind=LinkKind.LINK, document=document).exclude(
                purchase=purchase
            )
        )
        ManualLink.objects.filter(pk__in=[m.pk for m in replaced]).delete()
        obj, _ = ManualLink.objects.update_or_create(
            tenant=tenant,
            purchase=purchase,
            document=document,
            defaults={"kind": LinkKind.LINK, "note": note[:500], "created_by": actor.label},
        )

        apply_manual(tenant=tenant, purchase=purchase, document=document, linked=True)
        record_many(
            tenant=tenant,
            actor=actor,
            events=[
                Event(
                    "recon.linked",
                    "reconciliation.manuallink",
                    str(obj.pk),
                    f"{purchase} ↔ {document}",
                    {},
                    {
                        "purchase": purchase.pk,
                        "document": document.pk,
                        "note": note[:500],
                        "replaced": [[m.purchase_id, m.document_id] for m in replaced],
                    },
                )
            ],
        )
    return obj


def unlink(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    purchase: PurchaseLine,
    document,
    note: str = "",
) -> ManualLink:
    """Never pair ``purchase`` with ``document`` (kept across runs); the latest run shows both as unmatched."""
    require(membership, tenant)
    regs = registrations_for_capability(
        tenant=tenant, user=user, capability=Capability.ACT, membership=membership
    )
    _check_pair(tenant, purchase, document, regs)
    with transaction.atomic():
        obj, _ = ManualLink.objects.update_or_create(
            tenant=tenant,
            purchase=purchase,
            document=document,
            defaults={"kind": LinkKind.UNLINK, "note": note[:500], "created_by": actor.label},
        )

        apply_manual(tenant=tenant, purchase=purchase, document=document, linked=False)
        record(
            tenant=tenant,
            actor=actor,
            action="recon.unlinked",
            obj=obj,
            metadata={"purchase": purchase.pk, "document": document.pk, "note": note[:500]},
        )
    return obj


# --- recommended action per outcome ---------------------------------------------------------------------------


def outcome_actions(*, tenant: Tenant) -> dict[str, str]:
    """The tenant's recommended IMS action per outcome ("" = none): the defaults overlaid with its edits."""
    found = OutcomeActionMap.objects.filter(tenant=tenant).first()
    saved = found.mapping if found else {}
    return {o: saved.get(o, default) for o, default in DEFAULT_OUTCOME_ACTIONS.items()}


def save_outcome_actions(
    *, tenant: Tenant, actor: Actor, membership: Membership | None, mapping: dict[str, str]
) -> dict[str, str]:
    """Set the recommended action of some outcomes (owners and admins); audited with what changed.
    Raises ReconError on an unknown outcome or action."""
    require(membership, tenant, Capability.MANAGE_REGISTRATIONS)
    allowed = {code for code, _ in RECOMMENDED_ACTIONS}
    for outcome, action in mapping.items():
        if outcome not in DEFAULT_OUTCOME_ACTIONS:
            raise ReconError(outcome, "No such outcome.")
        if action not in allowed:
            raise ReconError(outcome, "Choose Accept, Reject, Pending or no recommendation.")
    with transaction.atomic():
        current = outcome_actions(tenant=tenant)
        new = {**current, **mapping}
        changes = {o: [current[o], new[o]] for o in new if current[o] != new[o]}
        if changes:
            obj, _ = OutcomeActionMap.objects.update_or_create(
                tenant=tenant, defaults={"mapping": new, "updated_by": actor.label}
            )
            record(
                tenant=tenant, actor=actor, action="recon.outcome_actions_changed", obj=obj, changes=changes
            )
    return new


__all__ = [
    "ReconError",
    "Forbidden",
    "upsert_lines",
    "start_import",
    "stage_upload",
    "staged_upload",
    "start_staged_import",
    "run_import",
    "active_rules",
    "save_rules",
    "start_run",
    "rerun_after_change",
    "queue_reruns",
    "link",
    "unlink",
    "outcome_actions",
    "save_outcome_actions",
    "Registration",
]


# --- write-back to the ERP through the organisation's webhooks ---------------------------------------------------

MAX_WRITEBACK = 5_000  # proposals per send


def _writeback_proposals(
    *, tenant: Tenant, user: Any, membership: Membership | None, run_id: Any, ids: Any
) -> tuple[ReconRun, list[dict[str, Any]], dict[int, int | None]]:
    """The run (default the latest finished one the user sees), its write-back proposals the user may send
    (``ids``: some of them, default all) and the register line of each; ReconError naming what is wrong."""
    if run_id is None:
        run = selectors.latest_done_run(tenant=tenant, user=user, membership=membership)
    else:
        if isinstance(run_id, bool) or not str(run_id).isdigit():
            raise ReconError("run", "run must be a run id (a whole number).")
        run = (
            selectors.runs_for(tenant=tenant, user=user, membership=membership)
            .filter(pk=int(run_id), status="done")
            .first()
        )
    if run is None:
        raise ReconError("run", "No such finished reconciliation run.", "not_found")
    if ids is not None and (
        not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise ReconError("ids", "ids must be a list of proposal ids (whole numbers).")
    allowed = registrations_for_capability(
        tenant=tenant, user=user, capability=Capability.ACT, membership=membership
    )
    rows = selectors.writeback_for(tenant=tenant, user=user, membership=membership, run=run).filter(
        registration__in=allowed
    )
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    matches = list(
        rows.select_related("purchase", "document", "registration").order_by("id")[: MAX_WRITEBACK + 1]
    )
    proposals = [selectors.writeback_proposal(m) for m in matches]
    if len(proposals) > MAX_WRITEBACK:
        raise ReconError("ids", f"At most {MAX_WRITEBACK:,} proposals per send; choose some by id.")
    if ids is not None and len(proposals) != len(set(ids)):
        found = {p["id"] for p in proposals}
        missing = [i for i in ids if i not in found]
        raise ReconError("ids", f"Not proposals of run #{run.pk} you may send: {missing[:10]}.", "not_found")
    return run, proposals, {m.pk: m.purchase_id for m in matches}


def _already_sent(tenant: Tenant, proposals: list[dict[str, Any]]) -> set[str]:
    return set(
        WritebackSent.objects.filter(
            tenant=tenant, idempotency_key__in=[p["idempotency_key"] for p in proposals]
        ).values_list("idempotency_key", flat=True)
    )


def writeback_preview(
    *, tenant: Tenant, user: Any, membership: Membership | None, run_id: Any = None
) -> dict[str, Any]:
    """What :func:`send_writeback` of the run would do, for the confirmation: the run, how many proposals would go
    and how many went before, and why it would be refused (no webhook receives corrections) or None."""
    require(membership, tenant)
    run, proposals, _lines = _writeback_proposals(
        tenant=tenant, user=user, membership=membership, run_id=run_id, ids=None
    )
    done = _already_sent(tenant, proposals)
    return {
        "run": run,
        "to_send": sum(1 for p in proposals if p["idempotency_key"] not in done),
        "already_sent": len(done),
        "refusal": handoff.refusal(WritebackQueued(tenant=tenant, proposals=[])),
    }


def send_writeback(
    *,
    tenant: Tenant,
    actor: Actor,
    user: Any,
    membership: Membership | None,
    run_id: Any = None,
    ids: Any = None,
) -> dict[str, Any]:
    """Send write-back proposals of a run (default the latest finished one the user sees; ``ids``: some of its
    proposals, default all) to the ERP: each is recorded once under its idempotency key (:class:`WritebackSent`),
    audited (``recon.writeback_sent``), and handed to the organisation's webhooks subscribed to
    ``reconciliation.writeback`` once committed (``pipeline.flows.after_writeback``: signed, retried with back-off).
    A proposal sent before is not sent again. Needs the right to act, on the GSTINs the user may act for. Refused
    (``ReconError`` code ``no_webhook``, nothing marked sent) when no webhook of the organisation receives
    ``reconciliation.writeback``."""

    require(membership, tenant)
    run, proposals, purchase_of = _writeback_proposals(
        tenant=tenant, user=user, membership=membership, run_id=run_id, ids=ids
    )
    if refused := handoff.refusal(WritebackQueued(tenant=tenant, proposals=[])):
        raise ReconError("webhook", refused, "no_webhook")  # nothing marked sent
    with transaction.atomic():
        done = _already_sent(tenant, proposals)
        fresh = [p for p in proposals if p["idempotency_key"] not in done]
        WritebackSent.objects.bulk_create(
            [
                WritebackSent(
                    tenant=tenant,
                    idempotency_key=p["idempotency_key"],
                    run_id=run.pk,
                    document_id=p["supplier_document"]["id"],
                    purchase_id=purchase_of[p["id"]],
                    payload=p,
                    sent_by=actor.label,
                )
                for p in fresh
            ],
            ignore_conflicts=True,
        )
        if fresh:
            record_many(
                tenant=tenant,
                actor=actor,
                events=[
                    Event(
                        "recon.writeback_sent",
                        "reconciliation.reconmatch",
                        str(p["id"]),
                        f"{p['type']} {p['supplier_document']['supplier_gstin']} "
                        f"{p['supplier_document']['doc_number']}",
                        {},
                        {"idempotency_key": p["idempotency_key"], "run": run.pk},
                    )
                    for p in fresh
                ],
                summary=Event(
                    "recon.writeback_sent_batch",
                    "reconciliation.reconrun",
                    str(run.pk),
                    f"reconciliation #{run.pk}",
                    metadata={"sent": len(fresh), "already_sent": len(done)},
                ),
            )
            payloads = [{"event": "reconciliation.writeback", **p} for p in fresh]
            transaction.on_commit(
                lambda: handoff.announce(WritebackQueued(tenant=tenant, proposals=payloads))
            )
    return {
        "run": run.pk,
        "sent": [p["idempotency_key"] for p in fresh],
        "already_sent": sorted(done),
    }

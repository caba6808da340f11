"""Writers of approvals: policies, holding actions a policy catches, approving / returning / withdrawing a batch,
notifications.

How a held action flows:

1. ``actions.services`` writes a document's new local action as always and, in the same transaction, calls
   :func:`hold_actions` with the changed rows. Any earlier hold on those documents is superseded (the last action
   wins; the state before the first held proposal is carried over). Rows whose new local action a policy catches
   become :class:`~approvals.models.ApprovalItem` s of one :class:`~approvals.models.ApprovalRequest` per action
   (per bulk run) and leave the push queue (``gst_sync.push.pending_push``). Approvers are notified in the app and
   by email once the transaction commits.
2. :func:`approve` (an approver, never the proposer, even an owner): the held actions become pushable.
   Owners and admins may decide any batch they did not propose; approvers, batches on GSTINs granted to them.
   When nobody but the proposer may decide a new batch (e.g. the only approver proposed it, or no approver may
   see its GSTINs), the owners and admins are told at once what to do (invite an approver or grant one the
   GSTINs; the proposer may withdraw): the rule "nobody approves their own batch" is never relaxed. An
   auto-action rule's batch counts as proposed by the rule's owner.
3. :func:`return_request` (an approver, with a comment) or :func:`withdraw` (the proposer): each held document's
   local action goes back to what it was before the proposal (set-based ``UPDATE … FROM``), audited as an
   ``ims.action_set`` event; a document changed since (e.g. by a sync) is left alone. We revert rather than keep
   a draft: a returned action that stayed on the document would sit in no queue and mislead the list's "effective
   action"; the preparer sees the comment and proposes again.

Every step writes audit events in its transaction.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from actions.models import BulkActionRun
from actions.requests import request_json
from audit.services import Actor, Event, record, record_many
from gst.rules import HEADS, ActionRequest
from notifications.services import notify, settle
from tenancy.models import Membership, Registration, Tenant
from tenancy.roles import Capability, can
from tenancy.selectors import visible_registrations

from .errors import ApprovalError, ApprovalForbidden
from .models import ApprovalItem, ApprovalPolicy, ApprovalRequest, ItemState, RequestStatus

log = logging.getLogger(__name__)
OBJECT_TYPE = "invoices.supplierdocument"
REQUEST_TYPE = "approvals.approvalrequest"
ACTION_WORDS = {"A": "accept", "R": "reject", "P": "pending", "N": "reset"}
PREV_COLUMNS = ("prev_action", "prev_remarks", "prev_itc_red_req", *(f"prev_decl_{h}" for h in HEADS))
LOCAL_COLUMNS = ("local_action", "local_remarks", "local_itc_red_req", *(f"local_decl_{h}" for h in HEADS))


# --- policies --------------------------------------------------------------------------------------------------

POLICY_FIELDS = (
    "name",
    "action",
    "min_value",
    "sections",
    "supplier_filing_status",
    "supplier_gstins",
    "enabled",
)


def _require(membership: Membership | None, tenant: Tenant, capability: Capability, message: str) -> None:
    if membership is None or membership.tenant_id != tenant.pk or not can(membership.role, capability):
        raise ApprovalForbidden(message)


def save_policy(
    *,
    tenant: Tenant,
    actor: Actor,
    membership: Membership | None,
    policy: ApprovalPolicy | None = None,
    **values,
) -> ApprovalPolicy:
    """Create (``policy`` None) or update a policy; owners and admins only. ``values``: the fields of
    :data:`POLICY_FIELDS`, already validated by the form or serializer. Audited with the changed fields."""
    _require(
        membership, tenant, Capability.MANAGE_MEMBERS, "Only owners and admins may change approval policies."
    )
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ApprovalError(sorted(unknown)[0], "invalid", "Unknown policy field.")
    if policy is not None and policy.tenant_id != tenant.pk:
        raise ApprovalPolicy.DoesNotExist
    with transaction.atomic():
        created = policy is None
        policy = policy or ApprovalPolicy(tenant=tenant)
        changes = {
            k: [None if created else getattr(policy, k), v]
            for k, v in values.items()
            if created or getattr(policy, k) != v
        }
        for key, value in values.items():
            setattr(policy, key, value)
        policy.save()
        record(
            tenant=tenant,
            actor=actor,
            action="approval.policy_created" if created else "approval.policy_changed",
            obj=policy,
            changes=changes,
        )
    return policy


def delete_policy(
    *, tenant: Tenant, actor: Actor, membership: Membership | None, policy: ApprovalPolicy
) -> None:
    """Remove a policy (held actions stay held: their requests are decided as before)."""
    _require(
        membership, tenant, Capability.MANAGE_MEMBERS, "Only owners and admins may change approval policies."
    )
    with transaction.atomic():
        record(
            tenant=tenant,
            actor=actor,
            action="approval.policy_deleted",
            obj=policy,
            changes={k: [getattr(policy, k), None] for k in POLICY_FIELDS},
        )
        policy.delete()


# --- holding (called by actions.services in its transaction) ---------------------------------------------------


def hold_actions(
    *,
    tenant: Tenant,
    actor: Actor,
    changes: dict,
    request: ActionRequest,
    run_id: int | None = None,
    request_id: str = "",
) -> int:
    """Hold the changed documents whose new local action an enabled policy catches; returns how many were held.

    ``changes``: new local state (``actions.facts.State``) → rows as ``actions.services._apply`` read them (id,
    section, supplier_gstin, supplier_filing_status, registration_id, doc_value, local_* before the change). Must
    run inside the transaction that wrote the change."""
    rows = [(state, row) for state, group in changes.items() for row in group]
    if not rows:
        return 0
    with connection.cursor() as cur:  # a document changed again: its earlier hold no longer applies
        cur.execute(
            f"UPDATE approvals_approvalitem SET state = %s WHERE tenant_id = %s AND state = %s "  # nosec B608  # PREV_COLUMNS are code constants, values as params
            f"AND document_id = ANY(%s) RETURNING document_id, {', '.join(PREV_COLUMNS)}",
            [ItemState.SUPERSEDED, tenant.pk, ItemState.HELD, [row.id for _s, row in rows]],
        )
        carried = {r[0]: r[1:] for r in cur.fetchall()}
    policies = list(ApprovalPolicy.objects.filter(tenant=tenant, enabled=True))
    caught = []
    for state, row in rows:
        if state.action is None:  # equal to the portal: nothing to push, nothing to approve
            continue
        policy = next(
            (
                p
                for p in policies
                if p.matches(
                    action=state.action,
                    value=row.doc_value,
                    section=row.section,
                    filing_status=row.supplier_filing_status,
                    supplier_gstin=row.supplier_gstin,
                )
            ),
            None,
        )
        if policy is not None:
            caught.append((state, row, policy))
    if not caught:
        return 0
    approval, created = _open_request(tenant=tenant, actor=actor, request=request, run_id=run_id)
    ApprovalItem.objects.bulk_create(
        [
            ApprovalItem(
                tenant=tenant,
                request=approval,
                document_id=row.id,
                registration_id=row.registration_id,
                action=state.action,
                policy_name=policy.name,
                **dict(
                    zip(
                        PREV_COLUMNS,
                        carried.get(row.id) or [getattr(row, c) for c in LOCAL_COLUMNS],
                        strict=True,
                    )
                ),
            )
            for state, row, policy in caught
        ],
        batch_size=5000,
    )
    approval.item_count += len(caught)
    approval.registration_ids = sorted(
        set(approval.registration_ids) | {row.registration_id for _s, row, _p in caught}
    )
    approval.policy_names = sorted(set(approval.policy_names) | {p.name for _s, _r, p in caught})
    approval.save(update_fields=["item_count", "registration_ids", "policy_names"])
    record(
        tenant=tenant,
        actor=actor,
        action="approval.requested",
        obj=approval,
        request_id=request_id,
        metadata={
            "held": len(caught),
            "action": approval.action,
            "run": run_id,
            "policies": sorted({p.name for _s, _r, p in caught}),
        },
    )
    if created and not _notify_approvers(tenant=tenant, approval=approval):
        _notify_no_approver(tenant=tenant, approval=approval)
    return len(caught)


def _open_request(*, tenant: Tenant, actor: Actor, request: ActionRequest, run_id: int | None):
    if run_id is not None:  # a bulk run applied in chunks adds to one request
        existing = (
            ApprovalRequest.objects.select_for_update()
            .filter(tenant=tenant, run_id=run_id, status=RequestStatus.PENDING)
            .first()
        )
        if existing is not None:
            return existing, False

    return ApprovalRequest.objects.create(
        tenant=tenant,
        action=request.action,
        params=request_json(request),
        run_id=run_id,
        proposed_by_id=actor.id,
        proposed_by_label=actor.label,
    ), True


# --- deciding --------------------------------------------------------------------------------------------------


def _locked(tenant: Tenant, approval: ApprovalRequest) -> ApprovalRequest:
    locked = ApprovalRequest.objects.select_for_update().get(tenant=tenant, pk=approval.pk)
    if not locked.is_pending:
        raise ApprovalError(
            None, "already_decided", f"This batch is already {locked.get_status_display().lower()}."
        )
    if locked.run_id is not None:
        run = BulkActionRun.objects.filter(tenant=tenant, pk=locked.run_id).first()
        if run is not None and not run.finished:
            raise ApprovalError(
                None, "still_running", "The bulk action is still being applied: decide when it is done."
            )
    return locked


def _check_approver(approval: ApprovalRequest, user, membership: Membership | None, tenant: Tenant) -> None:
    _require(membership, tenant, Capability.APPROVE, "Your role may not approve IMS actions.")
    if approval.proposed_by_id is not None and approval.proposed_by_id == user.pk:
        raise ApprovalForbidden("You proposed this batch: someone else must approve or return it.")


def _decide(approval: ApprovalRequest, status: str, actor: Actor, comment: str) -> None:
    approval.status, approval.comment = status, comment
    approval.decided_by_id, approval.decided_by_label, approval.decided_at = (
        actor.id,
        actor.label,
        timezone.now(),
    )
    approval.save(update_fields=["status", "comment", "decided_by_id", "decided_by_label", "decided_at"])


def approve(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    approval: ApprovalRequest,
    comment: str = "",
    request_id: str = "",
) -> ApprovalRequest:
    """Approve a pending batch the caller can see (the selector found it): its held actions become pushable.
    Refused for the proposer whatever their role, and for roles without the approve capability."""
    _check_approver(approval, user, membership, tenant)
    with transaction.atomic():
        approval = _locked(tenant, approval)
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE approvals_approvalitem i SET state = %s FROM invoices_supplierdocument d "
                "WHERE i.tenant_id = %s AND i.request_id = %s AND i.state = %s AND d.id = i.document_id "
                "RETURNING d.id, d.supplier_gstin, d.section, d.doc_number, i.action",
                [ItemState.APPROVED, tenant.pk, approval.pk, ItemState.HELD],
            )
            done = cur.fetchall()
        _decide(approval, RequestStatus.APPROVED, actor, comment.strip())
        events = (
            Event(
                "ims.action_approved",
                OBJECT_TYPE,
                str(i),
                f"{g} {s} {n}",
                {},
                {"approval": approval.pk, "action": a},
            )
            for i, g, s, n, a in done
        )
        summary = Event(
            "approval.approved",
            REQUEST_TYPE,
            str(approval.pk),
            str(approval),
            {"status": [RequestStatus.PENDING, RequestStatus.APPROVED]},
            {"documents": len(done), "comment": approval.comment},
        )
        record_many(tenant=tenant, actor=actor, events=events, summary=summary, request_id=request_id)
        _notify_proposer(tenant=tenant, approval=approval, verb="approved")
        _settle_requests(tenant=tenant, approval=approval)
    return approval


def return_request(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    approval: ApprovalRequest,
    comment: str,
    request_id: str = "",
) -> ApprovalRequest:
    """Return a pending batch to its proposer with a (required) comment: the held documents' local actions go
    back to what they were before the proposal."""
    _check_approver(approval, user, membership, tenant)
    comment = (comment or "").strip()
    if not comment:
        raise ApprovalError("comment", "required", "Say why the batch is returned.")
    return _revert(
        tenant=tenant,
        actor=actor,
        approval=approval,
        status=RequestStatus.RETURNED,
        comment=comment,
        request_id=request_id,
    )


def withdraw(
    *,
    tenant: Tenant,
    actor: Actor,
    user,
    membership: Membership | None,
    approval: ApprovalRequest,
    request_id: str = "",
) -> ApprovalRequest:
    """The proposer takes a pending batch back: reverted like a returned one."""
    if membership is None or approval.proposed_by_id != user.pk:
        raise ApprovalForbidden("Only the person who proposed this batch may withdraw it.")
    return _revert(
        tenant=tenant,
        actor=actor,
        approval=approval,
        status=RequestStatus.WITHDRAWN,
        comment="",
        request_id=request_id,
    )


def _revert(
    *, tenant: Tenant, actor: Actor, approval: ApprovalRequest, status: str, comment: str, request_id: str
) -> ApprovalRequest:
    with transaction.atomic():
        approval = _locked(tenant, approval)
        sets = ", ".join(f"{loc} = i.{prev}" for loc, prev in zip(LOCAL_COLUMNS, PREV_COLUMNS, strict=True))
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE invoices_supplierdocument d SET {sets}, local_updated_at = %s, local_updated_by = %s "  # nosec B608  # column names from code constants, values as params
                "FROM approvals_approvalitem i WHERE i.tenant_id = %s AND i.request_id = %s AND i.state = %s "
                "AND d.tenant_id = i.tenant_id AND d.id = i.document_id "
                "AND d.local_action IS NOT DISTINCT FROM i.action "
                "RETURNING d.id, d.supplier_gstin, d.section, d.doc_number, i.action, i.prev_action",
                [timezone.now(), actor.id, tenant.pk, approval.pk, ItemState.HELD],
            )
            reverted = cur.fetchall()
            cur.execute(
                "UPDATE approvals_approvalitem SET state = %s WHERE tenant_id = %s AND request_id = %s "
                "AND state = %s",
                [ItemState.RETURNED, tenant.pk, approval.pk, ItemState.HELD],
            )
        old_status = approval.status
        _decide(approval, status, actor, comment)
        events = (
            Event(
                "ims.action_set",
                OBJECT_TYPE,
                str(i),
                f"{g} {s} {n}",
                {"local_action": [a, p]},
                {"approval": approval.pk, "reverted": status},
            )
            for i, g, s, n, a, p in reverted
        )
        summary = Event(
            f"approval.{status}",
            REQUEST_TYPE,
            str(approval.pk),
            str(approval),
            {"status": [old_status, status]},
            {"reverted": len(reverted), "comment": comment},
        )
        record_many(tenant=tenant, actor=actor, events=events, summary=summary, request_id=request_id)
        if status == RequestStatus.RETURNED:
            _notify_proposer(tenant=tenant, approval=approval, verb="returned")
        _settle_requests(tenant=tenant, approval=approval)
    return approval


def approvers_for(*, tenant: Tenant, approval: ApprovalRequest) -> list:
    """Members who may decide ``approval``: the approve capability, every GSTIN of the batch visible, not the
    proposer."""
    needed = set(approval.registration_ids)
    out = []
    for m in Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username"):
        if (
            m.user_id == approval.proposed_by_id
            or not can(m.role, Capability.APPROVE)
            or not m.user.is_active
        ):
            continue
        seen = set(
            visible_registrations(tenant=tenant, user=m.user, membership=m).values_list("pk", flat=True)
        )
        if needed <= seen:
            out.append(m.user)
    return out


def _url(tenant: Tenant, approval: ApprovalRequest) -> str:
    return reverse("approval-detail", args=[tenant.slug, approval.pk])


def _notify_approvers(*, tenant: Tenant, approval: ApprovalRequest) -> int:
    word = ACTION_WORDS.get(approval.action, approval.action)
    text = f"{approval.proposed_by_label} proposes to {word} documents (batch #{approval.pk}): your approval is needed"
    return notify(
        tenant=tenant,
        users=approvers_for(tenant=tenant, approval=approval),
        kind="approval.requested",
        text=text,
        url=_url(tenant, approval),
        email_body=f"{text}.\nPolicies: {', '.join(approval.policy_names)}.\nOpen the batch to see its "
        "impact on GSTR-2B and approve or return it.",
    )


def no_approver_help(*, tenant: Tenant, approval: ApprovalRequest) -> str:
    """What to do when nobody but the proposer may decide ``approval`` (shown on the page and sent to owners)."""

    gstins = ", ".join(
        Registration.objects.filter(tenant=tenant, pk__in=approval.registration_ids)
        .order_by("gstin")
        .values_list("gstin", flat=True)
    )
    return (
        f"Nobody but its proposer ({approval.proposed_by_label}) may approve batch #{approval.pk}, and nobody "
        "approves their own batch. An owner or admin can invite an approver, or grant an approver access to "
        f"{gstins or 'its GSTINs'}; the batch can then be decided. Until then its actions are held (not pushed); "
        "the proposer may withdraw it."
    )


def _notify_no_approver(*, tenant: Tenant, approval: ApprovalRequest) -> int:
    """Tell the owners and admins (and the proposer) that a new batch has no one to decide it."""

    managers = [
        m.user
        for m in Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")
        if can(m.role, Capability.MANAGE_MEMBERS) and m.user.is_active
    ]
    proposer = (
        get_user_model().objects.filter(pk=approval.proposed_by_id, is_active=True).first()
        if approval.proposed_by_id is not None
        else None
    )
    users = {u.pk: u for u in [*managers, *([proposer] if proposer else [])]}
    help_text = no_approver_help(tenant=tenant, approval=approval)
    record(
        tenant=tenant,
        actor=Actor.system("approvals"),
        action="approval.no_approver",
        obj=approval,
        metadata={"notified": sorted(u.get_username() for u in users.values())},
    )
    return notify(
        tenant=tenant,
        users=users.values(),
        kind="approval.no_approver",
        text=f"Batch #{approval.pk} has no one to approve it: an owner or admin must act",
        url=_url(tenant, approval),
        email_body=help_text,
    )


def _settle_requests(*, tenant: Tenant, approval: ApprovalRequest) -> None:
    """The other approvers' "your approval is needed" about a batch now decided no longer ask for anything."""
    by = f" by {approval.decided_by_label}" if approval.decided_by_label else ""
    settle(
        tenant=tenant,
        kind="approval.requested",
        url=_url(tenant, approval),
        text=f"Batch #{approval.pk} was {approval.get_status_display().lower()}{by}: no approval needed any more",
    )


def _notify_proposer(*, tenant: Tenant, approval: ApprovalRequest, verb: str) -> None:
    if approval.proposed_by_id is None:
        return

    user = get_user_model().objects.filter(pk=approval.proposed_by_id).first()
    if user is None:
        return
    text = f"Batch #{approval.pk} was {verb} by {approval.decided_by_label}"
    notify(
        tenant=tenant,
        users=[user],
        kind=f"approval.{verb}",
        text=text,
        url=_url(tenant, approval),
        email_body=f"{text}.{' Comment: ' + approval.comment if approval.comment else ''}",
    )


__all__ = [
    "approve",
    "delete_policy",
    "hold_actions",
    "return_request",
    "save_policy",
    "withdraw",
]

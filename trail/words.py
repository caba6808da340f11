"""The audit trail in plain sentences: who did what to which document or thing ("owner@demo.in rejected
INV/25-26/001 of Patel Plastics"), so that an auditor reads it without knowing the ledger's codes."""

from __future__ import annotations

from dataclasses import dataclass

from audit import names
from gst.labels import ACTION_VERBS, SECTION_NAMES, section_name

DOCUMENT = "invoices.supplierdocument"

# action code -> what was done, as a phrase after the actor; {obj} is the object in words.
PHRASES: dict[str, str] = {
    "ims.action_set": "set the action on {obj}",
    "ims.actions_set": "set actions on documents of {obj}",
    "ims.bulk_action": "took a bulk action on documents of {obj}",
    "ims.action_pushed": "sent the action on {obj} to the GST portal",
    "ims.action_approved": "approved the action on {obj}",
    "ims.push_held": "held the action on {obj} for approval",
    "ims.push_refused": "saw the GST portal refuse the action on {obj}",
    "document.created": "received {obj} from the GST portal",
    "document.changed": "received a change of {obj} from the GST portal",
    "document.vanished": "found {obj} no longer on the GST portal",
    "document.reappeared": "found {obj} back on the GST portal",
    "documents.ingested": "loaded documents from the GST portal for {obj}",
    "documents.view_saved": "saved the document view {obj}",
    "documents.view_deleted": "deleted the document view {obj}",
    "outward.action_changed": "saw the buyer's action change on {obj}",
    "push.queued": "queued actions to send to the GST portal ({obj})",
    "push.completed": "finished sending actions to the GST portal ({obj})",
    "sync.queued": "asked for a sync with the GST portal ({obj})",
    "sync.run_completed": "finished a sync with the GST portal ({obj})",
    "sync.job_completed": "finished a sync of several sections with the GST portal ({obj})",
    "portal.otp_requested": "asked the GST portal for an OTP for {obj}",
    "portal.connected": "connected {obj} to the GST portal",
    "gstr2b.imported": "imported the portal's GSTR-2B ({obj})",
    "gstr3b.filed": "recorded the GSTR-3B filing {obj}",
    "gstr3b.filing_corrected": "corrected the GSTR-3B filing {obj}",
    "gstr3b.filing_deleted": "deleted the GSTR-3B filing {obj}",
    "twob.preview_built": "built the {obj}",
    "twob.rebuild_queued": "asked for a rebuild of the {obj}",
    "twob.recomputed_on_portal": "had the GST portal recompute its GSTR-2B ({obj})",
    "supplier_3b.fetched": "fetched the suppliers' GSTR-3B filing status ({obj})",
    "credit_reversal_balance.recorded": "recorded the credit reversal balance {obj}",
    "credit_reversal_balance.corrected": "corrected the credit reversal balance {obj}",
    "credit_reversal_balance.deleted": "deleted the credit reversal balance {obj}",
    "export.requested": "asked for an Excel export{of}",
    "export.completed": "finished an Excel export{of}",
    "export.downloaded": "downloaded an Excel export{of}",
    "tenant.created": "created the organisation {obj}",
    "tenant.renamed": "renamed the organisation {obj}",
    "registration.created": "added the GSTIN {obj}",
    "registration.updated": "changed the GSTIN {obj}",
    "membership.created": "added the member {obj}",
    "membership.invited": "invited {obj}",
    "membership.invitation_resent": "sent the invitation to {obj} again",
    "membership.role_changed": "changed the role of {obj}",
    "membership.gstins_changed": "changed the GSTINs {obj} may see",
    "membership.removed": "removed the member {obj}",
    "api_token.created": "made the API token {obj}",
    "api_token.revoked": "revoked the API token {obj}",
    "approval.requested": "asked for approval of {obj}",
    "approval.approved": "approved {obj}",
    "approval.rejected": "turned down {obj}",
    "approval.no_approver": "found no approver for {obj}",
    "approval.policy_created": "created the approval policy {obj}",
    "approval.policy_deleted": "deleted the approval policy {obj}",
    "autorule.created": "created the automatic rule {obj}",
    "autorule.updated": "changed the automatic rule {obj}",
    "autorule.deleted": "deleted the automatic rule {obj}",
    "autorule.run": "ran the automatic rule {obj}",
    "recon.run_started": "started a reconciliation ({obj})",
    "recon.run_completed": "finished a reconciliation ({obj})",
    "recon.rules_changed": "changed the matching rules ({obj})",
    "recon.outcome_actions_changed": "changed the recommended actions of reconciliation outcomes",
    "recon.linked": "linked {obj} to a purchase register line",
    "recon.unlinked": "unlinked {obj} from its purchase register line",
    "register.import_started": "started a purchase register import ({obj})",
    "register.imported": "imported the purchase register ({obj})",
    "register.upserted": "updated the purchase register ({obj})",
    "register.line_created": "added the purchase register line {obj}",
    "register.line_updated": "changed the purchase register line {obj}",
    "register.line_removed": "removed the purchase register line {obj}",
    "supplier.updated": "changed the supplier {obj}",
    "supplier.filled_from_documents": "filled the supplier list from documents ({obj})",
    "supplier.import": "imported suppliers ({obj})",
    "supplier.imported": "imported the supplier {obj}",
    "supplier.notified": "e-mailed the supplier {obj}",
    "webhook.created": "created the webhook {obj}",
    "webhook.updated": "changed the webhook {obj}",
    "webhook.deleted": "deleted the webhook {obj}",
    "webhook.secret_rotated": "changed the secret of the webhook {obj}",
}

# What the "What happened" dropdown offers: the phrase without its object, capitalised.
ACTION_CHOICES = sorted(
    (
        (code, phrase.replace(" {obj}", "").replace(" ({obj})", "").replace("{obj} ", "").replace("{of}", ""))
        for code, phrase in PHRASES.items()
    ),
    key=lambda c: c[1],
)
# What an export (its ``kind``) holds, for the export events.
EXPORT_KINDS = {
    "documents": "the inward documents",
    "twob_preview": "the GSTR-2B preview",
    "audit": "the audit trail",
    "reconciliation": "a reconciliation",
    "sync_diff": "the changes of a sync",
}
OBJECT_TYPES = {
    DOCUMENT: "Document",
    "tenancy.registration": "GSTIN",
    "tenancy.membership": "Member",
    "tenancy.tenant": "Organisation",
    "auth.user": "User",
    "exports.exportjob": "Excel export",
}


@dataclass(frozen=True)
class Line:
    """One event in words: ``sentence`` for the page, ``document`` its document number (if it is about one)."""

    sentence: str
    document: str
    supplier: str


def actor_words(event) -> str:
    label = event.actor_label or "someone"
    if event.actor_type == "api":
        return f"{label} (through the API)"
    if event.actor_type == "task":
        return "The system (a background task)"
    if event.actor_type == "system":
        return "The system" if label == "system" else f"The system ({label})"
    return label


def _document_parts(object_repr: str) -> tuple[str, str, str]:
    """(supplier GSTIN, section, number) of a document's repr "GSTIN section number"; a bare repr is a number."""
    bits = (object_repr or "").split(" ", 2)
    if len(bits) == 3 and len(bits[0]) == 15:
        return bits[0], bits[1], bits[2]
    if (
        len(bits) == 2 and bits[0].lower() in SECTION_NAMES
    ):  # a bill of entry from overseas: no supplier GSTIN
        return "", bits[0], bits[1]
    return "", "", object_repr or ""


def _humanise(action: str) -> str:
    return (action or "").replace(".", " ").replace("_", " ").strip() or "did something"


def _new_action(event) -> str:
    changes = event.changes if isinstance(event.changes, dict) else {}
    for key in ("local_action", "action"):
        change = changes.get(key)
        if isinstance(change, list) and len(change) == 2 and change[1] in ACTION_VERBS:
            return change[1]
    return ""


def lines_for(events, *, tenant) -> list[tuple[object, Line]]:
    """Each event with its :class:`Line`; supplier names looked up once for the whole page."""
    events = list(events)
    gstins = {_document_parts(e.object_repr)[0] for e in events if e.object_type == DOCUMENT}
    supplier = names.names("supplier", tenant=tenant, keys=gstins)
    return [(e, line(e, supplier_names=supplier)) for e in events]


def line(event, *, supplier_names: dict[str, str] | None = None) -> Line:
    number, who = "", ""
    if event.object_type == DOCUMENT:
        gstin, section, number = _document_parts(event.object_repr)
        who = (supplier_names or {}).get(gstin) or gstin
        obj = number + (f" of {who}" if who else "")
        if section:
            obj += f" ({section_name(section)})"
    else:
        obj = event.object_repr or OBJECT_TYPES.get(event.object_type, "")
    code = (
        _new_action(event)
        if event.action in ("ims.action_set", "ims.action_pushed", "ims.action_approved")
        else ""
    )
    if event.action == "ims.action_set" and code:
        phrase = f"{ACTION_VERBS[code]} {{obj}}"
    else:
        phrase = PHRASES.get(event.action) or (_humanise(event.action) + (": {obj}" if obj else ""))
    if not obj:
        phrase = phrase.replace(" ({obj})", "").replace(": {obj}", "").replace(" {obj}", "")
    kind = (event.metadata or {}).get("kind", "") if isinstance(event.metadata, dict) else ""
    of = f" of {EXPORT_KINDS[kind]}" if kind in EXPORT_KINDS else ""
    return Line(f"{actor_words(event)} {phrase.format(obj=obj, of=of)}", number, who)

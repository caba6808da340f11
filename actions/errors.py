"""Why an action request is refused as a whole. Interfaces map them: ActionError → 400 (a field error),
ActionForbidden → 403, DocumentsNotFound → 404, IdempotencyConflict → 422, ActionRefused → 422."""

from __future__ import annotations


class ActionError(ValueError):
    """Invalid input: ``field`` names the request field, ``code`` is stable, ``message`` is safe to show."""

    def __init__(self, field: str | None, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


class ActionRefused(ActionError):
    """The IMS rules refuse this action on this document (single-document actions)."""


class ActionForbidden(PermissionError):
    """The member's role may not take IMS actions."""


class DocumentsNotFound(LookupError):
    """Some ids are not documents the user may see (another tenant's, or a GSTIN not granted): nothing was done."""

    def __init__(self, ids: list[int]):
        shown = ", ".join(map(str, ids[:20])) + (" …" if len(ids) > 20 else "")
        super().__init__(
            f"{len(ids)} of the selected documents do not exist or are not visible to you: {shown}. "
            "Nothing was changed."
        )
        self.ids = ids


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was already used with a different request body."""

"""Why an approval request is refused. Interfaces map them: ApprovalError → 400 (a field error),
ApprovalForbidden → 403; a request the user may not see is ``ApprovalRequest.DoesNotExist`` → 404."""

from __future__ import annotations


class ApprovalError(ValueError):
    """Invalid input or state: ``field`` names the request field, ``code`` is stable, ``message`` is safe to show."""

    def __init__(self, field: str | None, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


class ApprovalForbidden(PermissionError):
    """The member's role (or being the proposer) does not allow this."""

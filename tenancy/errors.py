"""The error of tenancy's writers (tenancy.services, tenancy.tokens)."""

from __future__ import annotations


class TenancyError(ValueError):
    """A tenancy change that the rules refuse; the message is safe to show.

    ``field`` names the form field the error belongs to (if any); ``code`` is a short machine-readable reason.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

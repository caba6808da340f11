"""The reconciliation outcomes a supplier document can be filtered or acted on by. Pure module: no ORM.

An outcome is what matching the document with the purchase register said (``reconciliation.domain.matching``).
"Only in books" (``missing_in_supplier``) is left out: it has no supplier document. Short names stand for groups of outcomes
(the API and auto-action rules accept them): ``matched``, ``mismatched`` and ``missing_in_books``.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciliation.domain.matching import OUTCOME_LABELS, Outcome

# Outcome → label, in the matcher's order.
DOCUMENT_OUTCOMES: dict[str, str] = {
    o.value: label for o, label in OUTCOME_LABELS.items() if o != Outcome.MISSING_IN_SUPPLIER
}
OUTCOME_GROUPS: dict[str, list[str]] = {
    "matched": ["exact", "manual", "tolerance"],
    "mismatched": ["mismatch", "probable"],
    "missing_in_books": ["missing_in_register"],
}
GROUP_LABELS = {
    "matched": "Matched (exact, manual or within tolerance)",
    "mismatched": "Mismatched (mismatch or probable)",
    "missing_in_books": "Only in supplier data (missing in books)",
}
# Every value a filter accepts: the outcomes, then the group names.
CHOICES: list[tuple[str, str]] = [*DOCUMENT_OUTCOMES.items(), *GROUP_LABELS.items()]


class UnknownOutcome(ValueError):
    def __init__(self, value: str):
        super().__init__(f"Unknown reconciliation outcome {value!r}.")
        self.value = value


def expand(values: Iterable[str]) -> list[str]:
    """The outcomes named by ``values`` (outcomes or group names), sorted, each once. Raises
    :class:`UnknownOutcome` on anything else (including ``missing_in_supplier``)."""
    out: set[str] = set()
    for value in values:
        value = str(value).strip()
        if value in OUTCOME_GROUPS:
            out.update(OUTCOME_GROUPS[value])
        elif value in DOCUMENT_OUTCOMES:
            out.add(value)
        else:
            raise UnknownOutcome(value)
    return sorted(out)


__all__ = ["CHOICES", "DOCUMENT_OUTCOMES", "GROUP_LABELS", "OUTCOME_GROUPS", "UnknownOutcome", "expand"]

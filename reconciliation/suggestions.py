"""The ITC to reduce on a specified record, suggested from the purchase register (docs/rules/ims-actions.md §4.4).

A credit note or downward amendment paired by the latest reconciliation of its GSTIN with lines of the register
gets a suggested declaration: the book values against the document's tax (``gst.rules.suggest_declaration``: within
₹1 the supplier's value, lower the book value, higher capped at the document's tax, SGST mirrors CGST). The
suggestion says where it came from (the run, the outcome, the register lines) and changes nothing: a person applies
it from the document page. The document page gets it through ``invoices.panels`` (registered in
``ReconciliationConfig.ready``): invoices sits below this app.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from gst.duedates import return_period
from gst.rule_data import DEFAULT_RULES
from gst.rules import HEADS, SOURCE_LABELS, Suggestion, TaxHeads, suggest_declaration
from invoices.models import SupplierDocument
from tenancy.models import Tenant

from .domain.matching import OUTCOME_LABELS, PAIRED, Outcome
from .latest import latest_runs
from .models import PurchaseLine, ReconMatch, ReconRun

SPECIFIED_SECTIONS = frozenset(s.value for row in DEFAULT_RULES.itc_reduction_records for s in row.sections)
HEAD_LABELS = {"igst": "IGST", "cgst": "CGST", "sgst": "SGST/UTGST", "cess": "Cess"}


@dataclass(frozen=True)
class BookSuggestion:
    """A suggestion with where it came from: the reconciliation run, its outcome and the register lines."""

    suggestion: Suggestion
    run: ReconRun
    outcome: str
    lines: list[PurchaseLine]
    books: TaxHeads
    tax: TaxHeads

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(Outcome(self.outcome), self.outcome)

    @property
    def rows(self) -> list[dict]:
        """Per head: the document's tax, the book value, the suggested amount and where it came from."""
        sources = dict(self.suggestion.sources)
        return [
            {
                "head": HEAD_LABELS[h],
                "document": getattr(self.tax, h),
                "books": getattr(self.books, h),
                "suggested": getattr(self.suggestion.amounts, h),
                "source": SOURCE_LABELS[sources[h]],
            }
            for h in HEADS
        ]


def book_suggestion(*, tenant: Tenant, document: SupplierDocument) -> BookSuggestion | None:
    """The suggestion for ``document`` (a specified record of a period from the cut-over, or one not yet in a 2B),
    from the register lines its GSTIN's latest finished reconciliation paired it with; None when there is none."""
    if document.section not in SPECIFIED_SECTIONS:
        return None
    if (
        document.twob_period is not None
        and return_period(document.twob_period, document.registration.filing_frequency)
        < DEFAULT_RULES.itc_reduction_from
    ):
        return None
    run = latest_runs(tenant=tenant, registration_ids=[document.registration_id]).by_registration.get(
        document.registration_id
    )
    if run is None:
        return None
    matches = ReconMatch.objects.filter(
        tenant=tenant, run=run, document_id=document.pk, purchase__isnull=False, outcome__in=sorted(PAIRED)
    )
    pairs = list(matches.values_list("purchase_id", "outcome"))
    if not pairs:
        return None
    lines = list(PurchaseLine.objects.filter(tenant=tenant, pk__in=[p for p, _o in pairs]).order_by("pk"))
    if not lines:
        return None
    sums = PurchaseLine.objects.filter(tenant=tenant, pk__in=[line.pk for line in lines]).aggregate(
        **{h: Sum(h) for h in HEADS}
    )
    books = TaxHeads(*(sums[h] or Decimal("0.00") for h in HEADS))
    tax = TaxHeads(document.igst, document.cgst, document.sgst, document.cess)
    return BookSuggestion(
        suggestion=suggest_declaration(tax=tax, books=books),
        run=run,
        outcome=pairs[0][1],
        lines=lines,
        books=books,
        tax=tax,
    )


def book_requests(*, tenant: Tenant, documents: list[SupplierDocument]) -> dict[int, dict[str, str]]:
    """``{document id: its declaration request}`` for the ``documents`` (specified records, as
    :func:`book_suggestion` takes them) that their GSTIN's latest finished reconciliation paired with register
    lines: the same suggestion, found for all of them with one query (an auto rule acting on thousands)."""
    wanted = {d.pk: d for d in documents if d.section in SPECIFIED_SECTIONS}
    if not wanted:
        return {}
    latest = latest_runs(tenant=tenant, registration_ids={d.registration_id for d in wanted.values()})
    runs = {reg_id: run.pk for reg_id, run in latest.by_registration.items()}
    if not runs:
        return {}
    sums = (
        ReconMatch.objects.filter(
            tenant=tenant,
            run_id__in=set(runs.values()),
            document_id__in=list(wanted),
            purchase__isnull=False,
            outcome__in=sorted(PAIRED),
        )
        .values("document_id", "run_id")
        .annotate(**{h: Sum(f"purchase__{h}") for h in HEADS})
    )
    out: dict[int, dict[str, str]] = {}
    for row in sums:
        document = wanted[row["document_id"]]
        if runs.get(document.registration_id) != row["run_id"]:
            continue  # a pair of an older run of its GSTIN
        if (
            document.twob_period is not None
            and return_period(document.twob_period, document.registration.filing_frequency)
            < DEFAULT_RULES.itc_reduction_from
        ):
            continue
        books = TaxHeads(*(row[h] or Decimal("0.00") for h in HEADS))
        tax = TaxHeads(document.igst, document.cgst, document.sgst, document.cess)
        out[document.pk] = dict(suggest_declaration(tax=tax, books=books).request)
    return out


def suggestion_panel(*, tenant, document) -> dict:
    """The document page's "Suggested from the books" (registered with ``invoices.panels``)."""
    return {"itc_suggestion": book_suggestion(tenant=tenant, document=document)}

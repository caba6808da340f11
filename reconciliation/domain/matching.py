"""Matching predicates and the in-memory matcher for one block of documents. Pure module: no ORM.

The engine (``reconciliation.engine``) pairs the bulk of the documents in SQL on the exact key and hands the
residue to :func:`match` here; the "why didn't these match" probe calls :func:`compare` on any two documents.

Differences are *supplier − books* (what the supplier reported minus the register), days too: the convention of
india-compliance since 2026 ("2A/2B minus books").
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from rapidfuzz import fuzz, process

from gst.number_forms import CONFUSABLE_PAIRS, confusable_key, look_alike_key, loose_number
from gst.periods import fy_start_year

from .rules import HEADS, RuleSet

_DIGITS = re.compile(r"[0-9]+")
_NOT_DIGITS = re.compile(r"[^0-9]+")


class _memo:
    """A value computed on first use and kept in the instance's ``__dict__`` (a frozen dataclass has one): later reads
    are plain attribute reads. ``functools.cached_property`` does the same but takes a lock on every first use in
    Python 3.11, a third of the time of computing the keys of 200,000 documents (docs/performance.md §3.4)."""

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


_ZERO = Decimal("0")
BOE, ISD = "boe", "isd"


class Outcome(StrEnum):
    EXACT = "exact"
    TOLERANCE = "tolerance"
    PROBABLE = "probable"
    MISMATCH = "mismatch"
    MANUAL = "manual"
    DUPLICATE = "duplicate"
    MISSING_IN_REGISTER = "missing_in_register"
    OUTSIDE_SCOPE = "outside_scope"
    MISSING_IN_SUPPLIER = "missing_in_supplier"


OUTCOME_LABELS = {
    Outcome.EXACT: "Exact match",
    Outcome.TOLERANCE: "Within tolerance",
    Outcome.PROBABLE: "Probable match",
    Outcome.MISMATCH: "Mismatch",
    Outcome.MANUAL: "Manual match",
    Outcome.DUPLICATE: "Duplicate",
    Outcome.MISSING_IN_REGISTER: "Only in supplier data",
    Outcome.OUTSIDE_SCOPE: "Only in supplier data, outside what the register covers",
    Outcome.MISSING_IN_SUPPLIER: "Only in books",
}
PAIRED = frozenset({Outcome.EXACT, Outcome.TOLERANCE, Outcome.PROBABLE, Outcome.MISMATCH, Outcome.MANUAL})
_RANK = {Outcome.EXACT: 0, Outcome.TOLERANCE: 1, Outcome.PROBABLE: 2, Outcome.MISMATCH: 3}


@dataclass(frozen=True)
class Doc:
    """One side's document as the matcher sees it. ``side`` is "R" (purchase register) or "S" (supplier)."""

    id: int
    side: str
    recipient: str
    supplier_gstin: str
    kind: str
    number: str
    date: dt.date
    taxable: Decimal = _ZERO
    igst: Decimal = _ZERO
    cgst: Decimal = _ZERO
    sgst: Decimal = _ZERO
    cess: Decimal = _ZERO
    norm: str = ""
    irn: str = ""  # the e-invoice's IRN (lower case), when the side has it
    # "boe": a bill of entry (import of goods: number, date and port code, no supplier GSTIN to pair on); "isd": a
    # document of an Input Service Distributor (its invoices and credit notes never pair with each other).
    cls: str = ""
    port: str = ""  # a bill of entry's port code (upper case), when the side has it
    negative: bool = (
        False  # booked with a negative amount (the engine may hand the amounts over without sign)
    )

    @property
    def is_negative(self) -> bool:
        return self.negative or self.taxable < 0 or self.igst + self.cgst + self.sgst + self.cess < 0

    # Cached: the matcher asks for these many times per document (a frozen dataclass still has a __dict__).
    @_memo
    def fy(self) -> int:
        return fy_start_year(self.date)

    @_memo
    def key_number(self) -> str:
        """The number as matching compares it: normalised, the FY removed in any form (``gst.number_forms``)."""
        return loose_number(self.number, self.fy) if self.number else self.norm

    @_memo
    def look_key(self) -> str:
        """The number with its look-alike characters read alike (``gst.number_forms.look_alike_key``)."""
        return look_alike_key(self.number, self.fy) if self.number else confusable_key(self.norm)

    @_memo
    def exact_key(self) -> tuple:
        return (self.recipient, self.party, self.kind, self.key_number, self.fy)

    @_memo
    def key_digits(self) -> str:
        """The digits of :attr:`key_number`, in order (candidates: numbers with equal digits)."""
        return _NOT_DIGITS.sub("", self.key_number)

    @_memo
    def look_digits(self) -> str:
        """The digits of :attr:`look_key`, in order (candidates: numbers equal once look-alikes read alike)."""
        return _NOT_DIGITS.sub("", self.look_key)

    @property
    def party(self) -> str:
        """The supplier GSTIN matching pairs on: none for a bill of entry (an import from overseas names no
        supplier; one from an SEZ unit is paired by its bill of entry all the same)."""
        return "" if self.cls == BOE else self.supplier_gstin

    @property
    def pan(self) -> str:
        return self.party[2:12]

    def amount(self, head: str, absolute: bool = True) -> Decimal:
        value = getattr(self, head)
        return abs(value) if absolute else value


# --- predicates -----------------------------------------------------------------------------------------------


def number_similarity(a: str, b: str) -> int:
    """0-100: how alike two *normalised* numbers are. 100 only when equal. When both carry digits and the digits
    differ, the score is at most the digits' own similarity (``INV42`` vs ``INV420`` is not a near-match); when
    the digits are equal and one number's letters contain the other's (``GSTINV42`` vs ``42``), at least 95."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    score = fuzz.ratio(a, b)
    da, db = "".join(_DIGITS.findall(a)), "".join(_DIGITS.findall(b))
    if da and db and da != db:
        score = min(score, fuzz.ratio(da, db))
    elif da and da == db:
        la, lb = _DIGITS.sub("", a), _DIGITS.sub("", b)
        if la in lb or lb in la:
            score = max(score, 95)
    return min(int(score), 99)


@dataclass
class Verdict:
    """The comparison of a register line with a supplier document: ``outcome`` None when they may not pair, and
    then ``blockers`` says why. ``reasons`` are the codes shown on a pair (number fuzzy 92, date +7 days, …)."""

    outcome: Outcome | None
    similarity: int
    days: int
    diffs: dict[str, Decimal]
    pan_fallback: bool = False
    across_fy: bool = False
    blockers: list[str] = field(default_factory=list)
    confusable: bool = False
    other_recipient: bool = False
    same_irn: bool = False
    kind_note: str = ""  # a pair of different kinds that are one document (KIND_NOTES)
    bill_of_entry: bool = False  # a pair of bills of entry (number, date and port code; no supplier GSTIN)

    @property
    def reasons(self) -> list[dict]:
        return reasons(
            self.similarity,
            self.days,
            self.diffs,
            self.pan_fallback,
            self.across_fy,
            confusable=self.confusable,
            other_recipient=self.other_recipient,
            same_irn=self.same_irn,
            kind_note=self.kind_note,
            bill_of_entry=self.bill_of_entry,
        )

    def rank(self) -> tuple:
        """Order of preference: pairs with the same number key (same GSTIN and FY: exact, within tolerance, then
        mismatch) before any probable pair — a supplier numbers its documents uniquely in a financial year, so
        the same number is the stronger evidence — then the most similar number, nearest date, least difference."""
        same_key = (
            self.similarity == 100
            and not self.pan_fallback
            and not self.across_fy
            and not self.other_recipient
            and not self.kind_note
        )
        return (
            0 if self.same_irn else 1 if same_key else 2,
            _RANK.get(self.outcome, 9),
            -self.similarity,
            abs(self.days),
            sum(abs(v) for v in self.diffs.values()),
        )


def _money(v: Decimal) -> str:
    return f"{v:+,.2f}".replace("-", "−")


def reasons(
    similarity: int,
    days: int | None,
    diffs: dict,
    pan_fallback: bool = False,
    across_fy: bool = False,
    group: int = 0,
    *,
    confusable: bool = False,
    other_recipient: bool = False,
    same_irn: bool = False,
    kind_note: str = "",
    bill_of_entry: bool = False,
    typed: tuple[str, str] | None = None,
) -> list[dict]:
    """Reason codes of a pair, each ``{code, value, text}``: number exact/fuzzy, numbers equal only once normalised
    (``typed``: the books' and the supplier's numbers as typed), numbers differing only in look-alike characters,
    date ±N days, each differing head with its difference, PAN fallback, across FY, group of N lines."""
    as_typed = bool(similarity >= 100 and typed and typed[0].strip().upper() != typed[1].strip().upper())
    out = [
        {
            "code": "number_exact",
            "value": 100,
            "text": "number the same once normalised" if as_typed else "number exact",
        }
        if similarity >= 100
        else {"code": "number_fuzzy", "value": similarity, "text": f"number fuzzy {similarity}"}
    ]
    if as_typed and typed:
        books, supplier = typed
        out.append(
            {
                "code": "number_as_typed",
                "value": [books, supplier],
                "text": f"typed {books} in the books, {supplier} by the supplier: the same number once the "
                "financial year's form, spaces and punctuation are set aside",
            }
        )
    if kind_note:
        out.append({"code": "kind", "value": kind_note, "text": KIND_NOTES[kind_note]})
    if bill_of_entry:
        out.append(
            {
                "code": "bill_of_entry",
                "value": None,
                "text": "bill of entry: paired by its number, date and port code (it names no supplier GSTIN)",
            }
        )
    if same_irn:
        out.append({"code": "irn", "value": None, "text": "same IRN (paired by the e-invoice's IRN first)"})
    if confusable:
        out.append(
            {
                "code": "number_confusable",
                "value": CONFUSABLE_PAIRS,
                "text": f"numbers differ only in look-alike characters ({CONFUSABLE_PAIRS})",
            }
        )
    if days:
        out.append({"code": "date", "value": days, "text": f"date {days:+d} days (supplier − books)"})
    for head in HEADS:
        d = diffs.get(head)
        if d:
            out.append(
                {
                    "code": head,
                    "value": str(d),
                    "text": f"{head.upper() if head != 'taxable' else 'taxable'} {_money(Decimal(d))}",
                }
            )
    if pan_fallback:
        out.append(
            {
                "code": "pan_fallback",
                "value": None,
                "text": "booked under another GSTIN of the supplier (same PAN)",
            }
        )
    if other_recipient:
        out.append(
            {
                "code": "other_recipient",
                "value": None,
                "text": "booked under another GSTIN of your organisation",
            }
        )
    if across_fy:
        out.append({"code": "across_fy", "value": None, "text": "across financial years"})
    if group:
        out.append(group_reason(group, lines=group))
    return out


def group_reason(value: int, lines: int = 0) -> dict:
    """The reason of a pair that is one line of a group (a bill booked on several lines), ``lines`` of them when
    known (the matcher knows; a stored result keeps only its group's number, ``value``)."""
    of = f" of {lines} lines" if lines else ""
    return {
        "code": "group",
        "value": value,
        "text": f"one of the lines of a group{of} (a bill booked on several lines): their sum is compared, "
        "not this line alone",
    }


# What a register line's flag (``gst.register_checks``: a GST rule the line breaks as booked) may explain: the
# differing heads of a pair, its number (not exact), date, or supplier GSTIN (PAN fallback).
FLAG_EXPLAINS: dict[str, frozenset[str]] = {
    "tax_split": frozenset({"igst", "cgst", "sgst"}),
    "cgst_sgst_differ": frozenset({"cgst", "sgst"}),
    "tax_over_rate": frozenset({"taxable", "igst", "cgst", "sgst"}),
    "tax_on_sez_wop": frozenset({"igst", "cgst", "sgst"}),
    "negative_invoice": frozenset({"taxable", "igst", "cgst", "sgst", "cess"}),
    "number_too_long": frozenset({"number"}),
    "number_format": frozenset({"number"}),
    "gstin_checksum": frozenset({"supplier"}),
    "gstin_invalid": frozenset({"supplier"}),
    "date_before_gst": frozenset({"date"}),
    "date_future": frozenset({"date"}),
}
_ALONE = frozenset({"number", "supplier", "date"})


def flag_reasons(
    flags: dict[str, str] | None,
    *,
    similarity: int | None = None,
    days: int | None = None,
    diffs: dict | None = None,
    pan_fallback: bool = False,
    alone: bool = False,
) -> list[dict]:
    """Reasons ``{code: "books_flag", value: flag code, text}`` for the flags of a register line that explain a
    difference of its pair — or, for a line no document paired with (``alone``), why none may have: a mistyped
    number, GSTIN or date."""
    if not flags:
        return []
    differing = {h for h, d in (diffs or {}).items() if d}
    if similarity is not None and similarity < 100:
        differing.add("number")
    if days:
        differing.add("date")
    if pan_fallback:
        differing.add("supplier")
    if alone:
        differing |= _ALONE
    return [
        {"code": "books_flag", "value": code, "text": f"books: {message}"}
        for code, message in sorted(flags.items())
        if FLAG_EXPLAINS.get(code, frozenset()) & differing
    ]


CREDIT_NOTE, DEBIT_NOTE, INVOICE = "credit_note", "debit_note", "invoice"
KIND_NOTES = {
    "debit_note_as_purchase": "debit note booked as an ordinary purchase",
    "credit_note_as_negative_purchase": "credit note booked as a negative purchase",
}


def kind_note(r: Doc, s: Doc) -> str:
    """Why register line ``r`` and supplier document ``s`` of different kinds may be one document: a supplier's
    debit note booked as an ordinary purchase (registers often have no debit-note type), or a credit note booked
    as a negative purchase. "" when the kinds are the same or may not pair — always for an ISD document: an ISD
    invoice never pairs with an ISD credit note."""
    if ISD in (r.cls, s.cls):
        return ""
    if r.kind == INVOICE and s.kind == DEBIT_NOTE:
        return "debit_note_as_purchase"
    if r.kind == INVOICE and s.kind == CREDIT_NOTE and r.is_negative:
        return "credit_note_as_negative_purchase"
    return ""


def _bucket_kinds(d: Doc) -> tuple[str, ...]:
    """The kinds of the other side a document may pair with (see :func:`kind_note`)."""
    if d.side == "R" and d.kind == INVOICE and d.cls != ISD:
        return (INVOICE, DEBIT_NOTE, CREDIT_NOTE) if d.is_negative else (INVOICE, DEBIT_NOTE)
    return (d.kind,)


def similarity(r: Doc, s: Doc) -> tuple[int, bool]:
    """(how alike the two numbers are, 0-100; whether that is so only once look-alike characters — O/0, I/1/l, S/5,
    B/8, Z/2 — are read alike). Numbers that differ are at most 99, so a pair of them is never exact."""
    sim = number_similarity(r.key_number, s.key_number)
    if sim < 100:
        alike = number_similarity(r.look_key, s.look_key)
        if alike > sim:
            return min(alike, 99), True
    return sim, False


def compare(r: Doc, s: Doc, rules: RuleSet) -> Verdict:
    """Whether register line ``r`` and supplier document ``s`` may pair, and as what.

    * exact: same GSTIN, kind, number key and FY; every amount and the date equal;
    * within tolerance: the same, amounts each within tolerance, dates within the window;
    * probable: number similar (≥ threshold) or PAN fallback or across FY or booked under another GSTIN of the
      organisation (same number), amounts within tolerance, dates in window;
    * mismatch: same supplier (or PAN, or the organisation's other GSTIN) and FY, number exact (or similar with
      dates in the window, same supplier and recipient), amounts or date beyond;
    * None otherwise — in particular numbers less alike than the threshold never pair, whatever the amounts.
    """
    sim, look_alike = similarity(r, s)
    days = (s.date - r.date).days
    absolute = rules.absolute_amounts or CREDIT_NOTE in (r.kind, s.kind)  # credit notes: either sign
    diffs = {h: s.amount(h, absolute) - r.amount(h, absolute) for h in HEADS}
    v_kind = kind_note(r, s)
    same_gstin = r.party == s.party
    pan_fallback = not same_gstin and bool(r.pan) and r.pan == s.pan
    across = r.fy != s.fy
    v = Verdict(None, sim, days, {h: d for h, d in diffs.items() if d}, pan_fallback, across)
    v.bill_of_entry = r.cls == s.cls == BOE
    if (r.cls == BOE) != (s.cls == BOE):
        v.blockers.append(
            "a bill of entry pairs only with a bill of entry (the register line's supply type or bill-of-entry "
            "number says which)"
        )
        return v
    if v.bill_of_entry and r.port and s.port and r.port != s.port:
        v.blockers.append(f"port codes differ ({r.port} vs {s.port}): bills of entry are numbered per port")
        return v
    if ISD in (r.cls, s.cls) and r.kind != s.kind:
        v.blockers.append(
            f"an ISD {'credit note' if CREDIT_NOTE in (r.kind, s.kind) else 'document'} never pairs with a "
            f"document of another type ({r.kind} vs {s.kind})"
        )
        return v
    v.confusable = look_alike
    v.other_recipient = r.recipient != s.recipient
    v.same_irn = bool(r.irn) and r.irn == s.irn
    if r.irn and s.irn and not v.same_irn:
        v.blockers.append("their IRNs differ: they are different e-invoices")
        return v
    if v.same_irn:
        # The IRN names one e-invoice: the pair is certain; what differs (number included) makes it a mismatch.
        if r.kind != s.kind and not v_kind:
            v.blockers.append(f"document type differs ({r.kind} vs {s.kind})")
            return v
        v.kind_note = v_kind
        over = [h for h in HEADS if abs(diffs[h]) > rules.tolerance(h, s.amount(h, absolute))]
        plain = sim == 100 and not pan_fallback and not v.other_recipient and same_gstin and not v_kind
        if over or abs(days) > rules.date_window or not plain:
            v.outcome = Outcome.MISMATCH
        else:
            v.outcome = Outcome.EXACT if not v.diffs and days == 0 else Outcome.TOLERANCE
        return v
    if v.other_recipient and sim < 100:
        v.blockers.append(
            f"recipient GSTIN differs ({r.recipient} vs {s.recipient}); a line booked under another GSTIN of the "
            "organisation pairs only on the same number"
        )
    v.kind_note = v_kind
    if r.kind != s.kind and not v_kind:
        v.blockers.append(f"document type differs ({r.kind} vs {s.kind})")
    elif v_kind and sim < 100:
        v.blockers.append(f"a {KIND_NOTES[v_kind]} pairs only on the same number")
    if not same_gstin and not pan_fallback:
        v.blockers.append(f"supplier differs ({r.supplier_gstin} vs {s.supplier_gstin}; PANs differ too)")
    elif pan_fallback and not rules.pan_fallback:
        v.blockers.append("supplier GSTINs differ and the PAN fallback is off")
    if across and not rules.across_fy:
        v.blockers.append(f"financial years differ ({r.fy} vs {s.fy}) and matching across FYs is off")
    in_window = abs(days) <= rules.date_window
    if sim < 100 and sim < rules.fuzzy_threshold:
        v.blockers.append(
            f"numbers too different: similarity {sim} < {rules.fuzzy_threshold} "
            f"({r.key_number!r} vs {s.key_number!r})"
        )
    elif sim < 100 and not in_window:
        v.blockers.append(
            f"similar numbers need dates within {rules.date_window} days; they are {days:+d} apart"
        )
    if v.blockers:
        return v
    over = [h for h in HEADS if abs(diffs[h]) > rules.tolerance(h, s.amount(h, absolute))]
    if over or not in_window:
        if across or ((pan_fallback or v.other_recipient) and sim < 100):
            v.blockers.append(
                "a cross-FY pair, or a PAN-fallback pair of similar numbers, must agree within tolerance: "
                + ", ".join(
                    [
                        *(f"{h} {_money(diffs[h])}" for h in over),
                        *([] if in_window else [f"date {days:+d} days"]),
                    ]
                )
            )
            return v
        v.outcome = Outcome.MISMATCH
    elif sim == 100 and not pan_fallback and not across and not v.other_recipient and not v_kind:
        v.outcome = Outcome.EXACT if not v.diffs and days == 0 else Outcome.TOLERANCE
    else:
        v.outcome = Outcome.PROBABLE
    return v


# --- the matcher ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One row of the outcome: a pair (or group), or one document alone (missing, duplicate)."""

    outcome: Outcome
    register_ids: tuple[int, ...]
    supplier_ids: tuple[int, ...]
    similarity: int | None = None
    days: int | None = None
    diffs: tuple[tuple[str, Decimal], ...] = ()
    pan_fallback: bool = False
    across_fy: bool = False
    duplicate_of: tuple[str, int] | None = None  # ("R"|"S", id) of the document this one repeats
    confusable: bool = False

    @property
    def reasons(self) -> list[dict]:
        if self.similarity is None:
            return []
        group = max(len(self.register_ids), len(self.supplier_ids))
        return reasons(
            self.similarity,
            self.days,
            dict(self.diffs),
            self.pan_fallback,
            self.across_fy,
            group if group > 1 else 0,
            confusable=self.confusable,
        )


def _exact_key(d: Doc) -> tuple:
    return d.exact_key


def _candidates(
    register: Sequence[Doc], supplier: Sequence[Doc], rules: RuleSet
) -> Iterable[tuple[Doc, Doc]]:
    """Pairs worth comparing: same recipient, kind and PAN (same GSTIN unless the PAN fallback is on), numbers equal,
    alike by ratio ≥ threshold, or with equal digits. Never the full cross product of a block on amounts."""
    buckets: dict[tuple, tuple[list[Doc], list[Doc]]] = defaultdict(lambda: ([], []))
    for d in register:
        for kind in _bucket_kinds(d):
            buckets[(d.recipient, kind, d.pan if rules.pan_fallback else d.party)][0].append(d)
    for d in supplier:
        buckets[(d.recipient, d.kind, d.pan if rules.pan_fallback else d.party)][1].append(d)
    for rs, ss in buckets.values():
        if not rs or not ss:
            continue
        seen: set[tuple[int, int]] = set()
        by_digits: dict[str, list[Doc]] = defaultdict(list)
        by_look: dict[str, list[Doc]] = defaultdict(list)
        for s in ss:
            by_digits[s.key_digits].append(s)
            by_look[s.look_digits].append(s)  # the digits once look-alikes read alike
        for r in rs:
            for s in by_digits.get(r.key_digits, ()):
                seen.add((r.id, s.id))
            for s in by_look.get(r.look_digits, ()):
                seen.add((r.id, s.id))
        choices = [s.key_number for s in ss]
        for r in rs:
            for _choice, _score, j in process.extract(
                r.key_number, choices, scorer=fuzz.ratio, score_cutoff=rules.fuzzy_threshold, limit=None
            ):
                seen.add((r.id, ss[j].id))
        r_by_id, s_by_id = {d.id: d for d in rs}, {d.id: d for d in ss}
        for rid, sid in sorted(seen):
            yield r_by_id[rid], s_by_id[sid]
    # The same IRN, whatever the numbers and GSTINs say.
    by_irn: dict[str, list[Doc]] = defaultdict(list)
    for d in supplier:
        if d.irn:
            by_irn[d.irn].append(d)
    for r in register:
        for s in by_irn.get(r.irn, ()) if r.irn else ():
            if (
                s.recipient != r.recipient
                or s.kind != r.kind
                or s.pan != r.pan
                or s.key_number != r.key_number
            ):
                yield r, s  # the others came with their bucket
    # A line booked under another GSTIN of the organisation: same supplier (or PAN), kind, number and FY.
    across: dict[tuple, list[Doc]] = defaultdict(list)
    for d in supplier:
        across[(d.kind, d.pan if rules.pan_fallback else d.party, d.key_number, d.fy)].append(d)
    for r in register:
        for kind in _bucket_kinds(r):
            key = (kind, r.pan if rules.pan_fallback else r.party, r.key_number, r.fy)
            for s in across.get(key, ()):
                if s.recipient != r.recipient:
                    yield r, s


def _total(docs: Sequence[Doc], absolute: bool) -> dict[str, Decimal]:
    return {h: sum((d.amount(h, absolute) for d in docs), _ZERO) for h in HEADS}


def untaxed(d: Doc) -> bool:
    """A line that bears no tax: a nil-rated, exempt or non-GST line (of a bill booked on several lines)."""
    return not (d.igst or d.cgst or d.sgst or d.cess)


def _join_untaxed(register: list[Doc], results: list[Result], used: set[int], forbidden: set) -> None:
    """A register line without tax left over after pairing joins the pair (or group) of its bill — another line
    with its exact key paired with one supplier document — instead of being called a duplicate: a nil-rated, exempt
    or non-GST line of that bill, out of the tax comparison (the pair's differences stay those of the taxed lines)."""
    by_id = {d.id: d for d in register}
    at: dict[tuple, int] = {}
    for i, res in enumerate(results):
        if len(res.supplier_ids) == 1 and res.outcome in PAIRED:
            for rid in res.register_ids:
                at.setdefault(_exact_key(by_id[rid]), i)
    for d in register:
        if d.id in used or not untaxed(d):
            continue
        i = at.get(_exact_key(d))
        if i is None or (d.id, results[i].supplier_ids[0]) in forbidden:
            continue
        results[i] = replace(results[i], register_ids=(*results[i].register_ids, d.id))
        used.add(d.id)


def _groups(register: list[Doc], supplier: list[Doc], rules: RuleSet, forbidden) -> list[Result]:
    """1:n and n:1: several lines of one side with one exact key whose sum fits the single document of the other."""
    out: list[Result] = []
    rk: dict[tuple, list[Doc]] = defaultdict(list)
    sk: dict[tuple, list[Doc]] = defaultdict(list)
    for d in register:
        rk[_exact_key(d)].append(d)
    for d in supplier:
        sk[_exact_key(d)].append(d)
    for key in sorted(set(rk) & set(sk), key=repr):
        rs, ss = sorted(rk[key], key=lambda d: d.id), sorted(sk[key], key=lambda d: d.id)
        if (len(rs) == 1) == (len(ss) == 1) or max(len(rs), len(ss)) > rules.max_group:
            continue
        if any((r.id, s.id) in forbidden for r in rs for s in ss):
            continue
        absolute = rules.absolute_amounts or key[2] == CREDIT_NOTE
        st = _total(ss, absolute)
        taxed = [d for d in rs if not untaxed(d)]
        # Nil-rated, exempt and non-GST lines of a bill are left out of the comparison first (the supplier's taxable
        # value may not count them), then counted.
        for members in ([taxed] if 0 < len(taxed) < len(rs) else []) + [rs]:
            rt = _total(members, absolute)
            diffs = {h: st[h] - rt[h] for h in HEADS if rt[h] != st[h]}
            if not any(abs(d) > rules.tolerance(h, st[h]) for h, d in diffs.items()):
                break
        else:
            continue
        days = max(((s.date - r.date).days for r in rs for s in ss), key=abs)
        if abs(days) > rules.date_window:
            continue
        outcome = Outcome.EXACT if not diffs and days == 0 else Outcome.TOLERANCE
        out.append(
            Result(
                outcome,
                tuple(d.id for d in rs),
                tuple(d.id for d in ss),
                100,
                days,
                tuple(sorted(diffs.items())),
            )
        )
    return out


def match(
    register: Sequence[Doc],
    supplier: Sequence[Doc],
    rules: RuleSet,
    forbidden: Iterable[tuple[int, int]] = (),
) -> list[Result]:
    """Pair ``register`` lines with ``supplier`` documents; every document ends in exactly one result.

    Groups first (when on), then the best pairs greedily — same number key first, best outcome, then most similar
    number, nearest date, smallest amount difference, then ids (:meth:`Verdict.rank`) — so the result does not
    depend on the order of the input. Pairs in
    ``forbidden`` (register id, supplier id: manual unlinks) never pair. Leftovers that repeat the exact key of
    another document on their side are duplicates; the rest are missing on the other side."""
    forbidden = set(forbidden)
    register = sorted(register, key=lambda d: d.id)
    supplier = sorted(supplier, key=lambda d: d.id)
    results = _groups(register, supplier, rules, forbidden) if rules.groups else []
    used_r = {i for res in results for i in res.register_ids}
    used_s = {i for res in results for i in res.supplier_ids}
    scored = []
    for r, s in _candidates(
        [d for d in register if d.id not in used_r], [d for d in supplier if d.id not in used_s], rules
    ):
        if (r.id, s.id) in forbidden:
            continue
        v = compare(r, s, rules)
        if v.outcome is not None:
            scored.append((v.rank(), r.id, s.id, v))
    scored.sort(key=lambda t: t[:3])
    for _rank, rid, sid, v in scored:
        if rid in used_r or sid in used_s:
            continue
        used_r.add(rid)
        used_s.add(sid)
        results.append(
            Result(
                v.outcome,
                (rid,),
                (sid,),
                v.similarity,
                v.days,
                tuple(sorted(v.diffs.items())),
                v.pan_fallback,
                v.across_fy,
                confusable=v.confusable,
            )
        )
    _join_untaxed(register, results, used_r, forbidden)
    r_keys = Counter(_exact_key(d) for d in register)
    s_keys = Counter(_exact_key(d) for d in supplier)
    results += _leftovers(register, used_r, "R", Outcome.MISSING_IN_SUPPLIER, r_keys, s_keys)
    results += _leftovers(supplier, used_s, "S", Outcome.MISSING_IN_REGISTER, s_keys, r_keys)
    return results


def _leftovers(
    docs: Sequence[Doc], used: set[int], side: str, missing: Outcome, mine: Counter, theirs: Counter
) -> list[Result]:
    """A leftover is a duplicate when its side has its exact key more often than the other side does."""
    first: dict[tuple, int] = {}
    for (
        d
    ) in docs:  # sorted by id: the first of a key is the one the others repeat (a used one when there is one)
        if d.id in used:
            first.setdefault(_exact_key(d), d.id)
    out = []
    for d in docs:
        if d.id in used:
            continue
        key = _exact_key(d)
        original = first.setdefault(key, d.id)
        ids = ((d.id,), ()) if side == "R" else ((), (d.id,))
        if original != d.id and mine[key] > theirs[key]:
            out.append(Result(Outcome.DUPLICATE, *ids, duplicate_of=(side, original)))
        else:
            out.append(Result(missing, *ids))
    return out

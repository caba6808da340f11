"""The IMS action rules and the return dates as data (docs/rules/ims-actions.md §2, §4, §5; docs/rules/gstr2b.md §2; docs/rules/gstr3b.md §3).

The law and the portal change often (docs/rules/README.md §3): every cut-over period, record table, limit and day
number that rules.py and duedates.py apply lives here, in one frozen :class:`RuleSet`. Code takes a ``rules``
argument (default :data:`DEFAULT_RULES`); a newer advisory is a change to this file, or a
``dataclasses.replace(DEFAULT_RULES, ...)`` in a test or a setting. Pure module: no ORM, no Django.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .sections import Action, Section


class Direction(StrEnum):
    """Direction of an amendment, comparing it with the original document (total tax, then taxable value)."""

    UP = "up"
    DOWN = "down"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class RecordRule:
    """One row of a record table. A record matches when every condition that is set holds; ``None`` = any.

    ``original_actions`` / ``original_3b_filed`` describe the amended original (its last action; whether the
    GSTR-3B of its 2B period has been filed).
    """

    code: str
    label: str  # reads after "for ": "an original credit note"
    sections: frozenset[Section]
    direction: Direction | None = None
    original_actions: frozenset[Action] | None = None
    original_3b_filed: bool | None = None


@dataclass(frozen=True, slots=True)
class DueDateExtension:
    """A GSTR-3B due date moved by notification: ``period`` (first of the month; for QRMP the quarter's last
    month), ``frequency`` ``"M"`` or ``"Q"``, ``states`` (None = every state) and the new due date."""

    period: dt.date
    frequency: str
    due_date: dt.date
    states: frozenset[str] | None = None


_ACCEPTED = frozenset({Action.ACCEPTED, Action.NO_ACTION})  # No action at 3B filing = deemed accepted (§2.1)

# §2.2, "Before the October-2025 tax period": records that may not be kept pending. From the October-2025 period
# the same records may be kept pending for `pending_limit_periods` tax periods only. [S13][S20][S21][S22]
PENDING_RESTRICTED: tuple[RecordRule, ...] = (
    RecordRule("cn", "an original credit note", frozenset({Section.B2BCN})),
    RecordRule("cna_up", "an upward amendment of a credit note", frozenset({Section.B2BCNA}), Direction.UP),
    RecordRule(
        "cna_down_original_rejected",
        "a downward amendment of a credit note whose original was rejected",
        frozenset({Section.B2BCNA}),
        Direction.DOWN,
        frozenset({Action.REJECTED}),
    ),
    RecordRule(
        "inv_dn_down_original_accepted_3b_filed",
        "a downward amendment of an invoice or debit note whose original was accepted and whose GSTR-3B was filed",
        frozenset({Section.B2BA, Section.B2BDNA}),
        Direction.DOWN,
        _ACCEPTED,
        True,
    ),
    RecordRule(
        "eco_down_original_accepted_3b_filed",
        "a downward amendment of an ECO document whose original was accepted and whose GSTR-3B was filed",
        frozenset({Section.ECOMA}),
        Direction.DOWN,
        _ACCEPTED,
        True,
    ),
)

# §2.3: the "specified records" that carry an ITC-reduction declaration on Accept: credit notes, upward
# amendments of credit notes, downward amendments of invoices / debit notes (india-compliance categories
# B2BA, B2BDNA, B2BCN, B2BCNA; ECO amendments are not among them). [S21][S3]
ITC_REDUCTION_RECORDS: tuple[RecordRule, ...] = (
    RecordRule("cn", "a credit note", frozenset({Section.B2BCN})),
    RecordRule("cna_up", "an upward amendment of a credit note", frozenset({Section.B2BCNA}), Direction.UP),
    RecordRule(
        "inv_dn_down",
        "a downward amendment of an invoice or debit note",
        frozenset({Section.B2BA, Section.B2BDNA}),
        Direction.DOWN,
    ),
)

# GSTR-3B due dates of QRMP taxpayers by the state of registration (proviso to rule 61(5) CGST Rules;
# Notification 76/2020-CT and later amendments). The groups may change: keep them here. 22nd: Chhattisgarh,
# Madhya Pradesh, Gujarat, Dadra and Nagar Haveli and Daman and Diu, Maharashtra, Karnataka, Goa, Kerala,
# Tamil Nadu, Telangana, Andhra Pradesh, Puducherry, Andaman and Nicobar Islands, Lakshadweep.
QRMP_GROUP_22: frozenset[str] = frozenset(
    {"22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36", "37"}
)
# 24th: Jammu and Kashmir, Ladakh, Himachal Pradesh, Punjab, Chandigarh, Uttarakhand, Haryana, Delhi, Rajasthan,
# Uttar Pradesh, Bihar, Sikkim, Arunachal Pradesh, Nagaland, Manipur, Mizoram, Tripura, Meghalaya, Assam,
# West Bengal, Jharkhand, Odisha.
QRMP_GROUP_24: frozenset[str] = frozenset({f"{code:02d}" for code in range(1, 22)} | {"38"})


@dataclass(frozen=True, slots=True)
class RuleSet:
    # §2.2 Pending. Cut-over keyed on the record's GSTR-2B period (first of the month), not the document date.
    pending_one_period_from: dt.date = dt.date(2025, 10, 1)
    pending_limit_periods: int = 1  # tax periods (months, or quarters for QRMP recipients)
    pending_restricted: tuple[RecordRule, ...] = PENDING_RESTRICTED
    # §2.3 ITC-reduction declaration.
    itc_reduction_from: dt.date = dt.date(2025, 10, 1)
    itc_reduction_records: tuple[RecordRule, ...] = ITC_REDUCTION_RECORDS
    # §4.4 (from December 2025): an Accept of a specified record always carries the answer (IMSSAV0054 without it);
    # the portal's default answer is Yes (full reduction).
    itc_red_default: str = "Y"
    # §4.4 the suggestion from the books: a book value within this much of the supplier's takes the supplier's.
    suggestion_tolerance: Decimal = Decimal("1.00")
    # UNVERIFIED (secondary sources only): remarks mandatory when declaring a partial or nil reduction.
    remarks_required_for_partial_or_nil: bool = False
    # ISD documents (docs/rules/sections.md §4.2): which may be kept Pending is UNVERIFIED. Our default: Pending is
    # allowed (the count API reports pending ISD documents, and the portal's ``ispendactblocked`` on a record always
    # wins); False refuses Pending on every ISD document. Adding ISD credit notes to ``pending_restricted`` gives
    # them the one-period limit of B2B credit notes instead.
    isd_pending_allowed: bool = True
    # §2.4 Remarks: actions that may carry them (india-compliance sends them with A, R and P); maximum length
    # UNVERIFIED (our column holds 500).
    remarks_actions: frozenset[Action] = frozenset({Action.ACCEPTED, Action.REJECTED, Action.PENDING})
    remarks_max_length: int = 500
    # §4.1 GSTR-2B cut-off: documents filed up to this day of M+1 belong to period M (monthly GSTR-1; IFF and
    # quarterly GSTR-1 use the later day).
    twob_cutoff_day: int = 11
    twob_cutoff_day_iff: int = 13
    # GSTR-3B due dates: monthly = this day of the next month; QRMP = the group's day of the month after the
    # quarter; a state in no group gets the earlier day (conservative).
    gstr3b_monthly_due_day: int = 20
    gstr3b_qrmp_due_days: tuple[tuple[int, frozenset[str]], ...] = ((22, QRMP_GROUP_22), (24, QRMP_GROUP_24))
    gstr3b_qrmp_unknown_state_due_day: int = 22
    gstr3b_extensions: tuple[DueDateExtension, ...] = ()
    # §7.1 Section 16(4): (month, day) after the end of the financial year, from FY `itc_limit_from_fy`
    # (Finance Act 2022, w.e.f. 01-10-2022); earlier years: the due date of September's return (20 October).
    itc_limit_month_day: tuple[int, int] = (11, 30)
    itc_limit_from_fy: int = 2021
    itc_limit_month_day_before: tuple[int, int] = (10, 20)
    # Warn about a pending record this many days before its section 16(4) limit (§7.1 "well before").
    itc_limit_warn_days: int = 60
    # Rule 37A (docs/rules/gstr2b.md §7): ITC of these sections is reversed when the supplier has not filed the
    # GSTR-3B of the document's period by (month, day) after the end of its financial year (30 September).
    rule37a_sections: frozenset[Section] = frozenset(
        {Section.B2B, Section.B2BA, Section.B2BDN, Section.B2BDNA}
    )
    rule37a_supplier_month_day: tuple[int, int] = (9, 30)
    # UNVERIFIED (our reading, docs/decisions/0008-readings-of-unverified-points.md): the 2B whose ``itcrev``
    # shows the reversal is the one of this month after the end of the financial year (the first after the
    # supplier's deadline), and the recipient reverses by (month, day) after the end of the financial year.
    rule37a_twob_month: int = 10
    rule37a_reverse_by_month_day: tuple[int, int] = (11, 30)


DEFAULT_RULES = RuleSet()

"""GST rules a purchase-register line may break and still be a true record of the books (docs/rules/matching.md §7).
Pure module: no ORM, no Django.

A register keeps what was booked, mistakes included: a line that breaks one of these rules is imported and
*flagged* with the rule it breaks, never refused (only a line that cannot be read is refused). Each check gives
:class:`Flag` values — a stable ``code`` (what filters and matching use), the ``field`` it concerns and a
``message`` that says what is wrong with the numbers in it.

Supply types (:class:`SupplyType`) change the tax-split rule: a supply to an SEZ unit and an import of goods are
inter-state whatever the states (IGST only, section 7(5)(b) and 7(2) of the IGST Act); an SEZ supply without
payment and an ISD distribution are not checked against the states; a deemed export may carry either split.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .gstin import validate_gstin
from .numbers import is_valid_doc_number

MAX_GST_RATE = Decimal("0.40")  # the highest GST rate (IGST, or CGST + SGST); cess is apart
SPLIT_TOLERANCE = Decimal("0.01")  # CGST and SGST may differ by a paisa of rounding
GST_START = dt.date(2017, 7, 1)
_RUPEE = Decimal("1")
_IRN = re.compile(r"[0-9a-fA-F]{64}").fullmatch


class SupplyType(StrEnum):
    REGULAR = "regular"
    SEZ_WITH_PAYMENT = "sez_wp"
    SEZ_WITHOUT_PAYMENT = "sez_wop"
    DEEMED_EXPORT = "de"
    REVERSE_CHARGE = "rcm"
    IMPORT_OF_GOODS = "impg"
    ISD = "isd"


SUPPLY_TYPE_LABELS = {
    SupplyType.REGULAR: "Regular",
    SupplyType.SEZ_WITH_PAYMENT: "SEZ with payment",
    SupplyType.SEZ_WITHOUT_PAYMENT: "SEZ without payment",
    SupplyType.DEEMED_EXPORT: "Deemed export",
    SupplyType.REVERSE_CHARGE: "Reverse charge",
    SupplyType.IMPORT_OF_GOODS: "Import of goods",
    SupplyType.ISD: "ISD",
}
# How registers and returns spell them (GSTR-2A/2B invoice types, Tally, SAP, Zoho and Busy exports), lower-case with
# punctuation made spaces.
_SUPPLY_TYPE_NAMES = {
    SupplyType.REGULAR: (
        "",
        "r",
        "regular",
        "b2b",
        "regular b2b",
        "normal",
        "taxable",
        "registered",
        "local",
        "interstate",
        "inter state",
        "intra state",
        "regular registered",
    ),
    SupplyType.SEZ_WITH_PAYMENT: (
        "sezwp",
        "sez wp",
        "sez with payment",
        "sez supplies with payment",
        "sez with payment of tax",
        "sez supply with payment",
        "sez",
    ),
    SupplyType.SEZ_WITHOUT_PAYMENT: (
        "sezwop",
        "sez wop",
        "sez without payment",
        "sez supplies without payment",
        "sez without payment of tax",
        "sez supply without payment",
    ),
    SupplyType.DEEMED_EXPORT: ("de", "deemed export", "deemed exports", "deemed exp"),
    SupplyType.REVERSE_CHARGE: (
        "rcm",
        "reverse charge",
        "reverse charge mechanism",
        "rc",
        "urd",
        "unregistered",
    ),
    SupplyType.IMPORT_OF_GOODS: (
        "impg",
        "import",
        "import of goods",
        "imports",
        "imports of goods",
        "boe",
        "bill of entry",
        "import goods",
    ),
    SupplyType.ISD: ("isd", "input service distributor", "isd invoice", "isd credit"),
}
_SUPPLY_TYPES = {name: kind for kind, names in _SUPPLY_TYPE_NAMES.items() for name in names}


def parse_supply_type(value: object) -> SupplyType:
    """A supply-type cell as :class:`SupplyType` (blank: regular); ValueError naming the accepted values."""
    key = re.sub(r"[^a-z0-9]+", " ", str(value or "").lower()).strip()
    try:
        return _SUPPLY_TYPES[key]
    except KeyError:
        raise ValueError(
            "must be a supply type: " + ", ".join(SUPPLY_TYPE_LABELS.values()) + " (blank: Regular)"
        ) from None


@dataclass(frozen=True)
class Flag:
    code: str
    field: str
    message: str  # said of the field: the caller writes it after the field's name ("IGST must be 0 …")


def _where(supplier_state: str, place: str) -> str:
    return f"supplier's state {supplier_state}, place of supply {place}"


def tax_split_flags(
    supply_type: str,
    supplier_state: str,
    place: str,
    taxable: Decimal,
    igst: Decimal,
    cgst: Decimal,
    sgst: Decimal,
) -> list[Flag]:
    """The split of tax into IGST or CGST + SGST against the place of supply (``place``: the recipient's state when
    the line gives none) and the supply type, and the rate ceiling. Within a state: CGST = SGST (a paisa of
    rounding) and no IGST; across states, to an SEZ (with payment) and on imports: IGST only."""
    out: list[Flag] = []
    where = _where(supplier_state, place)
    if supply_type in (SupplyType.SEZ_WITH_PAYMENT, SupplyType.IMPORT_OF_GOODS):
        what = "a supply to an SEZ" if supply_type == SupplyType.SEZ_WITH_PAYMENT else "an import of goods"
        if cgst or sgst:
            out.append(Flag("tax_split", "cgst" if cgst else "sgst", f"must be 0 on {what}: it bears IGST"))
    elif supply_type == SupplyType.SEZ_WITHOUT_PAYMENT:
        if igst or cgst or sgst:
            out.append(
                Flag("tax_on_sez_wop", "igst", "must be 0: an SEZ supply without payment bears no tax")
            )
    elif supply_type in (SupplyType.ISD, SupplyType.DEEMED_EXPORT):
        if (not igst) and abs(cgst - sgst) > SPLIT_TOLERANCE:
            out.append(Flag("cgst_sgst_differ", "sgst", f"must equal CGST ({cgst})"))
    elif supplier_state == place:
        if igst:
            out.append(Flag("tax_split", "igst", f"must be 0 within a state ({where}): charge CGST and SGST"))
        if abs(cgst - sgst) > SPLIT_TOLERANCE:
            out.append(Flag("cgst_sgst_differ", "sgst", f"must equal CGST ({cgst}) within a state ({where})"))
    elif cgst or sgst:
        out.append(
            Flag(
                "tax_split",
                "cgst" if cgst else "sgst",
                f"must be 0 across states ({where}): CGST and SGST apply only within a state, charge IGST",
            )
        )
    tax = abs(igst + cgst + sgst)
    # An ISD distributes input tax credit: its documents have no taxable value of their own.
    if supply_type != SupplyType.ISD and tax > abs(taxable) * MAX_GST_RATE + _RUPEE:
        share = f"{tax * 100 / abs(taxable):.0f} % of the taxable value" if taxable else "charged on nothing"
        out.append(
            Flag(
                "tax_over_rate",
                "taxable",
                f"is too small for the tax: IGST + CGST + SGST is {share}; GST is at most 40 %",
            )
        )
    return out


def number_flags(number: str) -> list[Flag]:
    """The portal's document-number rule (docs/rules/documents.md §1): at most 16 characters, letters, digits,
    ``-`` and ``/``; a longer or otherwise spelt number is what the books say, flagged."""
    check = is_valid_doc_number(number)
    if check.valid:
        return []
    code = "number_too_long" if "at most" in check.message else "number_format"
    # said of the column, whose heading the caller writes first: "must be at most 16 characters, got 18"
    return [Flag(code, "doc_number", check.message.removeprefix("document number "))]


def gstin_flags(gstin: str, field: str = "supplier_gstin") -> list[Flag]:
    """A GSTIN of the right length and alphabet that fails a later check (state code, PAN, entity, check
    character): flagged ``gstin_checksum`` or ``gstin_invalid``."""
    check = validate_gstin(gstin)
    if check.valid or check.code in ("length", "format"):
        return []
    # said of the column, whose heading the caller writes first ("Supplier GSTIN check character is …")
    message = check.message.removeprefix("GSTIN's ").removeprefix("GSTIN ")
    return [Flag("gstin_checksum" if check.code == "checksum" else "gstin_invalid", field, message)]


def gstin_readable(gstin: str) -> str:
    """'' when ``gstin`` is 15 characters of the GSTIN alphabet (it can be stored and compared), else why not."""
    check = validate_gstin(gstin)
    return check.message if check.code in ("length", "format") else ""


def date_flags(
    day: dt.date, *, latest: dt.date, period: dt.date | None = None, posting: dt.date | None = None
) -> list[Flag]:
    """A document date before GST began or after ``latest`` (today and a day's grace), a booking period before
    the document's month, a posting date before the document date."""
    out = []
    if day < GST_START:
        out.append(Flag("date_before_gst", "doc_date", "is before GST began (01-07-2017)"))
    if day > latest:
        out.append(Flag("date_future", "doc_date", "is in the future"))
    if period is not None and period < dt.date(day.year, day.month, 1):
        out.append(Flag("period_before_date", "period_booked", "is before the month of the document date"))
    if posting is not None and posting < day:
        out.append(Flag("posted_before_date", "posting_date", "is before the document date"))
    return out


def amount_flags(
    kind: str, taxable: Decimal, igst: Decimal, cgst: Decimal, sgst: Decimal, cess: Decimal
) -> list[Flag]:
    if kind == "invoice" and (taxable < 0 or igst < 0 or cgst < 0 or sgst < 0 or cess < 0):
        return [Flag("negative_invoice", "taxable", "or a tax is negative on an invoice")]
    return []


def irn_flags(irn: str) -> list[Flag]:
    if irn and not _IRN(irn):
        return [Flag("irn_format", "irn", "is not 64 hexadecimal characters")]
    return []


FLAG_LABELS = {
    "tax_split": "tax split against the place of supply",
    "cgst_sgst_differ": "CGST ≠ SGST",
    "tax_over_rate": "tax over 40 %",
    "tax_on_sez_wop": "tax on an SEZ supply without payment",
    "number_too_long": "number over 16 characters",
    "number_format": "number with characters the portal refuses",
    "gstin_checksum": "supplier GSTIN fails its check character",
    "gstin_invalid": "supplier GSTIN fails a check",
    "date_before_gst": "dated before GST",
    "date_future": "dated in the future",
    "period_before_date": "booked before the document's month",
    "posted_before_date": "posted before the document date",
    "negative_invoice": "negative invoice",
    "irn_format": "IRN not 64 hexadecimal characters",
}

"""The words people read for the portal's codes, in one place: IMS sections, GSTR-2B parts, groups and lists,
actions, places of supply. Pages, Excel files and e-mails show these, never the codes (``b2bcna``, ``itcavl``,
``A``). Pure module: no ORM.

The 2B headings follow the portal's GSTR-2B summary (docs/rules/gstr2b.md §6): "ITC Available" with Part A
(credit to claim under the GSTR-3B headings) and Part B (credit notes, to net off), "ITC Not Available",
"ITC Reversal" (Rule 37A) and "ITC Rejected" (rejected in IMS).
"""

from __future__ import annotations

from .gstin import LEGACY_STATE_CODES, STATE_CODES
from .sections import Section

DASH = " – "

# IMS sections as the portal's IMS tabs name them.
SECTION_NAMES: dict[str, str] = {
    Section.B2B: "B2B – Invoices",
    Section.B2BA: "B2B – Invoices (amendment)",
    Section.B2BCN: "B2B – Credit notes",
    Section.B2BCNA: "B2B – Credit notes (amendment)",
    Section.B2BDN: "B2B – Debit notes",
    Section.B2BDNA: "B2B – Debit notes (amendment)",
    Section.ECOM: "ECO – Documents",
    Section.ECOMA: "ECO – Documents (amendment)",
    Section.IMPG: "Import of goods from overseas – Bills of entry",
    Section.IMPGA: "Import of goods from overseas – Bills of entry (amendment)",
    Section.IMPGSEZ: "Import of goods from SEZ – Bills of entry",
    Section.IMPGSEZA: "Import of goods from SEZ – Bills of entry (amendment)",
    Section.ISD: "ISD – Invoices",
    Section.ISDA: "ISD – Invoices (amendment)",
    Section.ISDCN: "ISD – Credit notes",
    Section.ISDCNA: "ISD – Credit notes (amendment)",
}

# Actions as words: what a document's state is called, and what doing it is called.
ACTION_WORDS = {"A": "Accepted", "R": "Rejected", "P": "Pending", "N": "No action", "": "No action"}
ACTION_VERBS = {"A": "accepted", "R": "rejected", "P": "kept pending", "N": "reset to no action"}

# GSTR-2B blocks of ``itcsumm`` / the preview's parts.
TWOB_PARTS = {
    "itcavl": "ITC Available",
    "itcunavl": "ITC Not Available",
    "itcrev": "ITC Reversal on account of Rule 37A",
    "itcRejected": "ITC Rejected (in IMS)",
    "pending": "Pending (not in this 2B)",
    "not_filed": "Not filed by the supplier",
    "reclaim": "ITC re-claimed (Rule 37A, supplier has filed since)",
}
TWOB_GROUPS = {
    "nonrevsup": "Part A – Supplies other than reverse charge",
    "isdsup": "Part A – Inward supplies from ISD",
    "revsup": "Part A – Inward supplies liable for reverse charge",
    "imports": "Part A – Import of goods",
    "othersup": "Part B – Others (credit notes)",
}
# A 2B document list's name; ``cdnr`` and ``isd`` mean credit or debit notes depending on the group.
_TWOB_LISTS = {
    "b2b": "B2B invoices",
    "b2ba": "B2B invoices (amendment)",
    "cdnr": "B2B debit notes",
    "cdnra": "B2B debit notes (amendment)",
    "ecom": "ECO documents",
    "ecoma": "ECO documents (amendment)",
    "isd": "ISD invoices",
    "isda": "ISD invoices (amendment)",
    "impg": "Import of goods from overseas",
    "impga": "Import of goods from overseas (amendment)",
    "impgsez": "Import of goods from SEZ",
    "impgasez": "Import of goods from SEZ (amendment)",
    "cdnrrev": "B2B credit notes (reverse charge)",
    "cdnrarev": "B2B credit notes (reverse charge, amendment)",
}
_TWOB_CREDIT_LISTS = {
    "cdnr": "B2B credit notes",
    "cdnra": "B2B credit notes (amendment)",
    "isd": "ISD credit notes",
    "isda": "ISD credit notes (amendment)",
}
# Counter-party summary (``cpsumm``) lists carry no group: ``cdnr`` there holds credit and debit notes.
_CPSUMM_LISTS = {
    **_TWOB_LISTS,
    "cdnr": "B2B credit and debit notes",
    "cdnra": "B2B credit and debit notes (amendment)",
}
NOTE_TYPES = {"C": "Credit note", "D": "Debit note"}
# A 2B document's ``typ`` / ``doctyp`` in words.
DOCUMENT_TYPES = {
    "R": "Regular",
    "SEZWP": "SEZ supplies with payment",
    "SEZWOP": "SEZ supplies without payment",
    "DE": "Deemed export",
    "CBW": "Intra-state supplies attracting IGST",
    **NOTE_TYPES,
    "ISDI": "ISD invoice",
    "ISDC": "ISD credit note",
    "BoE": "Bill of entry",
}
YES_NO = {"Y": "Yes", "N": "No"}
REASONS = {
    "P": "Place of supply rules: supplier's state is the place of supply, the recipient is elsewhere",
    "C": "Time limit of section 16(4) passed",
    "I": "ISD: ITC not eligible",
}


def twob_group_of(name: str, document: dict[str, object]) -> str:
    """The ``itcsumm`` group a document of 2B list ``name`` counts in: credit notes in ``othersup`` (Part B), debit
    notes with the invoices in ``nonrevsup``, ISD invoices in ``isdsup``, bills of entry in ``imports``."""
    if name in ("cdnrrev", "cdnrarev"):
        return "othersup"
    if name in ("cdnr", "cdnra"):
        return "othersup" if (document.get("typ") or document.get("nttyp")) == "C" else "nonrevsup"
    if name in ("isd", "isda"):
        return "othersup" if document.get("doctyp") == "ISDC" else "isdsup"
    if name.startswith("imp"):
        return "imports"
    return "nonrevsup"


def section_name(section: str) -> str:
    """``b2bcna`` → "B2B – Credit notes (amendment)"; an unknown code is shown as it is, in capitals."""
    return SECTION_NAMES.get(str(section or "").lower(), str(section or "").upper())


def action_word(code: str | None) -> str:
    """``A`` → "Accepted"."""
    return ACTION_WORDS.get(code or "", code or "")


def twob_part(part: str) -> str:
    return TWOB_PARTS.get(part, part)


def twob_group(group: str) -> str:
    return TWOB_GROUPS.get(group, group)


def twob_list(name: str, group: str = "") -> str:
    """A 2B document list in words: ``cdnr`` in ``othersup`` → "B2B credit notes", in ``nonrevsup`` → debit notes."""
    if group == "othersup" and name in _TWOB_CREDIT_LISTS:
        return _TWOB_CREDIT_LISTS[name]
    if not group:
        return _CPSUMM_LISTS.get(name, name)
    return _TWOB_LISTS.get(name, name)


def twob_heading(part: str, group: str = "", name: str = "") -> str:
    """The full heading of a 2B figure as the portal words it, e.g. ``itcavl/nonrevsup/b2b`` →
    "ITC Available – Part A – Supplies other than reverse charge – B2B invoices"."""
    words = [twob_part(part)]
    if group:
        words.append(twob_group(group))
    if name:
        words.append(twob_list(name, group))
    return DASH.join(words)


def twob_bucket(bucket: str) -> str:
    """A drill-down bucket (``itcavl/othersup/cdnr``; several joined by commas) in words."""
    out = []
    for one in str(bucket or "").split(","):
        bits = [b for b in one.strip().split("/") if b]
        if bits:
            out.append(twob_heading(*bits[:3]))
    return "; ".join(out)


def state_name(code: str) -> str:
    return STATE_CODES.get(code) or LEGACY_STATE_CODES.get(code) or ""


def place_of_supply(code: str | None) -> str:
    """``27`` → "27 – Maharashtra"; empty stays empty; an unknown code is shown as it is."""
    code = str(code or "").strip()
    if not code:
        return ""
    if code.isdigit() and len(code) == 1:
        code = "0" + code
    name = state_name(code)
    return f"{code}{DASH}{name}" if name else code

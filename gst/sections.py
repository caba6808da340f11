"""IMS sections and document kinds exactly as docs/rules/sections.md §2. Pure module: no ORM."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    DEBIT_NOTE = "debit_note"


class Section(StrEnum):
    """IMS section key as used in GETINV responses and SAVE bodies."""

    B2B = "b2b"
    B2BA = "b2ba"
    B2BCN = "b2bcn"
    B2BCNA = "b2bcna"
    B2BDN = "b2bdn"
    B2BDNA = "b2bdna"
    ECOM = "ecom"
    ECOMA = "ecoma"
    # Import of Goods (docs/rules/sections.md §4.1): bills of entry, from overseas and from SEZ units.
    IMPG = "impg"
    IMPGA = "impga"
    IMPGSEZ = "impgsez"
    IMPGSEZA = "impgseza"
    # Inward supplies from ISD (docs/rules/sections.md §4.2): ISD invoices and credit notes.
    ISD = "isd"
    ISDA = "isda"
    ISDCN = "isdcn"
    ISDCNA = "isdcna"


class GoodsType(StrEnum):
    """The dashboard tab a section belongs to: the ``goods_typ`` of GETINV / GETCNT (docs/rules/sections.md §4.3)."""

    ALL_OTHER = "ALL_OTH"
    IMPORTS = "IMP_GDS"
    ISD = "INV_SUPP_ISD"


GOODS_TYPE_LABELS = {
    GoodsType.ALL_OTHER: "All other ITC",
    GoodsType.IMPORTS: "Import of goods",
    GoodsType.ISD: "Inward supplies from ISD",
}


@dataclass(frozen=True)
class SectionInfo:
    key: Section
    api_code: str  # GETINV `section` parameter
    label: str
    kind: DocKind
    amendment: bool
    number_field: str
    date_field: str
    orig_number_field: str | None
    orig_date_field: str | None
    original_section: Section | None
    twob_section: str  # GSTR-2B document list this section lands in
    goods_typ: GoodsType = GoodsType.ALL_OTHER
    # The 2B ``itcsumm`` group: nonrevsup (invoices, debit notes, ECO documents), othersup (credit notes, B2B and
    # ISD), isdsup (ISD invoices), imports (bills of entry).
    twob_group: str = "nonrevsup"
    has_supplier: bool = True  # a bill of entry of an import from overseas names no supplier GSTIN
    # Actions the recipient may take; a bill of entry cannot be rejected (docs/rules/sections.md §4.1).
    actions: frozenset[str] = frozenset({"A", "R", "P", "N"})

    @property
    def is_bill_of_entry(self) -> bool:
        return self.goods_typ == GoodsType.IMPORTS

    @property
    def is_isd(self) -> bool:
        return self.goods_typ == GoodsType.ISD


_BOE_ACTIONS = frozenset({"A", "P", "N"})

# fmt: off
SECTIONS: dict[Section, SectionInfo] = {
    s.key: s
    for s in (
        SectionInfo(Section.B2B, "B2B", "B2B invoice", DocKind.INVOICE, False, "inum", "idt", None, None, None, "b2b"),
        SectionInfo(Section.B2BA, "B2BA", "B2B invoice amendment", DocKind.INVOICE, True, "inum", "idt", "oinum", "oidt", Section.B2B, "b2ba"),
        SectionInfo(Section.B2BCN, "CN", "Credit note", DocKind.CREDIT_NOTE, False, "nt_num", "nt_dt", None, None, None, "cdnr", twob_group="othersup"),
        SectionInfo(Section.B2BCNA, "CNA", "Credit note amendment", DocKind.CREDIT_NOTE, True, "nt_num", "nt_dt", "ont_num", "ont_dt", Section.B2BCN, "cdnra", twob_group="othersup"),
        SectionInfo(Section.B2BDN, "DN", "Debit note", DocKind.DEBIT_NOTE, False, "nt_num", "nt_dt", None, None, None, "cdnr"),
        SectionInfo(Section.B2BDNA, "DNA", "Debit note amendment", DocKind.DEBIT_NOTE, True, "nt_num", "nt_dt", "ont_num", "ont_dt", Section.B2BDN, "cdnra"),
        # ECO documents are assumed to share the B2B shape (unverified: docs/rules/sections.md §2): the parser also
        # accepts nt_num/nt_dt keys for them.
        SectionInfo(Section.ECOM, "ECOM", "E-commerce operator document", DocKind.INVOICE, False, "inum", "idt", None, None, None, "ecom"),
        SectionInfo(Section.ECOMA, "ECOMA", "E-commerce operator document amendment", DocKind.INVOICE, True, "inum", "idt", "oinum", "oidt", Section.ECOM, "ecoma"),
        # Record shapes and GETINV codes of the two tabs below are our reading (UNVERIFIED): docs/rules/sections.md §4.
        SectionInfo(Section.IMPG, "IMPG", "Bill of entry (import from overseas)", DocKind.INVOICE, False, "boenum", "boedt", None, None, None, "impg", GoodsType.IMPORTS, "imports", False, _BOE_ACTIONS),
        SectionInfo(Section.IMPGA, "IMPGA", "Bill of entry amendment (import from overseas)", DocKind.INVOICE, True, "boenum", "boedt", "oboenum", "oboedt", Section.IMPG, "impga", GoodsType.IMPORTS, "imports", False, _BOE_ACTIONS),
        SectionInfo(Section.IMPGSEZ, "IMPGSEZ", "Bill of entry (import from SEZ)", DocKind.INVOICE, False, "boenum", "boedt", None, None, None, "impgsez", GoodsType.IMPORTS, "imports", True, _BOE_ACTIONS),
        SectionInfo(Section.IMPGSEZA, "IMPGSEZA", "Bill of entry amendment (import from SEZ)", DocKind.INVOICE, True, "boenum", "boedt", "oboenum", "oboedt", Section.IMPGSEZ, "impgasez", GoodsType.IMPORTS, "imports", True, _BOE_ACTIONS),
        SectionInfo(Section.ISD, "ISD", "ISD invoice", DocKind.INVOICE, False, "docnum", "docdt", None, None, None, "isd", GoodsType.ISD, "isdsup"),
        SectionInfo(Section.ISDA, "ISDA", "ISD invoice amendment", DocKind.INVOICE, True, "docnum", "docdt", "odocnum", "odocdt", Section.ISD, "isda", GoodsType.ISD, "isdsup"),
        SectionInfo(Section.ISDCN, "ISDCN", "ISD credit note", DocKind.CREDIT_NOTE, False, "docnum", "docdt", None, None, None, "isd", GoodsType.ISD, "othersup"),
        SectionInfo(Section.ISDCNA, "ISDCNA", "ISD credit note amendment", DocKind.CREDIT_NOTE, True, "docnum", "docdt", "odocnum", "odocdt", Section.ISDCN, "isda", GoodsType.ISD, "othersup"),
    )
}
# fmt: on

API_CODE_TO_SECTION = {info.api_code: key for key, info in SECTIONS.items()}

SECTION_CHOICES = [(s.value, SECTIONS[s].label) for s in Section]
SECTIONS_BY_GOODS_TYPE: dict[GoodsType, tuple[Section, ...]] = {
    g: tuple(s for s in Section if SECTIONS[s].goods_typ == g) for g in GoodsType
}
DOC_KIND_CHOICES = [
    (DocKind.INVOICE.value, "Invoice"),
    (DocKind.CREDIT_NOTE.value, "Credit note"),
    (DocKind.DEBIT_NOTE.value, "Debit note"),
]


class Action(StrEnum):
    """IMS action codes (docs/rules/ims-actions.md §1.1)."""

    ACCEPTED = "A"
    REJECTED = "R"
    PENDING = "P"
    NO_ACTION = "N"


ACTION_LABELS = {
    Action.ACCEPTED: "Accepted",
    Action.REJECTED: "Rejected",
    Action.PENDING: "Pending",
    Action.NO_ACTION: "No action",
}
ACTION_CHOICES = [(a.value, ACTION_LABELS[a]) for a in Action]


class UnknownSection(ValueError):
    """A section key or GETINV code that is not in docs/rules/sections.md §2."""


def section_info(section: str) -> SectionInfo:
    """Look a section up by its key (``b2bcn``) or its GETINV code (``CN``), case-insensitively."""
    key = str(section or "").strip()
    if key.lower() in Section._value2member_map_:
        return SECTIONS[Section(key.lower())]
    if key.upper() in API_CODE_TO_SECTION:
        return SECTIONS[API_CODE_TO_SECTION[key.upper()]]
    raise UnknownSection(
        f"unknown IMS section {section!r}; expected a key ({', '.join(s.value for s in Section)}) "
        f"or a GETINV code ({', '.join(API_CODE_TO_SECTION)})"
    )

"""Parse GETINV records (domain.md §3.2) into SupplierDocument field values. Pure module: no ORM.

Two entry points over one implementation:

* :func:`parse_record` — one record to a dict of typed field values (Decimal amounts, real dates), for callers
  that handle a few records;
* :func:`parse_line` — one record to a line of PostgreSQL COPY text (the bulk path of
  ``invoices.services.ingest``), with the values already in their canonical text form.

``content_hash`` is the md5 of the canonical text of the portal fields (:data:`PORTAL_FIELDS`), so the same
document sent as ``118000`` or ``"118000.00"`` hashes the same, and any change of a portal field changes it.
A supplier GSTIN that fails its check character is stored and flagged (``supplier_gstin_valid = False``), never
rejected (domain.md §6.2); anything that cannot be stored faithfully raises :class:`RecordError` naming the field
and the value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .gstin import LEGACY_STATE_CODES, STATE_CODES, validate_gstin
from .numbers import normalise_doc_number
from .periods import fy_start_year
from .sections import SECTIONS, Section, SectionInfo, section_info

# Portal fields in canonical order: the order of the content hash, of the COPY line and of DocumentVersion diffs.
PORTAL_FIELDS: tuple[str, ...] = (
    "supplier_gstin", "section", "doc_number", "doc_date", "orig_doc_number", "orig_doc_date", "inv_type",
    "src_form", "supplier_period", "supplier_filing_status", "pos", "doc_value", "taxable_value", "igst", "cgst",
    "sgst", "cess", "portal_action", "pending_blocked", "remarks_blocked", "itc_red_blocked", "portal_remarks",
    "portal_itc_red_req", "portal_decl_igst", "portal_decl_cgst", "portal_decl_sgst", "portal_decl_cess",
    "portal_hash",
)
# Fields derived from the portal fields (stored on the document, not hashed).
DERIVED_FIELDS: tuple[str, ...] = (
    "supplier_gstin_valid", "doc_kind", "is_amendment", "doc_number_norm", "fy", "content_hash",
)
# Extra columns of a COPY line: where an amendment's original lives (section and FY), for linking.
LINK_FIELDS: tuple[str, ...] = ("orig_section", "orig_fy")
LINE_FIELDS: tuple[str, ...] = PORTAL_FIELDS + DERIVED_FIELDS + LINK_FIELDS

# Fields that describe the supplier's document (the rest is the recipient's IMS state on the portal).
SUPPLIER_FIELDS: frozenset[str] = frozenset(PORTAL_FIELDS[:17])

_MONEY_FIELDS = frozenset(
    {"doc_value", "taxable_value", "igst", "cgst", "sgst", "cess",
     "portal_decl_igst", "portal_decl_cgst", "portal_decl_sgst", "portal_decl_cess"}
)
_DATE_FIELDS = frozenset({"doc_date", "orig_doc_date", "supplier_period"})
_BOOL_FIELDS = frozenset({"pending_blocked", "remarks_blocked", "itc_red_blocked"})

INV_TYPES = frozenset({"R", "SEZWP", "SEZWOP", "SEWP", "SEWOP", "DE", "CBW"})
ACTIONS = frozenset({"A", "R", "P", "N"})
FILING_STATUS = {"FILED": "filed", "NOT FILED": "not_filed", "NOTFILED": "not_filed", "SAVED": "not_filed"}
MAX_DOC_NUMBER = 20
MAX_REMARKS = 500
_CENT = Decimal("0.01")
_MAX_MONEY = Decimal("9999999999999.99")
_PLAIN_MONEY = re.compile(r"(?:0|[1-9]\d{0,12})(?:\.(\d{1,2}))?")
_DATE_RE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_PERIOD_RE = re.compile(r"(0[1-9]|1[0-2])(\d{4})")
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_POS_CODES = frozenset(STATE_CODES) | frozenset(LEGACY_STATE_CODES)
NULL = "\\N"  # COPY text NULL


class RecordError(ValueError):
    """A record the portal sent that cannot be stored; ``str()`` names the section, record, field and value."""

    def __init__(self, field: str, value: Any, reason: str, *, where: str = ""):
        self.field, self.value, self.reason, self.where = field, value, reason, where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}{self.field} {self.value!r} {self.reason}"

    def at(self, where: str) -> RecordError:
        return RecordError(self.field, self.value, self.reason, where=where)


# --- value parsers (each returns canonical COPY text; caches keep repeated values cheap) -----------------------

_gstin_cache: dict[str, tuple[str, bool]] = {}
_date_cache: dict[str, tuple[str, int]] = {}
_period_cache: dict[str, str] = {}


def _gstin(value: Any) -> tuple[str, bool]:
    hit = _gstin_cache.get(value) if type(value) is str else None
    if hit is not None:
        return hit
    text = str(value or "").strip().upper()
    if len(text) != 15 or not text.isalnum() or not text.isascii():
        raise RecordError("stin", value, "is not a 15-character GSTIN")
    result = (text, validate_gstin(text).valid)
    if len(_gstin_cache) < 200_000:
        _gstin_cache[value] = result
    return result


def _date(field: str, value: Any) -> tuple[str, int]:
    """``"05-10-2025"`` → (``"2025-10-05"``, FY start year 2025)."""
    hit = _date_cache.get(value) if type(value) is str else None
    if hit is not None:
        return hit
    m = _DATE_RE.fullmatch(str(value or "").strip())
    try:
        if not m:
            raise ValueError
        day = dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        raise RecordError(field, value, "is not a date DD-MM-YYYY") from None
    result = (day.isoformat(), fy_start_year(day))
    if len(_date_cache) < 100_000:
        _date_cache[value] = result
    return result


def _period(value: Any) -> str:
    """``"102025"`` → ``"2025-10-01"``."""
    hit = _period_cache.get(value) if type(value) is str else None
    if hit is not None:
        return hit
    m = _PERIOD_RE.fullmatch(str(value or "").strip())
    if not m:
        raise RecordError("rtnprd", value, "is not a tax period MMYYYY")
    result = f"{m[2]}-{m[1]}-01"
    if len(_period_cache) < 10_000:
        _period_cache[value] = result
    return result


def _money(field: str, value: Any) -> str:
    """Canonical 2-decimal text of an amount (str, int, float or Decimal)."""
    kind = type(value)
    if kind is Decimal:
        text = str(value)
        if text[-3:-2] == "." and text[0] != "-" and len(text) <= 16:  # plain, 2 decimals, in range
            return text
    elif kind is str:
        m = _PLAIN_MONEY.fullmatch(value)
        if m:
            cents = m[1]
            return value + ".00" if cents is None else (value if len(cents) == 2 else value + "0")
    elif kind is int and 0 <= value <= 9_999_999_999_999:
        return f"{value}.00"
    if value is None or value == "" or type(value) is bool:
        raise RecordError(field, value, "is not an amount")
    try:
        amount = Decimal(str(value).strip()).quantize(_CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise RecordError(field, value, "is not an amount") from None
    if not amount.is_finite() or abs(amount) > _MAX_MONEY:
        raise RecordError(field, value, "is not an amount of at most 13 digits before the decimal point")
    return str(amount + 0)  # "+ 0" turns -0.00 into 0.00


def _optional_money(field: str, value: Any) -> str | None:
    return None if value is None or value == "" else _money(field, value)


def _flag(field: str, value: Any) -> bool:
    if value is None or value == "" or value is False:
        return False
    if value is True:
        return True
    text = str(value).strip().upper()
    if text in ("Y", "YES", "TRUE"):
        return True
    if text in ("N", "NO", "FALSE"):
        return False
    raise RecordError(field, value, "must be Y or N")


def _text(field: str, value: Any, max_length: int, *, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise RecordError(field, value, "is missing")
    if len(text) > max_length:
        raise RecordError(field, value, f"is longer than {max_length} characters")
    return text


def _escape(text: str) -> str:
    if _COPY_SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# --- records ---------------------------------------------------------------------------------------------------

def _pick(record: Mapping[str, Any], info: SectionInfo, primary: str, ecom_alternative: str) -> tuple[str, Any]:
    """The value of a number/date field; ECO sections also accept the note-shaped key (shape UNVERIFIED)."""
    if primary in record or info.key not in (Section.ECOM, Section.ECOMA):
        return primary, record.get(primary)
    return ecom_alternative, record.get(ecom_alternative)


def _portal_text(info: SectionInfo, r: Mapping[str, Any]) -> tuple[list[str | None], bool, int, int | None]:
    """Canonical text of every portal field (None = NULL), the GSTIN check result, the FY and the original's FY."""
    g = r.get
    gstin, gstin_valid = _gstin(g("stin"))
    number_key, number = _pick(r, info, info.number_field, "nt_num")
    date_key, date_value = _pick(r, info, info.date_field, "nt_dt")
    doc_number = _text(number_key, number, MAX_DOC_NUMBER, required=True)
    doc_date, fy = _date(date_key, date_value)
    orig_number, orig_date, orig_fy = "", None, None
    if info.amendment:
        onum_key, onum = _pick(r, info, info.orig_number_field, "ont_num")
        odate_key, odate = _pick(r, info, info.orig_date_field, "ont_dt")
        orig_number = _text(onum_key, onum, MAX_DOC_NUMBER, required=True)
        orig_date, orig_fy = _date(odate_key, odate)
    inv_type = str(g("inv_typ") or "").strip().upper()
    if inv_type and inv_type not in INV_TYPES:
        raise RecordError("inv_typ", g("inv_typ"), f"is not a supply type ({', '.join(sorted(INV_TYPES))})")
    status_value = g("srcfilstatus")
    status = FILING_STATUS.get(str(status_value or "").strip().upper())
    if status is None:
        raise RecordError("srcfilstatus", status_value, "is not a filing status (Filed, Not Filed, FILED, SAVED)")
    pos = str(g("pos") or "").strip()
    if len(pos) == 1 and pos.isdigit():
        pos = "0" + pos
    if pos not in _POS_CODES:
        raise RecordError("pos", g("pos"), "is not a 2-digit state code")
    action = str(g("action") or "N").strip().upper()
    if action not in ACTIONS:
        raise RecordError("action", g("action"), "is not an IMS action (A, R, P or N)")
    blocked = g("ispendactblocked")
    if blocked is None:
        blocked = g("ispendactnallwd")  # legacy spelling, same meaning
    itc_blocked = g("isItcRedReqBlocked")
    if itc_blocked is None:
        itc_blocked = g("itcRedReqBlocked")
    itc_red_req = str(g("itcRedReq") or "").strip().upper()
    if itc_red_req not in ("", "Y", "N"):
        raise RecordError("itcRedReq", g("itcRedReq"), "must be Y or N")
    zero = "0.00"
    values: list[str | None] = [
        gstin,
        info.key.value,
        _escape(doc_number),
        doc_date,
        _escape(orig_number),
        orig_date,
        inv_type,
        _escape(_text("srcform", g("srcform"), 8)),
        _period(g("rtnprd")),
        status,
        pos,
        _money("val", g("val")),
        _money("txval", g("txval")),
        zero if g("iamt") is None else _money("iamt", g("iamt")),
        zero if g("camt") is None else _money("camt", g("camt")),
        zero if g("samt") is None else _money("samt", g("samt")),
        zero if g("cess") is None else _money("cess", g("cess")),
        action,
        "t" if _flag("ispendactblocked", blocked) else "f",
        "t" if _flag("isRemarksBlocked", g("isRemarksBlocked")) else "f",
        "t" if _flag("isItcRedReqBlocked", itc_blocked) else "f",
        _escape(_text("remarks", g("remarks"), MAX_REMARKS)),
        itc_red_req,
        _optional_money("declIgst", g("declIgst")),
        _optional_money("declCgst", g("declCgst")),
        _optional_money("declSgst", g("declSgst")),
        _optional_money("declCess", g("declCess")),
        _escape(_text("hash", g("hash"), 64)),
    ]
    return values, gstin_valid, fy, orig_fy


def parse_line(info: SectionInfo, record: Mapping[str, Any]) -> tuple[str, tuple[str, str, str, int]]:
    """One record → (COPY text line without the newline, natural key (gstin, section, number, fy)).

    The line holds :data:`LINE_FIELDS` in order. Raises :class:`RecordError` (without position; the caller adds it).
    """
    if not isinstance(record, Mapping):
        raise RecordError("record", type(record).__name__, "is not an object")
    values, gstin_valid, fy, orig_fy = _portal_text(info, record)
    portal = "\t".join([NULL if v is None else v for v in values])
    digest = hashlib.md5(portal.encode(), usedforsecurity=False).hexdigest()
    doc_number = values[2]
    original = info.original_section
    line = (
        f"{portal}\t{'t' if gstin_valid else 'f'}\t{info.kind.value}\t{'t' if info.amendment else 'f'}\t"
        f"{_escape(normalise_doc_number(_unescape(doc_number), fy))}\t{fy}\t{digest}\t"
        f"{original.value if original else ''}\t{NULL if orig_fy is None else orig_fy}"
    )
    return line, (values[0], values[1], doc_number, fy)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return text.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r").replace("\\\\", "\\")


def _typed(field: str, text: str | None) -> Any:
    if text is None:
        return None
    if field in _MONEY_FIELDS:
        return Decimal(text)
    if field in _DATE_FIELDS:
        return dt.date.fromisoformat(text)
    if field in _BOOL_FIELDS or field in ("supplier_gstin_valid", "is_amendment"):
        return text == "t"
    if field in ("fy", "orig_fy"):
        return int(text)
    return _unescape(text)


def fields_from_line(line: str) -> dict[str, Any]:
    """Typed field values of a COPY line made by :func:`parse_line`."""
    parts = line.split("\t")
    return {f: _typed(f, None if v == NULL else v) for f, v in zip(LINE_FIELDS, parts, strict=True)}


def parse_record(section: str, record: Mapping[str, Any], *, index: int | None = None) -> dict[str, Any]:
    """One GETINV record of ``section`` (key ``b2bcn`` or code ``CN``) → SupplierDocument field values.

    Returns every field of :data:`PORTAL_FIELDS` and :data:`DERIVED_FIELDS` (typed) plus ``orig_section`` and
    ``orig_fy`` (where the original of an amendment lives). ``index`` (1-based) only decorates the error message:
    ``"b2b record 17: idt '31-02-2025' is not a date DD-MM-YYYY"``.
    """
    info = section_info(section)
    try:
        line, _key = parse_line(info, record)
    except RecordError as exc:
        where = f"{info.key.value} record {index}" if index is not None else info.key.value
        raise exc.at(where) from None
    return fields_from_line(line)


def content_hash_of(fields: Mapping[str, Any]) -> str:
    """The content hash of typed portal field values (as :func:`parse_record` returns or the database holds)."""
    parts = []
    for name in PORTAL_FIELDS:
        value = fields[name]
        if value is None:
            parts.append(NULL)
        elif isinstance(value, bool):
            parts.append("t" if value else "f")
        elif isinstance(value, Decimal):
            parts.append(str(value.quantize(_CENT)))
        elif isinstance(value, dt.date):
            parts.append(value.isoformat())
        else:
            parts.append(_escape(str(value)))
    return hashlib.md5("\t".join(parts).encode(), usedforsecurity=False).hexdigest()


__all__ = [
    "DERIVED_FIELDS", "LINE_FIELDS", "PORTAL_FIELDS", "SECTIONS", "SUPPLIER_FIELDS", "RecordError",
    "content_hash_of", "fields_from_line", "parse_line", "parse_record",
]

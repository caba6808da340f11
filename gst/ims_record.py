"""Parse GETINV records (docs/rules/portal-api.md §2) into SupplierDocument field values. Pure module: no ORM.

Two entry points over one implementation:

* :func:`parse_record` — one record to a dict of typed field values (Decimal amounts, real dates), for callers
  that handle a few records;
* :func:`parse_line` — one record to a line of PostgreSQL COPY text (the bulk path of
  ``invoices.services.ingest``), with the values already in their canonical text form.

``content_hash`` is the md5 of the canonical text of the portal fields (:data:`PORTAL_FIELDS`), so the same
document sent as ``118000`` or ``"118000.00"`` hashes the same, and any change of a portal field changes it (the
trailing fields added later — ``ItcAvailabilityCheck``, the bill-of-entry and ISD fields, the IRN — are left out of
it when absent: documents stored before them keep their hash).
A supplier GSTIN that fails its check character is stored and flagged (``supplier_gstin_valid = False``), never
rejected (docs/rules/gstin.md §2); anything that cannot be stored faithfully raises :class:`RecordError` naming the field
and the value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from gst.copytext import escape

from .gstin import LEGACY_STATE_CODES, STATE_CODES, validate_gstin
from .numbers import normalise_doc_number
from .periods import fy_start_year
from .sections import SECTIONS, GoodsType, Section, SectionInfo, section_info

# Portal fields in canonical order: the order of the content hash, of the COPY line and of DocumentVersion diffs.
PORTAL_FIELDS: tuple[str, ...] = (
    "supplier_gstin",
    "section",
    "doc_number",
    "doc_date",
    "orig_doc_number",
    "orig_doc_date",
    "inv_type",
    "src_form",
    "supplier_period",
    "supplier_filing_status",
    "pos",
    "doc_value",
    "taxable_value",
    "igst",
    "cgst",
    "sgst",
    "cess",
    "portal_action",
    "pending_blocked",
    "remarks_blocked",
    "itc_red_blocked",
    "portal_remarks",
    "portal_itc_red_req",
    "portal_decl_igst",
    "portal_decl_cgst",
    "portal_decl_sgst",
    "portal_decl_cess",
    "portal_hash",
    "itc_availability_check",
    # Bills of entry and ISD documents only (docs/rules/sections.md §4): NULL on every other section, so the
    # documents stored before these fields keep their content hash (:func:`_hashed`).
    "port_code",
    "ref_date",
    "itc_eligible",
    "prev_gstin",
    # The e-invoice's IRN and its date (``irn``, ``irngendate``, docs/rules/portal-api.md §2.1), when the record
    # carries them: NULL otherwise, so documents stored before these fields keep their content hash.
    "irn",
    "irn_date",
)
# Portal fields a record of an older shape may lack: read with ``.get`` (the last seven above).
OPTIONAL_FIELDS: frozenset[str] = frozenset(
    {"itc_availability_check", "port_code", "ref_date", "itc_eligible", "prev_gstin", "irn", "irn_date"}
)
# Fields derived from the portal fields (stored on the document, not hashed).
DERIVED_FIELDS: tuple[str, ...] = (
    "supplier_gstin_valid",
    "doc_kind",
    "is_amendment",
    "doc_number_norm",
    "fy",
    "content_hash",
)
# Extra columns of a COPY line: where an amendment's original lives (section and FY), for linking.
LINK_FIELDS: tuple[str, ...] = ("orig_section", "orig_fy")
LINE_FIELDS: tuple[str, ...] = PORTAL_FIELDS + DERIVED_FIELDS + LINK_FIELDS

# Fields that describe the supplier's document (the rest is the recipient's IMS state on the portal).
SUPPLIER_FIELDS: frozenset[str] = frozenset(PORTAL_FIELDS[:17])

_MONEY_FIELDS = frozenset(
    {
        "doc_value",
        "taxable_value",
        "igst",
        "cgst",
        "sgst",
        "cess",
        "portal_decl_igst",
        "portal_decl_cgst",
        "portal_decl_sgst",
        "portal_decl_cess",
    }
)
_DATE_FIELDS = frozenset({"doc_date", "orig_doc_date", "supplier_period", "ref_date", "irn_date"})
_BOOL_FIELDS = frozenset({"pending_blocked", "remarks_blocked", "itc_red_blocked"})

INV_TYPES = frozenset({"R", "SEZWP", "SEZWOP", "SEWP", "SEWOP", "DE", "CBW"})
ACTIONS = frozenset({"A", "R", "P", "N"})
# docs/rules/portal-api.md §2.1: "Filed"/"Not Filed", FILED/SAVED and "F", read case-insensitively.
FILING_STATUS = {
    "FILED": "filed",
    "F": "filed",
    "NOT FILED": "not_filed",
    "NOTFILED": "not_filed",
    "SAVED": "not_filed",
}
# ``ItcAvailabilityCheck``: meaning not documented (docs/rules/portal-api.md §2.1): stored as received, a boolean
# as "Y"/"N", at most this long.
MAX_ITC_AVAILABILITY_CHECK = 20
MAX_DOC_NUMBER = 20
MAX_REMARKS = 500
MAX_IRN = 64
_CENT = Decimal("0.01")
_MAX_MONEY = Decimal("9999999999999.99")
_PLAIN_MONEY = re.compile(r"(?:0|[1-9][0-9]{0,12})(?:\.([0-9]{1,2}))?")
_DATE_RE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_PERIOD_RE = re.compile(r"(0[1-9]|1[0-2])(\d{4})")
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


def gstin_valid(gstin: str) -> bool:
    """Whether a supplier GSTIN as parsed (15 characters, upper case) passes its checks (memoised)."""
    return _gstin(gstin)[1]


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
        plain: str = value
        m = _PLAIN_MONEY.fullmatch(plain)
        if m:
            cents = m[1]
            return plain + ".00" if cents is None else (plain if len(cents) == 2 else plain + "0")
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


# --- records ---------------------------------------------------------------------------------------------------


def _pick(
    record: Mapping[str, Any], info: SectionInfo, primary: str, ecom_alternative: str
) -> tuple[str, Any]:
    """The value of a number/date field; ECO sections also accept the note-shaped key (shape UNVERIFIED)."""
    if primary in record or info.key not in (Section.ECOM, Section.ECOMA):
        return primary, record.get(primary)
    return ecom_alternative, record.get(ecom_alternative)


def _inv_type(value: Any) -> str:
    inv_type = str(value or "").strip().upper()
    if inv_type and inv_type not in INV_TYPES:
        raise RecordError("inv_typ", value, f"is not a supply type ({', '.join(sorted(INV_TYPES))})")
    return inv_type


def _status(value: Any) -> str:
    status = FILING_STATUS.get(str(value or "").strip().upper())
    if status is None:
        raise RecordError("srcfilstatus", value, "is not a filing status (Filed, Not Filed, FILED, SAVED, F)")
    return status


def _availability_check(value: Any) -> str | None:
    """``ItcAvailabilityCheck`` as COPY text: None when absent, "Y"/"N" for a boolean, else the text (upper case)."""
    if value is None or value == "":
        return None
    if value is True or value is False:
        return "Y" if value else "N"
    text = str(value).strip().upper()
    if not text:
        return None
    if len(text) > MAX_ITC_AVAILABILITY_CHECK or not text.isprintable() or "\\" in text:
        raise RecordError(
            "ItcAvailabilityCheck", value, f"is not a flag of at most {MAX_ITC_AVAILABILITY_CHECK} characters"
        )
    return text


_IRN_DATE_RE = re.compile(r"(\d{2}-\d{2}-\d{4})(?:[ T].*)?")
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T].*)?")


def _irn(irn: Any, generated: Any) -> list[str | None]:
    """The e-invoice's ``irn`` and ``irngendate`` as COPY text (None when absent): the IRN as sent (stripped), the
    date DD-MM-YYYY (a time after it ignored; ``YYYY-MM-DD`` read too)."""
    text = None if irn is None else _text("irn", irn, MAX_IRN) or None
    if text is not None and (not text.isprintable() or "\\" in text):
        raise RecordError("irn", irn, "is not an IRN")
    day = None
    if generated is not None and str(generated).strip():
        raw = str(generated).strip()
        m = _IRN_DATE_RE.fullmatch(raw)
        iso = None if m else _ISO_DATE_RE.fullmatch(raw)
        try:
            if m:
                day = _date("irngendate", m[1])[0]
            elif iso:
                day = dt.date(int(iso[1]), int(iso[2]), int(iso[3])).isoformat()
            else:
                raise ValueError
        except (RecordError, ValueError):
            raise RecordError("irngendate", generated, "is not a date DD-MM-YYYY") from None
    return [text, day]


def _irn_text(irn: Any, generated: Any) -> str:
    """:func:`_irn` as the tail of a COPY line: a tab before each field."""
    if irn is None and generated is None:
        return _NO_IRN_TEXT
    # The common shape: a plain IRN and a date already parsed (the document's own date, as a rule).
    day = _date_cache.get(generated) if type(generated) is str else None
    if day is not None and (text := _plain(irn, MAX_IRN)) is not None:
        return f"\t{text}\t{day[0]}"
    return "".join("\t" + (NULL if v is None else v) for v in _irn(irn, generated))


def _pos(value: Any) -> str:
    pos = str(value or "").strip()
    if len(pos) == 1 and pos.isdigit():
        pos = "0" + pos
    if pos not in _POS_CODES:
        raise RecordError("pos", value, "is not a 2-digit state code")
    return pos


def _action(value: Any) -> str:
    action = str(value or "N").strip().upper()
    if action not in ACTIONS:
        raise RecordError("action", value, "is not an IMS action (A, R, P or N)")
    return action


def _itc_red_req(value: Any) -> str:
    itc_red_req = str(value or "").strip().upper()
    if itc_red_req not in ("", "Y", "N"):
        raise RecordError("itcRedReq", value, "must be Y or N")
    return itc_red_req


_NO_EXTRAS: list[str | None] = [None, None, None, None]


def _other_tab(info: SectionInfo, r: Mapping[str, Any]) -> tuple[dict[str, Any], list[str | None]]:
    """A bill of entry or ISD record (docs/rules/sections.md §4, shapes UNVERIFIED) in the shape of the other
    sections, and its own fields (port code, reference date, ITC eligibility, previous GSTIN) as COPY text.

    Tolerant: amounts under ``iamt``/``camt``/``samt`` or the 2B's ``igst``/``cgst``/``sgst``; no taxable value
    (ISD documents) reads as 0; no document value as taxable value plus taxes; no return period as the month of the
    reference date (bills of entry, as 2B places them) or of the document date; no filing status as filed (a bill
    of entry comes from ICEGATE, an ISD document from a filed GSTR-6); no place of supply as none."""
    out = dict(r)
    for ims, twob in (("iamt", "igst"), ("camt", "cgst"), ("samt", "sgst")):
        if out.get(ims) is None and r.get(twob) is not None:
            out[ims] = r.get(twob)
    if out.get("txval") in (None, ""):
        out["txval"] = "0"
    if out.get("val") in (None, ""):
        parts = [out.get(k) for k in ("txval", "iamt", "camt", "samt", "cess")]
        given = [(k, v) for k, v in zip(_AMOUNT_KEYS[1:], parts, strict=True) if v is not None]
        out["val"] = str(sum((Decimal(_money(k, v)) for k, v in given), Decimal("0.00")))
    ref_date = None
    if r.get("refdt") not in (None, ""):
        ref_date = _date("refdt", r.get("refdt"))[0]
    if out.get("rtnprd") in (None, ""):
        base = ref_date or _date(info.date_field, r.get(info.date_field))[0]
        out["rtnprd"] = f"{base[5:7]}{base[:4]}"
    if out.get("srcfilstatus") in (None, ""):
        out["srcfilstatus"] = "Filed"
    if not info.has_supplier:
        out["stin"] = None
    eligible = str(r.get("itcelg") or "").strip().upper()
    if eligible not in ("", "Y", "N"):
        raise RecordError("itcelg", r.get("itcelg"), "must be Y or N")
    prev = str(r.get("ogstin") or "").strip().upper()
    if prev and (len(prev) != 15 or not prev.isalnum() or not prev.isascii()):
        raise RecordError("ogstin", r.get("ogstin"), "is not a 15-character GSTIN")
    extras: list[str | None] = [
        escape(_text("portcode", r.get("portcode"), 6)) or None,
        ref_date,
        eligible or None,
        prev or None,
    ]
    return out, extras


def _portal_text(info: SectionInfo, r: Mapping[str, Any]) -> tuple[list[str | None], bool, int, int | None]:
    """Canonical text of every portal field (None = NULL), the GSTIN check result, the FY and the original's FY.

    The careful path: every field through its parser, in an order that makes the first bad field the one
    reported. :func:`_fast_portal_text` must give the same text for every record this accepts."""
    extras = _NO_EXTRAS
    if info.goods_typ != GoodsType.ALL_OTHER:
        r, extras = _other_tab(info, r)
    g = r.get
    gstin, gstin_valid = _gstin(g("stin")) if info.has_supplier else ("", True)
    number_key, number = _pick(r, info, info.number_field, "nt_num")
    date_key, date_value = _pick(r, info, info.date_field, "nt_dt")
    doc_number = _text(number_key, number, MAX_DOC_NUMBER, required=True)
    doc_date, fy = _date(date_key, date_value)
    orig_number, orig_date, orig_fy = "", None, None
    if info.amendment:
        # every amendment section names its original's number and date fields
        onum_key, onum = _pick(r, info, cast(str, info.orig_number_field), "ont_num")
        odate_key, odate = _pick(r, info, cast(str, info.orig_date_field), "ont_dt")
        orig_number = _text(onum_key, onum, MAX_DOC_NUMBER, required=True)
        orig_date, orig_fy = _date(odate_key, odate)
    inv_type = _inv_type(g("inv_typ"))
    status = _status(g("srcfilstatus"))
    pos = _pos(g("pos")) if info.goods_typ == GoodsType.ALL_OTHER or g("pos") not in (None, "") else ""
    action = _action(g("action"))
    blocked = g("ispendactblocked")
    if blocked is None:
        blocked = g("ispendactnallwd")  # legacy spelling, same meaning
    itc_blocked = g("isItcRedReqBlocked")
    if itc_blocked is None:
        itc_blocked = g("itcRedReqBlocked")
    itc_red_req = _itc_red_req(g("itcRedReq"))
    zero = "0.00"
    values: list[str | None] = [
        gstin,
        info.key.value,
        escape(doc_number),
        doc_date,
        escape(orig_number),
        orig_date,
        inv_type,
        escape(_text("srcform", g("srcform"), 8)),
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
        escape(_text("remarks", g("remarks"), MAX_REMARKS)),
        itc_red_req,
        _optional_money("declIgst", g("declIgst")),
        _optional_money("declCgst", g("declCgst")),
        _optional_money("declSgst", g("declSgst")),
        _optional_money("declCess", g("declCess")),
        escape(_text("hash", g("hash"), 64)),
        _availability_check(g("ItcAvailabilityCheck")),
        *extras,
        *_irn(g("irn"), g("irngendate")),
    ]
    return values, gstin_valid, fy, orig_fy


# --- the fast path -------------------------------------------------------------------------------------------
# A batch repeats a few values many times: the same suppliers, dates, periods, filing statuses, actions. The fast
# path reads a record's fields in one C-level pass, looks whole runs of them up in memos filled by the careful
# parsers (keys of strings and None only, so 1, 1.0 and True never meet "1"), checks the six amounts with one
# regex, and gives up on any shape it does not know; the careful path then parses the record or names its first
# bad field. About 4 times faster than the careful path (docs/performance.md §4).

_MEMO_MAX = 50_000
_HEAD_KEYS = ("inv_typ", "srcform", "rtnprd", "srcfilstatus", "pos")
_AMOUNT_KEYS = ("val", "txval", "iamt", "camt", "samt", "cess")
_TAIL_KEYS = (
    "action",
    "ispendactblocked",
    "ispendactnallwd",
    "isRemarksBlocked",
    "isItcRedReqBlocked",
    "itcRedReqBlocked",
    "remarks",
    "itcRedReq",
)
_DECLARATION_KEYS = ("declIgst", "declCgst", "declSgst", "declCess")
_head_memo: dict[tuple[Any, ...], str] = {}  # raw _HEAD_KEYS values → "R\tR1\t2025-10-01\tfiled\t27"
_tail_memo: dict[tuple[Any, ...], str] = {}  # raw _TAIL_KEYS values → "A\tf\tf\tf\t<remarks>\tY"
_AMOUNT = r"(?:0|[1-9][0-9]{0,12})\.[0-9][0-9]"
_SIX_AMOUNTS = re.compile(rf"(?:{_AMOUNT}\t){{5}}{_AMOUNT}")
# Amounts decoded from JSON numbers print with one decimal or none (13597.0 → "13597.0", 0 → "0"): six plain
# amounts of at most two decimals are padded to two as text, with no Decimal arithmetic (what _money gives them).
_LOOSE_AMOUNT = r"(?:0|[1-9][0-9]{0,12})(?:\.[0-9]{1,2})?"
_SIX_LOOSE_AMOUNTS = re.compile(rf"(?:{_LOOSE_AMOUNT}\t){{5}}{_LOOSE_AMOUNT}")
_NO_DECLARATION = (None, None, None, None)
_NO_DECLARATION_TEXT = "\t".join([NULL] * 4)
_NO_EXTRAS_TEXT = "\t" + "\t".join([NULL] * 4)  # port_code, ref_date, itc_eligible, prev_gstin
_NO_IRN_TEXT = "\t" + "\t".join([NULL] * 2)  # irn, irn_date
# ItcAvailabilityCheck, the bill-of-entry and ISD fields and the IRN all absent (none of them hashed: _hashed).
_NONE_AFTER_HASH = "\t" + NULL + _NO_EXTRAS_TEXT + _NO_IRN_TEXT


def _head_text(inv_typ: Any, srcform: Any, rtnprd: Any, status: Any, pos: Any) -> str:
    return "\t".join(
        (
            _inv_type(inv_typ),
            escape(_text("srcform", srcform, 8)),
            _period(rtnprd),
            _status(status),
            _pos(pos),
        )
    )


def _tail_text(
    action: Any,
    blocked: Any,
    blocked_legacy: Any,
    remarks_blocked: Any,
    itc_blocked: Any,
    itc_blocked_alt: Any,
    remarks: Any,
    itc_red_req: Any,
) -> str:
    return "\t".join(
        (
            _action(action),
            "t" if _flag("ispendactblocked", blocked_legacy if blocked is None else blocked) else "f",
            "t" if _flag("isRemarksBlocked", remarks_blocked) else "f",
            "t"
            if _flag("isItcRedReqBlocked", itc_blocked_alt if itc_blocked is None else itc_blocked)
            else "f",
            escape(_text("remarks", remarks, MAX_REMARKS)),
            _itc_red_req(itc_red_req),
        )
    )


def _remember(memo: dict[tuple[Any, ...], str], key: tuple[Any, ...], make: Callable[..., str]) -> str:
    text = make(*key)
    if len(memo) < _MEMO_MAX and all(v is None or type(v) is str for v in key):
        memo[key] = text
    return text


def _amounts_text(val: Any, txval: Any, iamt: Any, camt: Any, samt: Any, cess: Any) -> str:
    taxes = (("iamt", iamt), ("camt", camt), ("samt", samt), ("cess", cess))
    return "\t".join(
        [
            _money("val", val),
            _money("txval", txval),
            *("0.00" if v is None else _money(f, v) for f, v in taxes),
        ]
    )


def _declaration_text(amounts: tuple[Any, ...]) -> str:
    return "\t".join(
        NULL if (text := _optional_money(f, v)) is None else text
        for f, v in zip(_DECLARATION_KEYS, amounts, strict=True)
    )


def _plain(value: object, max_length: int) -> str | None:
    """A present text value that needs no escaping, stripped; None for anything else (the careful path decides)."""
    if type(value) is not str:
        return None
    value = value.strip()
    # isprintable() is false for tab, newline and carriage return (and anything else unusual): cheaper than a regex.
    if not value or len(value) > max_length or not value.isprintable() or "\\" in value:
        return None
    return value


def _careful_portal(
    info: SectionInfo, record: Mapping[str, Any]
) -> tuple[str, str, str, str, bool, int, int | None]:
    """The portal fields as COPY text, the text the content hash covers, GSTIN, number, GSTIN valid, FY, the
    original's FY."""
    values, gstin_valid, fy, orig_fy = _portal_text(info, record)  # raises the record's first bad field
    portal = "\t".join([NULL if v is None else v for v in values])
    return (
        portal,
        _hashed(portal),
        cast(str, values[0]),  # the GSTIN
        cast(str, values[2]),  # the document number
        gstin_valid,
        fy,
        orig_fy,
    )


def line_parser(info: SectionInfo) -> Callable[[Mapping[str, Any]], tuple[str, tuple[str, str, str, int]]]:
    """The :func:`parse_line` of one section, with everything about the section worked out once."""
    section, amendment = info.key.value, info.amendment
    number_field, date_field = info.number_field, info.date_field
    keys: tuple[str, ...] = ("stin", "hash", number_field, date_field)
    if amendment:
        keys += (cast(str, info.orig_number_field), cast(str, info.orig_date_field))
    head = len(keys)
    amounts = head + len(_HEAD_KEYS)
    tail = amounts + len(_AMOUNT_KEYS)
    declaration = tail + len(_TAIL_KEYS)
    check = declaration + len(_DECLARATION_KEYS)
    keys += (
        _HEAD_KEYS
        + _AMOUNT_KEYS
        + _TAIL_KEYS
        + _DECLARATION_KEYS
        + ("ItcAvailabilityCheck", "irn", "irngendate")
    )
    original = info.original_section
    careful_only = info.goods_typ != GoodsType.ALL_OTHER  # few records, another shape: the careful path
    derived = f"{info.kind.value}\t{'t' if amendment else 'f'}"
    link = original.value if original else ""

    def fast(r: Mapping[str, Any]) -> tuple[str, str, str, str, bool, int, int | None] | None:
        """Like :func:`_careful_portal`, or None; may raise RecordError or TypeError (an unhashable value),
        which mean the same."""
        v: tuple[Any, ...] = tuple(map(r.get, keys))
        stin, portal_hash, number, date_value = v[:4]
        gstin, gstin_valid = _gstin_cache.get(stin) or _gstin(stin)
        number = _plain(number, MAX_DOC_NUMBER)
        if number is None:
            return None
        doc_date, fy = _date_cache.get(date_value) or _date(date_field, date_value)
        if amendment:
            orig_number = _plain(v[4], MAX_DOC_NUMBER)
            if orig_number is None:
                return None
            orig_date, orig_fy = _date_cache.get(v[5]) or _date(cast(str, info.orig_date_field), v[5])
        else:
            orig_number, orig_date, orig_fy = "", NULL, None
        key = v[head:amounts]
        head_text = _head_memo.get(key) or _remember(_head_memo, key, _head_text)
        key = v[amounts:tail]
        money = "\t".join(map(str, key))
        if _SIX_AMOUNTS.fullmatch(money) is None:
            if _SIX_LOOSE_AMOUNTS.fullmatch(money) is None:
                money = _amounts_text(*key)
            else:
                money = "\t".join(  # each with two decimals
                    [
                        a if a[-3:-2] == "." else a + "0" if a[-2:-1] == "." else a + ".00"
                        for a in money.split("\t")
                    ]
                )
        key = v[tail:declaration]
        tail_text = _tail_memo.get(key) or _remember(_tail_memo, key, _tail_text)
        key = v[declaration:check]
        declared = _NO_DECLARATION_TEXT if key == _NO_DECLARATION else _declaration_text(key)
        if portal_hash is None:
            portal_hash = ""
        elif (portal_hash := _plain(portal_hash, 64)) is None:
            return None
        availability = NULL if v[check] is None else _availability_check(v[check]) or NULL
        irn = _irn_text(v[check + 1], v[check + 2])
        hashed = (
            f"{gstin}\t{section}\t{number}\t{doc_date}\t{orig_number}\t{orig_date}\t{head_text}\t{money}\t"
            f"{tail_text}\t{declared}\t{portal_hash}"
        )
        if availability == NULL and irn is _NO_IRN_TEXT:  # the fields after the hash all absent: not hashed
            portal = hashed + _NONE_AFTER_HASH
        else:
            portal = f"{hashed}\t{availability}{_NO_EXTRAS_TEXT}{irn}"
            hashed = _hashed(portal)
        return (
            portal,
            hashed,
            gstin,
            number,
            gstin_valid,
            fy,
            orig_fy,
        )

    def parse(record: Mapping[str, Any]) -> tuple[str, tuple[str, str, str, int]]:
        if type(record) is not dict and not isinstance(record, Mapping):
            raise RecordError("record", type(record).__name__, "is not an object")
        try:
            parsed = None if careful_only else fast(record)
        except (RecordError, TypeError):
            parsed = None
        portal, hashed, gstin, number, gstin_valid, fy, orig_fy = parsed or _careful_portal(info, record)
        digest = hashlib.md5(hashed.encode(), usedforsecurity=False).hexdigest()
        # The normalised number needs no escaping: it has no separators, and tab, newline, backslash are ones.
        line = (
            f"{portal}\t{'t' if gstin_valid else 'f'}\t{derived}\t{normalise_doc_number(unescape(number), fy)}\t"
            f"{fy}\t{digest}\t{link}\t{NULL if orig_fy is None else orig_fy}"
        )
        return line, (gstin, section, number, fy)

    return parse


_PARSERS = {key: line_parser(info) for key, info in SECTIONS.items()}
_ABSENT = "\t" + NULL


def _hashed(portal: str) -> str:
    """The text the content hash covers: the portal fields, less the trailing absent ones (``ItcAvailabilityCheck``,
    the bill-of-entry and ISD fields and the IRN, added later), so documents stored before them keep their hash and
    are not rewritten."""
    while portal.endswith(_ABSENT):
        portal = portal[: -len(_ABSENT)]
    return portal


def parse_line(info: SectionInfo, record: Mapping[str, Any]) -> tuple[str, tuple[str, str, str, int]]:
    """One record → (COPY text line without the newline, natural key (gstin, section, number, fy)).

    The line holds :data:`LINE_FIELDS` in order. Raises :class:`RecordError` (without position; the caller adds it).
    A batch of one section is faster through :func:`line_parser`.
    """
    return _PARSERS[info.key](record)


_COPY_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPED = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    """The value of a COPY text field (the inverse of the escaping :func:`parse_line` applies), in one pass: an
    escaped backslash followed by ``t`` is a backslash and a ``t``, not a tab."""
    if "\\" not in text:
        return text
    return _COPY_ESCAPE.sub(lambda m: _UNESCAPED.get(m[1], m[1]), text)


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
    return unescape(text)


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
        value = fields.get(name) if name in OPTIONAL_FIELDS else fields[name]
        if value is None:
            parts.append(NULL)
        elif isinstance(value, bool):
            parts.append("t" if value else "f")
        elif isinstance(value, Decimal):
            parts.append(str(value.quantize(_CENT)))
        elif isinstance(value, dt.date):
            parts.append(value.isoformat())
        else:
            parts.append(escape(str(value)))
    return hashlib.md5(_hashed("\t".join(parts)).encode(), usedforsecurity=False).hexdigest()


__all__ = [
    "DERIVED_FIELDS",
    "LINE_FIELDS",
    "OPTIONAL_FIELDS",
    "PORTAL_FIELDS",
    "SECTIONS",
    "SUPPLIER_FIELDS",
    "RecordError",
    "content_hash_of",
    "fields_from_line",
    "gstin_valid",
    "line_parser",
    "parse_line",
    "parse_record",
    "unescape",
]

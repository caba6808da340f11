"""Purchase-register rows: the template's columns, header mapping and the validation of every row of a file.
Pure module: no ORM.

:class:`RowChecker` validates rows one by one (GSTINs with the failed check named, dates, amounts as Decimal,
document type and number, place of supply and the tax split it implies, flags, period) and memoises the checks of
values that repeat down a register (GSTINs, dates, types, states, periods), so a 200,000-row file is checked in a
few seconds. :func:`parse_row` checks one row given as ``{field: cell}`` (the REST upsert)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property

from gst.gstin import LEGACY_STATE_CODES, STATE_CODES, validate_gstin
from gst.gstin import normalise as normalise_gstin
from gst.numbers import normalise_doc_number
from gst.periods import fy_start_year, india_today, month_start
from gst.register_checks import (
    GST_START,
    MAX_GST_RATE,
    SPLIT_TOLERANCE,
    Flag,
    SupplyType,
    amount_flags,
    date_flags,
    gstin_flags,
    gstin_readable,
    irn_flags,
    number_flags,
    parse_supply_type,
    tax_split_flags,
)

# field, template heading, required
COLUMNS: list[tuple[str, str, bool]] = [
    ("recipient_gstin", "Recipient GSTIN", False),  # required unless the upload names a default GSTIN
    ("supplier_gstin", "Supplier GSTIN", True),
    ("kind", "Document type", True),
    ("doc_number", "Document number", True),
    ("doc_date", "Document date", True),
    ("taxable", "Taxable value", True),
    ("igst", "IGST", False),
    ("cgst", "CGST", False),
    ("sgst", "SGST/UTGST", False),
    ("cess", "Cess", False),
    ("pos", "Place of supply", False),
    ("reverse_charge", "Reverse charge", False),
    ("erp_ref", "ERP reference", False),
    ("period_booked", "Period booked", False),
    ("itc_claimed", "ITC claimed", False),
    ("supply_type", "Supply type", False),
    ("irn", "IRN", False),
    ("posting_date", "Posting date", False),
    ("exempt_value", "Nil-rated/exempt/non-GST value", False),
    ("boe_number", "Bill of entry number", False),
    ("boe_date", "Bill of entry date", False),
    ("port_code", "Port code", False),
]
FIELDS = [c[0] for c in COLUMNS]
LABELS = {c[0]: c[1] for c in COLUMNS}
REQUIRED = {c[0] for c in COLUMNS if c[2]}
# Headings of common exports (Tally, SAP, Zoho Books, Busy, GSTR-2A/2B style), tried in this order after the
# template's own heading; specific headings before generic ones ("Supplier Invoice Date" before "Date").
_SYNONYMS = {
    "recipient_gstin": [
        "gstin",
        "company gstin",
        "our gstin",
        "buyer gstin",
        "recipient gstin/uin",
        "gstin of recipient",
        "company gstin/uin",
        "business place gstin",
        "plant gstin",
        "branch gstin",
        "own gstin",
        "our gst no",
        "company gst no",
        "location gstin",
    ],
    "supplier_gstin": [
        "gstin of supplier",
        "vendor gstin",
        "party gstin",
        "supplier gstin/uin",
        "party gstin/uin",
        "gstin/uin",
        "gstin/uin of supplier",
        "party gst no",
        "vendor gst no",
        "supplier gst no",
        "gst no",
        "vendor gstin/uin",
        "gst identification number gstin",
        "supplier gst number",
        "party gst number",
        "ctin",
    ],
    "kind": [
        "type",
        "doc type",
        "voucher type",
        "vch type",
        "note type",
        "document type",
        "transaction type",
        "bill type",
        "voucher type name",
    ],
    "doc_number": [
        "supplier invoice no",
        "supplier invoice number",
        "supplier inv no",
        "supplier bill no",
        "vendor invoice no",
        "vendor invoice number",
        "party invoice no",
        "party bill no",
        "party inv no",
        "invoice number",
        "bill no",
        "bill number",
        "invoice no",
        "inv no",
        "invoice/note no",
        "note number",
        "note no",
        "supplier invoice no/note no",
    ],
    "doc_date": [
        "supplier invoice date",
        "supplier inv date",
        "supplier bill date",
        "vendor invoice date",
        "party bill date",
        "party invoice date",
        "invoice date",
        "bill date",
        "inv date",
        "document date",
        "doc date",
        "invoice/note date",
        "note date",
        "date",
    ],
    "taxable": [
        "taxable amount",
        "taxable",
        "taxable value (rs)",
        "taxable amt",
        "taxable value rs",
        "assessable value",
        "tax base amount",
        "base amount",
        "assessable amount",
        "taxable val",
    ],
    "igst": [
        "integrated tax",
        "igst amt",
        "igst amount",
        "integrated tax amount",
        "integrated tax amt",
        "igst rs",
        "igst value",
        "integrated tax (rs)",
    ],
    "cgst": [
        "central tax",
        "cgst amt",
        "cgst amount",
        "central tax amount",
        "central tax amt",
        "cgst rs",
        "cgst value",
        "central tax (rs)",
    ],
    "sgst": [
        "state/ut tax",
        "sgst",
        "utgst",
        "state tax",
        "sgst amt",
        "sgst amount",
        "sgst/utgst amount",
        "sgst/utgst amt",
        "state tax amount",
        "state/ut tax amount",
        "state/ut tax amt",
        "sgst rs",
        "sgst value",
        "state/ut tax (rs)",
    ],
    "cess": ["cess amount", "cess amt", "cess", "compensation cess", "cess rs", "cess (rs)"],
    "pos": ["pos", "place of supply (state)", "state of supply", "place of supply name"],
    "reverse_charge": [
        "rcm",
        "reverse charge (y/n)",
        "reverse charge applicable",
        "is reverse charge",
        "rcm applicable",
        "reverse charge y/n",
    ],
    "erp_ref": [
        "voucher number",
        "voucher no",
        "vch no",
        "document id",
        "erp ref",
        "reference",
        "bill id",
        "entry no",
        "purchase invoice no",
        "internal reference",
        "transaction id",
    ],
    "period_booked": ["return period", "tax period", "booking period", "gstr 3b period", "claim period"],
    "itc_claimed": [
        "itc availed",
        "eligible for itc",
        "itc eligible",
        "itc availed (y/n)",
        "itc eligibility",
    ],
    "supply_type": [
        "invoice type",
        "gst treatment",
        "nature of supply",
        "type of supply",
        "gst type",
        "supply category",
        "invoice category",
    ],
    "irn": [
        "e-invoice irn",
        "irn no",
        "irn number",
        "invoice reference number",
        "einvoice irn",
        "e invoice irn",
    ],
    "posting_date": [
        "voucher date",
        "vch date",
        "gl date",
        "entry date",
        "booking date",
        "accounting date",
        "posting dt",
        "date",
    ],
    "exempt_value": [
        "nil rated/exempt/non gst value",
        "nil rated/exempted/non gst",
        "nil/exempt/non gst value",
        "nil rated/exempt/non gst amount",
        "exempt value",
        "exempted value",
        "exempt amount",
        "nil rated value",
        "nil rated amount",
        "non gst value",
        "non gst amount",
        "nil rated",
        "exempt",
        "non gst",
    ],
    "boe_number": ["bill of entry no", "bill of entry number", "boe no", "boe number", "bill of entry"],
    "boe_date": ["bill of entry date", "boe date", "boe dt"],
    "port_code": ["port", "port cd", "port code of entry"],
}
# Headings common in exports that hold nothing the register keeps (names, totals, rates, item details): not
# imported, and not a reason to ask the user about the mapping.
OTHER_HEADINGS = frozenset(
    {
        "particulars",
        "party name",
        "supplier name",
        "vendor name",
        "name of supplier",
        "legal name",
        "trade name",
        "trade/legal name",
        "gross total",
        "invoice value",
        "invoice amount",
        "bill amount",
        "total amount",
        "total tax",
        "total tax amount",
        "tax rate",
        "gst rate",
        "gst rate %",
        "rate %",
        "hsn/sac",
        "hsn code",
        "round off",
    }
)


def other_heading(heading: str) -> bool:
    return _key(heading) in OTHER_HEADINGS


# SAP's vendor line items name the supplier's number "Reference" and SAP's own one "Document Number": when a file
# has both with a "Posting Date", they are read that way round.
_SAP_SIGNATURE = ("reference", "document number", "posting date")
SAP_CHOSEN = "_sap_chosen"  # key of a remembered mapping: chosen by hand for a file of SAP's shape


def sap_shaped(headers: list[str]) -> bool:
    """Whether the headings are an SAP purchase export's (Reference, Document Number, Posting Date)."""
    keys = {_key(h) for h in headers if str(h or "").strip()}
    return all(k in keys for k in _SAP_SIGNATURE)


KINDS = {
    "invoice": "invoice",
    "inv": "invoice",
    "i": "invoice",
    "b2b": "invoice",
    "tax invoice": "invoice",
    "credit note": "credit_note",
    "credit_note": "credit_note",
    "cn": "credit_note",
    "c": "credit_note",
    "debit note": "debit_note",
    "debit_note": "debit_note",
    "dn": "debit_note",
    "d": "debit_note",
    "purchase": "invoice",
    "purchase invoice": "invoice",
    "bill": "invoice",
    "b2b invoice": "invoice",
    "invoice b2b": "invoice",
    "credit": "credit_note",
    "debit": "debit_note",
}
_MAX_MONEY = Decimal("9999999999999.99")
_CENT = Decimal("0.01")
_DATE_FORMATS = (
    "%d-%m-%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y-%m-%d",
    "%d-%b-%Y",
    "%d %b %Y",
    "%d-%B-%Y",
    "%d %B %Y",
    "%d-%m-%y",
    "%d/%m/%y",
    "%d.%m.%y",
    "%d-%b-%y",
    "%d %b %y",
)
_PERIOD_RE = re.compile(r"(0[1-9]|1[0-2])[-/]?(\d{4})")


def _key(text) -> str:
    return re.sub(r"[^a-z0-9/]+", " ", str(text or "").lower()).strip()


def guess_mapping(headers: list[str], remembered: dict[str, str] | None = None) -> dict[str, str]:
    """``{field: heading}`` for the file's ``headers``: the tenant's remembered heading first, then the template's
    heading, then common synonyms (case, spaces and punctuation ignored)."""
    by_key = {_key(h): h for h in headers if str(h or "").strip()}
    out: dict[str, str] = {}
    for name in FIELDS:
        tries = [
            *([remembered[name]] if remembered and remembered.get(name) else []),
            LABELS[name],
            name,
            *_SYNONYMS.get(name, []),
        ]
        for t in tries:
            if _key(t) in by_key and by_key[_key(t)] not in out.values():
                out[name] = by_key[_key(t)]
                break
    # An SAP export's "Document Number" is SAP's own document (the ERP reference) and "Reference" the supplier's
    # number. A remembered number column of this file outranks that only when it was chosen by hand for a file of
    # SAP's shape (SAP_CHOSEN), or is another column than "Document Number": the template's own heading "Document
    # number", a choice made for another export, or a heading this file lacks say nothing about SAP's columns.
    remembered = remembered or {}
    chosen = _key(remembered.get("doc_number") or "")
    kept = chosen in by_key and (chosen != "document number" or bool(remembered.get(SAP_CHOSEN)))
    if sap_shaped(headers) and not kept:
        out["doc_number"], out["erp_ref"] = by_key["reference"], by_key["document number"]
        if out.get("doc_date") == by_key["posting date"]:
            out.pop("doc_date")
        if "document date" in by_key:
            out["doc_date"] = by_key["document date"]
        out["posting_date"] = by_key["posting date"]
    return out


def missing_required(mapping: dict[str, str]) -> list[str]:
    return [LABELS[f] for f in FIELDS if f in REQUIRED and not mapping.get(f)]


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    value: str
    message: str


# The clean values of a row, in this order (the register table's columns; ``registration_id`` for the recipient).
CLEAN_COLUMNS = (
    "registration_id",
    "supplier_gstin",
    "kind",
    "doc_number",
    "number_norm",
    "doc_date",
    "fy",
    "taxable",
    "igst",
    "cgst",
    "sgst",
    "cess",
    "pos",
    "reverse_charge",
    "erp_ref",
    "period_booked",
    "itc_claimed",
    "supply_type",
    "irn",
    "posting_date",
    "exempt_value",
    "boe_number",
    "boe_date",
    "port_code",
    "source_file",
    "flags",
)
ERP_REF_INDEX = CLEAN_COLUMNS.index("erp_ref")
MAX_NUMBER_LENGTH = 64  # longer is not a document number at all (refused); over 16 is flagged
MAX_SOURCE_KEY = 80  # of the file name in the identity of a line without an ERP reference
_ZERO = Decimal("0.00")
_RUPEE = Decimal("1")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_SERIALS = (42_917, 73_051)  # 01-07-2017 … 31-12-2099 as Excel day numbers
_DOC_NUMBER_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9/-]{0,15}").fullmatch
_IRN_OK = re.compile(r"[0-9a-fA-F]{64}|").fullmatch
_PLAIN_SUPPLIES = frozenset({SupplyType.REGULAR, SupplyType.REVERSE_CHARGE})
_POS_CODE = re.compile(r"\s*(\d{1,2})(?:\s*[-–:.)]\s*.*|\s+.*)?").fullmatch
_STATE_BY_NAME = {
    **{
        re.sub(r"[^a-z]+", " ", n.lower()).strip(): c
        for c, n in {**LEGACY_STATE_CODES, **STATE_CODES}.items()
    },
    "orissa": "21",
    "pondicherry": "34",
    "uttaranchal": "05",
    "andaman and nicobar": "35",
    "dadra and nagar haveli": "26",
    "daman and diu": "26",
    "jammu kashmir": "01",
    "new delhi": "07",
    "other countries": "96",
}
_POS_CODES = frozenset(STATE_CODES) | {"96", "97", "99"}
_CACHE_LIMIT = 100_000
_FAILED = None  # the value of a failed check
_HEADS = ("igst", "cgst", "sgst", "cess")


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _blank(v) -> bool:
    return v is None or (type(v) is str and not v.strip())


def parse_money(v) -> Decimal:
    """An amount as Decimal rounded half-up to the paisa: numbers, "1,23,456.78" (any grouping), "₹ 1,234",
    "Rs. 1234", "(1,234.00)" negative. ValueError naming the problem otherwise."""
    kind = type(v)
    if v is None:
        return _ZERO
    if kind is float or kind is int:
        d = Decimal(repr(v)) if kind is float else Decimal(v)
    elif kind is Decimal:
        d = v
    elif kind is bool:
        raise ValueError("must be an amount, e.g. 1234.50")
    else:
        text = str(v).strip()
        if not text:
            return _ZERO
        if "," in text:
            text = text.replace(",", "")
        if not (text[0].isdigit() or text[0] == "-"):
            text = text.replace("₹", "").replace("Rs.", "").replace("INR", "").strip()
            if text.startswith("(") and text.endswith(")"):
                text = "-" + text[1:-1].strip()
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError("must be an amount, e.g. 1,23,456.50") from None
    if not d.is_finite():
        raise ValueError("must be an amount, e.g. 1,23,456.50")
    if abs(d) > _MAX_MONEY:
        raise ValueError("is too large")
    return d.quantize(_CENT, ROUND_HALF_UP)


def _money(v) -> Decimal:
    """:func:`parse_money` for the common cells (numbers, plain or comma-grouped text); raises otherwise."""
    kind = type(v)
    if kind is float:
        d = Decimal(repr(v))
    elif kind is str:
        if "," in v:
            v = v.replace(",", "")
        d = Decimal(v) if v else _ZERO
    elif v is None:
        return _ZERO
    elif kind is int or kind is Decimal:
        d = Decimal(v)
    else:
        raise ValueError(v)
    if not d.is_finite() or abs(d) > _MAX_MONEY:
        raise ValueError(v)
    return d.quantize(_CENT, ROUND_HALF_UP)


def parse_date(v) -> dt.date:
    """A date cell, an Excel day number (a date cell that lost its format) or text DD-MM-YYYY, DD/MM/YYYY,
    DD.MM.YYYY, YYYY-MM-DD, DD-Mon-YYYY (and two-digit years)."""
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if type(v) in (int, float) and _EXCEL_SERIALS[0] <= v <= _EXCEL_SERIALS[1] and float(v).is_integer():
        return _EXCEL_EPOCH + dt.timedelta(days=int(v))
    text = _text(v)
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time of day
        except ValueError:
            continue
    shaped = _DATE_SHAPE(text)
    if shaped:  # written as a date, but no such day (31-02-2026, 32.10.2026)
        what = "no such month" if not 1 <= int(shaped[2]) <= 12 else "no such day in that month"
        raise ValueError(f"is not a date: {what} (dates are DD-MM-YYYY, e.g. 05-10-2025)")
    raise ValueError("must be a date DD-MM-YYYY, e.g. 05-10-2025")


# Day, month and year as digits with one separator: the shape of a date whatever the day and month say.
_DATE_SHAPE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})").fullmatch


def parse_pos(v) -> str:
    """A place of supply as its two-digit state code: 27, "27", "27-Maharashtra", "Maharashtra" → "27";
    blank → ""."""
    text = _text(v)
    if not text:
        return ""
    m = _POS_CODE(text)
    code = (
        m[1].zfill(2)
        if m
        else _STATE_BY_NAME.get(re.sub(r"[^a-z]+", " ", text.lower().replace("&", " and ")).strip(), "")
    )
    if code not in _POS_CODES:
        raise ValueError("must be a state code or name, e.g. 27 or 27-Maharashtra")
    return code


def _flag(v, default: bool) -> bool:
    text = _text(v).lower()
    if not text:
        return default
    if text in ("y", "yes", "true", "1"):
        return True
    if text in ("n", "no", "false", "0"):
        return False
    raise ValueError("must be Y or N")


def _period(v) -> dt.date:
    text = _text(v)
    m = _PERIOD_RE.fullmatch(text.zfill(6) if text.isdigit() else text)
    if m:
        return dt.date(int(m[2]), int(m[1]), 1)
    try:
        return month_start(parse_date(v))
    except ValueError:
        raise ValueError("must be a period MMYYYY (e.g. 102025) or a date") from None


def _memo(cache: dict, key, fn):
    """(value, None) or (None, message) of ``fn(key)``, remembered per distinct cell value."""
    try:
        return cache[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable cell: check it without remembering
        try:
            return fn(key), None
        except ValueError as e:
            return _FAILED, str(e)
    try:
        out = (fn(key), None)
    except ValueError as e:
        out = (_FAILED, str(e))
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[(key)] = out
    return out


def _gstin(v) -> tuple[str, tuple[Flag, ...]]:
    """A supplier GSTIN that can be read (15 characters of the GSTIN alphabet) and the GST checks it fails."""
    text = normalise_gstin(_text(v))
    problem = gstin_readable(text)
    if problem:
        raise ValueError(problem)
    return text, tuple(gstin_flags(text))


def _kind(v) -> str:
    kind = KINDS.get(_key(v))
    if kind is None:
        raise ValueError("must be Invoice, Credit note or Debit note")
    return kind


def _number(v) -> str:
    text = v.strip() if type(v) is str else _text(v)
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError(f"has {len(text)} characters: not a document number (at most {MAX_NUMBER_LENGTH})")
    if any(ord(ch) < 32 for ch in text):
        raise ValueError("holds a line break or a control character")
    return text


def _short_text(v, limit: int, what: str) -> str:
    text = v.strip() if type(v) is str else _text(v)
    if len(text) > limit or any(ord(ch) < 32 for ch in text):
        raise ValueError(f"is not {what} (at most {limit} characters on one line)")
    return text


def source_key(file_name: str) -> str:
    """The identity of a register file in the references of its lines without an ERP reference: its name (lower
    case, at most 80 characters; a longer name is cut and keeps a digest of the whole)."""
    name = " ".join((file_name or "register").split()).lower()
    if len(name) > MAX_SOURCE_KEY:
        name = f"{name[: MAX_SOURCE_KEY - 9]}~{hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]}"  # a digest keeping cut names apart, not security
    return name


def flags_json(flags: dict[str, str]) -> str:
    return json.dumps(flags, ensure_ascii=False, sort_keys=True) if flags else "{}"


class RowChecker:
    """Checks the rows of one file for the GSTINs in ``recipients`` (GSTIN → registration id the importer may
    write to). :meth:`check` takes a row's cells in :data:`FIELDS` order and gives the clean values in
    :data:`CLEAN_COLUMNS` order (``flags``: {code: message} of the GST rules the line breaks, as JSON text), or
    None and every problem that keeps the row from being read.

    ``default_recipient``: the GSTIN of rows whose recipient cell is blank (chosen on the upload page; the only
    GSTIN of a one-GSTIN organisation). ``source``: the file's name; a row without an ERP reference gets
    ``<source key>#<row>`` as its reference (stable when the same file is imported again) and the file in
    ``source_file``. Without a source such a row's reference is built from its key (the REST upsert).
    ``labels``: {field: the file's heading}, named in every message (default: the template's headings)."""

    def __init__(
        self,
        recipients: dict[str, int],
        *,
        today: dt.date | None = None,
        default_recipient: str = "",
        source: str = "",
        labels: dict[str, str] | None = None,
    ):
        self.recipients = recipients
        self.latest = (today or india_today()) + dt.timedelta(days=1)  # a day's grace for time zones
        self.source = source_key(source) if source else ""
        self.labels = {**LABELS, **(labels or {})}
        self._recipient: dict = {}
        if default_recipient:
            default = normalise_gstin(default_recipient)
            if default not in recipients:
                raise ValueError(f"{default_recipient!r} is not one of your GSTINs")
            for blank in (None, ""):
                self._recipient[blank] = ((recipients[default], default), None)
        self.default_recipient = default_recipient
        self._supplier: dict = {}
        self._kind: dict = {}
        self._date: dict = {}
        self._posting: dict = {}
        self._pos: dict = {}
        self._period: dict = {}
        self._flags: dict = {}
        self._supply: dict = {}

    def _recipient_id(self, v) -> tuple[int, str]:
        if _blank(v):
            raise ValueError(
                "is required: the file gives none on this row and no default GSTIN was chosen for the upload"
            )
        gstin = _text(v).upper().replace(" ", "")
        if gstin not in self.recipients:
            problem = validate_gstin(gstin)
            raise ValueError(
                problem.message
                if not problem.valid
                else "is not one of your GSTINs (or you may not import for it)"
            )
        return self.recipients[gstin], gstin

    @staticmethod
    def _date_checked(v) -> tuple[dt.date, int, dt.date]:
        day = parse_date(v)
        return day, fy_start_year(day), month_start(day)

    def check(self, cells, row: int) -> tuple[tuple | None, list[RowError]]:
        """The clean values of a row (``CLEAN_COLUMNS`` order) and no errors, or None and every problem.

        The common row — every repeating value seen before and valid, amounts that parse, no GST rule broken, no
        bill-of-entry columns — takes a fast path of dictionary look-ups; anything else goes through
        :meth:`_check_all`, which names each problem and each flag (and remembers the values it checked). Both
        apply the same rules."""
        (
            recipient,
            supplier,
            kind_cell,
            number_cell,
            date_cell,
            taxable_cell,
            igst_cell,
            cgst_cell,
            sgst_cell,
            cess_cell,
            pos_cell,
            rc_cell,
            ref_cell,
            period_cell,
            itc_cell,
            supply_cell,
            irn_cell,
            posting_cell,
            exempt_cell,
            boe_number_cell,
            boe_date_cell,
            port_cell,
        ) = cells
        try:
            (registration_id, recipient_gstin), e1 = self._recipient[recipient]
            (supplier_gstin, gstin_problems), e2 = self._supplier[supplier]
            kind, e3 = self._kind[kind_cell]
            (day, fy, month), e4 = self._date[date_cell]
            pos, e5 = self._pos[pos_cell]
            rc, e6 = self._flags[(rc_cell, False)]
            itc, e7 = self._flags[(itc_cell, True)]
            period, e8 = (
                (None, None) if period_cell is None or period_cell == "" else self._period[period_cell]
            )
            supply, e9 = self._supply[supply_cell]
            posting, e10 = (
                (None, None) if posting_cell is None or posting_cell == "" else self._posting[posting_cell]
            )
            taxable, igst, cgst, sgst, cess, exempt = (
                _money(taxable_cell),
                _money(igst_cell),
                _money(cgst_cell),
                _money(sgst_cell),
                _money(cess_cell),
                _money(exempt_cell),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return self._check_all(cells, row)
        if (
            e1
            or e2
            or e3
            or e4
            or e5
            or e6
            or e7
            or e8
            or e9
            or e10
            or gstin_problems
            or type(number_cell) is not str
            or supply not in _PLAIN_SUPPLIES
            or not (boe_number_cell is None or boe_number_cell == "")
            or not (boe_date_cell is None or boe_date_cell == "")
            or not (port_cell is None or port_cell == "")
        ):
            return self._check_all(cells, row)
        number = number_cell.strip()
        if ref_cell is None:
            ref = ""
        elif type(ref_cell) is str:
            ref = ref_cell.strip()
        else:
            return self._check_all(cells, row)
        if irn_cell is None:
            irn = ""
        elif type(irn_cell) is str and _IRN_OK(irn := irn_cell.strip()):
            pass
        else:
            return self._check_all(cells, row)
        state, place = supplier_gstin[:2], pos or recipient_gstin[:2]
        if (
            not _DOC_NUMBER_OK(number)
            or len(ref) > 100
            or day < GST_START
            or day > self.latest
            or (period is not None and period < month)
            or (posting is not None and posting < day)
            or (kind == "invoice" and (taxable < 0 or igst < 0 or cgst < 0 or sgst < 0 or cess < 0))
            or ((igst or abs(cgst - sgst) > SPLIT_TOLERANCE) if state == place else (cgst or sgst))
            or abs(igst + cgst + sgst) > abs(taxable) * MAX_GST_RATE + _RUPEE
        ):
            return self._check_all(cells, row)
        norm = normalise_doc_number(number, fy)
        if supply == SupplyType.REVERSE_CHARGE:
            rc = True
        source = "" if ref else self.source
        return (
            registration_id,
            supplier_gstin,
            kind,
            number,
            norm,
            day,
            fy,
            taxable,
            igst,
            cgst,
            sgst,
            cess,
            pos,
            rc,
            ref or self._ref(row, recipient_gstin, supplier_gstin, kind, norm, fy),
            period or month,
            itc,
            supply,
            irn,
            posting,
            exempt,
            "",
            None,
            "",
            source,
            "{}",
        ), []

    def flags_of(self, clean: dict) -> str:
        """The flags (JSON text, as :meth:`check` gives them) of a line from its clean values (``CLEAN_COLUMNS`` as
        keys): for a line whose amounts were added up from several rows of one bill."""
        gstin_of = {v: k for k, v in self.recipients.items()}
        supplier, recipient = clean["supplier_gstin"], gstin_of.get(clean["registration_id"], "")
        amounts = [clean[h] for h in ("taxable", "igst", "cgst", "sgst", "cess")]
        found = [
            *(gstin_flags(supplier) if supplier else ()),
            *number_flags(clean["doc_number"]),
            *date_flags(
                clean["doc_date"],
                latest=self.latest,
                period=clean["period_booked"],
                posting=clean["posting_date"],
            ),
            *amount_flags(clean["kind"], *amounts),
            *tax_split_flags(clean["supply_type"], supplier[:2], clean["pos"] or recipient[:2], *amounts[:4]),
            *irn_flags(clean["irn"]),
        ]
        return flags_json({f.code: f"{self.labels[f.field]} {f.message}" for f in reversed(found)})

    @cached_property
    def _headings_longest_first(self) -> list[tuple[str, str]]:
        """(field, heading), a heading before any shorter one it begins with ("IGST Amt" before "IGST")."""
        return sorted(self.labels.items(), key=lambda item: -len(item[1]))

    def flag_cells(self, flags: str, cells: list | None = None) -> list[tuple[str, str, str]]:
        """(column heading, the cell as typed, message) of each flag of a line (``flags``: the JSON text
        :meth:`check` gives; ``cells``: the row's cells in :data:`FIELDS` order, when at hand). The column is the
        one whose heading the message begins with (:meth:`check` writes each message after its column's heading)."""
        headings = self._headings_longest_first
        out = []
        for message in json.loads(flags).values():
            field = next((f for f, heading in headings if message.startswith(f"{heading} ")), None)
            if field is None:
                out.append(("", "", message))
                continue
            value = _text(cells[FIELDS.index(field)])[:100] if cells is not None else ""
            out.append((self.labels[field], value, message))
        return out

    def _ref(self, row: int, recipient: str, supplier: str, kind: str, norm: str, fy: int) -> str:
        """The reference of a line the file gives none: its file and row, or (no file) its key."""
        if self.source:
            return f"{self.source}#{row}"
        return f"{recipient}/{supplier}/{kind}/{norm}/{fy}"

    def _check_all(self, cells, row: int) -> tuple[tuple | None, list[RowError]]:
        (
            recipient,
            supplier,
            kind_cell,
            number_cell,
            date_cell,
            taxable_cell,
            igst_cell,
            cgst_cell,
            sgst_cell,
            cess_cell,
            pos_cell,
            rc_cell,
            ref_cell,
            period_cell,
            itc_cell,
            supply_cell,
            irn_cell,
            posting_cell,
            exempt_cell,
            boe_number_cell,
            boe_date_cell,
            port_cell,
        ) = cells
        errors: list[RowError] = []
        labels = self.labels

        def err(name: str, value, message: str) -> None:
            errors.append(RowError(row, labels[name], _text(value)[:100], message))

        supply, message = _memo(self._supply, supply_cell, parse_supply_type)
        if message:
            err("supply_type", supply_cell, message)
        imported = supply == SupplyType.IMPORT_OF_GOODS
        # An import of goods is booked against its bill of entry: no supplier GSTIN, the bill's number and date.
        if imported:
            if _blank(number_cell):
                number_cell = boe_number_cell
            if _blank(date_cell):
                date_cell = boe_date_cell
            if _blank(kind_cell):
                kind_cell = "invoice"
        for name, value in (
            ("supplier_gstin", supplier),
            ("kind", kind_cell),
            ("doc_number", number_cell),
            ("doc_date", date_cell),
            ("taxable", taxable_cell),
        ):
            if _blank(value) and not (imported and name == "supplier_gstin"):
                err(name, value, "is required")
        if errors:
            return None, errors
        checked, message = _memo(self._recipient, recipient, self._recipient_id)
        registration_id, recipient_gstin = checked or (None, "")
        if message:
            err("recipient_gstin", recipient, message)
        supplier_gstin, gstin_problems = "", ()
        if not _blank(supplier):
            checked, message = _memo(self._supplier, supplier, _gstin)
            if message:
                err("supplier_gstin", supplier, message)
            else:
                supplier_gstin, gstin_problems = checked
        kind, message = _memo(self._kind, kind_cell, _kind)
        if message:
            err("kind", kind_cell, message)
        try:
            number = _number(number_cell)
        except ValueError as e:
            err("doc_number", number_cell, str(e))
            number = ""
        dated, message = _memo(self._date, date_cell, self._date_checked)
        if message:
            err("doc_date", date_cell, message)
        amounts = []
        for name, value in (
            ("taxable", taxable_cell),
            ("igst", igst_cell),
            ("cgst", cgst_cell),
            ("sgst", sgst_cell),
            ("cess", cess_cell),
            ("exempt_value", exempt_cell),
        ):
            try:
                amounts.append(parse_money(value))
            except ValueError as e:
                err(name, value, str(e))
                amounts.append(None)
        pos, message = _memo(self._pos, pos_cell, parse_pos)
        if message:
            err("pos", pos_cell, message)
        flags = []
        for name, value, default in (("reverse_charge", rc_cell, False), ("itc_claimed", itc_cell, True)):
            flag, message = _memo(self._flags, (value, default), lambda key: _flag(*key))
            if message:
                err(name, value, message)
            flags.append(flag)
        period = None
        if not _blank(period_cell):
            period, message = _memo(self._period, period_cell, _period)
            if message:
                err("period_booked", period_cell, message)
        posting = boe_date = None
        if not _blank(posting_cell):
            posting, message = _memo(self._posting, posting_cell, parse_date)
            if message:
                err("posting_date", posting_cell, message)
        if not _blank(boe_date_cell):
            boe_date, message = _memo(self._posting, boe_date_cell, parse_date)
            if message:
                err("boe_date", boe_date_cell, message)
        texts = {}
        for name, value, limit, what in (
            ("erp_ref", ref_cell, 100, "a reference"),
            ("irn", irn_cell, 64, "an IRN"),
            ("boe_number", boe_number_cell, 20, "a bill-of-entry number"),
            ("port_code", port_cell, 10, "a port code"),
        ):
            try:
                texts[name] = _short_text(value, limit, what)
            except ValueError as e:
                err(name, value, str(e))
        if errors:
            return None, errors
        day, fy, month = dated
        taxable, igst, cgst, sgst, cess, exempt = amounts
        found = [
            *(gstin_problems if supplier_gstin else ()),
            *number_flags(number),
            *date_flags(day, latest=self.latest, period=period, posting=posting),
            *amount_flags(kind, taxable, igst, cgst, sgst, cess),
            *tax_split_flags(
                supply, supplier_gstin[:2], pos or recipient_gstin[:2], taxable, igst, cgst, sgst
            ),
            *irn_flags(texts["irn"]),
        ]
        problems = {f.code: f"{labels[f.field]} {f.message}" for f in reversed(found)}
        norm = normalise_doc_number(number, fy)
        ref = texts["erp_ref"]
        return (
            registration_id,
            supplier_gstin,
            kind,
            number,
            norm,
            day,
            fy,
            taxable,
            igst,
            cgst,
            sgst,
            cess,
            pos,
            flags[0] or supply == SupplyType.REVERSE_CHARGE,
            ref or self._ref(row, recipient_gstin, supplier_gstin, kind, norm, fy),
            period or month,
            flags[1],
            supply,
            texts["irn"],
            posting,
            exempt,
            texts["boe_number"],
            boe_date,
            texts["port_code"],
            "" if ref else self.source,
            flags_json(problems),
        ), errors


def parse_row(
    raw: dict,
    row: int,
    recipients: dict[str, int],
    *,
    today: dt.date | None = None,
    default_recipient: str = "",
) -> tuple[dict | None, list[RowError]]:
    """Validate one register row (``{field: cell}``). Returns the clean values (``CLEAN_COLUMNS`` as keys) or None
    and every problem found. ``recipients``: GSTIN → registration id of the GSTINs the importer may write to."""
    checker = RowChecker(recipients, today=today, default_recipient=default_recipient)
    clean, errors = checker.check([raw.get(f) for f in FIELDS], row)
    return (dict(zip(CLEAN_COLUMNS, clean, strict=True)) if clean else None), errors

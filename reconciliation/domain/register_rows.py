"""Purchase-register rows: the template's columns, header mapping and the validation of every row of a file.
Pure module: no ORM.

:class:`RowChecker` validates rows one by one (GSTINs with the failed check named, dates, amounts as Decimal,
document type and number, place of supply and the tax split it implies, flags, period) and memoises the checks of
values that repeat down a register (GSTINs, dates, types, states, periods), so a 200,000-row file is checked in a
few seconds. :func:`parse_row` checks one row given as ``{field: cell}`` (the REST upsert)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from gst.gstin import LEGACY_STATE_CODES, STATE_CODES, validate_gstin
from gst.numbers import is_valid_doc_number, normalise_doc_number
from gst.periods import fy_start_year, india_today, month_start

# field, template heading, required
COLUMNS: list[tuple[str, str, bool]] = [
    ("recipient_gstin", "Recipient GSTIN", True),
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
]
FIELDS = [c[0] for c in COLUMNS]
LABELS = {c[0]: c[1] for c in COLUMNS}
REQUIRED = {c[0] for c in COLUMNS if c[2]}
_SYNONYMS = {
    "recipient_gstin": ["gstin", "company gstin", "our gstin", "buyer gstin"],
    "supplier_gstin": ["gstin of supplier", "vendor gstin", "party gstin", "supplier gstin/uin"],
    "kind": ["type", "doc type", "invoice type", "voucher type"],
    "doc_number": ["invoice number", "bill no", "bill number", "invoice no", "supplier invoice no"],
    "doc_date": ["invoice date", "bill date", "date", "document date", "doc date", "supplier invoice date"],
    "taxable": ["taxable amount", "taxable", "taxable value (rs)", "assessable value"],
    "igst": ["integrated tax"],
    "cgst": ["central tax"],
    "sgst": ["state/ut tax", "sgst", "utgst", "state tax"],
    "cess": ["cess amount"],
    "pos": ["pos"],
    "reverse_charge": ["rcm", "reverse charge (y/n)"],
    "erp_ref": ["voucher number", "voucher no", "document id", "erp ref", "reference"],
    "period_booked": ["return period", "tax period", "booking period"],
    "itc_claimed": ["itc availed", "eligible for itc", "itc eligible"],
}
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
)
ERP_REF_INDEX = CLEAN_COLUMNS.index("erp_ref")
GST_START = dt.date(2017, 7, 1)
MAX_GST_RATE = Decimal("0.40")  # the highest GST rate (IGST, or CGST + SGST); cess is apart
SPLIT_TOLERANCE = Decimal("0.01")  # CGST and SGST may differ by a paisa of rounding
_ZERO = Decimal("0.00")
_RUPEE = Decimal("1")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_SERIALS = (42_917, 73_051)  # 01-07-2017 … 31-12-2099 as Excel day numbers
_DOC_NUMBER_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9/-]{0,15}").fullmatch
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
    elif kind is int:
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
    raise ValueError("must be a date DD-MM-YYYY, e.g. 05-10-2025")


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


def _gstin(v) -> str:
    check = validate_gstin(_text(v))
    if not check.valid:
        raise ValueError(check.message)
    return check.value


def _kind(v) -> str:
    kind = KINDS.get(_key(v))
    if kind is None:
        raise ValueError("must be Invoice, Credit note or Debit note")
    return kind


class RowChecker:
    """Checks the rows of one file for the GSTINs in ``recipients`` (GSTIN → registration id the importer may
    write to). :meth:`check` takes a row's cells in :data:`FIELDS` order and gives the clean values in
    :data:`CLEAN_COLUMNS` order, or None and every problem found."""

    def __init__(self, recipients: dict[str, int], *, today: dt.date | None = None):
        self.recipients = recipients
        self.latest = (today or india_today()) + dt.timedelta(days=1)  # a day's grace for time zones
        self._recipient: dict = {}
        self._supplier: dict = {}
        self._kind: dict = {}
        self._date: dict = {}
        self._pos: dict = {}
        self._period: dict = {}
        self._flags: dict = {}

    def _recipient_id(self, v) -> tuple[int, str]:
        gstin = _text(v).upper().replace(" ", "")
        if gstin not in self.recipients:
            problem = validate_gstin(gstin)
            raise ValueError(
                problem.message
                if not problem.valid
                else "is not one of your GSTINs (or you may not import for it)"
            )
        return self.recipients[gstin], gstin

    def _date_checked(self, v) -> tuple[dt.date, int, dt.date]:
        day = parse_date(v)
        if day < GST_START:
            raise ValueError("is before GST began (01-07-2017)")
        if day > self.latest:
            raise ValueError("is in the future")
        return day, fy_start_year(day), month_start(day)

    def check(self, cells, row: int) -> tuple[tuple | None, list[RowError]]:
        """The clean values of a row (``CLEAN_COLUMNS`` order) and no errors, or None and every problem.

        The common row — every repeating value seen before and valid, amounts that parse — takes a fast path of
        dictionary look-ups; anything else goes through :meth:`_check_all`, which names each problem (and
        remembers the values it checked). Both apply the same rules."""
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
        ) = cells
        try:
            (registration_id, recipient_gstin), e1 = self._recipient[recipient]
            supplier_gstin, e2 = self._supplier[supplier]
            kind, e3 = self._kind[kind_cell]
            (day, fy, month), e4 = self._date[date_cell]
            pos, e5 = self._pos[pos_cell]
            rc, e6 = self._flags[(rc_cell, False)]
            itc, e7 = self._flags[(itc_cell, True)]
            period, e8 = (
                (None, None) if period_cell is None or period_cell == "" else self._period[period_cell]
            )
            taxable, igst, cgst, sgst, cess = (
                _money(taxable_cell),
                _money(igst_cell),
                _money(cgst_cell),
                _money(sgst_cell),
                _money(cess_cell),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return self._check_all(cells, row)
        if e1 or e2 or e3 or e4 or e5 or e6 or e7 or e8 or type(number_cell) is not str:
            return self._check_all(cells, row)
        number = number_cell.strip()
        if ref_cell is None:
            ref = ""
        elif type(ref_cell) is str:
            ref = ref_cell.strip()
        else:
            return self._check_all(cells, row)
        state, place = supplier_gstin[:2], pos or recipient_gstin[:2]
        if (
            not _DOC_NUMBER_OK(number)
            or len(ref) > 100
            or (period is not None and period < month)
            or (kind == "invoice" and (taxable < 0 or igst < 0 or cgst < 0 or sgst < 0 or cess < 0))
            or ((igst or abs(cgst - sgst) > SPLIT_TOLERANCE) if state == place else (cgst or sgst))
            or abs(igst + cgst + sgst) > abs(taxable) * MAX_GST_RATE + _RUPEE
        ):
            return self._check_all(cells, row)
        norm = normalise_doc_number(number, fy)
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
            ref or f"{recipient_gstin}/{supplier_gstin}/{kind}/{norm}/{fy}",
            period or month,
            itc,
        ), []

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
        ) = cells
        errors: list[RowError] = []

        def err(name: str, value, message: str) -> None:
            errors.append(RowError(row, LABELS[name], _text(value)[:100], message))

        for name, value in (
            ("recipient_gstin", recipient),
            ("supplier_gstin", supplier),
            ("kind", kind_cell),
            ("doc_number", number_cell),
            ("doc_date", date_cell),
            ("taxable", taxable_cell),
        ):
            if _blank(value):
                err(name, value, "is required")
        if errors:
            return None, errors
        checked, message = _memo(self._recipient, recipient, self._recipient_id)
        registration_id, recipient_gstin = checked or (None, "")
        if message:
            err("recipient_gstin", recipient, message)
        supplier_gstin, message = _memo(self._supplier, supplier, _gstin)
        if message:
            err("supplier_gstin", supplier, message)
        kind, message = _memo(self._kind, kind_cell, _kind)
        if message:
            err("kind", kind_cell, message)
        number = number_cell.strip() if type(number_cell) is str else _text(number_cell)
        if not _DOC_NUMBER_OK(number):
            err("doc_number", number_cell, is_valid_doc_number(number).message or "is not a document number")
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
        ref = ref_cell.strip() if type(ref_cell) is str else _text(ref_cell)
        if len(ref) > 100:
            err("erp_ref", ref_cell, "may have at most 100 characters")
        if errors:
            return None, errors
        day, fy, month = dated
        taxable, igst, cgst, sgst, cess = amounts
        if kind == "invoice" and (taxable < 0 or igst < 0 or cgst < 0 or sgst < 0 or cess < 0):
            err("taxable", taxable_cell, "an invoice's amounts may not be negative")
        self._check_split(err, supplier_gstin, recipient_gstin, pos, amounts, cells)
        if period is None:
            period = month
        elif period < month:
            err("period_booked", period_cell, "is before the month of the document date")
        if errors:
            return None, errors
        norm = normalise_doc_number(number, fy)
        if not ref:
            ref = f"{recipient_gstin}/{supplier_gstin}/{kind}/{norm}/{fy}"
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
            flags[0],
            ref,
            period,
            flags[1],
        ), errors

    @staticmethod
    def _check_split(err, supplier_gstin: str, recipient_gstin: str, pos: str, amounts, cells) -> None:
        """Within a state (the supplier's state is the place of supply — the recipient's state when the file
        gives none) tax is CGST + SGST in equal halves and no IGST; across states it is IGST only. The heads
        together may not exceed the highest GST rate of the taxable value."""
        taxable, igst, cgst, sgst, _cess = amounts
        supplier_state, place = supplier_gstin[:2], pos or recipient_gstin[:2]
        where = f"supplier's state {supplier_state}, place of supply {place}"
        if supplier_state == place:
            if igst:
                err("igst", cells[6], f"must be 0 within a state ({where}): charge CGST and SGST")
            if abs(cgst - sgst) > SPLIT_TOLERANCE:
                err("sgst", cells[8], f"must equal CGST ({cgst}) within a state ({where})")
        elif cgst or sgst:
            err(
                "cgst" if cgst else "sgst",
                cells[7] if cgst else cells[8],
                f"CGST and SGST apply only within a state ({where}): charge IGST",
            )
        tax = abs(igst + cgst + sgst)
        if tax > abs(taxable) * MAX_GST_RATE + _RUPEE:
            share = (
                f"{tax * 100 / abs(taxable):.0f} % of the taxable value" if taxable else "charged on nothing"
            )
            err(
                "taxable",
                cells[5],
                f"IGST + CGST + SGST is {share}; GST is at most 40 %: are the columns right?",
            )


def parse_row(
    raw: dict,
    row: int,
    recipients: dict[str, int],
    *,
    today: dt.date | None = None,
) -> tuple[dict | None, list[RowError]]:
    """Validate one register row (``{field: cell}``). Returns the clean values (``CLEAN_COLUMNS`` as keys) or None
    and every problem found. ``recipients``: GSTIN → registration id of the GSTINs the importer may write to."""
    clean, errors = RowChecker(recipients, today=today).check([raw.get(f) for f in FIELDS], row)
    return (dict(zip(CLEAN_COLUMNS, clean, strict=True)) if clean else None), errors

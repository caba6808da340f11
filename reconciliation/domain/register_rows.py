"""Purchase-register rows: the template's columns, header mapping and the validation of one row.
Pure module: no ORM."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from invoices.domain.gstin import STATE_CODES, validate_gstin
from invoices.domain.numbers import is_valid_doc_number, normalise_doc_number
from invoices.domain.periods import fy_start_year, month_start

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
    "doc_date": ["invoice date", "bill date", "date"],
    "taxable": ["taxable amount", "taxable"],
    "igst": ["integrated tax"],
    "cgst": ["central tax"],
    "sgst": ["state/ut tax", "sgst", "utgst", "state tax"],
    "pos": ["pos"],
    "reverse_charge": ["rcm", "reverse charge (y/n)"],
    "erp_ref": ["voucher number", "voucher no", "document id", "erp ref", "reference"],
    "itc_claimed": ["itc availed", "eligible for itc"],
}
KINDS = {
    "invoice": "invoice", "inv": "invoice", "i": "invoice", "b2b": "invoice", "tax invoice": "invoice",
    "credit note": "credit_note", "credit_note": "credit_note", "cn": "credit_note", "c": "credit_note",
    "debit note": "debit_note", "debit_note": "debit_note", "dn": "debit_note", "d": "debit_note",
}
_MAX_MONEY = Decimal("9999999999999.99")
_CENT = Decimal("0.01")
_DATE_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d", "%d-%b-%Y", "%d %b %Y")
_PERIOD_RE = re.compile(r"(0[1-9]|1[0-2])[-/]?(\d{4})")


def _key(text) -> str:
    return re.sub(r"[^a-z0-9/]+", " ", str(text or "").lower()).strip()


def guess_mapping(headers: list[str], remembered: dict[str, str] | None = None) -> dict[str, str]:
    """``{field: heading}`` for the file's ``headers``: the tenant's remembered heading first, then the template's
    heading, then common synonyms (case, spaces and punctuation ignored)."""
    by_key = {_key(h): h for h in headers if str(h or "").strip()}
    out: dict[str, str] = {}
    for name in FIELDS:
        tries = [*([remembered[name]] if remembered and remembered.get(name) else []), LABELS[name], name,
                 *_SYNONYMS.get(name, [])]
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


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def parse_money(v) -> Decimal:
    if v is None or v == "":
        return Decimal("0.00")
    if isinstance(v, bool):
        raise ValueError("must be an amount")
    if isinstance(v, int | float):
        d = Decimal(repr(v))
    else:
        text = str(v).strip().replace(",", "").replace("₹", "").replace("Rs.", "").strip()
        if text.startswith("(") and text.endswith(")"):
            text = "-" + text[1:-1]
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError("must be an amount, e.g. 1234.50") from None
    if not d.is_finite():
        raise ValueError("must be an amount, e.g. 1234.50")
    d = d.quantize(_CENT)
    if abs(d) > _MAX_MONEY:
        raise ValueError("is too large")
    return d


def parse_date(v) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    text = _text(v)
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("must be a date DD-MM-YYYY, e.g. 05-10-2025")


def _flag(v, default: bool) -> bool:
    text = _text(v).lower()
    if not text:
        return default
    if text in ("y", "yes", "true", "1"):
        return True
    if text in ("n", "no", "false", "0"):
        return False
    raise ValueError("must be Y or N")


def parse_row(raw: dict, row: int, recipients: dict[str, int]) -> tuple[dict | None, list[RowError]]:
    """Validate one register row (``{field: cell}``). Returns the clean values (with ``registration_id``,
    ``number_norm``, ``fy``, ``erp_ref``) or None and every problem found. ``recipients``: GSTIN → registration id
    of the GSTINs the importer may write to."""
    errors: list[RowError] = []
    out: dict = {}

    def err(name: str, message: str) -> None:
        errors.append(RowError(row, LABELS[name], _text(raw.get(name))[:100], message))

    for name in REQUIRED:
        if not _text(raw.get(name)):
            err(name, "is required")
    if errors:
        return None, errors
    recipient = _text(raw["recipient_gstin"]).upper().replace(" ", "")
    if recipient not in recipients:
        err("recipient_gstin", "is not one of your GSTINs (or you may not import for it)")
    else:
        out["registration_id"] = recipients[recipient]
    supplier = validate_gstin(_text(raw["supplier_gstin"]))
    if not supplier.valid:
        err("supplier_gstin", supplier.message)
    out["supplier_gstin"] = supplier.value
    kind = KINDS.get(_key(raw["kind"]).replace("  ", " "))
    if kind is None:
        err("kind", "must be Invoice, Credit note or Debit note")
    out["kind"] = kind
    number = _text(raw["doc_number"])
    check = is_valid_doc_number(number)
    if not check:
        err("doc_number", check.message)
    out["doc_number"] = number[:20]
    try:
        out["doc_date"] = parse_date(raw["doc_date"])
        out["fy"] = fy_start_year(out["doc_date"])
        if out["doc_date"] < dt.date(2017, 7, 1):
            err("doc_date", "is before GST began (01-07-2017)")
    except ValueError as e:
        err("doc_date", str(e))
    for name in ("taxable", "igst", "cgst", "sgst", "cess"):
        try:
            out[name] = parse_money(raw.get(name))
        except ValueError as e:
            err(name, str(e))
    if kind == "invoice" and any(out.get(h, 0) < 0 for h in ("taxable", "igst", "cgst", "sgst", "cess")):
        err("taxable", "an invoice's amounts may not be negative")
    pos = _text(raw.get("pos")).zfill(2) if _text(raw.get("pos")) else ""
    if pos and pos not in STATE_CODES and pos not in ("96", "97", "99"):
        err("pos", "must be a two-digit state code, e.g. 27")
    out["pos"] = pos
    for name, default in (("reverse_charge", False), ("itc_claimed", True)):
        try:
            out[name] = _flag(raw.get(name), default)
        except ValueError as e:
            err(name, str(e))
    period = raw.get("period_booked")
    if period in (None, ""):
        out["period_booked"] = month_start(out["doc_date"]) if "doc_date" in out else None
    else:
        text = _text(period)
        m = _PERIOD_RE.fullmatch(text.zfill(6) if text.isdigit() else text)
        try:
            out["period_booked"] = (dt.date(int(m[2]), int(m[1]), 1) if m else month_start(parse_date(period)))
        except ValueError:
            err("period_booked", "must be a period MMYYYY (e.g. 102025) or a date")
    if errors:
        return None, errors
    out["number_norm"] = normalise_doc_number(number, out["fy"])
    ref = _text(raw.get("erp_ref"))
    if len(ref) > 100:
        err("erp_ref", "may have at most 100 characters")
        return None, errors
    out["erp_ref"] = ref or f"{recipient}/{out['supplier_gstin']}/{kind}/{out['number_norm']}/{out['fy']}"
    return out, errors

"""Files from and for the GST portal, for users without API access (docs/rules/portal-files.md). Pure module.

* **IMS JSON** — the IMS dashboard / Offline Tool download. Its layout is not documented: the sections may sit
  under ``imsDetails`` (UNVERIFIED, one open-source parser), under ``data`` or at the top level (the GETINV shape
  ``{section: [records]}``); section keys in any case, GETINV codes (``CN``) too. Records are GETINV records.
* **GSTR-2B JSON** — the GET2B response ``{chksum, data: {gstin, rtnprd, gendt, docdata, docRejdata, itcsumm,
  cpsumm, fc}}`` or its ``data`` object; amounts per document or per-rate ``items[]`` (summed); a large 2B comes
  in ``fc`` files that are merged.
* **Offline Tool upload JSON** — SAVE / RESET bodies (§3.3) built from documents with local actions.

Every problem is reported as ``"<file>: <JSON path> (<record>): <field> <value> <reason>"``; a file with any
problem raises :class:`PortalFileError` listing them, so nothing is half-imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from gst.ims_record import RecordError, parse_line
from gst.periods import fy_start_year
from gst.rules import DocumentFacts, amendment_direction, requires_declaration
from gst.sections import SECTIONS, Action, Section, UnknownSection, section_info
from ims_project import jsonlimits

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_ERRORS = 50
MONEY_FIELDS = ("value", "taxable", "igst", "cgst", "sgst", "cess")
_CENT = Decimal("0.01")
_MAX_MONEY = Decimal("9999999999999.99")
_DATE_RE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_PERIOD_RE = re.compile(r"(0[1-9]|1[0-2])(\d{4})")


class PortalFileError(ValueError):
    """A file that cannot be imported; ``errors`` names each problem with its file, JSON path and field."""

    def __init__(self, errors: Sequence[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class _Errors(list):
    """Collects problems; stops collecting (but keeps counting) after MAX_ERRORS."""

    dropped = 0

    def add(self, message: str) -> None:
        if len(self) < MAX_ERRORS:
            self.append(message)
        else:
            self.dropped += 1

    def raise_if_any(self) -> None:
        if self:
            more = [f"… and {self.dropped} more problems"] if self.dropped else []
            raise PortalFileError([*self, *more])


# --- reading files ---------------------------------------------------------------------------------------------


def check_sizes(files: Iterable[tuple[str, int]], *, limit: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse an upload (before reading it) whose files together exceed ``limit`` bytes."""
    files = list(files)
    errors = [f"{name}: the file is empty" for name, size in files if size == 0]
    total = sum(size for _, size in files)
    if total > limit:
        errors.append(
            f"{', '.join(name for name, _ in files)}: the upload is {_mb(total)}; the limit is {_mb(limit)}"
        )
    if errors:
        raise PortalFileError(errors)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def load_json(name: str, data: bytes) -> Any:
    """Parse a file's bytes as JSON (UTF-8, with or without BOM); amounts with decimals become Decimal."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PortalFileError([f"{name}: not a JSON file (not UTF-8 text at byte {exc.start})"]) from None
    try:
        obj = json.loads(text, parse_float=_amount, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise PortalFileError(
            [f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    except RecursionError:
        raise PortalFileError([f"{name}: not valid JSON: nested too deeply"]) from None
    except ValueError as exc:  # a number of more than 4,300 digits (int_max_str_digits), or out of range
        raise PortalFileError([f"{name}: not valid JSON: {str(exc)[:200]}"]) from None
    try:
        jsonlimits.check_decoded(obj, text)  # nesting and NUL characters (PostgreSQL text cannot hold one)
    except jsonlimits.HostileJSON as exc:
        raise PortalFileError([f"{name}: {exc.where or 'the file'}: {exc.message}"]) from None
    return obj


def _amount(text: str) -> Decimal:
    """A JSON number with a fraction or exponent as Decimal; refused when no amount could be that large or small."""
    value = Decimal(text)
    if not value.is_finite() or not -30 <= value.adjusted() <= 30:
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


_constant = jsonlimits.no_constant


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def detect_kind(obj: Any) -> str:
    """``"2b"`` for a GET2B response (or its data object), ``"ims"`` otherwise."""
    if isinstance(obj, Mapping):
        body = obj.get("data") if isinstance(obj.get("data"), Mapping) else obj
        if any(k in body for k in ("docdata", "docRejdata", "itcsumm", "cpsumm")):
            return "2b"
    return "ims"


def _gstin_text(value: Any) -> str:
    text = str(value or "").strip().upper()
    return text if len(text) == 15 and text.isalnum() and text.isascii() else ""


def _header_gstin(node: Mapping) -> tuple[str, Any]:
    for key, value in node.items():
        if str(key).lower() in ("gstin", "rtin") and not isinstance(value, Mapping | list):
            return str(key), value
    return "", None


# --- IMS JSON --------------------------------------------------------------------------------------------------

_IMS_CONTAINERS = ("imsdetails", "data")


@dataclass
class ImsSummary:
    records: int = 0
    sections: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    totals: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(MONEY_FIELDS, Decimal("0.00")))


@dataclass
class ImsFile:
    """The records of one or more IMS JSON files, by section key; ``gstin`` is "" when no file names one."""

    gstin: str
    records: dict[str, list]
    summary: ImsSummary
    files: list[str]


_IMS_AMOUNTS = (
    ("value", "val"),
    ("taxable", "txval"),
    ("igst", "iamt"),
    ("cgst", "camt"),
    ("sgst", "samt"),
    ("cess", "cess"),
)


def parse_ims_files(files: Sequence[tuple[str, bytes]]) -> ImsFile:
    """Read IMS JSON files (several are merged: their sections and records add up). Raises PortalFileError."""
    if not files:
        raise PortalFileError(["no file uploaded"])
    errors = _Errors()
    merged: dict[str, list] = {}
    gstins: dict[str, str] = {}
    for name, data in files:
        obj = load_json(name, data)
        gstin, sections = _ims_sections(name, obj, errors)
        if gstin:
            gstins[name] = gstin
        for key, records in sections.items():
            merged.setdefault(key, []).extend(records)
    if len(set(gstins.values())) > 1:
        errors.add("the files are for different GSTINs: " + ", ".join(f"{n} {g}" for n, g in gstins.items()))
    if not merged and not errors:
        errors.add(
            f"{', '.join(n for n, _ in files)}: no IMS section found; expected lists of records under keys "
            f"{', '.join(s.value for s in Section)} (at the top level, or under imsDetails or data)"
        )
    errors.raise_if_any()
    summary = ImsSummary()
    for key, records in merged.items():
        summary.sections[key] = len(records)
        summary.records += len(records)
        for rec in records:
            action = str(rec.get("action") or "N").strip().upper()
            summary.actions[action] = summary.actions.get(action, 0) + 1
            for name, src in _IMS_AMOUNTS:
                value = rec.get(src)
                if value not in (None, ""):
                    summary.totals[name] += Decimal(str(value)).quantize(_CENT)
    summary.actions = {a.value: summary.actions.get(a.value, 0) for a in Action}
    return ImsFile(next(iter(gstins.values()), ""), merged, summary, [n for n, _ in files])


def _ims_sections(name: str, obj: Any, errors: _Errors) -> tuple[str, dict[str, list]]:
    if not isinstance(obj, Mapping):
        errors.add(f"{name}: $: expected a JSON object with IMS sections, found a {_json_type(obj)}")
        return "", {}
    node, path, gstin = obj, "$", ""
    while True:
        key, value = _header_gstin(node)
        if key and not gstin:
            gstin = _gstin_text(value)
            if not gstin:
                errors.add(f"{name}: {path}.{key}: {value!r} is not a 15-character GSTIN")
        inner = next(
            (k for k in node if str(k).lower() in _IMS_CONTAINERS and isinstance(node[k], Mapping)), None
        )
        if inner is None:
            break
        node, path = node[inner], f"{path}.{inner}"
    sections: dict[str, list] = {}
    for key, records in node.items():
        if not isinstance(records, Mapping | list):
            continue  # a header value (period, timestamp, checksum …)
        try:
            info = section_info(str(key))
        except UnknownSection as exc:
            errors.add(f"{name}: {path}.{key}: {exc}")
            continue
        if not isinstance(records, list):
            errors.add(f"{name}: {path}.{key}: expected a list of records, found an object")
            continue
        for index, rec in enumerate(records):
            try:
                parse_line(info, rec)
            except RecordError as exc:
                errors.add(
                    f"{name}: {path}.{key}[{index}] ({info.key.value} record {index + 1}): "
                    f"{exc.field} {exc.value!r} {exc.reason}"
                )
        sections.setdefault(info.key.value, []).extend(records)
    return gstin, sections


def _json_type(obj: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(obj), "number")


# --- GSTR-2B JSON ----------------------------------------------------------------------------------------------

TWOB_SECTIONS = ("b2b", "b2ba", "cdnr", "cdnra", "ecom", "ecoma")
# 2B document lists we know but do not store (they never pass through IMS "All other ITC"): reported, not refused.
TWOB_NOT_STORED = frozenset(
    {"isd", "isda", "impg", "impgsez", "impga", "impgasez", "itcrev", "cdnrrev", "cdnrarev", "b2bcdnr"}
)
_NOTE_SECTIONS = {"cdnr": ("b2bcn", "b2bdn"), "cdnra": ("b2bcna", "b2bdna")}
_INV_TYPES = frozenset({"R", "SEZWP", "SEZWOP", "SEWP", "SEWOP", "DE", "CBW"})
_AMOUNT_KEYS = ("txval", "igst", "cgst", "sgst", "cess")


@dataclass(slots=True)
class TwobDoc:
    """One document of a GSTR-2B, flattened (the compact row stored per document)."""

    rejected: bool
    section: str  # 2B list: b2b, b2ba, cdnr, cdnra, ecom, ecoma
    ims_section: str  # the IMS section it comes from (cdnr → b2bcn / b2bdn by note type)
    supplier_gstin: str
    supplier_name: str
    doc_number: str
    doc_date: dt.date
    fy: int
    note_type: str  # C / D for notes, "" for invoices
    doc_type: str  # typ of an invoice, suptyp of a note
    orig_doc_number: str
    orig_doc_date: dt.date | None
    pos: str
    reverse_charge: bool
    doc_value: Decimal
    taxable_value: Decimal
    igst: Decimal
    cgst: Decimal
    sgst: Decimal
    cess: Decimal
    itc_available: str
    reason: str
    supplier_period: dt.date | None
    supplier_filing_date: dt.date | None
    irn: str = ""  # the e-invoice's ``irn`` and ``irngendate``, when the 2B lists them
    irn_date: dt.date | None = None

    @property
    def key(self) -> tuple:
        return (self.ims_section, self.supplier_gstin, self.doc_number, self.fy)


@dataclass
class TwobFile:
    gstin: str
    period: dt.date
    generated_on: dt.date | None
    version: str
    checksum: str
    summary: dict[str, Any]
    docs: list[TwobDoc]
    skipped: dict[str, int]
    duplicates: int
    files: list[str]


def parse_gstr2b_files(files: Sequence[tuple[str, bytes]], *, period: str = "") -> TwobFile:
    """Read the file(s) of one GSTR-2B (several = the ``fc`` parts of one period, merged).

    ``period`` (MMYYYY), when given, is the period the user expects. Raises PortalFileError.
    """
    if not files:
        raise PortalFileError(["no file uploaded"])
    errors = _Errors()
    seen: dict[str, str] = {}
    parts: list[tuple[str, Mapping, str]] = []
    checksum = ""
    for name, data in files:
        h = digest(data)
        if h in seen:
            errors.add(f"{name}: the same file as {seen[h]} (uploaded twice)")
            continue
        seen[h] = name
        obj = load_json(name, data)
        if not isinstance(obj, Mapping):
            errors.add(f"{name}: $: expected a GSTR-2B JSON object, found a {_json_type(obj)}")
            continue
        if isinstance(obj.get("data"), Mapping):
            checksum = checksum or str(obj.get("chksum") or "")
            parts.append((name, obj["data"], "$.data"))
        else:
            parts.append((name, obj, "$"))
    errors.raise_if_any()

    heads = [_twob_head(name, body, path, errors) for name, body, path in parts]
    errors.raise_if_any()
    first = heads[0]
    for (name, *_), head in zip(parts[1:], heads[1:], strict=True):
        if head["gstin"] != first["gstin"]:
            errors.add(f"{name}: GSTIN {head['gstin']} differs from {parts[0][0]} ({first['gstin']})")
        if head["period"] != first["period"]:
            errors.add(
                f"{name}: wrong period {head['rtnprd']}: {parts[0][0]} is for {first['rtnprd']}; "
                "upload the parts of one period together"
            )
    if period and period != first["rtnprd"]:
        errors.add(
            f"{parts[0][0]}: wrong period: the file is the GSTR-2B of {first['rtnprd']}, expected {period}"
        )
    declared = max((h["fc"] for h in heads), default=1)
    if declared > 1 and len(parts) != declared:
        errors.add(
            f"the portal split this GSTR-2B into {declared} files (fc = {declared}) but {len(parts)} "
            f"{'was' if len(parts) == 1 else 'were'} uploaded; upload all parts together"
        )
    docs: dict[tuple, TwobDoc] = {}
    duplicates = 0
    skipped: dict[str, int] = {}
    summary: dict[str, Any] = {}
    for name, body, path in parts:
        for block in ("itcsumm", "cpsumm"):
            if block not in summary and isinstance(body.get(block), Mapping):
                summary[block] = body[block]
        for rejected, list_key in ((False, "docdata"), (True, "docRejdata")):
            for doc in _twob_docs(name, body.get(list_key), f"{path}.{list_key}", rejected, errors, skipped):
                if doc.key in docs:
                    duplicates += 1
                docs[doc.key] = doc
    errors.raise_if_any()
    return TwobFile(
        gstin=first["gstin"],
        period=first["period"],
        generated_on=first["gendt"],
        version=first["version"],
        checksum=checksum[:128],
        summary=summary,
        docs=list(docs.values()),
        skipped=skipped,
        duplicates=duplicates,
        files=[n for n, _, _ in parts],
    )


def _twob_head(name: str, body: Mapping, path: str, errors: _Errors) -> dict[str, Any]:
    gstin = _gstin_text(body.get("gstin"))
    if not gstin:
        errors.add(f"{name}: {path}.gstin: {body.get('gstin')!r} is not a 15-character GSTIN")
    rtnprd = str(body.get("rtnprd") or "").strip()
    m = _PERIOD_RE.fullmatch(rtnprd)
    if not m:
        errors.add(f"{name}: {path}.rtnprd: {body.get('rtnprd')!r} is not a tax period MMYYYY")
    gendt = None
    if body.get("gendt") not in (None, ""):
        try:
            gendt = _date(body.get("gendt"))
        except ValueError:
            errors.add(f"{name}: {path}.gendt: {body.get('gendt')!r} is not a date DD-MM-YYYY")
    fc = body.get("fc") or 1
    if not isinstance(fc, int) or isinstance(fc, bool) or fc < 1:
        errors.add(f"{name}: {path}.fc: {fc!r} is not a file count")
        fc = 1
    if not any(isinstance(body.get(k), Mapping) for k in ("docdata", "docRejdata", "itcsumm")):
        errors.add(f"{name}: {path}: not a GSTR-2B (no docdata, docRejdata or itcsumm)")
    return {
        "gstin": gstin,
        "rtnprd": rtnprd,
        "period": dt.date(int(m[2]), int(m[1]), 1) if m else None,
        "gendt": gendt,
        "version": str(body.get("version") or "")[:10],
        "fc": fc,
    }


def _twob_docs(name, lists, path, rejected, errors: _Errors, skipped: dict[str, int]):
    if lists is None:
        return
    if not isinstance(lists, Mapping):
        errors.add(f"{name}: {path}: expected an object of document lists, found a {_json_type(lists)}")
        return
    for section, suppliers in lists.items():
        spath = f"{path}.{section}"
        key = str(section).lower()
        if key in TWOB_NOT_STORED:
            skipped[key] = skipped.get(key, 0) + (len(suppliers) if isinstance(suppliers, list) else 0)
            continue
        if key not in TWOB_SECTIONS:
            errors.add(
                f"{name}: {spath}: unknown GSTR-2B section {section!r}; expected one of "
                f"{', '.join(TWOB_SECTIONS)}"
            )
            continue
        if not isinstance(suppliers, list):
            errors.add(f"{name}: {spath}: expected a list of suppliers, found a {_json_type(suppliers)}")
            continue
        inner = "nt" if key in _NOTE_SECTIONS else "inv"
        for si, supplier in enumerate(suppliers):
            where = f"{name}: {spath}[{si}]"
            if not isinstance(supplier, Mapping):
                errors.add(f"{where}: expected a supplier object, found a {_json_type(supplier)}")
                continue
            try:
                head = _supplier_head(supplier)
            except _FieldError as exc:
                errors.add(f"{where} (supplier {si + 1} of {key}): {exc}")
                continue
            records = supplier.get(inner)
            if not isinstance(records, list):
                errors.add(f"{where}.{inner}: missing the list of documents")
                continue
            for di, rec in enumerate(records):
                try:
                    yield _twob_doc(key, rejected, head, rec)
                except _FieldError as exc:
                    errors.add(f"{where}.{inner}[{di}] (document {di + 1} of supplier {head[0]}): {exc}")


class _FieldError(ValueError):
    def __init__(self, field_name: str, value: Any, reason: str):
        super().__init__(f"{field_name} {value!r} {reason}")


def _date(value: Any) -> dt.date:
    m = _DATE_RE.fullmatch(str(value or "").strip())
    if not m:
        raise ValueError(value)
    return dt.date(int(m[3]), int(m[2]), int(m[1]))


def _field_date(rec: Mapping, key: str, *, required: bool) -> dt.date | None:
    value = rec.get(key)
    if value in (None, "") and not required:
        return None
    try:
        return _date(value)
    except ValueError:
        raise _FieldError(key, value, "is not a date DD-MM-YYYY") from None


def _money(key: str, value: Any) -> Decimal:
    if value is None or value == "" or isinstance(value, bool):
        raise _FieldError(key, value, "is not an amount")
    try:
        amount = Decimal(str(value).strip()).quantize(_CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise _FieldError(key, value, "is not an amount") from None
    if not amount.is_finite() or abs(amount) > _MAX_MONEY:
        raise _FieldError(key, value, "is not an amount of at most 13 digits before the decimal point")
    return amount + 0


def _text(rec: Mapping, key: str, max_length: int, *, required: bool = False) -> str:
    value = rec.get(key)
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise _FieldError(key, value, "is missing")
    if len(text) > max_length:
        raise _FieldError(key, value, f"is longer than {max_length} characters")
    return text


def _supplier_head(supplier: Mapping) -> tuple[str, str, dt.date | None, dt.date | None]:
    gstin = _gstin_text(supplier.get("ctin"))
    if not gstin:
        raise _FieldError("ctin", supplier.get("ctin"), "is not a 15-character GSTIN")
    supprd = supplier.get("supprd")
    period = None
    if supprd not in (None, ""):
        m = _PERIOD_RE.fullmatch(str(supprd).strip())
        if not m:
            raise _FieldError("supprd", supprd, "is not a tax period MMYYYY")
        period = dt.date(int(m[2]), int(m[1]), 1)
    return (
        gstin,
        str(supplier.get("trdnm") or "")[:200],
        period,
        _field_date(supplier, "supfildt", required=False),
    )


def _twob_doc(section: str, rejected: bool, head, rec: Any) -> TwobDoc:
    if not isinstance(rec, Mapping):
        raise _FieldError("document", _json_type(rec), "is not an object")
    gstin, trade_name, period, filed_on = head
    note = section in _NOTE_SECTIONS
    amendment = section.endswith("a")
    number = _text(rec, "ntnum" if note else "inum", 20, required=True)
    doc_date = _field_date(rec, "dt", required=True)
    note_type, doc_type, ims_section = "", "", section
    if note:
        note_type = str(rec.get("typ") or "").strip().upper()
        if note_type not in ("C", "D"):
            raise _FieldError("typ", rec.get("typ"), "is not a note type (C credit, D debit)")
        ims_section = _NOTE_SECTIONS[section][0 if note_type == "C" else 1]
        doc_type = _text(rec, "suptyp", 8)
    else:
        doc_type = _text(rec, "typ", 8).upper()
        if doc_type and doc_type not in _INV_TYPES:
            raise _FieldError(
                "typ", rec.get("typ"), f"is not a supply type ({', '.join(sorted(_INV_TYPES))})"
            )
    orig_number, orig_date = "", None
    if amendment:
        orig_number = _text(rec, "ontnum" if note else "oinum", 20, required=True)
        orig_date = _field_date(rec, "ontdt" if note else "oidt", required=True)
    pos = str(rec.get("pos") or "").strip()
    if pos and not (len(pos) <= 2 and pos.isdigit()):
        raise _FieldError("pos", rec.get("pos"), "is not a 2-digit state code")
    amounts = _amounts(rec)
    value = _money("val", rec.get("val"))
    return TwobDoc(
        rejected=rejected,
        section=section,
        ims_section=ims_section,
        supplier_gstin=gstin,
        supplier_name=trade_name,
        doc_number=number,
        doc_date=doc_date,
        fy=fy_start_year(doc_date),
        note_type=note_type,
        doc_type=doc_type,
        orig_doc_number=orig_number,
        orig_doc_date=orig_date,
        pos=pos.zfill(2) if pos else "",
        reverse_charge=str(rec.get("rev") or "N").strip().upper() == "Y",
        doc_value=value,
        taxable_value=amounts["txval"],
        igst=amounts["igst"],
        cgst=amounts["cgst"],
        sgst=amounts["sgst"],
        cess=amounts["cess"],
        itc_available=_text(rec, "itcavl", 1).upper(),
        reason=_text(rec, "rsn", 8),
        supplier_period=period,
        supplier_filing_date=filed_on,
        irn=_text(rec, "irn", 64),
        irn_date=_irn_date(rec.get("irngendate")),
    )


def _irn_date(value: Any) -> dt.date | None:
    """``irngendate``: DD-MM-YYYY, a time after it ignored; ``YYYY-MM-DD`` read too; absent is None."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10]) if text[4:5] == "-" else _date(text[:10])
    except ValueError:
        raise _FieldError("irngendate", value, "is not a date DD-MM-YYYY") from None


def _amounts(rec: Mapping) -> dict[str, Decimal]:
    """Totals on the document (newer layout), else the sum of its per-rate ``items`` (older layout)."""
    if any(k in rec for k in _AMOUNT_KEYS):
        return {k: Decimal("0.00") if rec.get(k) is None else _money(k, rec.get(k)) for k in _AMOUNT_KEYS}
    items = rec.get("items")
    if not isinstance(items, list) or not items:
        raise _FieldError("txval", None, "is missing (no document totals and no items[])")
    sums = dict.fromkeys(_AMOUNT_KEYS, Decimal("0.00"))
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _FieldError(f"items[{i}]", _json_type(item), "is not an object")
        for k in _AMOUNT_KEYS:
            if item.get(k) is not None:
                try:
                    sums[k] += _money(k, item.get(k))
                except _FieldError as exc:
                    raise _FieldError(f"items[{i}].{k}", item.get(k), "is not an amount") from exc
    return sums


def twob_totals(docs: Iterable[TwobDoc]) -> list[dict[str, Any]]:
    """Count and sums per (part, 2B section, note type): the figures of the result page."""
    groups: dict[tuple, dict[str, Any]] = {}
    for d in docs:
        key = ("rejected" if d.rejected else "available", d.section, d.note_type)
        g = groups.setdefault(
            key,
            {
                "part": key[0],
                "section": d.section,
                "note_type": d.note_type,
                "count": 0,
                **{f: Decimal("0.00") for f in MONEY_FIELDS},
            },
        )
        g["count"] += 1
        for name, value in zip(
            MONEY_FIELDS, (d.doc_value, d.taxable_value, d.igst, d.cgst, d.sgst, d.cess), strict=True
        ):
            g[name] += value
    return [groups[k] for k in sorted(groups)]


# --- Offline Tool upload JSON (SAVE / RESET) -------------------------------------------------------------------

SAVE, RESET = "save", "reset"


class DeclarationMissing(ValueError):
    """An Accept that must carry the ITC-reduction answer has none (docs/rules/ims-actions.md §4.4): the portal
    would refuse it (IMSSAV0054), so it is never sent."""

    def __init__(self, doc: Mapping[str, Any]):
        self.doc = doc
        super().__init__(
            f"{doc['supplier_gstin']} {doc['section']} {doc['doc_number']}: say whether ITC needs to be reduced "
            "before this accept is sent (the portal refuses it without the answer, IMSSAV0054)."
        )


def answer_needed(doc: Mapping[str, Any]) -> bool:
    """Whether an Accept of ``doc`` must carry ``itcRedReq``: a specified record (or one that may be) of a 2B period
    from the cut-over or not known yet (``gst.rules.requires_declaration``). ``doc`` may hold ``twob_period``,
    ``frequency`` and, for an amendment, the original's ``orig_tax`` and ``orig_taxable``; a missing fact counts
    as "needed"."""
    tax = sum((abs(doc[h]) for h in ("igst", "cgst", "sgst", "cess")), Decimal("0.00"))
    orig_tax = doc.get("orig_tax")
    facts = DocumentFacts(
        section=section_info(doc["section"]).key,
        twob_period=doc.get("twob_period"),
        frequency=doc.get("frequency") or "M",
        amendment_direction=amendment_direction(
            amended_tax=tax,
            original_tax=abs(orig_tax) if orig_tax is not None else None,
            amended_taxable=abs(doc["taxable_value"]),
            original_taxable=abs(doc["orig_taxable"]) if doc.get("orig_taxable") is not None else None,
        ),
    )
    return requires_declaration(facts)


def upload_record(doc: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """One SAVE / RESET record (docs/rules/portal-api.md §3) from a document's stored values (SupplierDocument field names):
    the identifying and amount fields as received (amounts positive), ``prev_status`` = the portal's action;
    SAVE adds ``action``, ``remarks``, ``itcRedReq`` and ``decl*`` where set. Raises :class:`DeclarationMissing`
    for an Accept that needs the ITC-reduction answer and has none (never sent without it)."""
    info = section_info(doc["section"])
    unanswered = kind == SAVE and doc["local_action"] == Action.ACCEPTED and not doc.get("local_itc_red_req")
    if unanswered and answer_needed(doc):
        raise DeclarationMissing(doc)
    rec: dict[str, Any] = {"stin": doc["supplier_gstin"]} if info.has_supplier else {}
    rec[info.number_field] = doc["doc_number"]
    rec[info.date_field] = doc["doc_date"].strftime("%d-%m-%Y")
    if info.amendment:
        rec[info.orig_number_field] = doc["orig_doc_number"]
        rec[info.orig_date_field] = doc["orig_doc_date"].strftime("%d-%m-%Y") if doc["orig_doc_date"] else ""
    if info.is_bill_of_entry:  # the bill of entry's own fields (docs/rules/sections.md §4.1)
        rec.update(_present(portcode=doc.get("port_code"), ogstin=doc.get("prev_gstin")))
        if doc.get("ref_date"):
            rec["refdt"] = doc["ref_date"].strftime("%d-%m-%Y")
        rec.update({"txval": doc["taxable_value"], "iamt": doc["igst"], "cess": doc["cess"]})
        amounts: tuple[str, ...] = ("txval", "iamt", "cess")
    elif info.is_isd:  # docs/rules/sections.md §4.2
        rec.update(_present(itcelg=doc.get("itc_eligible")))
        rec["rtnprd"] = doc["supplier_period"].strftime("%m%Y")
        rec.update({"iamt": doc["igst"], "camt": doc["cgst"], "samt": doc["sgst"], "cess": doc["cess"]})
        amounts = ("iamt", "camt", "samt", "cess")
    else:
        rec.update(
            {
                "inv_typ": doc["inv_type"],
                "srcform": doc["src_form"],
                "rtnprd": doc["supplier_period"].strftime("%m%Y"),
                "val": doc["doc_value"],
                "pos": doc["pos"],
                "txval": doc["taxable_value"],
                "iamt": doc["igst"],
                "camt": doc["cgst"],
                "samt": doc["sgst"],
                "cess": doc["cess"],
            }
        )
        amounts = ("val", "txval", "iamt", "camt", "samt", "cess")
    for key in amounts:
        rec[key] = abs(rec[key])
    if kind == SAVE:
        rec["action"] = doc["local_action"]
    rec["prev_status"] = doc["portal_action"]
    if kind == SAVE:
        if doc.get("local_itc_red_req"):
            rec["itcRedReq"] = doc["local_itc_red_req"]
            for head in ("igst", "cgst", "sgst", "cess"):
                value = doc.get(f"local_decl_{head}")
                if value is not None:
                    rec[f"decl{head.capitalize()}"] = abs(value)
        if doc.get("local_remarks"):
            rec["remarks"] = doc["local_remarks"]
    return rec


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "")}


def upload_body(*, rtin: str, kind: str, docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The SAVE or RESET body for ``docs``: ``{"action", "data": {"rtin", "reqtyp", "invdata": {section: […]}}}``,
    sections in the portal's order. Raises :class:`PortalFileError` naming every Accept that lacks the
    ITC-reduction answer it needs (the file would be refused)."""
    invdata: dict[str, list] = {}
    errors = _Errors()
    for doc in docs:
        try:
            invdata.setdefault(doc["section"], []).append(upload_record(doc, kind))
        except DeclarationMissing as exc:
            errors.add(str(exc))
    errors.raise_if_any()
    order = {s.value: i for i, s in enumerate(SECTIONS)}
    invdata = {k: invdata[k] for k in sorted(invdata, key=order.__getitem__)}
    action, reqtyp = ("SAVE", "SAVE") if kind == SAVE else ("RESETIMS", "RESET")
    return {"action": action, "data": {"rtin": rtin, "reqtyp": reqtyp, "invdata": invdata}}


def dumps(body: Any) -> str:
    """JSON text with amounts as JSON numbers (118000, 1234.5), as the portal's samples write them.

    Amounts are Decimal with 2 places (at most 15 significant digits), so the float used only to let the json
    module print a number has exactly the same shortest text: checked, never rounded.
    """

    def number(value: Decimal) -> int | float:
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        if Decimal(repr(as_float)) != value:  # pragma: no cover - impossible for Decimal(15, 2)
            raise ValueError(f"amount {value} cannot be written exactly")
        return as_float

    def convert(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return number(obj)
        if isinstance(obj, Mapping):
            return {k: convert(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [convert(v) for v in obj]
        return obj

    return json.dumps(convert(body), indent=2, ensure_ascii=False)


_HEADS = ("igst", "cgst", "sgst", "cess")


def _summary_place(d: TwobDoc) -> tuple[str, str, str]:
    """Where a document's tax sits in ``itcsumm`` (docs/rules/gstr2b.md §3, §6): block, group, section."""
    block = "itcRejected" if d.rejected else ("itcunavl" if d.itc_available == "N" else "itcavl")
    if d.note_type == "C":  # credit notes reduce ITC: "others" (reversal) group
        return block, "othersup", d.section + ("rev" if d.reverse_charge else "")
    return block, "revsup" if d.reverse_charge else "nonrevsup", d.section


def summary_check(summary: Mapping[str, Any], docs: Iterable[TwobDoc]) -> list[dict[str, Any]]:
    """The portal's ``itcsumm`` section figures beside the sums of the documents that belong there.

    One row per place present in either; ``matches`` is False where the portal's figure and the documents'
    sum differ (or one side is missing)."""
    computed: dict[tuple, dict[str, Decimal]] = {}
    for d in docs:
        sums = computed.setdefault(_summary_place(d), dict.fromkeys(_HEADS, Decimal("0.00")))
        for head in _HEADS:
            sums[head] += getattr(d, head)
    portal: dict[tuple, dict[str, Decimal]] = {}
    itcsumm = summary.get("itcsumm") if isinstance(summary, Mapping) else None
    for block, groups in (itcsumm or {}).items():
        for group, sections in (groups or {}).items() if isinstance(groups, Mapping) else ():
            for section, figures in (sections or {}).items() if isinstance(sections, Mapping) else ():
                if isinstance(figures, Mapping) and section in TWOB_SECTIONS + ("cdnrrev", "cdnrarev"):
                    try:
                        portal[(block, group, section)] = {h: _money(h, figures.get(h) or 0) for h in _HEADS}
                    except _FieldError:
                        continue
    rows = []
    for place in sorted(set(portal) | set(computed)):
        got, want = computed.get(place), portal.get(place)
        rows.append(
            {
                "block": place[0],
                "group": place[1],
                "section": place[2],
                "portal": want,
                "documents": got,
                "matches": got is not None and want == got,
            }
        )
    return rows

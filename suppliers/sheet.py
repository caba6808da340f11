"""Reading a supplier directory from an Excel file. Pure module: no ORM.

The file is checked as a zip archive *before* any XML is parsed (a zip bomb is refused by its declared member
sizes, not by running out of memory), then read with python-calamine. Every row is checked on its own; a bad row
is reported with its number and reason and does not stop the good rows.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from python_calamine import CalamineWorkbook

from gst.gstin import validate_gstin

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_MEMBERS = 500
MAX_MEMBER_BYTES = 50 * 1024 * 1024  # uncompressed size of one part (a sheet's XML)
MAX_TOTAL_BYTES = 100 * 1024 * 1024  # uncompressed size of the whole workbook
MAX_RATIO = 200  # uncompressed / compressed of a part; real sheets compress ~10-30x
MAX_ROWS = 50_000
MAX_EMAILS = 10
NAME_MAX = 200

# Header text (lower case, spaces squeezed) → field.
HEADERS = {
    "gstin": "gstin",
    "supplier gstin": "gstin",
    "gstin of supplier": "gstin",
    "legal name": "legal_name",
    "legal_name": "legal_name",
    "name": "legal_name",
    "supplier name": "legal_name",
    "trade name": "trade_name",
    "trade_name": "trade_name",
    "emails": "emails",
    "email": "emails",
    "e-mail": "emails",
    "e-mails": "emails",
    "contact emails": "emails",
    "contact email": "emails",
}


class SheetError(ValueError):
    """The file as a whole cannot be read: the message is safe to show."""


@dataclass(frozen=True)
class SupplierRow:
    row: int
    gstin: str
    legal_name: str
    trade_name: str
    emails: list[str] | None  # None: the cell was empty (keep what the directory has)


@dataclass
class ParsedSheet:
    rows: list[SupplierRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number as Excel shows it, reason)


def check_zip(data: bytes) -> None:
    """Refuse anything that is not a sane .xlsx archive, from the sizes its directory declares."""
    if len(data) > MAX_FILE_BYTES:
        raise SheetError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise SheetError("This is not an Excel .xlsx file (it is not a zip archive).") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise SheetError(f"The workbook has {len(members)} parts; at most {MAX_MEMBERS} are accepted.")
        total = 0
        for info in members:
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if (
                info.file_size > MAX_MEMBER_BYTES
                or total > MAX_TOTAL_BYTES
                or (info.file_size > 1024 * 1024 and ratio > MAX_RATIO)
            ):
                raise SheetError("The workbook expands to too much data to be a supplier list: refused.")
        names = {m.filename for m in members}
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/worksheets/") for n in names):
            raise SheetError("This zip archive is not an Excel workbook.")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def split_emails(text: str) -> list[str]:
    return [
        e.strip() for e in text.replace(";", ",").replace("\n", ",").replace(" ", ",").split(",") if e.strip()
    ]


def clean_emails(values: list[str]) -> list[str]:
    """Lower-cased, de-duplicated, each a valid address; raises ValueError naming the first bad one."""
    out: list[str] = []
    for email in values:
        try:
            validate_email(email)
        except ValidationError:
            raise ValueError(f"{email!r} is not a valid e-mail address") from None
        if email.lower() not in out:
            out.append(email.lower())
    if len(out) > MAX_EMAILS:
        raise ValueError(f"at most {MAX_EMAILS} e-mail addresses per supplier")
    return out


def parse_rows(table: list[list]) -> ParsedSheet:
    """Rows of the first sheet (header first) → supplier rows and the bad rows with their reason."""
    out = ParsedSheet()
    if not table:
        raise SheetError("The sheet is empty: the first row must name the columns (GSTIN, Legal name, …).")
    columns: dict[str, int] = {}
    for i, cell in enumerate(table[0]):
        key = HEADERS.get(_text(cell).lower())
        if key and key not in columns:
            columns[key] = i
    if "gstin" not in columns:
        raise SheetError(
            "No GSTIN column: the first row must name the columns (GSTIN, Legal name, Trade name, Emails)."
        )
    if len(table) - 1 > MAX_ROWS:
        raise SheetError(f"The sheet has {len(table) - 1:,} rows; at most {MAX_ROWS:,} are accepted at once.")
    seen: dict[str, int] = {}
    for number, values in enumerate(table[1:], start=2):
        cells = {k: _text(values[i]) if i < len(values) else "" for k, i in columns.items()}
        if not any(cells.values()):
            continue
        if not cells["gstin"]:
            out.errors.append((number, "GSTIN is empty"))
            continue
        check = validate_gstin(cells["gstin"])
        if not check.valid:
            out.errors.append((number, check.message))
            continue
        if check.gstin in seen:
            out.errors.append((number, f"GSTIN {check.gstin} already given in row {seen[check.gstin]}"))
            continue
        too_long = [k for k in ("legal_name", "trade_name") if len(cells.get(k, "")) > NAME_MAX]
        if too_long:
            out.errors.append(
                (number, f"{too_long[0].replace('_', ' ')} is longer than {NAME_MAX} characters")
            )
            continue
        emails = None
        if cells.get("emails"):
            try:
                emails = clean_emails(split_emails(cells["emails"]))
            except ValueError as exc:
                out.errors.append((number, str(exc)))
                continue
        seen[check.gstin] = number
        out.rows.append(
            SupplierRow(number, check.gstin, cells.get("legal_name", ""), cells.get("trade_name", ""), emails)
        )
    return out


def read_workbook(data: bytes) -> ParsedSheet:
    """Check the archive, then read the first sheet."""

    check_zip(data)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        table = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own types for every kind of broken file
        raise SheetError(f"The workbook could not be read: {exc}") from None
    return parse_rows(table)

"""Reading a register file (.xlsx/.xls/.ods through python-calamine, .csv) with defences against zip bombs and
oversized uploads: sizes are checked from the zip's own metadata before anything is parsed."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator

from django.conf import settings
from python_calamine import CalamineWorkbook

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 400 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed of any member
MAX_MEMBERS = 1000
MAX_ROWS = 1_000_000


class RegisterFileError(ValueError):
    pass


def max_upload_bytes() -> int:
    return getattr(settings, "RECON_REGISTER_MAX_BYTES", MAX_UPLOAD_BYTES)


def max_rows() -> int:
    return getattr(settings, "RECON_REGISTER_MAX_ROWS", MAX_ROWS)


def check_zip(data: bytes) -> None:
    """Refuse a spreadsheet zip whose members are too many, too big or compressed suspiciously well."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except zipfile.BadZipFile:
        raise RegisterFileError("The file is not a valid Excel workbook.") from None
    if len(infos) > MAX_MEMBERS:
        raise RegisterFileError("The workbook has too many parts to be a register.")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise RegisterFileError(f"The workbook unpacks to {total // 2**20} MB; the limit is "
                                f"{MAX_UNZIPPED_BYTES // 2**20} MB.")
    for i in infos:
        if i.file_size > 1_000_000 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise RegisterFileError("The workbook is compressed suspiciously well (a zip bomb?); it was refused.")


def read_rows(name: str, data: bytes) -> tuple[list[str], Iterator[list]]:
    """(headers, rows) of the first sheet (or the CSV). Rows are lists of cell values."""
    if not data:
        raise RegisterFileError("The file is empty.")
    if len(data) > max_upload_bytes():
        raise RegisterFileError(f"The file is {len(data) // 2**20} MB; the limit is {max_upload_bytes() // 2**20} MB.")
    lower = (name or "").lower()
    if lower.endswith(".csv") or lower.endswith(".txt"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        reader = csv.reader(io.StringIO(text, newline=""))
        headers = next(reader, None)
        if not headers:
            raise RegisterFileError("The file has no heading row.")
        return [h.strip() for h in headers], (row for row in reader)
    if lower.endswith((".xlsx", ".xlsm", ".ods")):
        check_zip(data)
    elif not lower.endswith(".xls"):
        raise RegisterFileError("Upload an Excel (.xlsx, .xls), OpenDocument (.ods) or CSV file.")
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = book.get_sheet_by_index(0)
        rows = iter(sheet.iter_rows())
        headers = next(rows, None)
    except Exception:  # noqa: BLE001 - any reader error is a bad file for the user
        raise RegisterFileError("The workbook could not be read; save it again as .xlsx or CSV.") from None
    if not headers:
        raise RegisterFileError("The file has no heading row.")
    return [str(h).strip() for h in headers], rows

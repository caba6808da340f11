"""Reading a register file (.xlsx/.xlsm/.xls/.ods through python-calamine, .csv) with defences against zip bombs
and oversized uploads: sizes are checked from the zip's own metadata before anything is parsed.

:func:`read_headers` gives the heading row cheaply (an .xlsx's first row is found by streaming its sheet, not by
parsing all of it; docs/performance.md §3.8: parsing a 200,000-row sheet takes seconds) for the page that maps columns;
:func:`open_rows` gives the headings, the rows (streamed) and how many there are, for the worker.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import re
import zipfile
from collections.abc import Iterator
from posixpath import dirname, join, normpath

from django.conf import settings
from python_calamine import CalamineWorkbook

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 400 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed of any member
MAX_MEMBERS = 1000
MAX_ROWS = 1_000_000
MAX_COLUMNS = 200
_HEAD_SCAN_BYTES = 4 * 1024 * 1024  # of the sheet's XML, to find the heading row
EXCEL_TYPES = (".xlsx", ".xlsm", ".ods", ".xls")
TEXT_TYPES = (".csv", ".txt")


class RegisterFileError(ValueError):
    pass


def max_upload_bytes() -> int:
    return settings.RECON_REGISTER_MAX_BYTES


def max_rows() -> int:
    return settings.RECON_REGISTER_MAX_ROWS


def check_zip(data: bytes) -> None:
    """Refuse a spreadsheet zip whose members are too many, too big or compressed suspiciously well."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except zipfile.BadZipFile:
        raise RegisterFileError(
            "The file is not a valid Excel workbook (it may be another kind of file renamed "
            ".xlsx); save it again as .xlsx or CSV."
        ) from None
    if len(infos) > MAX_MEMBERS:
        raise RegisterFileError("The workbook has too many parts to be a register.")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise RegisterFileError(
            f"The workbook unpacks to {total // 2**20} MB; the limit is {MAX_UNZIPPED_BYTES // 2**20} MB."
        )
    for i in infos:
        if i.file_size > 1_000_000 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise RegisterFileError(
                "The workbook is compressed suspiciously well (a zip bomb?); it was refused."
            )


def _heading(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check(name: str, data: bytes) -> str:
    """The file's lower-case suffix after the checks every reader shares (empty, size, type, zip bomb)."""
    if not data:
        raise RegisterFileError("The file is empty.")
    if len(data) > max_upload_bytes():
        raise RegisterFileError(
            f"The file is {len(data) // 2**20} MB; the limit is {max_upload_bytes() // 2**20} MB."
        )
    lower = (name or "").lower()
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    if suffix in TEXT_TYPES:
        if data[:4] == b"PK\x03\x04" or b"\x00" in data[:4096]:
            raise RegisterFileError(
                "The file is named .csv but is not text (an Excel file renamed?); save it "
                "again as CSV or upload the .xlsx."
            )
        return suffix
    if suffix not in EXCEL_TYPES:
        raise RegisterFileError("Upload an Excel (.xlsx, .xls), OpenDocument (.ods) or CSV file.")
    if suffix != ".xls":
        check_zip(data)
    return suffix


def _csv(data: bytes) -> tuple[list[str], Iterator[list]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:  # PostgreSQL text cannot hold one
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RegisterFileError(f"The CSV holds a NUL character at line {line:,}; save it again as CSV.")
    sample = text[:65536]
    delimiter = ","
    first = sample.split("\n", 1)[0]
    if first.count(";") > first.count(",") and first.count(";") >= first.count("\t"):
        delimiter = ";"
    elif first.count("\t") > first.count(","):
        delimiter = "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader, None)
    except csv.Error as e:
        raise RegisterFileError(f"The CSV could not be read: {e}.") from None
    return [_heading(h) for h in headers or []], _csv_rows(reader)


def _csv_rows(reader) -> Iterator[list]:
    """The reader's rows; a row it cannot read (a field over Python's CSV field limit of 131,072 characters, a NUL
    byte) is a RegisterFileError naming its line, not a crash half-way."""
    try:
        yield from reader
    except csv.Error as e:
        raise RegisterFileError(f"The CSV could not be read at line {reader.line_num}: {e}.") from None


def _workbook(data: bytes):
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return book.get_sheet_by_index(0)
    except Exception:  # noqa: BLE001 - any reader error is a bad file for the user
        raise RegisterFileError("The workbook could not be read; save it again as .xlsx or CSV.") from None


def _no_headings(headers: list[str]) -> None:
    if not any(headers):
        raise RegisterFileError(
            "The file has no heading row: its first row must name the columns "
            "(download the template to see them)."
        )
    if len(headers) > MAX_COLUMNS:
        raise RegisterFileError(f"The file has {len(headers)} columns; a register has at most {MAX_COLUMNS}.")


NO_ROWS = "The file has headings but no rows under them: nothing to import."


def read_headers(name: str, data: bytes) -> list[str]:
    """The file's heading row; :class:`RegisterFileError` on a bad file (empty, too large, wrong type, zip bomb,
    unreadable, no heading row, no rows under the headings)."""
    return read_head(name, data)[0]


def read_head(name: str, data: bytes, samples: int = 0) -> tuple[list[str], list[list[str]]]:
    """(the heading row, up to ``samples`` non-empty rows under it as text) — what the mapping page shows; errors
    as :func:`read_headers`. Cells of an .xlsx are as stored: a date cell is its day number."""
    suffix = _check(name, data)
    check_row_count(name, data)
    found: list[list[str]] = []
    if suffix in TEXT_TYPES:
        headers, rows = _csv(data)
        more = False
        for row in rows:
            if any(str(c).strip() for c in row):
                more = True
                found.append([_heading(c) for c in row])
                if len(found) >= samples:
                    break
    else:
        quick = _xlsx_headers(data, samples) if suffix in (".xlsx", ".xlsm") else None
        if quick is None:  # .xls, .ods or a layout the quick look does not know: ask the full reader
            rows = iter(_safe_rows(_workbook(data)))
            headers = [_heading(h) for h in next(rows, None) or []]
            more = False
            for row in rows:
                more = True
                if any(c not in (None, "") for c in row):
                    found.append([_heading(c) for c in row])
                if len(found) >= samples:
                    break
        else:
            headers, more, found = quick
    _no_headings(headers)
    if not more:
        raise RegisterFileError(NO_ROWS)
    width = len(headers)
    return headers, [(r + [""] * width)[:width] for r in found[:samples]]


def open_rows(name: str, data: bytes) -> tuple[list[str], Iterator[list], int | None]:
    """(headings, data rows, number of data rows or None when only reading tells — CSV) of the first sheet."""
    suffix = _check(name, data)
    if suffix in TEXT_TYPES:
        headers, rows = _csv(data)
        count = None
    else:
        sheet = _workbook(data)
        rows = iter(_safe_rows(sheet))
        headers = [_heading(h) for h in next(rows, None) or []]
        count = max(sheet.height - 1, 0)
    _no_headings(headers)
    return headers, rows, count


def _safe_rows(sheet) -> Iterator[list]:
    try:
        yield from sheet.iter_rows()
    except Exception:  # noqa: BLE001 - a reader error half-way is a bad file too
        raise RegisterFileError(
            "The workbook could not be read to its end; save it again as .xlsx or CSV."
        ) from None


# --- the heading row of an .xlsx without parsing the whole sheet ------------------------------------------------

_NS = r"(?:[A-Za-z_][\w.-]*:)?"
_ROW = re.compile(rf"<{_NS}row\b[^>]*?(?:/>|>(.*?)</{_NS}row>)", re.S)
_CELL = re.compile(rf"<{_NS}c\b([^>]*?)(?:/>|>(.*?)</{_NS}c>)", re.S)
_ATTR = re.compile(r'\b(r|t)="([^"]*)"')
_VALUE = re.compile(rf"<{_NS}v>(.*?)</{_NS}v>", re.S)
_TEXT = re.compile(rf"<{_NS}t\b[^>]*?(?:/>|>(.*?)</{_NS}t>)", re.S)
_PHONETIC = re.compile(rf"<{_NS}rPh\b.*?</{_NS}rPh>", re.S)
_SI = re.compile(rf"<{_NS}si\b[^>]*?(?:/>|>(.*?)</{_NS}si>)", re.S)
_REL = re.compile(r"<(?:\w+:)?Relationship\b([^>]*)/?>")
_SHEET = re.compile(r"<(?:\w+:)?sheet\b([^>]*)/?>")


def _attrs(text: str) -> dict[str, str]:
    return dict(re.findall(r'([\w:]+)="([^"]*)"', text))


def _col(ref: str) -> int | None:
    letters = "".join(ch for ch in ref if ch.isalpha())
    if not letters:
        return None
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _stream(
    z: zipfile.ZipFile, member: str, pattern: re.Pattern, limit: int, state: dict | None = None
) -> Iterator[re.Match]:
    """Matches of ``pattern`` in a zip member read in pieces, at most ``limit`` bytes of it (``state["truncated"]``
    is set when the limit cut it short)."""
    buf, read = "", 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with z.open(member) as fh:
        while True:
            piece = fh.read(65536)
            read += len(piece)
            buf += decoder.decode(piece, final=not piece)
            end = 0
            for m in pattern.finditer(buf):
                end = m.end()
                yield m
            buf = buf[end:]
            if not piece:
                return
            if read > limit:
                if state is not None:
                    state["truncated"] = True
                return


def _first_sheet(z: zipfile.ZipFile) -> tuple[str, dict] | None:
    """(the zip member of the workbook's first sheet, the workbook's relationships), or None when not found."""
    rels = {
        a.get("Id"): a
        for a in (
            _attrs(m[1])
            for m in _REL.finditer(z.read("xl/_rels/workbook.xml.rels").decode("utf-8", errors="replace"))
        )
    }
    first = next(
        (_attrs(m[1]) for m in _SHEET.finditer(z.read("xl/workbook.xml").decode("utf-8", errors="replace"))),
        None,
    )
    rid = next((v for k, v in (first or {}).items() if k.endswith(":id")), None)
    if rid not in rels:
        return None
    target = rels[rid]["Target"]
    return (target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))), rels


_DIMENSION = re.compile(rb'<(?:\w{1,16}:)?dimension\b[^>]*?\bref="[A-Za-z]*\d*:?[A-Za-z]*(\d+)"')
_SHEET_DATA = re.compile(rb"<(\w{1,16}:)?sheetData\b")


def xlsx_row_count(data: bytes) -> int | None:
    """How many rows the first sheet of an .xlsx holds, heading included, without parsing it: the sheet's
    ``<dimension ref="A1:K1048577">`` when it has one (its first bytes), else its ``<row>`` tags counted while
    inflating (bytes.count, no XML parsed: about a second for a million rows). None when the workbook's layout is
    not the usual one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            found = _first_sheet(z)
            if found is None:
                return None
            with z.open(found[0]) as fh:
                head = fh.read(4096)
                if m := _DIMENSION.search(head):
                    return int(m[1])
                prefix = (m[1] or b"") if (m := _SHEET_DATA.search(head)) else b""
                tags = [b"<" + prefix + b"row" + end for end in (b" ", b">", b"/")]
                keep = len(tags[0]) - 1  # a tag cut between two pieces is counted once, in the second
                count, tail, piece = 0, b"", head
                while piece:
                    buf = tail + piece
                    count += sum(buf.count(tag) for tag in tags)
                    tail = buf[-keep:]
                    piece = fh.read(1 << 20)
                return count
    except (KeyError, ValueError, zipfile.BadZipFile, OSError, RuntimeError):
        return None


def check_row_count(name: str, data: bytes) -> None:
    """Refuse at upload, in well under a second, an .xlsx whose first sheet holds more data rows than the register
    takes (its dimension, else its row tags; the worker would otherwise read it all to find out)."""
    lower = (name or "").lower()
    if not lower.endswith((".xlsx", ".xlsm")):
        return
    rows = xlsx_row_count(data)
    limit = max_rows()
    if rows is not None and rows - 1 > limit:
        raise RegisterFileError(
            f"The file has {rows - 1:,} rows under its headings; a register may have at most {limit:,}. "
            "Split it into several files."
        )


def _xlsx_headers(data: bytes, samples: int = 0) -> tuple[list[str], bool, list[list[str]]] | None:
    """(the first non-empty row of the first sheet, whether a non-empty row follows it — assumed when not seen
    within the bytes looked at, up to ``samples`` non-empty rows after it), or None when this quick look cannot
    tell."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            found_sheet = _first_sheet(z)
            if found_sheet is None:
                return None
            sheet, rels = found_sheet
            cells, more, state = None, True, {}
            found = _stream(z, sheet, _ROW, _HEAD_SCAN_BYTES, state)
            for m in found:
                cells = _row_cells(m[1] or "")
                if any(v for _c, v in cells):
                    break
            else:
                return None
            below: list[list[tuple[str, str]]] = []
            for m in found:
                row = _row_cells(m[1] or "")
                if any(v for _c, v in row):
                    below.append(row)
                    if len(below) >= max(samples, 1):
                        break
            if not below:
                more = state.get("truncated", False)  # the first rows were huge: assume more follow
            wanted = {int(v) for row in (cells, *below[:samples]) for c, v in row if c == "s" and v.isdigit()}
            shared = _shared_strings(z, rels, wanted) if wanted else {}
    except (KeyError, ValueError, zipfile.BadZipFile, OSError, RuntimeError):
        return None

    def text(row: list[tuple[str, str]]) -> list[str]:
        return [
            html.unescape(shared.get(int(v), "") if t == "s" and v.isdigit() else v).strip() for t, v in row
        ]

    out = text(cells)
    while out and not out[-1]:
        out.pop()
    return out, more, [text(row) for row in below[:samples]]


def _row_cells(row_xml: str) -> list[tuple[str, str]]:
    """[(type, raw value)] of a row's cells at their column positions (missing cells are empty)."""
    cells: list[tuple[str, str]] = []
    for m in _CELL.finditer(row_xml):
        attrs = dict(_ATTR.findall(m[1]))
        col = _col(attrs.get("r", "")) if attrs.get("r") else len(cells)
        if col is None or col >= MAX_COLUMNS * 4:
            raise ValueError("unexpected cell reference")
        body, kind = m[2] or "", attrs.get("t", "n")
        if kind == "inlineStr":
            value = "".join(t or "" for t in _TEXT.findall(_PHONETIC.sub("", body)))
        else:
            v = _VALUE.search(body)
            value = v[1] if v else ""
            if kind == "n" and value:
                number = float(value)
                value = str(int(number)) if number.is_integer() else value
        cells.extend([("", "")] * (col - len(cells)))
        cells.append((kind, value))
    return cells


def _shared_strings(z: zipfile.ZipFile, rels: dict, wanted: set[int]) -> dict[int, str]:
    target = next(
        (a["Target"] for a in rels.values() if a.get("Type", "").endswith("/sharedStrings")),
        "sharedStrings.xml",
    )
    member = target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
    if member not in z.namelist():
        member = join(dirname(member), "sharedStrings.xml")
    out, last = {}, max(wanted)
    for i, m in enumerate(_stream(z, member, _SI, MAX_UNZIPPED_BYTES)):
        if i in wanted:
            out[i] = "".join(t or "" for t in _TEXT.findall(_PHONETIC.sub("", m[1] or "")))
        if i >= last:
            break
    return out

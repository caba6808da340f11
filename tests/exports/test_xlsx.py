"""ims_project.xlsx: the streaming writer's files open in openpyxl and python-calamine with the right values."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from ims_project.xlsx import write_xlsx

IST = ZoneInfo("Asia/Kolkata")
HEADERS = ["GSTIN", "Number", "Date", "Taxable", "Count", "Rate", "Filed", "Note", "Seen at"]
ROW = [
    "27AAACA1234A1Z5",
    "INV/001",
    dt.date(2025, 10, 5),
    Decimal("12345.67"),
    3,
    0.18,
    True,
    None,
    dt.datetime(2025, 10, 5, 13, 45, tzinfo=IST),  # written as its wall clock, tzinfo dropped
]


def openpyxl_rows(data: bytes):
    return list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


def calamine_rows(data: bytes):
    return (
        CalamineWorkbook.from_filelike(io.BytesIO(data))
        .get_sheet_by_index(0)
        .to_python(skip_empty_area=False)
    )


def write(rows, headers=HEADERS, **kw) -> tuple[bytes, int]:
    buf = io.BytesIO()
    n = write_xlsx(buf, sheet_name=kw.get("sheet_name", "Documents"), headers=headers, rows=rows)
    return buf.getvalue(), n


def test_values_and_types_survive_in_openpyxl():
    data, n = write([ROW])
    assert n == 1
    header, row = openpyxl_rows(data)
    assert header == tuple(HEADERS)
    assert row[:2] == ("27AAACA1234A1Z5", "INV/001")
    assert row[2] == dt.datetime(2025, 10, 5)  # noqa: DTZ001 - a real date cell; Excel cells are naive
    assert Decimal(str(row[3])) == Decimal("12345.67")
    assert row[4:8] == (3, 0.18, True, None)
    assert row[8] == dt.datetime(2025, 10, 5, 13, 45)  # noqa: DTZ001 - read back naive: Excel has no zone


def test_values_and_types_survive_in_calamine():
    data, _ = write([ROW])
    header, row = calamine_rows(data)
    assert header == HEADERS
    assert row[0] == "27AAACA1234A1Z5"
    assert row[2] == dt.date(2025, 10, 5)
    assert row[3] == pytest.approx(12345.67)
    assert isinstance(row[3], float)
    assert row[4] == 3
    assert row[6] is True
    assert row[8] == dt.datetime(2025, 10, 5, 13, 45)  # noqa: DTZ001 - read back naive: Excel has no zone


def test_dates_show_dd_mm_yyyy_amounts_in_indian_grouping_header_bold_frozen_and_filtered():
    data, _ = write([ROW, ROW])
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws.title == "Documents"
    assert ws["C2"].number_format == "dd\\-mm\\-yyyy"
    assert ws["D2"].number_format == "#,##,##0.00"  # 1,23,45,678.00 as accountants here write it
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(HEADERS))}3"
    assert ws["A1"].font.b
    assert not ws["A2"].font.b
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["A"].width >= len("27AAACA1234A1Z5")
    assert ws.column_dimensions["H"].width >= 8


def test_zero_rows_gives_a_header_only_sheet():
    data, n = write([])
    assert n == 0
    assert openpyxl_rows(data) == [tuple(HEADERS)]
    assert calamine_rows(data) == [HEADERS]


def test_odd_characters_are_escaped_or_stripped():
    odd = [
        "<b>&amp; \"quotes\" 'x'</b>",
        "bell\x07null\x00vt\x0b",
        "  leading and trailing  ",
        "₹ नमस्ते 🙂",
        "line1\nline2",
        "_x000D_ literal",
        "lone \ud800 surrogate",
    ]
    data, _ = write([odd], headers=[f"c{i}" for i in range(len(odd))])
    expected = [
        "<b>&amp; \"quotes\" 'x'</b>",
        "bellnullvt",
        "  leading and trailing  ",
        "₹ नमस्ते 🙂",
        "line1\nline2",
        "_x000D_ literal",
        "lone  surrogate",
    ]
    assert calamine_rows(data)[1] == expected  # calamine, like Excel, reads "_x005F_" back as "_"
    from_openpyxl = list(openpyxl_rows(data)[1])
    assert from_openpyxl[5] == "_x005F_x000D_ literal"  # openpyxl leaves the escape as written
    assert from_openpyxl[:5] + from_openpyxl[6:] == expected[:5] + expected[6:]


def test_big_and_negative_decimals_are_exact_to_the_paisa():
    amounts = [
        Decimal("9999999999999.99"),
        Decimal("-1234567890123.45"),
        Decimal("0.10"),
        Decimal("1E+2"),
        Decimal("12.345"),
    ]
    data, _ = write([amounts], headers=list("ABCDE"))
    row = openpyxl_rows(data)[1]
    assert [Decimal(str(v)) for v in row] == [
        Decimal("9999999999999.99"),
        Decimal("-1234567890123.45"),
        Decimal("0.1"),
        Decimal("100"),
        Decimal("12.345"),
    ]
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in calamine_rows(data)[1][:2]] == amounts[:2]


def test_huge_integers_are_kept_as_text_rather_than_rounded():
    data, _ = write([[12345678901234567890, 42]], headers=["id", "n"])
    assert openpyxl_rows(data)[1] == ("12345678901234567890", 42)


def test_writes_to_a_path_and_streams_a_generator_once(tmp_path):
    produced = []

    def rows():
        for i in range(1000):
            produced.append(i)
            yield [f"INV/{i}", Decimal(i) / 4, dt.date(2025, 4, 1) + dt.timedelta(days=i % 365)]

    path = tmp_path / "out.xlsx"
    assert write_xlsx(path, sheet_name="A/B:C*?[x]", headers=["n", "v", "d"], rows=rows()) == 1000
    assert len(produced) == 1000
    assert zipfile.ZipFile(path).testzip() is None
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["A B C   x"]
    rows_back = list(wb.active.iter_rows(values_only=True))
    assert len(rows_back) == 1001
    assert rows_back[-1][0] == "INV/999"
    assert Decimal(str(rows_back[-1][1])) == Decimal("249.75")


def test_subclasses_and_other_objects_are_written_by_their_plain_value():
    from enum import StrEnum

    class Status(StrEnum):
        FILED = "filed"

    class Day(dt.date):
        pass

    data, _ = write(
        [[Status.FILED, Day(2025, 3, 31), object.__new__(type("X", (), {"__str__": lambda s: "x!"}))]],
        headers=["status", "day", "obj"],
    )
    assert openpyxl_rows(data)[1] == ("filed", dt.datetime(2025, 3, 31), "x!")  # noqa: DTZ001 - Excel is naive

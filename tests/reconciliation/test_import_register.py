"""Purchase-register import through the page, the worker and the REST API: every row's validation (GSTIN check
character, dates, amounts, tax split against the place of supply), the error report, the template, re-import
updating by ERP reference with one audit event per line, and bad files (wrong type, empty, headings only, zip bomb,
too many rows, repeated references) answered clearly with nothing lost."""

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from python_calamine import CalamineWorkbook

from audit.models import AuditEvent
from ims_project.xlsx import write_xlsx
from reconciliation import services
from reconciliation.domain import register_rows
from reconciliation.models import PurchaseLine, RegisterImport
from tenancy.scoping import tenant_scope
from tests.factories import gstin_for
from tests.tokens import api_token

REGISTER = "/t/acme/reconciliation/register/"
HEAD = [
    "Recipient GSTIN",
    "Supplier GSTIN",
    "Document type",
    "Document number",
    "Document date",
    "Taxable value",
    "IGST",
    "CGST",
    "SGST/UTGST",
    "Cess",
    "Place of supply",
    "ERP reference",
]
INTRA = gstin_for(7101, "27")  # a supplier in the recipient's state (27)
INTER = gstin_for(7102, "29")  # a supplier in another state


def row(
    reg,
    ref,
    *,
    supplier=INTER,
    number=None,
    date="05-10-2025",
    taxable="10000",
    igst="1800",
    cgst="0",
    sgst="0",
    pos="",
    kind="Invoice",
):
    return [reg.gstin, supplier, kind, number or f"B-{ref}", date, taxable, igst, cgst, sgst, "0", pos, ref]


def csv_data(rows, head=HEAD) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue().encode()


def xlsx_data(rows, head=HEAD) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, sheet_name="Register", headers=head, rows=rows)
    return buf.getvalue()


def upload(c, name, data):
    return c.post(REGISTER, {"file": SimpleUploadedFile(name, data)})


def upload_and_run(c, name, data):
    """Upload through the page and run the queued import as the worker does; the finished job."""
    r = upload(c, name, data)
    assert r.status_code == 302, r.content.decode()[:2000]
    pk = int(r.url.rstrip("/").rsplit("/", 1)[-1])
    return services.run_import(import_id=pk)


def report_rows(c, job) -> list[dict]:
    r = c.get(f"{REGISTER}imports/{job.pk}/errors/")
    assert r.status_code == 200
    assert r["Content-Disposition"].endswith('.xlsx"')
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(r.streaming_content)))
    assert wb.sheetnames == ["About", "Import problems"]
    header, *rows = wb["Import problems"].iter_rows(values_only=True)
    return [{h: "" if v is None else str(v) for h, v in zip(header, row, strict=True)} for row in rows]


def lines(tenant):
    with tenant_scope(tenant):
        return {p.erp_ref: p for p in PurchaseLine.objects.filter(tenant=tenant)}


def test_rows_that_cannot_be_read_are_refused_and_rows_that_break_a_gst_rule_are_imported_flagged(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    bad_check = INTER[:-1] + ("A" if INTER[-1] != "A" else "B")
    data = csv_data(
        [
            row(reg_a1, "OK-1"),  # inter-state, IGST
            row(reg_a1, "OK-2", supplier=INTRA, igst="0", cgst="900", sgst="900"),  # intra-state, CGST = SGST
            row(
                reg_a1,
                "OK-3",
                taxable="1,23,456.78",
                igst="22,222.22",
                date="5-Oct-25",
                pos="29-Karnataka",
                supplier=INTRA,
            ),  # POS 29: inter-state
            row(reg_a1, "FLAG-1", supplier=bad_check),  # GSTIN check character
            row(reg_a1, "BAD-2", date="31-02-2025"),  # impossible date
            row(reg_a1, "BAD-3", taxable="12,34,5x"),  # not an amount
            row(reg_a1, "FLAG-4", supplier=INTRA),  # IGST within the state
            row(reg_a1, "FLAG-5", igst="0", cgst="900", sgst="900"),  # CGST across states
            row(reg_a1, "FLAG-6", supplier=INTRA, igst="0", cgst="900", sgst="950"),  # CGST ≠ SGST
            row(reg_a1, "FLAG-7", date="05-10-2099"),  # in the future
            row(reg_a1, "FLAG-8", date="05-10-2016"),  # before GST
            row(reg_a1, "FLAG-9", igst="18000"),  # 180 %: columns swapped?
            row(reg_a1, "BAD-10", pos="Atlantis"),  # unknown place of supply
            row(reg_a1, "FLAG-11", number="INV/2025-26/000042"),  # 18 characters
            row(reg_a1, "BAD-12", supplier="27ABCDE1234F1Z"),  # 14 characters: not a GSTIN
        ]
    )
    job = upload_and_run(c, "register.csv", data)
    assert (job.status, job.created, job.flagged, job.error_count) == ("done", 11, 8, 4)
    stored = lines(tenant_a)
    assert set(stored) == {"OK-1", "OK-2", "OK-3"} | {f"FLAG-{n}" for n in (1, 4, 5, 6, 7, 8, 9, 11)}
    assert (stored["OK-3"].taxable, stored["OK-3"].igst, stored["OK-3"].doc_date, stored["OK-3"].pos) == (
        Decimal("123456.78"),
        Decimal("22222.22"),
        dt.date(2025, 10, 5),
        "29",
    )
    assert stored["OK-1"].number_norm == "BOK1"
    assert stored["OK-1"].period_booked == dt.date(2025, 10, 1)
    assert stored["OK-1"].flags == {}
    flags = {ref: set(p.flags) for ref, p in stored.items() if p.flags}
    assert flags == {
        "FLAG-1": {"gstin_checksum"},
        "FLAG-4": {"tax_split"},
        "FLAG-5": {"tax_split"},
        "FLAG-6": {"cgst_sgst_differ"},
        "FLAG-7": {"date_future"},
        "FLAG-8": {"date_before_gst"},
        "FLAG-9": {"tax_over_rate"},
        "FLAG-11": {"number_too_long"},
    }
    assert stored["FLAG-1"].supplier_gstin == bad_check
    assert stored["FLAG-1"].flags["gstin_checksum"].startswith("Supplier GSTIN check character is ")
    assert stored["FLAG-4"].flags["tax_split"].startswith("IGST must be 0 within a state")
    assert stored["FLAG-6"].flags["cgst_sgst_differ"].startswith("SGST/UTGST must equal CGST")
    assert "180 %" in stored["FLAG-9"].flags["tax_over_rate"]
    assert stored["FLAG-11"].doc_number == "INV/2025-26/000042"

    report = report_rows(c, job)
    refused = {r["Row"]: (r["Column"], r["Problem"]) for r in report if r["Result"] == "not imported"}
    assert refused == {
        "6": (
            "Document date",
            "is not a date: no such day in that month (dates are DD-MM-YYYY, e.g. 05-10-2025)",
        ),
        "7": ("Taxable value", refused["7"][1]),
        "14": ("Place of supply", refused["14"][1]),
        "16": ("Supplier GSTIN", "GSTIN must be 15 characters, got 14"),
    }
    assert "amount" in refused["7"][1]
    flagged = {
        r["Row"]: (r["Column"], r["Value"], r["Problem"])
        for r in report
        if r["Result"] == "imported, flagged"
    }
    assert set(flagged) == {"5", "8", "9", "10", "11", "12", "13", "15"}
    # each flag names its column and the cell as typed; its message reads after the column's heading
    assert flagged["5"][:2] == ("Supplier GSTIN", bad_check)
    assert flagged["8"] == ("IGST", "1800", flagged["8"][2])
    assert flagged["8"][2].startswith("IGST must be 0 within a state")
    assert flagged["9"][:2] == ("CGST", "900")
    assert flagged["9"][2].startswith("CGST must be 0 across states")
    assert "CGST and SGST apply only within a state, charge IGST" in flagged["9"][2]
    assert flagged["10"][:2] == ("SGST/UTGST", "950")
    assert flagged["11"][:2] == ("Document date", "05-10-2099")
    assert flagged["13"] == ("Taxable value", "10000", flagged["13"][2])
    assert flagged["13"][2].startswith("Taxable value is too small for the tax: IGST + CGST + SGST is 180 %")
    assert flagged["15"] == (
        "Document number",
        "INV/2025-26/000042",
        "Document number must be at most 16 characters, got 18",
    )

    page = c.get(f"{REGISTER}imports/{job.pk}/").content.decode()
    assert "The rows that could not be read were skipped; the other rows were imported." in page
    assert "8 imported lines break a GST rule" in page
    assert "4 rows not imported, 8 flagged" in page
    assert 'id="import-refused"' in page
    assert "A row that breaks a GST rule is imported and flagged" in c.get(REGISTER).content.decode()


def test_xlsx_with_date_cells_numbers_day_numbers_and_indian_text_amounts(
    tenant_a, reg_a1, alice, client_for
):
    rows = [
        [
            reg_a1.gstin,
            INTER,
            "Tax Invoice",
            "INV/25-26/0042",
            dt.date(2025, 10, 5),
            Decimal("10000.00"),
            1800.0,
            0,
            None,
            None,
            "Maharashtra",
            "PV-1",
        ],
        [reg_a1.gstin, INTRA, "CN", "CN-7", 45935, "-1,000.00", None, "-90.00", "-90.00", None, 27, "PV-2"],
    ]
    job = upload_and_run(client_for(alice), "books.xlsx", xlsx_data(rows))
    assert (job.status, job.created, job.error_count) == ("done", 2, 0), job.errors
    stored = lines(tenant_a)
    assert (stored["PV-1"].kind, stored["PV-1"].igst, stored["PV-1"].pos) == (
        "invoice",
        Decimal("1800.00"),
        "27",
    )
    assert (stored["PV-2"].kind, stored["PV-2"].doc_date, stored["PV-2"].cgst) == (
        "credit_note",
        dt.date(2025, 10, 5),
        Decimal("-90.00"),
    )


def test_reimport_updates_by_erp_reference_with_one_audit_event_per_line_and_a_summary(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    rows = [row(reg_a1, f"PV-{n}") for n in range(5)]
    first = upload_and_run(c, "r.csv", csv_data(rows))
    assert (first.created, first.updated, first.unchanged) == (5, 0, 0)
    rows[1] = row(reg_a1, "PV-1", taxable="20000", igst="3600")
    again = upload_and_run(c, "r.csv", csv_data(rows))
    assert (again.created, again.updated, again.unchanged) == (0, 1, 4)
    stored = lines(tenant_a)
    assert len(stored) == 5
    assert stored["PV-1"].taxable == Decimal("20000.00")
    with tenant_scope(tenant_a):
        events = AuditEvent.objects.filter(tenant=tenant_a, request_id__startswith="register-import-")
        created = events.filter(action="register.line_created", request_id=f"register-import-{first.pk}")
        assert created.count() == 5
        assert {e.object_id for e in created} == {str(p.pk) for p in stored.values()}
        updated = events.get(action="register.line_updated")
        assert updated.object_id == str(stored["PV-1"].pk)
        assert updated.metadata == {"erp_ref": "PV-1"}
        assert updated.changes == {"taxable": ["10000.00", "20000.00"], "igst": ["1800.00", "3600.00"]}
        summary = events.get(action="register.imported", request_id=f"register-import-{again.pk}")
        assert (summary.metadata["updated"], summary.metadata["unchanged"]) == (1, 4)


def test_one_erp_reference_on_several_rows_of_one_bill_is_one_line_of_their_sums_of_different_documents_flagged(
    tenant_a, reg_a1, alice, client_for
):
    """A voucher exported item by item (docs/rules/matching.md §7, "Repeated ERP references"): its rows are one line,
    amounts added up, a nil-rated item's value outside the tax; one reference on rows of different documents keeps
    each row as its own line, flagged, and importing the file again replaces them."""
    c = client_for(alice)
    upload_and_run(c, "r.csv", csv_data([row(reg_a1, "PV-1")]))
    data = csv_data(
        [
            row(reg_a1, "PV-1", number="B-77", taxable="5000", igst="900"),  # 18 % item
            row(reg_a1, "PV-2"),
            row(reg_a1, "PV-1", number="B/77", taxable="7000", igst="840"),  # 12 % item, spelt otherwise
            row(reg_a1, "PV-1", number="B-77", taxable="300", igst="0"),  # a nil-rated item of the bill
            row(reg_a1, "PV-9", number="B-91"),
            row(
                reg_a1, "PV-9", number="B-92", taxable="2000", igst="360"
            ),  # another bill under the same voucher
        ]
    )
    job = upload_and_run(c, "r.csv", data)
    assert (job.status, job.created, job.updated, job.error_count, job.flagged) == ("done", 3, 1, 0, 2)
    stored = lines(tenant_a)
    bill = stored["PV-1"]
    assert (bill.taxable, bill.igst, bill.exempt_value, bill.flags) == (
        Decimal("12000.00"),
        Decimal("1740.00"),
        Decimal("300.00"),
        {},
    )
    assert sorted(stored) == ["PV-1", "PV-2", "PV-9#6", "PV-9#7"]
    assert all("erp_ref_shared" in stored[r].flags for r in ("PV-9#6", "PV-9#7"))
    report = report_rows(c, job)
    assert [(r["Row"], r["Result"]) for r in report if r["Value"] == "PV-1"] == [
        ("2", "imported as one line")
    ]
    assert "rows 2, 4, 5 are one bill" in report[0]["Problem"]
    assert {r["Row"] for r in report if r["Value"] == "PV-9"} == {"6", "7"}
    again = upload_and_run(c, "r.csv", data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert len(lines(tenant_a)) == 4


def test_template_downloads_with_the_register_headings_and_is_recognised_on_upload(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    r = c.get(f"{REGISTER}template/")
    assert r.status_code == 200
    assert r["Content-Disposition"].endswith('purchase-register-template.xlsx"')
    data = b"".join(r.streaming_content)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert sheet[0] == [label for _f, label, _r in register_rows.COLUMNS]
    example = sheet[1]
    example[0] = reg_a1.gstin  # the user's own GSTIN in the template's example row
    job = upload_and_run(c, "filled.xlsx", xlsx_data([example], head=sheet[0]))
    assert (job.status, job.created, job.error_count) == ("done", 1, 0), job.errors


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("register.pdf", b"%PDF-1.4 ...", "Upload an Excel (.xlsx, .xls), OpenDocument (.ods) or CSV file."),
        ("register.csv", b"", "The file is empty."),
        ("register.csv", b"Recipient GSTIN,Supplier GSTIN\n", "headings but no rows"),
        ("register.xlsx", b"this is not a zip", "not a valid Excel workbook"),
        ("register.csv", b"PK\x03\x04 an xlsx renamed", "is not text"),
        ("register.xlsx", None, "zip bomb"),
        ("register.xlsx", "headings only", "headings but no rows"),
    ],
)
def test_bad_files_get_a_clear_answer_and_change_nothing(
    tenant_a, reg_a1, alice, client_for, name, data, message
):
    if data is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("xl/worksheets/sheet1.xml", b"<row>" * 2_000_000)
        data = buf.getvalue()
    elif data == "headings only":
        data = xlsx_data([])
    c = client_for(alice)
    upload_and_run(c, "r.csv", csv_data([row(reg_a1, "PV-1")]))
    r = upload(c, name, data)
    assert r.status_code == 400
    assert message in r.content.decode()
    with tenant_scope(tenant_a):
        assert RegisterImport.objects.count() == 1
    assert lines(tenant_a)["PV-1"].taxable == Decimal("10000.00")


def test_too_large_and_too_many_rows_are_refused_with_nothing_written(
    tenant_a, reg_a1, alice, client_for, settings
):
    c = client_for(alice)
    settings.RECON_REGISTER_MAX_ROWS = 2
    # A workbook is refused at upload (test_register_upload_limits.py); a CSV when the worker has read it.
    r = upload(c, "r.xlsx", xlsx_data([row(reg_a1, f"PV-{n}") for n in range(3)]))
    assert r.status_code == 400
    assert "a register may have at most 2" in r.content.decode()
    csv_job = upload_and_run(c, "r.csv", csv_data([row(reg_a1, f"PV-{n}") for n in range(3)]))
    assert csv_job.status == "failed"
    assert "more than 2 rows" in csv_job.message
    assert lines(tenant_a) == {}
    assert "Failed: " in c.get(f"{REGISTER}imports/{csv_job.pk}/").content.decode()
    settings.RECON_REGISTER_MAX_BYTES = 100
    r = upload(c, "r.csv", csv_data([row(reg_a1, "PV-1")]))
    assert r.status_code == 400
    assert "too large" in r.content.decode()


def test_headings_are_read_without_parsing_the_sheet_and_match_the_full_reader(tenant_a):
    from reconciliation import register_file

    head = ["Recipient GSTIN", "Supplier & Co GSTIN", "2025", "Date <booked>"]
    data = xlsx_data([["a", "b", 1, dt.date(2025, 1, 1)]] * 3, head=head)
    assert register_file.read_headers("r.xlsx", data) == head
    assert register_file.open_rows("r.xlsx", data)[0] == head


def test_rest_upsert_flags_the_tax_split_adds_up_one_bills_lines_and_audits_each_line(
    tenant_a, reg_a1, alice, client
):
    token = api_token(alice)
    h = {"HTTP_AUTHORIZATION": f"Token {token.key}"}

    def line(ref, **kw):
        return {
            "recipient_gstin": reg_a1.gstin,
            "supplier_gstin": INTER,
            "kind": "Invoice",
            "doc_number": ref,
            "doc_date": "05-10-2025",
            "taxable": "10000",
            "igst": "1800",
            "erp_ref": ref,
            **kw,
        }

    body = {
        "lines": [
            line("A-1"),
            line("A-2", supplier_gstin=INTRA),
            line("A-3"),
            line("A-3", taxable="500", igst="90"),  # a second item of bill A-3
            line("A-4"),
            line("A-4", doc_number="A-4X"),  # another document under the same reference
        ]
    }
    r = client.post("/api/v1/t/acme/purchase-register/", body, content_type="application/json", **h)
    assert r.status_code == 200
    out = r.json()
    assert (out["created"], out["rejected"], out["errors"]) == (5, 0, [])
    assert out["summed"] == [{"erp_ref": "A-3", "indexes": [2, 3], "flags": {}}]
    assert [(f["index"], list(f["flags"])) for f in out["flagged"]] == [
        (1, ["tax_split"]),
        (4, ["erp_ref_shared"]),
        (5, ["erp_ref_shared"]),
    ]
    assert out["flagged"][0]["flags"]["tax_split"].startswith("IGST must be 0 within a state")
    with tenant_scope(tenant_a):
        a3 = PurchaseLine.objects.get(tenant=tenant_a, erp_ref="A-3")
    assert (a3.taxable, a3.igst) == (Decimal("10500.00"), Decimal("1890.00"))
    again = client.post(
        "/api/v1/t/acme/purchase-register/",
        {"lines": [line("A-1", igst="1700")]},
        content_type="application/json",
        **h,
    ).json()
    assert (again["updated"], again["rejected"]) == (1, 0)
    with tenant_scope(tenant_a):
        actions = list(
            AuditEvent.objects.filter(tenant=tenant_a, action__startswith="register.")
            .order_by("seq")
            .values_list("action", flat=True)
        )
    assert actions == [
        *["register.line_created"] * 5,
        "register.upserted",
        "register.line_updated",
        "register.upserted",
    ]


def test_a_file_over_50_mb_is_refused_at_upload_with_the_default_limit_and_nothing_written(
    tenant_a, reg_a1, alice, client_for
):
    """The issue's "50 MB file": with the shipped limits (50 MiB), a register file just over it is refused before
    any parsing, with a message that says so, and the register is untouched."""
    from reconciliation.register_file import max_upload_bytes

    c = client_for(alice)
    assert upload_and_run(c, "first.csv", csv_data([row(reg_a1, "PV-1")])).created == 1
    body = csv_data([row(reg_a1, f"PV-{n}") for n in range(2, 2002)])
    repeats = max_upload_bytes() // len(body) + 1
    big = body + body.split(b"\n", 1)[1] * repeats  # valid rows, one heading, over the limit
    assert len(big) > max_upload_bytes() >= 50 * 1000 * 1000
    r = upload(c, "big.csv", big)
    assert r.status_code == 400
    assert "too large" in r.content.decode()
    assert set(lines(tenant_a)) == {"PV-1"}


def test_the_error_report_cannot_run_a_formula_from_the_file(tenant_a, reg_a1, alice, client_for):
    c = client_for(alice)
    job = upload_and_run(
        c, "register.csv", csv_data([row(reg_a1, "X-1", taxable='=HYPERLINK("http://x","y")')])
    )
    (refused,) = [r for r in report_rows(c, job) if r["Result"] == "not imported"]
    assert refused["Value"] == "'" + '=HYPERLINK("http://x","y")'  # shown as the text, never run


def test_the_import_page_links_to_the_lines_that_import_left_flagged_and_no_others(
    tenant_a, reg_a1, alice, charlie, client_for
):
    c = client_for(alice)
    first = upload_and_run(
        c, "october.csv", csv_data([row(reg_a1, "OCT-OK"), row(reg_a1, "OCT-FLAG", date="05-10-2099")])
    )
    second = upload_and_run(
        c,
        "november.csv",
        csv_data(
            [
                row(reg_a1, "NOV-OK"),
                row(reg_a1, "NOV-FLAG-1", supplier=INTRA),  # IGST within the state
                row(reg_a1, "NOV-FLAG-2", number="INV/2025-26/000099"),  # 18 characters
            ]
        ),
    )
    assert (first.flagged, second.flagged) == (1, 2)

    page = c.get(f"{REGISTER}imports/{second.pk}/").content.decode()
    link = f"/t/acme/reconciliation/register/lines/?import={second.pk}"
    assert f'href="{link}" id="flagged-link">2 imported lines break a GST rule' in page
    assert 'id="import-refused"' not in page  # no row refused: no empty table of them
    shown = c.get(link).content.decode()
    assert 'data-ref="NOV-FLAG-1"' in shown
    assert 'data-ref="NOV-FLAG-2"' in shown
    assert 'data-ref="OCT-FLAG"' not in shown
    assert 'data-ref="NOV-OK"' not in shown
    assert "Lines flagged by the import of <strong>november.csv</strong>" in shown
    older = c.get(f"/t/acme/reconciliation/register/lines/?import={first.pk}").content.decode()
    assert 'data-ref="OCT-FLAG"' in older
    assert "NOV-FLAG" not in older
    # the flag filter narrows the import's lines further
    narrowed = c.get(f"{link}&flag=number_too_long").content.decode()
    assert 'data-ref="NOV-FLAG-2"' in narrowed
    assert 'data-ref="NOV-FLAG-1"' not in narrowed

    # no import, or an import of another organisation, shows no line
    assert c.get("/t/acme/reconciliation/register/lines/?import=x1").status_code == 400
    other = client_for(charlie).get(f"/t/bharat/reconciliation/register/lines/?import={second.pk}")
    assert other.status_code == 400
    assert "No import" in other.content.decode()
    assert "NOV-FLAG" not in other.content.decode()

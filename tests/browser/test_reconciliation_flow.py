"""In a real browser, the reconciliation as a user does it: download the register template, upload a register with
headings of one's own (confirming the column mapping), watch the import finish, reconcile a month, open the
mismatch side by side, then apply the recommended action (accept) to the exact matches through the bulk-action
confirmation and see in the inward documents list that exactly those are now accepted; last, write the corrections
back to the ERP (refused plainly until a webhook receives them, then sent after a confirmation with their count).

There is no worker in tests: the test process runs what the worker would (the queued register import and the
queued reconciliation) while the pages poll their progress (htmx)."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from playwright.sync_api import expect

from invoices.services.ingest import ingest_documents
from reconciliation.models import JobStatus, ReconRun, RegisterImport
from reconciliation.tasks import run_import_task, run_recon_task
from suppliers.services import create_webhook
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.browser

DATE = dt.date(2025, 10, 5)
EXACT = ["EX/001", "EX/002", "EX/003"]
TOLERANCE, MISMATCH, ONLY_SUPPLIER, ONLY_REGISTER = "TL/004", "MM/005", "MS/006", "RG/007"


@pytest.fixture
def org(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # uploads and kept register files
    tenant = factories.make_tenant("Recon Traders", "recon")
    reg = factories.make_registration(tenant, state="27", n=21)
    user = factories.make_user("meera")
    factories.make_member(tenant, user, "owner")
    supplier = factories.gstin_for(8301, "27")  # same state as the recipient: CGST and SGST
    with tenant_scope(tenant):
        records = [
            factories.document_record(
                supplier_gstin=supplier, number=n, date=DATE, pos="27", taxable=Decimal("10000.00")
            )
            for n in [*EXACT, TOLERANCE, MISMATCH, ONLY_SUPPLIER]
        ]
        assert not ingest_documents(
            tenant=tenant, registration=reg, records={"b2b": records}, actor=factories.SYSTEM, source="demo"
        ).errors
    return {"tenant": tenant, "reg": reg, "supplier": supplier}


def register_file(template: bytes, reg, supplier) -> bytes:
    """The user's register: the template's headings except their own name for the ERP reference column."""
    headers = [
        c.value for c in next(openpyxl.load_workbook(io.BytesIO(template)).active.iter_rows(max_row=1))
    ]
    assert "ERP reference" in headers
    headers[headers.index("ERP reference")] = "Our voucher"

    def row(number, *, taxable="10000.00", cgst="900.00", sgst="900.00"):
        values = {
            "Recipient GSTIN": reg.gstin,
            "Supplier GSTIN": supplier,
            "Document type": "Invoice",
            "Document number": number,
            "Document date": DATE,
            "Taxable value": Decimal(taxable),
            "IGST": Decimal("0"),
            "CGST": Decimal(cgst),
            "SGST/UTGST": Decimal(sgst),
            "Cess": Decimal("0"),
            "Place of supply": "27",
            "Reverse charge": "N",
            "Our voucher": f"PV-{number}",
            "Period booked": "102025",
            "ITC claimed": "Y",
        }
        return [values.get(h) for h in headers]  # the optional columns left empty

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers)
    for n in EXACT:
        sheet.append(row(n))
    sheet.append(row(TOLERANCE, cgst="899.50", sgst="899.50"))  # ₹0.50 per head: within the ₹1 tolerance
    sheet.append(row(MISMATCH, taxable="10500.00"))  # taxable value ₹500 more than the supplier's
    sheet.append(row(ONLY_REGISTER))  # the supplier has not reported it
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run_queued(tenant, model, task) -> int:
    """What the Celery worker does with the queued jobs of ``model``."""
    with tenant_scope(tenant):
        ids = list(model.objects.filter(status=JobStatus.QUEUED).values_list("id", flat=True))
    for pk in ids:
        task(pk)
    return len(ids)


def test_upload_register_reconcile_open_mismatch_and_accept_exact_matches(org, log_in, tmp_path, settings):
    tenant, reg = org["tenant"], org["reg"]
    page = log_in("meera", factories.PASSWORD)
    page.get_by_role("link", name="Reconciliation").click()
    page.wait_for_url(re.compile(r"/t/recon/reconciliation/$"))
    page.get_by_role("link", name="Purchase register").click()
    page.wait_for_url(re.compile(r"/reconciliation/register/$"))

    # The template, filled in with the user's own heading for one column.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the template").click()
    template = tmp_path / info.value.suggested_filename
    info.value.save_as(template)
    upload = tmp_path / "october-purchases.xlsx"
    upload.write_bytes(register_file(template.read_bytes(), reg, org["supplier"]))

    page.set_input_files("input[name=file]", str(upload))
    with page.expect_navigation():
        page.get_by_role("button", name="Import").click()
    # "Our voucher" is not a heading the import knows: the user maps it to the ERP reference.
    expect(page.locator("#column-mapping")).to_be_visible()
    assert page.locator(".unrecognised").all_inner_texts() == ["Our voucher"]
    assert (
        page.locator("#map-doc_number").input_value() == "Document number"
    )  # the template's headings guessed
    page.select_option("#map-erp_ref", "Our voucher")
    # Its first rows show under the field as soon as it is chosen, before anything is sent.
    vouchers = page.locator("#file-preview tbody tr").evaluate_all(
        "rows => rows.map(r => r.children[[...r.closest('table').querySelectorAll('thead th')]"
        ".findIndex(th => th.textContent === 'Our voucher')].textContent)"
    )
    assert vouchers
    expect(page.locator('td.samples[data-field="erp_ref"]')).to_have_text(" · ".join(vouchers))
    # A column with nothing in its first rows says so, on the page and as soon as it is chosen again.
    empty = page.locator('td.samples[data-field="port_code"]')
    expect(empty).to_have_text("empty in the first rows")
    page.select_option("#map-port_code", "")
    expect(empty).to_have_text("")
    page.select_option("#map-port_code", "Port code")
    expect(empty).to_have_text("empty in the first rows")
    with page.expect_navigation():
        page.get_by_role("button", name="Import with this mapping").click()
    page.wait_for_url(re.compile(r"/reconciliation/register/imports/\d+/$"))
    expect(page.locator("#import-body")).to_contain_text("Queued")
    assert run_queued(tenant, RegisterImport, run_import_task) == 1
    expect(page.locator("#import-done")).to_contain_text("6 rows · created 6")  # htmx polled the progress
    expect(page.locator("#import-done")).to_contain_text("rows that could not be read 0")

    # Reconcile October for the GSTIN.
    page.get_by_role("link", name="Reconciliation").click()
    page.wait_for_url(re.compile(r"/t/recon/reconciliation/$"))
    expect(page.locator("select[name=registrations] option:checked")).to_have_text([reg.gstin])
    page.fill("input[name=date_from]", "01-10-2025")
    page.fill("input[name=date_to]", "31-10-2025")
    with page.expect_navigation():
        page.get_by_role("button", name="Reconcile").click()
    expect(page.locator("#run-progress")).to_contain_text("Queued")
    assert run_queued(tenant, ReconRun, run_recon_task) == 1
    summary = page.locator("#recon-summary")
    expect(summary).to_be_visible()  # htmx saw the run done and reloaded the page
    counts = {
        r.locator("td").nth(0).inner_text(): (
            r.locator("td").nth(1).inner_text(),
            r.locator("td").nth(2).inner_text(),
        )
        for r in summary.locator("tbody tr").all()
    }
    assert counts == {
        "Exact match": ("3", "3"),
        "Within tolerance": ("1", "1"),
        "Mismatch": ("1", "1"),
        "Only in supplier data": ("0", "1"),
        "Only in books": ("1", "0"),
    }

    # The mismatch, side by side: the taxable value differs by ₹500, nothing else does.
    summary.get_by_role("link", name="Mismatch").click()
    page.wait_for_url(re.compile(r"/reconciliation/matches/\?run=\d+&outcome=mismatch"))
    rows = page.locator("#recon-matches tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(MISMATCH)
    rows.first.get_by_role("link", name="view").click()
    page.wait_for_url(re.compile(r"/reconciliation/matches/\d+/$"))
    expect(page.locator("h1")).to_contain_text("Mismatch")
    # Supplier − books.
    assert page.locator(".reason").all_inner_texts() == ["number exact", "taxable −500.00"]
    differs = page.locator("#pair tr.differs")
    expect(differs).to_have_count(1)
    assert differs.locator("th").inner_text() == "Taxable"
    assert differs.get_attribute("data-diff") == "-500.00"
    assert [c.inner_text() for c in differs.locator("td").all()] == ["₹10,500.00", "₹10,000.00"]

    # Back to the summary: apply the recommended action (accept) to the exact matches, through the confirmation.
    page.get_by_role("link", name="Reconciliation").click()
    page.wait_for_url(re.compile(r"/t/recon/reconciliation/$"))
    apply = page.locator("form.recon-apply[data-outcome=exact] button")
    expect(apply).to_have_text("Accept: apply recommended action to 3 documents")
    with page.expect_navigation():
        apply.click()
    page.wait_for_url(re.compile(r"/actions/confirm/$"))
    expect(page.locator("h1")).to_contain_text("Accept")
    assert re.search(
        r"3\s+documents selected \(every document matching the filter\):\s+3\s+will change",
        page.locator("#preview-summary").inner_text(),
    )
    with page.expect_navigation():
        page.click("#apply-form button[type=submit]")
    page.wait_for_url(re.compile(r"/actions/runs/\d+/$"))
    expect(page.locator("#run-status")).to_contain_text("Done")
    changed = page.locator("#run-counts tr", has_text="Changed").locator("td")
    expect(changed).to_have_text("3")

    # The inward documents list, filtered to local accepts not yet pushed: exactly the three exact matches.
    page.goto("/t/recon/documents/?action=A&pending_push=true")
    numbers = page.locator("#documents tbody tr td.mono a")
    expect(numbers).to_have_count(3)
    assert sorted(numbers.all_inner_texts()) == EXACT
    page.goto("/t/recon/documents/?action=N")  # the others are untouched (no action yet)
    assert sorted(page.locator("#documents tbody tr td.mono a").all_inner_texts()) == sorted(
        [TOLERANCE, MISMATCH, ONLY_SUPPLIER]
    )

    # Write back to the ERP from the results: without a webhook the page says what to set up and sends nothing;
    # with one, the confirmation counts the corrections and the results page says they went.
    page.goto("/t/recon/reconciliation/")
    page.click("#writeback-link")
    page.wait_for_url(re.compile(r"/reconciliation/writeback/\?run=\d+$"))
    expect(page.locator("#writeback-refusal")).to_contain_text(
        "No webhook receives reconciliation corrections"
    )
    expect(page.locator("#writeback-confirm")).to_have_count(0)
    settings.IMS_WEBHOOK_ALLOW_PRIVATE_NETWORK = True  # an on-premise ERP
    with tenant_scope(tenant):
        create_webhook(
            tenant=tenant,
            actor=factories.SYSTEM,
            url="http://127.0.0.1:9/erp",
            events=["reconciliation.writeback"],
        )
    page.reload()
    count = page.locator("#writeback-count")
    expect(count).to_contain_text("will be sent to the ERP")
    n = int(count.locator("strong").inner_text())
    assert n >= 1
    with page.expect_navigation():
        page.click("#writeback-confirm button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text(
        f"{n} correction{'s' if n != 1 else ''} sent to the ERP through the webhook"
    )

"""The register import records what the books say (issue #12 §1): lines without an ERP reference are their own
lines (file and row), two lines of one bill form a 1:n group, a file imported again replaces its own lines; the
upload's default recipient GSTIN; the optional columns (supply type, IRN, posting date, nil/exempt value, bill of
entry); headings of Tally, SAP, Zoho and Busy exports with sample rows on the mapping page; flags filterable,
shown on the pair view and given as reasons where they explain a difference."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from audit.services import Actor
from ims_project.xlsx import write_xlsx
from reconciliation import services
from reconciliation.engine import execute_run
from reconciliation.models import PurchaseLine, ReconMatch
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.factories import gstin_for

REGISTER = "/t/acme/reconciliation/register/"
LINES = f"{REGISTER}lines/"
INTRA = gstin_for(7201, "27")
INTER = gstin_for(7202, "29")
TALLY = [
    "Date",
    "Particulars",
    "Party GSTIN",
    "Voucher Type",
    "Supplier Invoice No.",
    "Supplier Invoice Date",
    "Taxable Value",
    "IGST Amt",
    "CGST Amt",
    "SGST Amt",
    "Cess Amt",
]


def csv_bytes(head, rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue().encode()


def xlsx_bytes(head, rows) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, sheet_name="Purchase Register", headers=head, rows=rows)
    return buf.getvalue()


def post_upload(c, name, data, **extra):
    return c.post(REGISTER, {"file": SimpleUploadedFile(name, data), **extra})


def run_job(response):
    assert response.status_code == 302, response.content.decode()[:3000]
    return services.run_import(import_id=int(response.url.rstrip("/").rsplit("/", 1)[-1]))


def stored(tenant) -> list[PurchaseLine]:
    with tenant_scope(tenant):
        return list(PurchaseLine.objects.filter(tenant=tenant).order_by("erp_ref"))


def selected(html) -> dict[str, str]:
    """{field: the file's column chosen for it} on the mapping page."""
    found = re.findall(
        r'<select id="map-\w+" name="(\w+)".*?(?:<option value="([^"]*)" selected>|</select>)', html, re.S
    )
    return {name: heading for name, heading in found if heading}


def tally_row(number, taxable="10000", cgst="900", sgst="900", *, supplier=INTRA, date="05-10-2025"):
    return [date, "Shah Traders", supplier, "Purchase", number, date, taxable, "0", cgst, sgst, "0"]


def test_tally_export_without_erp_reference_one_gstin_asks_nothing_and_a_bill_on_two_lines_stays_two_lines(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    page = c.get(REGISTER).content.decode()
    assert 'name="recipient"' not in page  # one GSTIN: nothing to choose
    rows = [tally_row("SH/101", "6000", "540", "540"), tally_row("SH/101", "4000", "360", "360")]
    rows.append(tally_row("SH/102"))
    job = run_job(post_upload(c, "Purchase Register Oct.csv", csv_bytes(TALLY, rows)))
    assert (job.status, job.created, job.error_count, job.default_recipient) == ("done", 3, 0, reg_a1.gstin)
    lines = stored(tenant_a)
    assert [p.erp_ref for p in lines] == [
        "purchase register oct.csv#2",
        "purchase register oct.csv#3",
        "purchase register oct.csv#4",
    ]
    assert {p.registration_id for p in lines} == {reg_a1.pk}
    assert lines[0].posting_date == dt.date(2025, 10, 5)  # Tally's "Date" column is the posting date
    assert [p.doc_number for p in lines] == ["SH/101", "SH/101", "SH/102"]

    again = run_job(post_upload(c, "Purchase Register Oct.csv", csv_bytes(TALLY, rows)))
    assert (again.created, again.updated, again.unchanged, again.removed) == (0, 0, 3, 0)
    assert len(stored(tenant_a)) == 3  # the same file again: replaced, never doubled

    third = run_job(post_upload(c, "Purchase Register Oct.csv", csv_bytes(TALLY, rows[:2])))
    assert (third.removed, len(stored(tenant_a))) == (1, 2)
    with tenant_scope(tenant_a):
        removed = AuditEvent.objects.get(action="register.line_removed")
    assert removed.metadata["erp_ref"] == "purchase register oct.csv#4"

    # The two lines of SH/101 pair with the supplier's one invoice as a group.
    doc = make_doc(
        reg_a1,
        doc_number="SH/101",
        supplier_gstin=INTRA,
        taxable_value="10000.00",
        igst=Decimal("0"),
        cgst=Decimal("900.00"),
        sgst=Decimal("900.00"),
    )
    with tenant_scope(tenant_a):
        run = services.start_run(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            registrations=[reg_a1],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    execute_run(run_id=run.pk)
    with tenant_scope(tenant_a):
        group = list(ReconMatch.objects.filter(run_id=run.pk, document=doc))
    assert len(group) == 2
    assert {m.outcome for m in group} == {"exact"}
    assert group[0].group_no is not None
    # Each line says it is one of a group, whose sum was compared: on the pair view and in the results list.
    pair = c.get(f"/t/acme/reconciliation/matches/{group[0].pk}/").content.decode()
    assert "one of the lines of a group (a bill booked on several lines): their sum is compared" in pair
    listed = c.get("/t/acme/reconciliation/matches/", {"run": run.pk}).content.decode()
    assert listed.count('data-code="group"') == 2
    assert group[0].group_no == group[1].group_no


def test_several_gstins_the_upload_page_asks_for_the_default_recipient_and_names_it(
    tenant_a, reg_a1, reg_a2, alice, client_for
):
    c = client_for(alice)
    page = c.get(REGISTER).content.decode()
    assert f'<option value="{reg_a2.gstin}"' in page
    data = csv_bytes(TALLY, [tally_row("B-1")])
    r = post_upload(c, "books.csv", data)
    assert r.status_code == 400
    html = r.content.decode()
    assert "The file has no Recipient GSTIN column: choose the GSTIN these lines were booked for." in html
    assert 'id="recipient"' in html
    token = re.search(r'name="token" value="([^"]+)"', html)[1]
    mapping = selected(html)
    r = c.post(
        f"{REGISTER}mapping/", {"token": token, "name": "books.csv", **mapping, "recipient": reg_a1.gstin}
    )
    job = run_job(r)
    assert (job.created, job.default_recipient) == (1, reg_a1.gstin)
    assert f"booked for {reg_a1.gstin}" in c.get(f"{REGISTER}imports/{job.pk}/").content.decode()
    # Chosen on the upload page directly: no second step.
    job = run_job(post_upload(c, "more.csv", csv_bytes(TALLY, [tally_row("B-2")]), recipient=reg_a2.gstin))
    assert {p.doc_number: p.registration_id for p in stored(tenant_a)} == {"B-1": reg_a1.pk, "B-2": reg_a2.pk}
    other = post_upload(c, "x.csv", data, recipient=gstin_for(9999, "07"))
    assert other.status_code == 400
    assert "is not one of the GSTINs you may import for" in other.content.decode()


def test_optional_columns_supply_types_irn_posting_date_exempt_value_and_bill_of_entry(
    tenant_a, reg_a1, alice, client_for
):
    head = [
        "Supplier GSTIN",
        "Document type",
        "Document number",
        "Document date",
        "Taxable value",
        "IGST",
        "CGST",
        "SGST/UTGST",
        "Supply type",
        "IRN",
        "Posting date",
        "Nil-rated/exempt/non-GST value",
        "Bill of entry number",
        "Bill of entry date",
        "Port code",
    ]
    irn = "a" * 64
    rows = [
        # An SEZ unit in the recipient's own state charges IGST: right for an SEZ supply, no flag.
        [
            INTRA,
            "Invoice",
            "SEZ-1",
            "05-10-2025",
            "1000",
            "180",
            "",
            "",
            "SEZ supplies with payment",
            irn,
            "07-10-2025",
            "250",
            "",
            "",
            "",
        ],
        # A deemed export may carry CGST and SGST.
        [
            INTRA,
            "Invoice",
            "DE-1",
            "05-10-2025",
            "1000",
            "",
            "90",
            "90",
            "Deemed Exp",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        # An import of goods: no supplier GSTIN, the bill of entry's number and date.
        [
            "",
            "",
            "",
            "",
            "50000",
            "9000",
            "",
            "",
            "Import of goods",
            "",
            "",
            "",
            "1234567",
            "03-10-2025",
            "INMAA1",
        ],
        # Reverse charge as a supply type; an IRN that is not one is flagged.
        [INTER, "Invoice", "RC-1", "05-10-2025", "1000", "180", "", "", "RCM", "XYZ", "", "", "", "", ""],
        # CGST on an SEZ supply: flagged.
        [INTRA, "Invoice", "SEZ-2", "05-10-2025", "1000", "", "90", "90", "SEZWP", "", "", "", "", "", ""],
        ["", "Invoice", "NO-GSTIN", "05-10-2025", "1000", "180", "", "", "", "", "", "", "", "", ""],
        [INTER, "Invoice", "BAD-TYPE", "05-10-2025", "1000", "180", "", "", "Barter", "", "", "", "", "", ""],
    ]
    job = run_job(post_upload(client_for(alice), "typed.xlsx", xlsx_bytes(head, rows)))
    assert (job.created, job.flagged, job.error_count) == (5, 2, 2), job.errors
    by_number = {p.doc_number: p for p in stored(tenant_a)}
    sez = by_number["SEZ-1"]
    assert (sez.supply_type, sez.irn, sez.posting_date, sez.exempt_value, sez.flags) == (
        "sez_wp",
        irn,
        dt.date(2025, 10, 7),
        Decimal("250.00"),
        {},
    )
    assert (by_number["DE-1"].supply_type, by_number["DE-1"].flags) == ("de", {})
    boe = by_number["1234567"]
    assert (boe.supply_type, boe.supplier_gstin, boe.boe_number, boe.boe_date, boe.port_code, boe.kind) == (
        "impg",
        "",
        "1234567",
        dt.date(2025, 10, 3),
        "INMAA1",
        "invoice",
    )
    assert boe.doc_date == dt.date(2025, 10, 3)
    assert (by_number["RC-1"].reverse_charge, list(by_number["RC-1"].flags)) == (True, ["irn_format"])
    assert list(by_number["SEZ-2"].flags) == ["tax_split"]
    assert "on a supply to an SEZ" in by_number["SEZ-2"].flags["tax_split"]
    problems = {(e["field"], e["message"].split(":")[0]) for e in job.errors}
    assert problems == {("Supplier GSTIN", "is required"), ("Supply type", "must be a supply type")}


def test_mapping_page_recognises_export_headings_shows_sample_rows_and_names_the_columns(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    head = [
        "Vch No.",
        "Posting Date",
        "GSTIN/UIN",
        "Bill No.",
        "Bill Date",
        "Taxable Amt",
        "Integrated Tax Amount",
        "Central Tax Amount",
        "State/UT Tax Amount",
        "Remarks",
    ]
    rows = [["V-1", dt.date(2025, 10, 6), INTER, "B/77", dt.date(2025, 10, 5), 1000, 180, 0, None, "first"]]
    page = post_upload(c, "busy.xlsx", xlsx_bytes(head, rows))
    assert page.status_code == 200  # "Remarks" is not recognised: the page asks
    html = page.content.decode()
    chosen = selected(html)
    assert chosen == {
        "supplier_gstin": "GSTIN/UIN",
        "doc_number": "Bill No.",
        "doc_date": "Bill Date",
        "taxable": "Taxable Amt",
        "igst": "Integrated Tax Amount",
        "cgst": "Central Tax Amount",
        "sgst": "State/UT Tax Amount",
        "erp_ref": "Vch No.",
        "posting_date": "Posting Date",
    }
    samples = dict(re.findall(r'class="small text-muted samples" data-field="(\w+)">([^<]*)<', html))
    assert samples["doc_number"] == "B/77"
    assert samples["doc_date"] == "05-10-2025"  # a date cell shown as a date
    assert samples["supplier_gstin"] == INTER
    # a chosen column with nothing in its first rows says so; a field with no column shows nothing
    assert 'data-field="sgst"><span class="fst-italic">empty in the first rows</span></td>' in html
    assert samples["kind"] == ""
    assert re.search(r'<table[^>]*id="file-preview".*?<th>Remarks</th>.*?<td>first</td>', html, re.S)
    token = re.search(r'name="token" value="([^"]+)"', html)[1]
    # A required field left out, then one column chosen twice: each message names the columns.
    missing = c.post(f"{REGISTER}mapping/", {"token": token, "name": "busy.xlsx", **chosen, "kind": ""})
    assert missing.status_code == 400
    assert "Document type" in missing.content.decode()
    assert "&#x27;Remarks&#x27;" in missing.content.decode()
    twice = c.post(
        f"{REGISTER}mapping/",
        {"token": token, "name": "busy.xlsx", **chosen, "kind": "Remarks", "cess": "Bill No."},
    )
    assert "Column &#x27;Bill No.&#x27; is chosen for Document number and Cess" in twice.content.decode()


def test_sap_and_zoho_headings_are_recognised_without_asking(tenant_a, reg_a1, alice, client_for):
    from reconciliation.domain.register_rows import guess_mapping

    sap = [
        "Document Number",
        "Reference",
        "Document Date",
        "Posting Date",
        "Vendor GSTIN",
        "Document type",
        "Tax Base Amount",
        "IGST Amount",
        "CGST Amount",
        "SGST Amount",
    ]
    guess = guess_mapping(sap)
    assert (guess["doc_number"], guess["erp_ref"], guess["doc_date"], guess["posting_date"]) == (
        "Reference",
        "Document Number",
        "Document Date",
        "Posting Date",
    )
    assert (guess["supplier_gstin"], guess["taxable"], guess["igst"]) == (
        "Vendor GSTIN",
        "Tax Base Amount",
        "IGST Amount",
    )
    zoho = [
        "Bill Date",
        "Bill Number",
        "Bill ID",
        "Vendor GSTIN",
        "GST Treatment",
        "Place of Supply",
        "Sub Total",
    ]
    guess = guess_mapping(zoho)
    assert (guess["doc_number"], guess["erp_ref"], guess["supply_type"], guess["pos"]) == (
        "Bill Number",
        "Bill ID",
        "GST Treatment",
        "Place of Supply",
    )
    job = run_job(
        post_upload(
            client_for(alice),
            "sap.csv",
            csv_bytes(
                sap,
                [["5100000001", "INV-9", "05.10.2025", "06.10.2025", INTER, "Invoice", "100", "18", "", ""]],
            ),
        )
    )
    (line,) = stored(tenant_a)
    assert (job.created, line.doc_number, line.erp_ref, line.posting_date) == (
        1,
        "INV-9",
        "5100000001",
        dt.date(2025, 10, 6),
    )


SAP = ["Document Number", "Reference", "Document Date", "Posting Date", "Vendor GSTIN", "Document type"]
SAP += ["Tax Base Amount", "IGST Amount", "CGST Amount", "SGST Amount"]


def sap_row(sap_number, reference):
    return [sap_number, reference, "05.10.2025", "06.10.2025", INTER, "Invoice", "100", "18", "", ""]


def test_an_sap_export_is_read_the_right_way_round_whatever_mapping_was_remembered_before(
    tenant_a, reg_a1, alice, client_for
):
    """A remembered "Document number" (the template's heading, as the demo's first import leaves it) or a Tally
    mapping does not turn SAP's columns round: its "Reference" is the supplier's number, "Document Number" SAP's
    own document (the ERP reference)."""
    c = client_for(alice)
    run_job(
        post_upload(c, "tally.csv", csv_bytes(TALLY, [tally_row("SH/1")]))
    )  # remembers "Supplier Invoice No."
    run_job(post_upload(c, "sap.csv", csv_bytes(SAP, [sap_row("5100000001", "INV-9")])))
    template = [label for _name, label, _required in services.register_rows.COLUMNS]
    row = {"Recipient GSTIN": reg_a1.gstin, "Supplier GSTIN": INTER, "Document type": "Invoice"}
    row |= {"Document number": "B-1", "Document date": "05-10-2025", "Taxable value": "100", "IGST": "18"}
    run_job(post_upload(c, "template.csv", csv_bytes(template, [[row.get(h, "") for h in template]])))
    with tenant_scope(tenant_a):
        assert services.remembered_mapping(tenant=tenant_a)["doc_number"] == "Document number"
    run_job(post_upload(c, "sap2.csv", csv_bytes(SAP, [sap_row("5100000002", "INV-10")])))
    sap = {line.erp_ref: line.doc_number for line in stored(tenant_a) if line.erp_ref.startswith("51")}
    assert sap == {"5100000001": "INV-9", "5100000002": "INV-10"}


def test_the_columns_can_be_checked_before_importing_and_a_hand_choice_on_an_sap_file_is_kept(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    page = post_upload(c, "sap.csv", csv_bytes(SAP, [sap_row("5100000001", "INV-9")]), review="1")
    assert page.status_code == 200  # every heading recognised, and still the mapping page: asked for
    html = page.content.decode()
    chosen = selected(html)
    assert (chosen["doc_number"], chosen["erp_ref"]) == ("Reference", "Document Number")
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    # This company's SAP keeps the supplier's number in "Document Number": swapped by hand.
    swapped = {**chosen, "doc_number": "Document Number", "erp_ref": "Reference"}
    run_job(c.post(f"{REGISTER}mapping/", {"token": token, "name": "sap.csv", **swapped}))
    run_job(post_upload(c, "sap2.csv", csv_bytes(SAP, [sap_row("INV-10", "5100000002")])))
    assert {line.erp_ref: line.doc_number for line in stored(tenant_a)} == {
        "INV-9": "5100000001",
        "5100000002": "INV-10",
    }


def test_flagged_lines_are_filterable_shown_on_the_pair_view_and_explain_the_difference(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    head = [
        "Supplier GSTIN",
        "Document type",
        "Document number",
        "Document date",
        "Taxable value",
        "IGST",
        "CGST",
        "SGST/UTGST",
        "ERP reference",
    ]
    rows = [
        [INTRA, "Invoice", "FL/1", "05-10-2025", "10000", "0", "900", "901.50", "PV-1"],  # CGST ≠ SGST
        [INTRA, "Invoice", "FL/2", "05-10-2025", "10000", "0", "900", "900", "PV-2"],
    ]
    run_job(post_upload(c, "flags.csv", csv_bytes(head, rows)))
    page = c.get(LINES, {"flag": "cgst_sgst_differ"}).content.decode()
    assert re.findall(r'data-ref="([^"]+)"', page) == ["PV-1"]
    assert "SGST/UTGST must equal CGST (900.00)" in page
    assert re.findall(r'data-ref="([^"]+)"', c.get(LINES, {"flag": "any"}).content.decode()) == ["PV-1"]
    assert len(re.findall(r'data-ref="', c.get(LINES).content.decode())) == 2
    bad = c.get(LINES, {"flag": "nonsense"})
    assert bad.status_code == 400
    assert "No flag &#x27;nonsense&#x27;" in bad.content.decode()

    doc = make_doc(
        reg_a1,
        doc_number="FL/1",
        supplier_gstin=INTRA,
        taxable_value="10000.00",
        igst=Decimal("0"),
        cgst=Decimal("900.00"),
        sgst=Decimal("900.00"),
    )
    with tenant_scope(tenant_a):
        run = services.start_run(
            tenant=tenant_a,
            actor=Actor.user(alice),
            user=alice,
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            registrations=[reg_a1],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    execute_run(run_id=run.pk)
    with tenant_scope(tenant_a):
        pair = ReconMatch.objects.get(run_id=run.pk, document=doc)
    assert pair.outcome == "mismatch"
    html = c.get(f"/t/acme/reconciliation/matches/{pair.pk}/").content.decode()
    assert 'data-flag="cgst_sgst_differ"' in html
    assert re.findall(r'class="badge[^"]*differing" data-field="(\w+)"', html) == ["sgst"]
    assert f'href="/t/acme/documents/{doc.pk}/" id="document-link"' in html
    # Accept / reject / pending on the pair go through the action's confirmation and its rules.
    assert re.search(rf'id="pair-actions".*?name="ids" value="{doc.pk}"', html, re.S)
    confirm = c.post("/t/acme/actions/confirm/", {"ids": doc.pk, "action": "P", "remarks": "pair"})
    assert confirm.status_code == 200
    assert re.search(r'id="preview-summary">\s*1 document selected', confirm.content.decode())
    assert re.search(r'class="line-flag" data-code="cgst_sgst_differ">SGST/UTGST must equal CGST', html)
    flagged = c.get(
        "/t/acme/reconciliation/matches/", {"run": run.pk, "flag": "cgst_sgst_differ"}
    ).content.decode()
    assert f"/matches/{pair.pk}/" in flagged
    assert "FL/2" not in flagged
    api = c.get("/api/v1/t/acme/reconciliation/matches/", {"run": run.pk, "flag": "cgst_sgst_differ"}).json()
    (row,) = api["results"]
    assert [r["value"] for r in row["reasons"] if r["code"] == "books_flag"] == ["cgst_sgst_differ"]
    assert list(row["purchase"]["flags"]) == ["cgst_sgst_differ"]
    assert c.get("/api/v1/t/acme/reconciliation/matches/", {"flag": "bogus"}).status_code == 400


def test_another_tenants_member_gets_404_on_the_register_lines_page(tenant_a, tenant_b, charlie, client_for):
    assert client_for(charlie).get(LINES).status_code == 404


def test_api_lines_without_erp_reference_of_one_bill_stay_two_lines_and_a_resend_updates_them(
    tenant_a, reg_a1, alice, client_for
):
    c = client_for(alice)
    body = {
        "lines": [
            {
                "supplier_gstin": INTER,
                "kind": "Invoice",
                "doc_number": "API/7",
                "doc_date": "05-10-2025",
                "taxable": taxable,
                "igst": igst,
            }
            for taxable, igst in (("6000", "1080"), ("4000", "720"))
        ]
    }
    first = c.post("/api/v1/t/acme/purchase-register/", body, content_type="application/json").json()
    assert (first["created"], first["rejected"]) == (2, 0)  # one GSTIN: the recipient may be left out
    again = c.post("/api/v1/t/acme/purchase-register/", body, content_type="application/json").json()
    assert (again["created"], again["unchanged"]) == (0, 2)
    assert sorted(p.taxable for p in stored(tenant_a)) == [Decimal("4000.00"), Decimal("6000.00")]

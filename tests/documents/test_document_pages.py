"""The document list, a document's page and the dashboard, through the Django test client."""

import datetime as dt

import pytest

from invoices.models import DocumentVersion
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_2, make_doc, make_supplier

pytestmark = pytest.mark.django_db

LIST = "/t/acme/documents/"


def listed(response):
    assert response.status_code == 200, response.content[:2000]
    return {d.pk for d in response.context["page"].rows}


def test_list_shows_documents_with_filter_bar_badges_and_export_button(client_for, alice, docs):
    response = client_for(alice).get(LIST)
    html = response.content.decode()
    assert listed(response) == {d.pk for k, d in docs.items() if k != "b"}
    assert 'class="table table-sm table-ims' in html
    assert 'id="document-filters"' in html
    assert 'name="supplier"' in html
    assert 'name="number"' in html
    assert "badge-action-R" in html
    assert "to push" in html
    assert 'id="export-xlsx"' in html
    assert docs["numbered"].doc_number in html
    assert "Karnataka Steel Works Ltd" in html  # supplier names come from the Supplier table
    assert "₹11,800.00" in html  # amounts in Indian format, right-aligned cells
    assert "05-10-2025" in html  # dates DD-MM-YYYY


def _row(html: str, doc) -> str:
    start = html.index(f'<tr data-href="{LIST}{doc.pk}/')
    return html[start : html.index("</tr>", start)]


def test_list_rows_write_every_cell_escaped_with_its_badges_and_links(client_for, alice, docs, reg_a1):
    """The rows are written in Python (invoices/templatetags/ims_docs.py document_rows): each value escaped, each
    flag as the template wrote it."""
    make_supplier(reg_a1.tenant, "27AAACW1234F1Z9", 'Wide "Name" <Traders> & Sons, Pune Private Limited')
    odd = make_doc(
        reg_a1,
        doc_number='X<1>&"2"',
        supplier_gstin="27AAACW1234F1Z9",
        supplier_gstin_valid=False,
        local_action="R",
    )
    bill = make_doc(
        reg_a1, section="impg", supplier_gstin="", pos="", port_code="INNSA1", doc_number="7001234"
    )
    response = client_for(alice).get(LIST, {"section": ["b2b", "impg"], "sort": "-date"})
    html = response.content.decode()
    assert listed(response) >= {odd.pk, bill.pk}
    row = _row(html, odd)
    link = f"{LIST}{odd.pk}/?section=b2b&amp;section=impg&amp;sort=-date"  # the list's filters travel with it
    assert f'<tr data-href="{link}" tabindex="0" data-section="b2b">' in row
    assert f'<a href="{link}">X&lt;1&gt;&amp;&quot;2&quot;</a>' in row
    assert 'aria-label="Select X&lt;1&gt;&amp;&quot;2&quot;"' in row
    assert "X<1>" not in html
    assert '<span class="mono">27AAACW1234F1Z9</span> <span class="badge text-bg-danger"' in row
    assert "Wide &quot;Name&quot; &lt;Traders&gt; &amp; Sons, P…</span>" in row  # cut at 32 characters
    for cell in ("05-10-2025", "10-2025", "₹11,800.00", "₹10,000.00", "₹1,800.00"):
        assert f">{cell}</td>" in row
    assert 'class="badge badge-action-R" title="Your action, not yet pushed (portal: No action)">' in row
    assert "to push" in row
    assert f'<td class="mono">{reg_a1.gstin}</td>' in row  # two GSTINs: the recipient column
    bill_row = _row(html, bill)
    assert "Import from overseas" in bill_row
    assert "port INNSA1" in bill_row
    assert "badge text-bg-danger" not in bill_row
    flags = {key: _row(html, docs[key]) for key in ("review", "gone")}
    assert ">review</span>" in flags["review"]
    assert ">gone</span>" not in flags["review"]
    assert ">gone</span>" in flags["gone"]
    assert ">review</span>" not in flags["gone"]
    one_gstin = client_for(alice).get(LIST, {"registration": reg_a1.gstin}).content.decode()
    assert f'<td class="mono">{reg_a1.gstin}</td>' not in one_gstin
    nothing = client_for(alice).get(LIST, {"number": "no-such-number"}).content.decode()
    assert "No documents match these filters." in nothing


def test_list_filters_by_one_registration_and_section(client_for, alice, docs, reg_a1):
    response = client_for(alice).get(LIST, {"registration": reg_a1.gstin, "section": "b2bcn"})
    assert listed(response) == {docs["cn"].pk}
    html = response.content.decode()
    assert 'value="b2bcn" id="id_section_2" checked' in html
    assert 'value="b2b" id="id_section_0">' in html
    assert f'<option value="{reg_a1.gstin}" selected>' in html


def test_list_searches_by_document_number_in_any_spelling(client_for, alice, docs):
    assert listed(client_for(alice).get(LIST, {"number": "inv 2025-26 42"})) == {docs["numbered"].pk}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"period": "2025-13"}, "Enter the period as MMYYYY"),
        ({"date_to": "32-10-2025"}, "Enter a valid date"),
        ({"value_max": "ten"}, "Enter an amount such as 1,00,000"),
        ({"section": "xyz"}, "Select a valid choice"),
        ({"per_page": "7"}, "Select a valid choice"),
        ({"sort": "price"}, "Select a valid choice"),
        ({"cursor": "not-a-cursor"}, "start again from the first page"),
        ({"registration": "NOTAGSTIN"}, "Choose one of your GSTINs"),
    ],
)
def test_malformed_filter_shows_a_field_error_not_a_500(client_for, alice, docs, params, message):
    response = client_for(alice).get(LIST, params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["page"] is None


def test_count_fragment_counts_matching_documents(client_for, alice, docs):
    client = client_for(alice)
    assert client.get(LIST + "count/", {"supplier": SUPPLIER_2}).content.decode().strip() == "3 documents"
    assert client.get(LIST + "count/", {"period": "bad"}).content.decode().strip() == ""


def test_detail_shows_fields_actions_amendment_links_versions_and_trail(client_for, alice, reg_a1, docs):
    original = docs["oct_b2b"]
    amendment = make_doc(
        reg_a1,
        section="b2ba",
        doc_number="INV/00099",
        orig_doc_number=original.doc_number,
        orig_doc_date=original.doc_date,
        original=original,
        doc_date=dt.date(2025, 11, 2),
        local_action="R",
        local_remarks="Rate wrong",
    )
    with tenant_scope(reg_a1.tenant):
        DocumentVersion.objects.create(
            tenant=reg_a1.tenant,
            document=amendment,
            version=2,
            seen_at=amendment.last_seen_at,
            source="portal",
            changes={"taxable_value": ["9000.00", "10000.00"]},
        )
    client = client_for(alice)
    html = client.get(f"{LIST}{amendment.pk}/").content.decode()
    assert f'href="/t/acme/documents/{original.pk}/"' in html  # link to the original
    assert "Rate wrong" in html
    assert "badge-action-R" in html
    assert "badge-action-N" in html  # local vs portal
    assert "taxable_value" in html
    assert "9000.00" in html
    assert "10000.00" in html  # version old → new
    assert "Audit trail" in html
    original_html = client.get(f"{LIST}{original.pk}/").content.decode()
    assert f'href="/t/acme/documents/{amendment.pk}/"' in original_html  # "amended by" link back


def test_dashboard_counts_by_gstin_section_and_action_and_itc_by_head(
    client_for, alice, docs, reg_a1, reg_a2
):
    response = client_for(alice).get("/t/acme/")
    assert response.status_code == 200
    board = response.context["board"]
    by_reg = {rc.registration.gstin: rc for rc in board.registrations}
    a1 = {s.section: s.counts for s in by_reg[reg_a1.gstin].sections}
    assert a1["b2b"] == {"A": 2, "N": 3, "R": 1, "P": 1}  # "gone" (vanished) is not counted
    assert a1["b2bcn"] == {"A": 0, "N": 0, "R": 1, "P": 0}
    assert a1["b2bdn"] == {"A": 1, "N": 0, "R": 0, "P": 0}
    assert by_reg[reg_a2.gstin].total == 1
    assert board.document_count == 10
    # IGST: 18 % of taxable; a rejected credit note reduces ITC (negative); sep_b2b + dn + review accepted.
    assert board.itc["igst"]["R"] == -1800 + 1800  # cn (-1800) and local_r (+1800)
    assert board.itc["igst"]["A"] == 900 + 1800 + 1800
    assert board.itc["igst"]["available"] == board.itc["igst"]["A"] + board.itc["igst"]["N"]
    assert board.itc["cgst"]["N"] == 0
    html = response.content.decode()
    assert "chart.umd.min.js" in html
    assert 'id="itc-trend-data"' in html
    assert board.trend_periods[-1] == dt.date(2025, 10, 1)
    assert len(board.trend_periods) == 6


def test_dashboard_for_one_period(client_for, alice, docs):
    response = client_for(alice).get("/t/acme/", {"period": "092025"})
    assert response.context["board"].document_count == 1


def test_dashboard_with_bad_period_says_so(client_for, alice, docs):
    response = client_for(alice).get("/t/acme/", {"period": "2025"})
    assert response.status_code == 400
    assert "Enter the period as MMYYYY" in response.content.decode()


def test_dashboard_follows_ingested_documents_at_once(client_for, alice, tenant_a, reg_a1):
    """The summary is kept by the ingest's own transaction: an ingest shows on the next view."""
    from invoices.services.ingest import ingest_documents
    from tests import factories

    client = client_for(alice)

    def ingest(*records):
        with tenant_scope(tenant_a):
            result = ingest_documents(
                tenant=tenant_a,
                registration=reg_a1,
                records={"b2b": list(records)},
                actor=factories.SYSTEM,
                source="portal",
            )
        assert not result.errors

    ingest(factories.document_record(number="A-1"), factories.document_record(number="A-2", action="A"))
    assert client.get("/t/acme/").context["board"].document_count == 2
    ingest(factories.document_record(number="A-3", action="R"))
    board = client.get("/t/acme/").context["board"]
    assert board.document_count == 3
    counts = {s.section: s.counts for s in board.registrations[0].sections}
    assert counts["b2b"] == {"A": 1, "N": 1, "R": 1, "P": 0}

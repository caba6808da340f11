"""``manage.py seed_demo`` books a realistic purchase register and reconciles it (issue #12 §5): a new user sees a
meaningful reconciliation on the first run, with every case of the books as they are kept."""

from io import StringIO

import pytest
from django.core.management import call_command

from demo.services import DEMO_PASSWORD
from reconciliation.models import PurchaseLine, ReconRun
from tenancy.models import Tenant
from tenancy.scoping import tenant_scope

pytestmark = pytest.mark.django_db


def test_the_demo_books_a_register_with_every_case_and_reconciles_it_for_the_first_look(client):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Purchase register:" in out.getvalue()
    tenant = Tenant.objects.get(slug="demo")
    with tenant_scope(tenant):
        run = ReconRun.objects.get(tenant=tenant)
        flags = {code for line in PurchaseLine.objects.filter(tenant=tenant) for code in line.flags}
        supply_types = set(PurchaseLine.objects.values_list("supply_type", flat=True))
    assert run.status == "done"
    assert {
        "exact",
        "tolerance",
        "probable",
        "mismatch",
        "missing_in_register",
        "missing_in_supplier",
    } <= set(run.counts)
    assert run.counts["exact"] > sum(v for k, v in run.counts.items() if k != "exact")  # books mostly agree
    assert {"cgst_sgst_differ", "tax_split", "number_too_long", "negative_invoice"} <= flags
    assert {"regular", "impg", "isd", "sez_wp", "sez_wop", "de"} <= supply_types

    assert (
        client.post("/accounts/login/", {"username": "owner@demo.in", "password": DEMO_PASSWORD}).status_code
        == 302
    )
    rows = []
    url = f"/api/v1/t/demo/reconciliation/matches/?run={run.pk}&page_size=500"
    while url:
        body = client.get(url).json()
        rows += body["results"]
        url = body["next"]
    codes = {r["code"] for row in rows for r in row["reasons"]}
    flag_reasons = {r["value"] for row in rows for r in row["reasons"] if r["code"] == "books_flag"}
    assert {
        "bill_of_entry",  # bills of entry by number, date and port code
        "number_confusable",  # O typed for 0
        "pan_fallback",  # the supplier's other-state GSTIN
        "other_recipient",  # booked under the organisation's other GSTIN
        "kind",  # debit notes as purchases, credit notes as negative purchases
        "nil_line",  # a nil-rated item of a bill
        "date",
        "books_flag",
        "irn",  # the IRN kept, another number typed: paired by the IRN
    } <= codes, codes
    assert {"cgst_sgst_differ", "tax_split"} <= flag_reasons
    assert any(row["group_no"] for row in rows)  # an invoice booked as two lines without an ERP reference
    isd_alone = [
        row
        for row in rows
        if row["outcome"] == "missing_in_supplier" and row["purchase"]["supply_type"] == "isd"
    ]
    assert len(isd_alone) == 1  # the ISD credit note booked as an invoice pairs with nothing
    # The results page, as the owner opens it first.
    page = client.get("/t/demo/reconciliation/").content.decode()
    assert f"Run #{run.pk}" in page
    assert "Imports: bills of entry (no supplier GSTIN)" in page  # the bills of entry's line of the summary
    listing = client.get(f"/t/demo/reconciliation/matches/?run={run.pk}&outcome=probable").content.decode()
    assert "Probable match" in listing
    # The pair view gives each pair's reasons.
    for code, text in (
        ("pan_fallback", "booked under another GSTIN of the supplier (same PAN)"),
        ("bill_of_entry", "bill of entry: paired by its number, date and port code"),
        ("number_confusable", "numbers differ only in look-alike characters"),
        ("irn", "same IRN (paired by the e-invoice"),
    ):
        pair = next(row for row in rows if code in {r["code"] for r in row["reasons"]})
        assert text in client.get(f"/t/demo/reconciliation/matches/{pair['id']}/").content.decode()

    call_command("seed_demo", stdout=StringIO())  # a second run books nothing again
    with tenant_scope(tenant):
        assert ReconRun.objects.filter(tenant=tenant).count() == 1

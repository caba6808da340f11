"""GSTR-3B Table 4 as the portal fills it now (docs/rules/gstr3b.md §2): credit notes netted inside 4(A)(5), which
may be negative, no 4(B)(2) row for them; the 4(D)(1) re-claim checked against the recorded balance of the
Electronic Credit Reversal and Re-claimed Statement (recorded by hand: page and API, audited)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from invoices.services.ingest import ingest_documents
from returns import selectors, services
from returns.gstr3b import reclaim_excess, table4
from returns.models import CreditReversalBalance
from tenancy.scoping import tenant_scope
from tests import factories

OCT = dt.date(2025, 10, 1)
KA = "29AAJFY9012N1ZE"
D = Decimal


def itcsumm(invoices: str, credit_notes: str) -> dict:
    heads = {"cgst": "0", "sgst": "0", "cess": "0"}
    return {
        "itcavl": {
            "nonrevsup": {"igst": invoices, **heads},
            "othersup": {"igst": credit_notes, **heads},
        }
    }


def test_credit_notes_exceeding_the_itc_leave_4a5_negative():
    rows = {r.code: r for r in table4(itcsumm("1000.00", "1500.00"))}
    assert rows["4A5"].amounts["igst"] == D("-500.00")


def test_credit_notes_have_no_4b2_row():
    codes = [r.code for r in table4(itcsumm("1000.00", "1500.00"))]
    assert [c for c in codes if c.startswith("4B2") and c != "4B2-rule37a"] == []


def test_credit_notes_below_the_itc_are_netted_inside_4a5():
    rows = {r.code: r for r in table4(itcsumm("1000.00", "300.00"))}
    assert rows["4A5"].amounts["igst"] == D("700.00")


@pytest.mark.parametrize(
    ("balance", "excess"),
    [
        ({"igst": D("300")}, {"igst": D("200")}),
        ({"igst": D("500")}, {}),
        (None, {"igst": D("500")}),
    ],
)
def test_a_reclaim_above_the_statement_balance_is_flagged_by_head(balance, excess):
    rows = table4({}, reclaim={"igst": D("500")})
    assert reclaim_excess(rows, balance) == excess


def test_no_reclaim_is_never_flagged():
    assert reclaim_excess(table4(itcsumm("1000.00", "0")), None) == {}


def test_the_preview_of_a_period_whose_credit_notes_exceed_its_itc_shows_4a5_negative(tenant_a, reg_a1):
    records = {
        "b2b": [factories.document_record(supplier_gstin=KA, number="I-1", taxable=D("1000.00"))],
        "b2bcn": [
            factories.document_record(supplier_gstin=KA, section="b2bcn", number="CN-1", taxable=D("5000.00"))
        ],
    }
    with tenant_scope(tenant_a):
        assert not ingest_documents(
            tenant=tenant_a, registration=reg_a1, records=records, actor=factories.SYSTEM, source="demo"
        ).errors
        snap = services.build_preview(
            tenant=tenant_a, actor=factories.SYSTEM, registration=reg_a1, period=OCT
        )
        rows = {r.code: r for r in selectors.table4(preview=snap)}
    assert rows["4A5"].total == D("-720.00")  # 180 of ITC less 900 of the credit note


# --- the statement balance, by hand ------------------------------------------------------------------------------


def balances(tenant) -> list[tuple]:
    with tenant_scope(tenant):
        return list(CreditReversalBalance.objects.values_list("period", "igst", "cgst"))


BODY = {"period": "102025", "igst": "1000.50", "cgst": "20", "sgst": "20", "cess": "0"}


def test_an_owner_records_a_statement_balance_on_the_page_and_it_is_audited(
    client_for, alice, tenant_a, reg_a1
):
    response = client_for(alice).post(
        reverse("returns-balances", args=[tenant_a.slug]), {**BODY, "registration": reg_a1.pk}
    )
    assert response.status_code == 302
    assert balances(tenant_a) == [(OCT, D("1000.50"), D("20.00"))]
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="credit_reversal_balance.recorded").count() == 1


def test_recording_the_balance_of_a_period_again_corrects_it_with_old_and_new(tenant_a, reg_a1):
    with tenant_scope(tenant_a):
        for igst in ("100", "80"):
            services.set_credit_reversal_balance(
                tenant=tenant_a,
                actor=factories.SYSTEM,
                registration=reg_a1,
                period=OCT,
                amounts={"igst": D(igst)},
            )
        event = AuditEvent.objects.get(action="credit_reversal_balance.corrected")
    assert event.changes["igst"] == ["100.00", "80.00"]


def test_a_viewer_may_not_record_a_balance(client_for, bob, tenant_a, reg_a1):
    response = client_for(bob).post(
        reverse("returns-balances", args=[tenant_a.slug]), {**BODY, "registration": reg_a1.pk}
    )
    assert response.status_code == 403


def test_the_api_records_lists_and_deletes_a_balance(client_for, alice, tenant_a, reg_a1):
    c = client_for(alice)
    base = f"/api/v1/t/{tenant_a.slug}/returns/credit-reversal/"
    created = c.post(base, {**BODY, "registration": reg_a1.pk}, content_type="application/json")
    assert created.status_code == 201
    assert [x["igst"] for x in c.get(base).json()["results"]] == ["1000.50"]
    assert c.delete(f"{base}{created.json()['id']}/").status_code == 204
    assert balances(tenant_a) == []


def test_the_api_refuses_a_negative_balance(client_for, alice, tenant_a, reg_a1):
    base = f"/api/v1/t/{tenant_a.slug}/returns/credit-reversal/"
    body = {**BODY, "igst": "-1", "registration": reg_a1.pk}
    assert client_for(alice).post(base, body, content_type="application/json").status_code == 400

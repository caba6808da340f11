"""REST API of the supplier directory and of the e-mails sent to suppliers: same visibility and roles as the pages."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from suppliers import services
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc, make_supplier
from tests.factories import gstin_for
from tests.tokens import api_token

from .helpers import workbook


def auth(user) -> dict:
    token = api_token(user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def test_directory_api_lists_what_the_member_may_see_and_searches(client, alice, pat, tenant_a, reg_a1):
    make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    make_supplier(tenant_a, SUPPLIER_2, "Karnataka Steel")
    make_doc(reg_a1, supplier_gstin=SUPPLIER_1)
    everyone = client.get("/api/v1/t/acme/suppliers/", **auth(alice)).json()
    assert {s["gstin"] for s in everyone["results"]} == {SUPPLIER_1, SUPPLIER_2}
    assert everyone["count"] == 2
    found = client.get("/api/v1/t/acme/suppliers/", {"q": "karnataka"}, **auth(alice)).json()
    assert [s["gstin"] for s in found["results"]] == [SUPPLIER_2]
    mine = client.get("/api/v1/t/acme/suppliers/", **auth(pat)).json()  # pat: documents of SUPPLIER_1 only
    assert [s["gstin"] for s in mine["results"]] == [SUPPLIER_1]


def test_contacts_are_edited_through_the_api_with_checks_and_audit(client, alice, bob, tenant_a):
    supplier = make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    url = f"/api/v1/t/acme/suppliers/{supplier.pk}/"
    bad = client.patch(url, {"emails": ["not-an-email"]}, content_type="application/json", **auth(alice))
    assert bad.status_code == 400
    assert bad.json()["field"] == "emails"
    ok = client.patch(
        url,
        {"emails": ["GST@Sharma.in"], "trade_name": "Sharma"},
        content_type="application/json",
        **auth(alice),
    )
    assert ok.status_code == 200
    assert ok.json()["emails"] == ["gst@sharma.in"]
    assert ok.json()["trade_name"] == "Sharma"
    assert ok.json()["legal_name"] == "Sharma Textiles"  # not given: kept
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.get(action="supplier.updated").changes["emails"] == [[], ["gst@sharma.in"]]
    assert client.patch(url, {"emails": []}, content_type="application/json", **auth(bob)).status_code == 403


def test_excel_import_through_the_api_reports_bad_rows_and_is_for_admins(client, alice, pat, tenant_a):
    new = gstin_for(7200, "27")
    data = workbook(
        [
            ["GSTIN", "Legal name", "Trade name", "Emails"],
            [new, "New Co", "", "a@new.in"],
            ["27BADGSTIN", "Bad", "", ""],
        ]
    )
    upload = SimpleUploadedFile("s.xlsx", data)
    response = client.post("/api/v1/t/acme/suppliers/import/", {"file": upload}, **auth(alice))
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 1
    assert body["errors"][0]["row"] == 3
    refused = client.post(
        "/api/v1/t/acme/suppliers/import/", {"file": SimpleUploadedFile("s.xlsx", data)}, **auth(pat)
    )
    assert refused.status_code == 403
    not_excel = client.post(
        "/api/v1/t/acme/suppliers/import/", {"file": SimpleUploadedFile("s.xlsx", b"hello")}, **auth(alice)
    )
    assert not_excel.status_code == 400
    assert not_excel.json()["field"] == "file"


def test_supplier_notifications_api_lists_emails_sent(client, alice, pat, tenant_a, reg_a1):
    s = make_supplier(tenant_a, SUPPLIER_1, "Sharma")
    with tenant_scope(tenant_a):
        s.emails = ["gst@sharma.in"]
        s.save()
    services.notify_suppliers(tenant=tenant_a, document_ids=[make_doc(reg_a1, portal_action="R").pk])
    body = client.get("/api/v1/t/acme/suppliers/notifications/", **auth(alice)).json()
    assert [(n["supplier_gstin"], n["status"], n["emails"]) for n in body["results"]] == [
        (SUPPLIER_1, "sent", ["gst@sharma.in"])
    ]
    assert client.get("/api/v1/t/acme/suppliers/notifications/", **auth(pat)).status_code == 403


def test_another_tenants_supplier_is_404_through_the_api(client, charlie, tenant_a, tenant_b):
    foreign = make_supplier(tenant_a, SUPPLIER_1, "Sharma")
    assert client.get(f"/api/v1/t/bharat/suppliers/{foreign.pk}/", **auth(charlie)).status_code == 404
    assert client.get("/api/v1/t/acme/suppliers/", **auth(charlie)).status_code == 404

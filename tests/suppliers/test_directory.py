"""The supplier directory: list and search, edit contacts, import from Excel, fill from documents; access rules."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from audit.services import Actor
from invoices.models import Supplier
from suppliers import services
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2, make_doc, make_supplier
from tests.factories import gstin_for

from .helpers import workbook, zip_bomb

NEW_GSTIN = gstin_for(7100, "27")


def _supplier(tenant, gstin):
    with tenant_scope(tenant):
        return Supplier.objects.get(gstin=gstin)


def test_directory_lists_and_searches_by_name_gstin_and_email(client_for, alice, tenant_a):
    make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles Pvt Ltd")
    make_supplier(tenant_a, SUPPLIER_2, "Karnataka Steel Works Ltd")
    client = client_for(alice)
    page = client.get("/t/acme/suppliers/").content.decode()
    assert SUPPLIER_1 in page
    assert SUPPLIER_2 in page
    page = client.get("/t/acme/suppliers/", {"q": "karnataka"}).content.decode()
    assert SUPPLIER_2 in page
    assert SUPPLIER_1 not in page
    page = client.get("/t/acme/suppliers/", {"q": SUPPLIER_1[:6]}).content.decode()
    assert SUPPLIER_1 in page


def test_a_member_with_one_gstin_sees_only_suppliers_of_its_documents(
    client_for, pat, reg_a1, reg_a2, tenant_a
):
    make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    make_supplier(tenant_a, SUPPLIER_2, "Karnataka Steel")
    make_doc(reg_a1, supplier_gstin=SUPPLIER_1)
    make_doc(reg_a2, supplier_gstin=SUPPLIER_2)
    client = client_for(pat)
    page = client.get("/t/acme/suppliers/").content.decode()
    assert SUPPLIER_1 in page
    assert SUPPLIER_2 not in page
    hidden = _supplier(tenant_a, SUPPLIER_2)
    assert client.get(f"/t/acme/suppliers/{hidden.pk}/").status_code == 404


def test_another_tenants_member_gets_404_everywhere(client_for, charlie, tenant_a, alice):
    s = make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    client = client_for(charlie)
    for url in (
        "/t/acme/suppliers/",
        f"/t/acme/suppliers/{s.pk}/",
        "/t/acme/suppliers/import/",
        "/t/acme/suppliers/webhooks/",
        "/t/acme/suppliers/notifications/",
    ):
        assert client.get(url).status_code == 404, url


def test_own_tenant_url_with_a_foreign_supplier_id_is_404(client_for, charlie, tenant_b, tenant_a, alice):
    foreign = make_supplier(tenant_b, SUPPLIER_1, "Elsewhere")
    assert client_for(alice).get(f"/t/acme/suppliers/{foreign.pk}/").status_code == 404


def test_viewer_may_read_but_not_edit_or_import(client_for, bob, tenant_a):
    s = make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    client = client_for(bob)
    assert client.get("/t/acme/suppliers/").status_code == 200
    assert client.post(f"/t/acme/suppliers/{s.pk}/", {"emails": "a@b.in"}).status_code == 403
    assert client.get("/t/acme/suppliers/import/").status_code == 403


def test_edit_saves_names_and_emails_and_audits_the_change(client_for, alice, tenant_a):
    s = make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    response = client_for(alice).post(
        f"/t/acme/suppliers/{s.pk}/",
        {
            "legal_name": "Sharma Textiles Pvt Ltd",
            "trade_name": "Sharma",
            "emails": "GST@Sharma.in,\nacc@sharma.in",
        },
    )
    assert response.status_code == 302
    s = _supplier(tenant_a, SUPPLIER_1)
    assert s.emails == ["gst@sharma.in", "acc@sharma.in"]
    assert s.trade_name == "Sharma"
    with tenant_scope(tenant_a):
        event = AuditEvent.objects.get(action="supplier.updated")
    assert event.changes["emails"] == [[], ["gst@sharma.in", "acc@sharma.in"]]


def test_a_bad_email_is_a_field_error_and_nothing_is_saved(client_for, alice, tenant_a):
    s = make_supplier(tenant_a, SUPPLIER_1, "Sharma Textiles")
    response = client_for(alice).post(
        f"/t/acme/suppliers/{s.pk}/", {"legal_name": "X", "emails": "ok@a.in, not-mail"}
    )
    assert response.status_code == 400
    assert "not-mail" in response.content.decode()
    assert "not a valid e-mail" in response.content.decode()
    assert _supplier(tenant_a, SUPPLIER_1).legal_name == "Sharma Textiles"


def test_import_keeps_good_rows_and_reports_each_bad_row_with_its_reason(client_for, alice, tenant_a):
    make_supplier(tenant_a, SUPPLIER_1, "Old Name", "Old Trade")
    data = workbook(
        [
            ["GSTIN", "Legal name", "Trade name", "Emails"],
            [SUPPLIER_1, "Sharma Textiles Pvt Ltd", "", "gst@sharma.in; acc@sharma.in"],
            [NEW_GSTIN, "New Supplier Ltd", "Newco", ""],
            ["27AAAAA0000A1Z0", "Bad checksum", "", ""],
            [SUPPLIER_2, "Bad mail", "", "nobody"],
            [NEW_GSTIN, "Twice", "", ""],
            [None, None, None, None],
            ["", "No GSTIN", "", ""],
        ]
    )
    upload = SimpleUploadedFile("suppliers.xlsx", data)
    response = client_for(alice).post("/t/acme/suppliers/import/", {"file": upload})
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.created, result.updated) == (1, 1)
    reasons = dict(result.errors)
    assert set(reasons) == {4, 5, 6, 8}
    assert "check character" in reasons[4]
    assert "'nobody' is not a valid e-mail" in reasons[5]
    assert "already given in row 3" in reasons[6]
    assert reasons[8] == "GSTIN is empty"
    s1 = _supplier(tenant_a, SUPPLIER_1)
    assert (s1.legal_name, s1.trade_name, s1.emails) == (
        "Sharma Textiles Pvt Ltd",
        "Old Trade",
        ["gst@sharma.in", "acc@sharma.in"],
    )
    assert _supplier(tenant_a, NEW_GSTIN).trade_name == "Newco"
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="supplier.imported").count() == 2
        assert AuditEvent.objects.get(action="supplier.import").metadata["bad_rows"] == 4


def test_import_refuses_a_zip_bomb_before_parsing_it(client_for, alice, tenant_a):
    upload = SimpleUploadedFile("bomb.xlsx", zip_bomb())
    response = client_for(alice).post("/t/acme/suppliers/import/", {"file": upload})
    assert response.status_code == 400
    assert "expands to too much data" in response.content.decode()


def test_import_refuses_a_file_that_is_not_a_workbook(client_for, alice):
    upload = SimpleUploadedFile("suppliers.xlsx", b"GSTIN,Name\n")
    response = client_for(alice).post("/t/acme/suppliers/import/", {"file": upload})
    assert response.status_code == 400
    assert "not an Excel .xlsx file" in response.content.decode()


def test_import_without_a_gstin_column_writes_nothing(alice, tenant_a):
    with tenant_scope(tenant_a):
        try:
            services.import_suppliers(
                tenant=tenant_a, actor=Actor.user(alice), data=workbook([["Name"], ["Someone"]])
            )
        except services.sheet.SheetError as exc:
            assert "No GSTIN column" in str(exc)
        else:
            raise AssertionError("expected a SheetError")
        assert not Supplier.objects.exists()


def test_fill_from_documents_adds_missing_supplier_gstins_once(client_for, alice, tenant_a, reg_a1):
    make_doc(reg_a1, supplier_gstin=SUPPLIER_1)
    make_doc(reg_a1, supplier_gstin=SUPPLIER_2)
    make_supplier(tenant_a, SUPPLIER_1, "Known")
    client = client_for(alice)
    client.post("/t/acme/suppliers/fill/")
    client.post("/t/acme/suppliers/fill/")
    with tenant_scope(tenant_a):
        assert sorted(Supplier.objects.values_list("gstin", flat=True)) == sorted([SUPPLIER_1, SUPPLIER_2])
        assert [
            e.metadata["added"]
            for e in AuditEvent.objects.filter(action="supplier.filled_from_documents").order_by("seq")
        ] == [1, 0]

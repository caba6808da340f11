"""The hostile values of issue #13 §1, each once a 500, now a 400 (or a message) naming the field, with nothing
written: ``?run=x``; NUL bytes in query, form and JSON fields; JSON nested 3,000 deep; ``1e309`` in an auto-rule;
a non-ASCII portal username (and OTP); a 300,000-character CSV field; a 100,000-digit number in a portal JSON;
digits that ``str.isdigit()`` takes and ``int()`` does not."""

from __future__ import annotations

import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from autorules.models import AutoRule
from gst_sync.models import ConnectionStatus, PortalConnection
from tenancy.scoping import tenant_scope
from tests.tokens import token_header

pytestmark = pytest.mark.django_db


def audit_count(tenant) -> int:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(tenant=tenant).count()


# --- ids in query strings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["x", "1e309", "NaN", "²", "٣x", "9" * 5000, "1 OR 1=1"])
@pytest.mark.parametrize("page", ["reconciliation/", "reconciliation/matches/"])
def test_a_run_that_is_not_an_id_is_a_400_naming_run(tenant_a, reg_a1, alice, client_for, page, value):
    r = client_for(alice).get(f"/t/acme/{page}", {"run": value})
    assert r.status_code == 400
    assert "'run'" in r.content.decode()


def test_superscript_digits_and_overlong_ids_in_forms_are_ignored_not_a_500(tenant_a, alice, client_for):
    c = client_for(alice)
    assert c.post("/t/acme/notifications/read/", {"id": ["²", "9" * 5000, "7"]}).status_code == 302
    assert c.get("/t/acme/reconciliation/compare/", {"a": "²", "b": "9" * 5000}).status_code in (200, 404)
    assert c.get("/t/acme/reconciliation/register/lines/", {"after": "²"}).status_code == 200
    assert c.get("/t/acme/returns/deadlines/", {"registration": "²"}).status_code == 200


# --- NUL bytes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/t/acme/documents/",
        "/t/acme/suppliers/",
        "/t/acme/portal/outward/",
        "/t/acme/reconciliation/why-not/",
        "/api/v1/t/acme/suppliers/",
        "/api/v1/t/acme/documents/",
    ],
)
def test_a_nul_in_a_query_field_is_a_400_naming_it(tenant_a, reg_a1, alice, client_for, path):
    r = client_for(alice).get(path, {"q": "a\x00b", "recipient": "a\x00", "purchase": "\x00"})
    assert r.status_code == 400
    body = r.content.decode()
    assert "Null characters are not allowed" in body
    assert "'q'" in body or '"q"' in body


def test_a_nul_in_a_form_field_is_a_400_and_nothing_is_saved(tenant_a, alice, client_for):
    client = client_for(alice)  # signing in is an audit event of its own
    before = audit_count(tenant_a)
    r = client.post("/t/acme/documents/views/", {"name": "mine\x00", "query": "q=1"})
    assert r.status_code == 400
    assert "'name'" in r.content.decode()
    assert audit_count(tenant_a) == before


def test_a_nul_in_a_json_body_is_a_400_naming_its_place(tenant_a, reg_a1, alice, client):
    h = token_header(alice, tenant_a)
    body = {"lines": [{"erp_ref": "A-1"}, {"erp_ref": "B\x00"}]}
    r = client.post("/api/v1/t/acme/purchase-register/", body, content_type="application/json", **h)
    assert r.status_code == 400
    assert r.json() == {"lines[1].erp_ref": ["Null characters are not allowed."]}


# --- JSON that breaks parsers -------------------------------------------------------------------------------------


def test_json_nested_3000_deep_is_a_400(db, client):
    r = client.post("/api/v1/auth/token/", "[" * 3000 + "]" * 3000, content_type="application/json")
    assert r.status_code == 400
    assert "nested deeper than 64 levels" in r.json()["detail"]


@pytest.mark.parametrize(
    "raw", ['{"username": 1e309}', '{"username": NaN}', '{"username": ' + "9" * 100_000 + "}"]
)
def test_numbers_json_cannot_hold_are_a_400(db, client, raw):
    r = client.post("/api/v1/auth/token/", raw, content_type="application/json")
    assert r.status_code == 400
    assert r.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("amount", ["1e309", 1e300, "9" * 40])
def test_an_auto_rule_amount_out_of_range_is_a_400_naming_value_min(tenant_a, reg_a1, alice, client, amount):
    h = token_header(alice, tenant_a)
    body = {"name": "big", "action": "A", "conditions": [{"type": "value_range", "min": amount}]}
    r = client.post("/api/v1/t/acme/autorules/", body, content_type="application/json", **h)
    assert r.status_code == 400
    assert r.json()["field"] == "value_min"
    with tenant_scope(tenant_a):
        assert not AutoRule.objects.exists()


# --- the portal: username and OTP travel in HTTP headers, files are JSON ----------------------------------------


@pytest.fixture
def portal_down(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.IMS_GSP_BASE_URL = f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("username", ["rāmesh", "ab cd", "x\ny"])
def test_a_portal_username_headers_cannot_carry_is_refused_naming_the_field(
    tenant_a, reg_a1, alice, client_for, portal_down, username
):
    r = client_for(alice).post(
        f"/t/acme/portal/{reg_a1.pk}/otp/request/", {"username": username}, follow=True
    )
    assert r.status_code == 200
    assert "Portal username:" in r.content.decode()
    with tenant_scope(tenant_a):
        assert not PortalConnection.objects.filter(registration=reg_a1).exists()


def test_an_otp_of_other_digits_is_refused_naming_the_field(tenant_a, reg_a1, alice, client_for, portal_down):
    with tenant_scope(tenant_a):
        PortalConnection.objects.create(
            tenant=tenant_a, registration=reg_a1, username="acme", status=ConnectionStatus.OTP_SENT
        )
    r = client_for(alice).post(f"/t/acme/portal/{reg_a1.pk}/otp/", {"otp": "١٢٣٤٥٦"}, follow=True)
    assert r.status_code == 200
    assert "OTP: The OTP is 6 digits." in r.content.decode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"b2b": [{"val": ' + b"9" * 100_000 + b"}]}", "Exceeds the limit"),
        (b'{"b2b": [{"val": 1e999999}]}', "out of range"),
        (b'{"b2b": [{"ctin": "27\\u0000"}]}', "b2b[0].ctin: Null characters are not allowed."),
        (b'{"b2b": ' + b"[" * 3000 + b"]" * 3000 + b"}", "nested"),
    ],
    ids=["100,000 digits", "1e999999", "NUL", "3,000 deep"],
)
def test_a_portal_file_with_numbers_or_text_the_product_cannot_hold_is_a_400(
    tenant_a, reg_a1, alice, client_for, content, message
):
    client = client_for(alice)  # signing in is an audit event of its own
    before = audit_count(tenant_a)
    r = client.post(
        "/t/acme/portal/files/",
        {"registration": reg_a1.pk, "kind": "ims", "files": SimpleUploadedFile("ims.json", content)},
    )
    assert r.status_code == 400
    assert message in r.content.decode()
    assert audit_count(tenant_a) == before


# --- a register CSV ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (b"27AAAAA0000A1Z5," + b"A" * 300_000, "line 2"),
        (b"27AAAAA0000A1Z5,B-1\n" * 300 + b"27AAAAA0000A1Z5,a\x00b", "NUL character at line 302"),
    ],
    ids=["300,000-character field", "NUL"],
)
def test_a_register_csv_field_the_reader_cannot_hold_is_a_400_naming_the_line(
    tenant_a, reg_a1, alice, client_for, media, row, message
):
    data = b"Supplier GSTIN,Document number\n" + row + b"\n"
    r = client_for(alice).post(
        "/t/acme/reconciliation/register/", {"file": SimpleUploadedFile("register.csv", data)}
    )
    assert r.status_code == 400
    assert message in r.content.decode()

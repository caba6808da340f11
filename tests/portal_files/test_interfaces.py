"""Portal files through the page, the REST API and the command; roles and tenant isolation."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from gst_sync.models import Gstr2bStatement
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests.tokens import api_token

from .conftest import FIXTURES, RECIPIENT, ims_sample, snapshot, twob_sample, upload

PAGE = "/t/acme-files/portal/files/"
API = "/api/v1/t/acme-files/registrations/{}/"


def auth(user):
    token = api_token(user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def doc_count(tenant):
    with tenant_scope(tenant):
        return SupplierDocument.objects.count()


# --- page ------------------------------------------------------------------------------------------------------


def test_owner_uploads_the_ims_json_on_the_page_and_sees_counts_totals_and_the_vanished_note(
    acme, owner, login
):
    client = login(owner)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert RECIPIENT in page.content.decode()
    r = client.post(
        PAGE, {"registration": acme[1].pk, "kind": "ims", "files": upload(ims_sample(), "ims.json")}
    )
    html = r.content.decode()
    assert r.status_code == 200
    assert "8 records read. 8 new" in html
    assert "₹2,37,000.00" in html
    assert 'id="vanished-note"' in html
    assert "marked vanished" in html
    assert doc_count(acme[0]) == 8


def test_owner_uploads_2b_parts_together_and_sees_totals(acme, owner, login):
    client = login(owner)
    r = client.post(
        PAGE,
        {
            "registration": acme[1].pk,
            "kind": "2b",
            "period": "102025",
            "files": [upload(twob_sample(), "2b.json")],
        },
    )
    html = r.content.decode()
    assert r.status_code == 200
    assert "6 documents stored, 1 of them rejected" in html
    assert "₹1,10,000.00" in html
    assert "differs" not in html
    page = client.get(PAGE).content.decode()
    assert "10-2025" in page
    assert "14-11-2025" in page  # the stored statement is listed


def test_a_bad_upload_on_the_page_shows_the_error_and_writes_nothing(acme, owner, login):
    client = login(owner)
    body = ims_sample()
    body["b2b"][0]["pos"] = "XX"
    r = client.post(PAGE, {"registration": acme[1].pk, "kind": "ims", "files": upload(body, "ims.json")})
    assert r.status_code == 400
    assert (
        "ims.json: $.b2b[0] (b2b record 1): pos &#x27;XX&#x27; is not a 2-digit state code"
        in r.content.decode()
    )
    assert doc_count(acme[0]) == 0


def test_a_missing_file_or_bad_period_is_a_field_error(acme, owner, login):
    r = login(owner).post(PAGE, {"registration": acme[1].pk, "kind": "2b", "period": "2025-10"})
    html = r.content.decode()
    assert r.status_code == 400
    assert "The period is MMYYYY" in html
    assert "This field is required" in html


def test_viewer_sees_the_page_but_cannot_import(acme, viewer, login):
    client = login(viewer)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "cannot import" in page.content.decode()
    r = client.post(PAGE, {"registration": acme[1].pk, "kind": "ims", "files": upload(ims_sample())})
    assert r.status_code == 403
    assert doc_count(acme[0]) == 0


def test_another_tenants_registration_is_404_on_the_page(acme, owner, other_reg, login):
    client = login(owner)
    r = client.post(PAGE, {"registration": other_reg.pk, "kind": "ims", "files": upload(ims_sample())})
    assert r.status_code == 404
    assert client.get(f"{PAGE}{other_reg.pk}/offline-upload.json").status_code == 404


def test_download_button_gives_the_offline_tool_json(acme, owner, login):
    client = login(owner)
    client.post(PAGE, {"registration": acme[1].pk, "kind": "ims", "files": upload(ims_sample())})
    with tenant_scope(acme[0]):
        SupplierDocument.objects.filter(doc_number="GJ/1029").update(local_action="A")
    page = client.get(PAGE).content.decode()
    assert f"{PAGE}{acme[1].pk}/offline-upload.json?kind=save" in page
    r = client.get(f"{PAGE}{acme[1].pk}/offline-upload.json?kind=save")
    assert r.status_code == 200
    assert "attachment" in r["Content-Disposition"]
    body = json.loads(r.content)
    assert [rec["inum"] for rec in body["data"]["invdata"]["b2b"]] == ["GJ/1029"]
    assert client.get(f"{PAGE}{acme[1].pk}/offline-upload.json?kind=bogus").status_code == 404


def test_non_member_gets_404(acme, other_reg, login):
    from tests import factories

    stranger = factories.make_user("stranger")
    assert login(stranger).get(PAGE).status_code == 404


# --- API -------------------------------------------------------------------------------------------------------


def test_api_imports_a_multipart_ims_file(acme, owner, client):
    r = client.post(
        API.format(acme[1].pk) + "portal-files/", {"type": "ims", "file": upload(ims_sample())}, **auth(owner)
    )
    assert r.status_code == 201
    data = r.json()
    assert data["created"] == 8
    assert data["actions"] == {"A": 2, "R": 1, "P": 1, "N": 4}
    assert data["totals"]["taxable"] == "237000.00"


def test_api_imports_2b_parts_and_reports_bad_files_with_400(acme, owner, client):
    url = API.format(acme[1].pk) + "portal-files/"
    r = client.post(url, {"type": "2b", "file": [upload(twob_sample(), "a.json")]}, **auth(owner))
    assert r.status_code == 201
    assert r.json()["documents"] == 6
    assert r.json()["summary_matches"] is True
    r = client.post(url, {"type": "2b", "file": [upload(b"nope", "b.json")]}, **auth(owner))
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith("b.json: not valid JSON")
    r = client.post(url, {"type": "xml", "file": [upload(twob_sample())]}, **auth(owner))
    assert r.status_code == 400
    assert "type" in r.json()


def test_api_refuses_viewers_and_hides_other_tenants(acme, viewer, owner, other_reg, client):
    r = client.post(
        API.format(acme[1].pk) + "portal-files/",
        {"type": "ims", "file": upload(ims_sample())},
        **auth(viewer),
    )
    assert r.status_code == 403
    r = client.post(
        API.format(other_reg.pk) + "portal-files/",
        {"type": "ims", "file": upload(ims_sample())},
        **auth(owner),
    )
    assert r.status_code == 404
    assert client.get(API.format(other_reg.pk) + "offline-upload/", **auth(owner)).status_code == 404
    assert doc_count(acme[0]) == 0


def test_api_offline_upload_returns_the_reset_body(acme, owner, client):
    client.post(
        API.format(acme[1].pk) + "portal-files/", {"type": "ims", "file": upload(ims_sample())}, **auth(owner)
    )
    with tenant_scope(acme[0]):
        SupplierDocument.objects.filter(doc_number="INV/25-26/0142").update(local_action="N")
    r = client.get(API.format(acme[1].pk) + "offline-upload/?kind=reset", **auth(owner))
    assert r.status_code == 200
    assert r.json()["action"] == "RESETIMS"
    assert r.json()["data"]["invdata"]["b2b"][0]["prev_status"] == "A"


# --- command ---------------------------------------------------------------------------------------------------


def test_command_imports_ims_then_2b_detecting_the_type(acme, capsys):
    call_command("import_portal_file", str(FIXTURES / "ims_get_invoices_response.json"), "--gstin", RECIPIENT)
    out = capsys.readouterr().out
    assert "8 records" in out
    assert "b2b 4, b2ba 1, b2bcn 1, b2bdn 1, ecom 1" in out
    assert "A 2, R 1, P 1, N 4" in out
    call_command(
        "import_portal_file",
        str(FIXTURES / "gstr2b_get2b_response.json"),
        "--gstin",
        RECIPIENT,
        "--tenant",
        "acme-files",
    )
    out = capsys.readouterr().out
    assert "GSTR-2B 102025" in out
    assert "6 documents, 1 rejected" in out
    assert "available b2b: 2 docs, taxable 110000.00, igst 1800.00, cgst 9000.00" in out
    assert "IMS documents linked to this 2B: 6" in out
    with tenant_scope(acme[0]):
        assert Gstr2bStatement.objects.count() == 1


def test_command_fails_with_the_error_on_a_bad_file_and_writes_nothing(acme, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"b2b": [{"stin": "X"}]}))
    before = snapshot(acme[0])
    with pytest.raises(CommandError) as exc:
        call_command("import_portal_file", str(bad), "--gstin", RECIPIENT, "--type", "ims")
    assert "nothing was imported" in str(exc.value)
    assert "bad.json: $.b2b[0] (b2b record 1): stin 'X'" in str(exc.value)
    assert snapshot(acme[0]) == before


def test_command_refuses_an_unknown_gstin_and_a_missing_file(acme, tmp_path):
    with pytest.raises(CommandError, match="no registration 29AAJFY9012N1ZE"):
        call_command(
            "import_portal_file",
            str(FIXTURES / "ims_get_invoices_response.json"),
            "--gstin",
            "29AAJFY9012N1ZE",
        )
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_portal_file", str(tmp_path / "missing.json"), "--gstin", RECIPIENT)

"""An IMS JSON that would mark stored documents vanished (issue #13: a file with an empty section marked every
document of the section vanished, silently) shows what it would remove and imports only when confirmed: on the
page (a list and a confirmation box), in the API (409 with the count and the list unless ``confirm_removals``) and
in the command (``--confirm-removals``)."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from gst_sync.files.imports import RemovalsNeedConfirmation, import_ims_files
from tenancy.scoping import tenant_scope
from tests.tokens import token_header

from .conftest import ACTOR, docs_of, ims_sample, snapshot, upload

PAGE = "/t/acme-files/portal/files/"
API = "/api/v1/t/acme-files/registrations/{}/portal-files/"


@pytest.fixture
def imported(acme):
    """The sample imported: 4 b2b documents among 8."""
    tenant, reg = acme
    with tenant_scope(tenant):
        import_ims_files(tenant=tenant, actor=ACTOR, registration=reg, files=[upload(ims_sample())])
    return acme


def ims_import(acme, data, **kwargs):
    tenant, reg = acme
    with tenant_scope(tenant):
        return import_ims_files(tenant=tenant, actor=ACTOR, registration=reg, files=[upload(data)], **kwargs)


def empty_b2b() -> dict:
    sample = ims_sample()
    sample["b2b"] = []
    return sample


def vanished(tenant) -> set[str]:
    return {number for number, doc in docs_of(tenant).items() if doc.vanished_at}


def test_an_empty_section_is_refused_with_what_it_would_remove_and_nothing_is_written(imported):
    tenant, reg = imported
    before = snapshot(tenant)
    with pytest.raises(RemovalsNeedConfirmation) as exc:
        ims_import(imported, empty_b2b())
    assert exc.value.count == 4
    assert exc.value.by_section == {"b2b": 4}
    assert {d["number"] for d in exc.value.documents} == {"INV/25-26/0142", "KA-7781", "KA-7790", "GJ/1029"}
    assert "4 stored document(s)" in exc.value.errors[0]
    assert snapshot(tenant) == before


def test_confirmed_the_same_file_marks_them_vanished(imported):
    tenant, reg = imported
    result = ims_import(imported, empty_b2b(), confirm_removals=True)
    assert result.ingest.vanished == 4
    assert vanished(tenant) == {"INV/25-26/0142", "KA-7781", "KA-7790", "GJ/1029"}


def test_a_file_that_removes_nothing_needs_no_confirmation(imported):
    result = ims_import(imported, ims_sample())
    assert result.ingest.vanished == 0


def test_the_page_lists_what_would_go_asks_for_confirmation_then_imports(imported, owner, login):
    tenant, reg = imported
    client = login(owner)
    before = snapshot(tenant)
    r = client.post(PAGE, {"registration": reg.pk, "kind": "ims", "files": upload(empty_b2b(), "ims.json")})
    html = r.content.decode()
    assert r.status_code == 409
    assert 'id="import-removals"' in html
    assert "would mark 4 stored document(s)" in html
    assert "KA-7790" in html
    assert "GJ/1029" in html
    assert 'name="confirm_removals"' in html
    assert snapshot(tenant) == before

    r = client.post(
        PAGE,
        {
            "registration": reg.pk,
            "kind": "ims",
            "files": upload(empty_b2b(), "ims.json"),
            "confirm_removals": "on",
        },
    )
    assert r.status_code == 200
    assert len(vanished(tenant)) == 4


def test_the_api_answers_409_with_the_count_and_list_unless_confirm_removals(imported, owner, client):
    tenant, reg = imported
    headers = token_header(owner, tenant)
    before = snapshot(tenant)
    r = client.post(API.format(reg.pk), {"type": "ims", "file": upload(empty_b2b())}, **headers)
    assert r.status_code == 409
    body = r.json()
    assert body["removals"] == 4
    assert body["removals_by_section"] == {"b2b": 4}
    assert {d["number"] for d in body["would_remove"]} >= {"KA-7790", "GJ/1029"}
    assert snapshot(tenant) == before

    r = client.post(
        API.format(reg.pk),
        {"type": "ims", "file": upload(empty_b2b()), "confirm_removals": "true"},
        **headers,
    )
    assert r.status_code == 201
    assert r.json()["vanished"] == 4
    assert len(vanished(tenant)) == 4


def test_the_command_refuses_without_confirm_removals(imported, tmp_path):
    tenant, reg = imported
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(empty_b2b()))
    with pytest.raises(CommandError) as exc:
        call_command("import_portal_file", str(path), "--gstin", reg.gstin, "--type", "ims")
    assert "--confirm-removals" in str(exc.value)
    assert not vanished(tenant)
    call_command("import_portal_file", str(path), "--gstin", reg.gstin, "--type", "ims", "--confirm-removals")
    assert len(vanished(tenant)) == 4

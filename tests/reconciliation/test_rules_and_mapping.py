"""The matching-rules page (versioned, audited, owners/admins edit) and the manual column mapping of a register
upload whose headings are not all recognised."""

import re

from audit.models import AuditEvent
from reconciliation.models import ColumnMapping, PurchaseLine, RegisterImport, RuleSetVersion
from reconciliation.services import run_import
from tenancy.scoping import tenant_scope
from tests.documents.helpers import SUPPLIER_1, SUPPLIER_2

RULES = "/t/acme/reconciliation/rules/"
REGISTER = "/t/acme/reconciliation/register/"
MAPPING = "/t/acme/reconciliation/register/mapping/"
DEFAULTS = {
    "fuzzy_threshold": "90",
    "amount_abs": "1.00",
    "amount_pct": "0.00",
    "date_window": "10",
    "pan_fallback": "on",
    "absolute_amounts": "on",
    "groups": "on",
    "max_group": "10",
}


def test_rules_page_shows_the_rules_in_force(tenant_a, alice, client_for):
    page = client_for(alice).get(RULES)
    assert page.status_code == 200
    html = page.content.decode()
    assert "v1 in force" in html
    assert re.search(r'name="fuzzy_threshold" value="90"', html)
    assert re.search(r'name="pan_fallback" checked', html)
    assert not re.search(r'name="across_fy" checked', html)


def test_saving_rules_creates_a_new_version_audited_with_its_changes(tenant_a, alice, client_for):
    c = client_for(alice)
    c.get(RULES)
    r = c.post(RULES, {**DEFAULTS, "amount_abs": "5", "date_window": "30", "across_fy": "on"})
    assert r.status_code == 302
    with tenant_scope(tenant_a):
        current = RuleSetVersion.objects.filter(tenant=tenant_a).first()
        event = AuditEvent.objects.get(action="recon.rules_changed")
    assert current.version == 2
    assert current.created_by
    assert current.params["amount_abs"] == "5.00"
    assert event.changes == {
        "amount_abs": ["1.00", "5.00"],
        "date_window": [10, 30],
        "across_fy": [False, True],
    }
    unticked = {k: v for k, v in DEFAULTS.items() if k != "pan_fallback"}
    assert c.post(RULES, unticked).status_code == 302  # an unticked box switches the rule off
    with tenant_scope(tenant_a):
        assert RuleSetVersion.objects.filter(tenant=tenant_a).first().params["pan_fallback"] is False
    history = c.get(RULES).content.decode()
    assert "v3 in force" in history
    assert re.search(r"<td>v2</td><td>alice.*?date_window: 10 → 30", history, re.S)


def test_a_bad_rule_value_is_a_field_error_and_saves_nothing(tenant_a, alice, client_for):
    c = client_for(alice)
    for field, value, message in [
        ("fuzzy_threshold", "120", "between 50 and 100"),
        ("amount_abs", "abc", "must be an amount"),
        ("amount_pct", "NaN", "between 0 and"),
        ("date_window", "", "whole number"),
    ]:
        r = c.post(RULES, {**DEFAULTS, field: value})
        assert r.status_code == 400
        assert re.search(rf'data-field="{field}">[^<]*{message}', r.content.decode()), field
    with tenant_scope(tenant_a):
        assert RuleSetVersion.objects.filter(tenant=tenant_a, version__gt=1).count() == 0
        assert not AuditEvent.objects.filter(action="recon.rules_changed").exists()


def test_viewer_reads_the_rules_but_may_not_change_them(tenant_a, bob, client_for):
    c = client_for(bob)
    page = c.get(RULES)
    assert page.status_code == 200
    assert b"Only owners and admins" in page.content
    assert c.post(RULES, {**DEFAULTS, "date_window": "30"}).status_code == 403
    with tenant_scope(tenant_a):
        assert not RuleSetVersion.objects.filter(tenant=tenant_a, version__gt=1).exists()


def test_another_tenants_member_gets_404_on_the_rules_page(tenant_a, tenant_b, alice, charlie, client_for):
    c = client_for(charlie)
    assert c.get(RULES).status_code == 404
    assert c.post(RULES, {**DEFAULTS, "date_window": "30"}).status_code == 404


# --- column mapping ---------------------------------------------------------------------------------------------

OWN_HEAD = "Our GSTIN No,Party,Doc Kind,Bill No,Bill Dt,Txval,Integrated tax,Voucher\n"


def _upload(c, name, text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return c.post(REGISTER, {"file": SimpleUploadedFile(name, text.encode(), content_type="text/csv")})


def _selected(html):
    return dict(
        re.findall(
            r'<select id="map-\w+" name="(\w+)".*?(?:<option value="([^"]*)" selected>|</select>)', html, re.S
        )
    )


def test_unknown_headings_get_the_mapping_page_prefilled_with_the_guess(
    tenant_a, reg_a1, alice, client_for, media
):
    data = OWN_HEAD + f"{reg_a1.gstin},{SUPPLIER_1},Invoice,B-1,05-10-2025,1000,180,V1\n"
    page = _upload(client_for(alice), "books.csv", data)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="column-mapping"' in html
    chosen = {k: v for k, v in _selected(html).items() if v}
    assert chosen == {"doc_number": "Bill No", "igst": "Integrated tax"}  # the guess
    assert {"Our GSTIN No", "Party", "Doc Kind", "Bill Dt", "Txval", "Voucher"} == set(
        re.findall(r'class="badge[^"]*unrecognised">([^<]+)<', html)
    )
    with tenant_scope(tenant_a):
        assert not RegisterImport.objects.exists()


def test_confirming_a_mapping_imports_the_rows_and_is_remembered_next_time(
    tenant_a, reg_a1, alice, client_for, media
):
    c = client_for(alice)
    data = OWN_HEAD + f"{reg_a1.gstin},{SUPPLIER_2},Invoice,B-1,05-10-2025,1000,180,V1\n"
    html = _upload(c, "books.csv", data).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    mapping = {
        "recipient_gstin": "Our GSTIN No",
        "supplier_gstin": "Party",
        "kind": "Doc Kind",
        "doc_number": "Bill No",
        "doc_date": "Bill Dt",
        "taxable": "Txval",
        "igst": "Integrated tax",
        "erp_ref": "Voucher",
    }
    incomplete = c.post(MAPPING, {"token": token, "name": "books.csv", **mapping, "doc_date": ""})
    assert incomplete.status_code == 400
    assert b"Document date" in incomplete.content

    r = c.post(MAPPING, {"token": token, "name": "books.csv", **mapping})
    assert r.status_code == 302
    with tenant_scope(tenant_a):
        job = RegisterImport.objects.get()
        assert ColumnMapping.objects.get(tenant=tenant_a).mapping == mapping
    assert r.url.endswith(f"/register/imports/{job.pk}/")
    job = run_import(import_id=job.pk)
    assert (job.status, job.created, job.error_count) == ("done", 1, 0)
    with tenant_scope(tenant_a):
        line = PurchaseLine.objects.get(erp_ref="V1")
    assert (line.doc_number, str(line.igst)) == ("B-1", "180.00")
    assert c.post(MAPPING, {"token": token, "name": "books.csv", **mapping}).status_code == 302  # used up
    with tenant_scope(tenant_a):
        assert RegisterImport.objects.count() == 1

    again = _upload(c, "books.csv", data.replace("180,V1", "190,V1"))  # the same headings: imported at once
    assert again.status_code == 302
    assert "/register/imports/" in again.url
    with tenant_scope(tenant_a):
        job2 = RegisterImport.objects.exclude(pk=job.pk).get()
    assert run_import(import_id=job2.pk).updated == 1


def test_a_column_left_unmapped_is_remembered_as_ignored(tenant_a, reg_a1, alice, client_for, media):
    c = client_for(alice)
    head = (
        "Recipient GSTIN,Supplier GSTIN,Document type,Document number,Document date,Taxable value,Narration\n"
    )
    data = head + f"{reg_a1.gstin},{SUPPLIER_1},Invoice,N-1,05-10-2025,1000,office chairs\n"
    html = _upload(c, "r.csv", data).content.decode()
    assert 'id="column-mapping"' in html
    assert "Narration" in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    assert (
        c.post(
            MAPPING, {"token": token, "name": "r.csv", **{k: v for k, v in _selected(html).items() if v}}
        ).status_code
        == 302
    )
    assert _upload(c, "r.csv", data).status_code == 302  # Narration is not asked about again


def test_mapping_of_another_tenants_upload_or_a_forged_token_is_refused(
    tenant_a, tenant_b, reg_a1, alice, charlie, client_for, media
):
    c = client_for(alice)
    html = _upload(
        c, "books.csv", OWN_HEAD + f"{reg_a1.gstin},{SUPPLIER_1},Invoice,B-1,05-10-2025,1,0,V1\n"
    ).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    forged = c.post(MAPPING, {"token": "../../etc/passwd", "name": "x.csv"})
    assert forged.status_code == 302
    assert forged.url.endswith("/register/")
    c.force_login(charlie, backend="django.contrib.auth.backends.ModelBackend")
    assert c.post(MAPPING, {"token": token, "name": "books.csv"}).status_code == 404
    theirs = c.post("/t/bharat/reconciliation/register/mapping/", {"token": token, "name": "books.csv"})
    assert theirs.status_code == 302
    assert theirs.url.endswith("/register/")
    with tenant_scope(tenant_b):
        assert not RegisterImport.objects.exists()

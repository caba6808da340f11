"""The tenant's GSTINs page: list, add (validated, audited), edit (audited), access control."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from gst.gstin import make_gstin
from tenancy.models import Registration
from tenancy.scoping import tenant_scope
from tests import factories

pytestmark = pytest.mark.django_db


def _url(tenant, *args):
    name = "tenant-registration-edit" if args else "tenant-registrations"
    return reverse(name, args=[tenant.slug, *args])


def _gstins(tenant):
    with tenant_scope(tenant):
        return sorted(Registration.objects.values_list("gstin", flat=True))


def _events(tenant, action):
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_page_lists_gstins_with_names_state_and_frequency(
    client_for, alice, tenant_a, reg_a1, reg_a2, reg_b1
):
    response = client_for(alice).get(_url(tenant_a))
    assert response.status_code == 200
    assert list(response.context["registrations"]) == [reg_a1, reg_a2]
    html = response.content.decode()
    assert reg_a1.gstin in html
    assert reg_a1.legal_name in html
    assert "27 · Maharashtra" in html
    assert "29 · Karnataka" in html
    assert "Monthly" in html
    assert "Quarterly (QRMP)" in html
    assert reg_b1.gstin not in html


def test_owner_adds_a_gstin_and_it_is_audited(client_for, alice, tenant_a):
    gstin = make_gstin("33", "AAPFU0939F")
    response = client_for(alice).post(
        _url(tenant_a),
        {
            "gstin": gstin.lower(),
            "legal_name": "Acme Traders Chennai",
            "trade_name": "Acme South",
            "filing_frequency": "Q",
        },
    )
    assert response["Location"] == _url(tenant_a)
    with tenant_scope(tenant_a):
        reg = Registration.objects.get(gstin=gstin)
    assert (reg.state_code, reg.filing_frequency, reg.trade_name) == ("33", "Q", "Acme South")
    event = _events(tenant_a, "registration.created")[-1]
    assert event.actor_label == "alice"
    assert event.changes == {"gstin": [None, gstin], "filing_frequency": [None, "Q"]}


@pytest.mark.parametrize(
    ("gstin", "check_named"),
    [
        ("27AAPFU0939F1ZX", "check character is 'X' but should be 'V'"),
        ("99AAPFU0939F1ZV", "state code '99' is not a current state or UT code"),
        ("27AAPFU0939F1Z", "must be 15 characters, got 14"),
        ("27AAP1U0939F1ZV", "not a valid PAN"),
        ("27AAPFU0939F0ZV", "13th character (entity number)"),
    ],
)
def test_bad_gstin_is_a_field_error_naming_the_failed_check(client_for, alice, tenant_a, gstin, check_named):
    response = client_for(alice).post(
        _url(tenant_a),
        {
            "gstin": gstin,
            "legal_name": "X Ltd",
            "filing_frequency": "M",
        },
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors["gstin"]
    assert check_named in error
    assert check_named.replace("'", "&#x27;") in response.content.decode()
    assert _gstins(tenant_a) == []


def test_duplicate_gstin_is_a_field_error(client_for, alice, tenant_a, reg_a1):
    response = client_for(alice).post(
        _url(tenant_a),
        {
            "gstin": reg_a1.gstin,
            "legal_name": "Again",
            "filing_frequency": "M",
        },
    )
    assert response.status_code == 200
    assert "already one of this organisation's GSTINs" in response.context["form"].errors["gstin"][0]
    assert _gstins(tenant_a) == [reg_a1.gstin]


def test_same_gstin_may_belong_to_another_tenant(client_for, charlie, tenant_b, reg_a1):
    response = client_for(charlie).post(
        _url(tenant_b),
        {
            "gstin": reg_a1.gstin,
            "legal_name": "Shared",
            "filing_frequency": "M",
        },
    )
    assert response.status_code == 302
    assert _gstins(tenant_b) == [reg_a1.gstin]


def test_missing_legal_name_is_a_field_error(client_for, alice, tenant_a):
    response = client_for(alice).post(
        _url(tenant_a), {"gstin": make_gstin("27", "AAPFU0939F"), "filing_frequency": "M"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["legal_name"] == ["This field is required."]


def test_admin_edits_names_and_frequency_and_it_is_audited(client_for, tenant_a, reg_a1):
    admin = factories.make_user("adam")
    factories.make_member(tenant_a, admin, "admin")
    client = client_for(admin)
    assert client.get(_url(tenant_a, reg_a1.pk)).context["form"].initial["legal_name"] == reg_a1.legal_name
    response = client.post(
        _url(tenant_a, reg_a1.pk),
        {
            "legal_name": reg_a1.legal_name,
            "trade_name": "Acme West",
            "filing_frequency": "Q",
        },
    )
    assert response["Location"] == _url(tenant_a)
    with tenant_scope(tenant_a):
        reg_a1.refresh_from_db()
    assert (reg_a1.trade_name, reg_a1.filing_frequency) == ("Acme West", "Q")
    [event] = _events(tenant_a, "registration.updated")
    assert event.actor_label == "adam"
    assert event.changes == {"trade_name": ["", "Acme West"], "filing_frequency": ["M", "Q"]}


def test_edit_without_changes_writes_no_event(client_for, alice, tenant_a, reg_a1):
    client_for(alice).post(
        _url(tenant_a, reg_a1.pk),
        {
            "legal_name": reg_a1.legal_name,
            "trade_name": "",
            "filing_frequency": "M",
        },
    )
    assert _events(tenant_a, "registration.updated") == []


def test_edit_with_unknown_frequency_is_a_field_error(client_for, alice, tenant_a, reg_a1):
    response = client_for(alice).post(_url(tenant_a, reg_a1.pk), {"legal_name": "X", "filing_frequency": "W"})
    assert response.status_code == 200
    assert "filing_frequency" in response.context["form"].errors


@pytest.mark.parametrize("persona", ["bob", "pat"])
def test_registrations_pages_are_forbidden_to_non_managers(request, client_for, persona, tenant_a, reg_a1):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(_url(tenant_a)).status_code == 403
    assert client.get(_url(tenant_a, reg_a1.pk)).status_code == 403
    gstin = make_gstin("24", "AAPFU0939F")
    assert (
        client.post(_url(tenant_a), {"gstin": gstin, "legal_name": "X", "filing_frequency": "M"}).status_code
        == 403
    )
    assert (
        client.post(_url(tenant_a, reg_a1.pk), {"legal_name": "Hacked", "filing_frequency": "Q"}).status_code
        == 403
    )
    assert _gstins(tenant_a) == [reg_a1.gstin]


def test_approver_is_forbidden_too(client_for, tenant_a):
    approver = factories.make_user("appy")
    factories.make_member(tenant_a, approver, "approver", gstins=[])
    assert client_for(approver).get(_url(tenant_a)).status_code == 403


def test_another_tenants_gstin_or_page_is_404(client_for, alice, tenant_a, tenant_b, reg_b1):
    client = client_for(alice)
    assert client.get(_url(tenant_a, reg_b1.pk)).status_code == 404
    assert (
        client.post(_url(tenant_a, reg_b1.pk), {"legal_name": "Hacked", "filing_frequency": "Q"}).status_code
        == 404
    )
    assert client.get(_url(tenant_b)).status_code == 404
    with tenant_scope(tenant_b):
        reg_b1.refresh_from_db()
    assert reg_b1.legal_name != "Hacked"

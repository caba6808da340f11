"""Two-factor sign-in, recovery codes, the session list with "sign out everywhere", an organisation requiring the
second factor, and account events in the audit trail (docs/access.md §3)."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scopes_disabled

from audit.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice, shift: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += shift * device.step
    return f"{totp.token():0{device.digits}d}"


def _sign_in(client, username="alice", password=PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


def _turn_on(client) -> tuple[TOTPDevice, list[str]]:
    """Through the pages: start, read the key off the page, confirm with the app's code."""
    client.post(reverse("two-factor-start"))
    page = client.get(reverse("account-security")).content.decode()
    assert "<svg" in page  # the QR code, inline
    device = TOTPDevice.objects.get(confirmed=False)
    key = re.search(r'id="two-factor-key">([A-Z2-7 ]+)<', page).group(1)
    assert key.replace(" ", "") == base64.b32encode(device.bin_key).decode().rstrip("=")
    done = client.post(reverse("two-factor-confirm"), {"code": _code(device)})
    assert done.status_code == 200
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", done.content.decode())
    assert len(codes) == 10
    return TOTPDevice.objects.get(pk=device.pk), codes


def _events(action: str, tenant=None):
    """The audit events of ``action`` (of one organisation, or of all: read across tenants, as an auditor of the
    whole installation would)."""
    with scopes_disabled():
        qs = AuditEvent.objects.filter(action=action)
        qs = qs.filter(tenant=tenant) if tenant is not None else qs
        return _Evaluated(list(qs))


class _Evaluated(list):
    def count(self) -> int:
        return len(self)

    def get(self):
        assert len(self) == 1, self
        return self[0]

    def exists(self) -> bool:
        return bool(self)

    def exclude(self, tenant):
        return _Evaluated(e for e in self if e.tenant_id != tenant.pk)


def test_turning_two_factor_on_asks_for_a_code_after_the_password_at_the_next_sign_in(
    client, alice, tenant_a
):
    _sign_in(client)
    device, _codes = _turn_on(client)
    assert device.confirmed
    assert _events("account.two_factor_enabled", tenant_a).count() == 1

    other = Client()
    assert _sign_in(other).status_code == 302
    # The password alone opens nothing: every page sends to the second step, the API answers 403.
    page = other.get(reverse("tenant-home", args=[tenant_a.slug]))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("two-factor-verify"))
    assert other.get(f"/api/v1/t/{tenant_a.slug}/documents/").status_code in (401, 403)
    wrong = other.post(
        reverse("two-factor-verify"), {"code": "000000" if _code(device) != "000000" else "111111"}
    )
    assert "That code is not right" in wrong.content.decode()
    assert _events("account.two_factor_failed", tenant_a).count() == 1
    # After a wrong code the app waits before it takes another, even the right one (guessing gets slower).
    throttled = other.post(reverse("two-factor-verify"), {"code": _code(device)})
    assert "Too many wrong codes" in throttled.content.decode()
    time.sleep(1.1)
    # (The code of the set-up's time step was used once already: a code never works twice; take the next one.)
    right = other.post(
        reverse("two-factor-verify"),
        {"code": _code(device, shift=1), "next": reverse("tenant-home", args=[tenant_a.slug])},
    )
    assert right.status_code == 302
    assert right["Location"] == reverse("tenant-home", args=[tenant_a.slug])
    assert other.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 200


def test_a_recovery_code_works_once(client, alice, tenant_a):
    _sign_in(client)
    _device, codes = _turn_on(client)
    first = Client()
    _sign_in(first)
    assert first.post(reverse("two-factor-verify"), {"code": codes[0].upper()}).status_code == 302
    assert first.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 200
    event = _events("account.recovery_code_used", tenant_a).get()
    assert event.metadata["codes_left"] == 9
    again = Client()
    _sign_in(again)
    assert (
        again.post(reverse("two-factor-verify"), {"code": codes[0]}).status_code == 200
    )  # refused, form again
    assert again.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 302


def test_new_recovery_codes_replace_the_old_ones_and_turning_off_needs_a_code(client, alice, tenant_a):
    _sign_in(client)
    device, old = _turn_on(client)
    renewed = client.post(reverse("recovery-codes-renew"), {"code": _code(device, shift=1)})
    new = re.findall(r"<li>([a-z2-7]{8})</li>", renewed.content.decode())
    assert len(new) == 10
    assert not set(new) & set(old)
    other = Client()
    _sign_in(other)
    assert other.post(reverse("two-factor-verify"), {"code": old[1]}).status_code == 200  # old code: refused
    time.sleep(1.1)  # the wait after a wrong code
    assert other.post(reverse("two-factor-verify"), {"code": new[1]}).status_code == 302

    client.post(reverse("two-factor-disable"), {"code": "12345"})
    assert TOTPDevice.objects.filter(user=alice, confirmed=True).exists()
    time.sleep(1.1)  # the wait after a wrong code
    client.post(reverse("two-factor-disable"), {"code": new[2]})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert _events("account.two_factor_disabled", tenant_a).count() == 1
    assert _events("account.recovery_codes_renewed", tenant_a).count() == 1
    fresh = Client()
    _sign_in(fresh)
    assert fresh.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 200  # no second step now


def test_an_organisation_can_require_two_factor_of_every_member(client, client_for, alice, bob, tenant_a):
    owner = Client()
    _sign_in(owner)
    # The owner must have it first.
    owner.post(reverse("tenant-two-factor", args=[tenant_a.slug]), {"required": "1"})
    tenant_a.refresh_from_db()
    assert not tenant_a.require_two_factor
    _device, codes = _turn_on(owner)
    owner.post(reverse("tenant-two-factor", args=[tenant_a.slug]), {"required": "1"})
    tenant_a.refresh_from_db()
    assert tenant_a.require_two_factor
    assert _events("tenant.two_factor_required", tenant_a).count() == 1
    assert (
        owner.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 200
    )  # verified in this session

    viewer = client_for(bob)
    page = viewer.get(reverse("tenant-home", args=[tenant_a.slug]))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("account-security"))
    assert tenant_a.name in viewer.get(page["Location"]).content.decode()
    # A viewer may not change the rule.
    assert viewer.post(reverse("tenant-two-factor", args=[tenant_a.slug]), {"required": "0"}).status_code in (
        302,
        403,
    )
    tenant_a.refresh_from_db()
    assert tenant_a.require_two_factor
    # And the owner cannot turn their own second factor off while the organisation requires it.
    refused = owner.post(reverse("two-factor-disable"), {"code": codes[0]}, follow=True)
    assert "requires it of its members" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=alice, confirmed=True).exists()


def test_the_session_list_and_sign_out_of_the_others(alice, tenant_a):
    laptop, phone = Client(HTTP_USER_AGENT="Laptop browser"), Client(HTTP_USER_AGENT="Phone browser")
    _sign_in(laptop)
    _sign_in(phone)
    page = laptop.get(reverse("account-security")).content.decode()
    assert "Laptop browser" in page
    assert "Phone browser" in page
    laptop.post(reverse("sessions-end"), {"which": "others"})
    assert phone.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 302  # signed out
    assert laptop.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 200
    assert _events("account.sessions_ended", tenant_a).get().metadata == {
        "sessions": 1,
        "this_session_kept": True,
    }
    laptop.post(reverse("sessions-end"), {"which": "all"})
    assert laptop.get(reverse("tenant-home", args=[tenant_a.slug])).status_code == 302
    assert not Session.objects.exists()


def test_sign_in_sign_out_and_failures_are_in_the_audit_trail(client, alice, tenant_a):
    client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    client.post(reverse("login"), {"username": "nobody-here", "password": "wrong"})
    _sign_in(client)
    client.post(reverse("logout"))
    failed = _events("account.sign_in_failed", tenant_a).get()
    assert failed.object_repr == "alice"
    assert _events("account.sign_in_failed").count() == 1  # the unknown name is in no organisation's trail
    assert _events("account.signed_in", tenant_a).count() == 1
    assert _events("account.signed_out", tenant_a).count() == 1
    assert not _events("account.signed_in").exclude(tenant=tenant_a).exists()


def test_another_users_sessions_are_not_listed(client_for, alice, charlie):
    c = Client(HTTP_USER_AGENT="Charlie's browser")
    _sign_in(c, "charlie")
    page = client_for(alice).get(reverse("account-security")).content.decode()
    assert "Charlie&#x27;s browser" not in page
    assert "Charlie's browser" not in page

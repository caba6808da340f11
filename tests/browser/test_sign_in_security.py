"""Two-factor sign-in in a real browser: set up from the QR page, sign in again with the code (docs/access.md §3)."""

from __future__ import annotations

import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories

pytestmark = pytest.mark.browser


def _code(device: TOTPDevice, shift: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += shift * device.step
    return f"{totp.token():0{device.digits}d}"


def test_set_up_two_factor_and_sign_in_with_the_code(page, log_in, transactional_db):
    tenant = factories.make_tenant("Second Step Traders", "second")
    factories.make_registration(tenant, state="27", n=1)
    owner = factories.make_user("sita")
    factories.make_member(tenant, owner, "owner")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    log_in("sita", factories.PASSWORD)
    page.goto(f"/t/{tenant.slug}/")
    page.locator("#user-menu").click()
    page.get_by_role("link", name="Sign-in security").click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    assert page.locator("#two-factor-qr svg").is_visible()
    box = page.locator("#two-factor-qr svg").bounding_box()
    assert box["width"] > 100  # a QR code people can scan, drawn under the page's CSP
    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    page.locator("#confirm-code").fill(_code(device))
    page.get_by_role("button", name="Turn on").click()
    page.locator("#recovery-codes li").first.wait_for()  # all_inner_texts() does not wait for the new page
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z2-7]{8}", c) for c in codes)
    page.get_by_role("link", name="I have saved them").click()
    assert "On" in page.locator("#two-factor").inner_text()

    page.locator("#user-menu").click()
    page.get_by_role("button", name="Log out").click()
    log_in("sita", factories.PASSWORD)
    page.goto(f"/t/{tenant.slug}/")
    assert "/accounts/security/verify/" in page.url
    page.locator("#id_code").fill(_code(device, shift=1))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"**/t/{tenant.slug}/")
    assert page.locator("h1").inner_text() == tenant.name
    assert violations == []

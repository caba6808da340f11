"""The Content-Security-Policy in a real browser: the pages work with no inline script (the dashboard chart and its
period filter, a confirmation before removing a member, the API docs) and Chromium reports no violation."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def office(transactional_db):
    tenant = factories.make_tenant("Policy Traders", "policy")
    factories.make_registration(tenant, state="27", n=31)
    owner = factories.make_user("olga")
    factories.make_member(tenant, owner, "owner")
    member = factories.make_user("manu")
    membership = factories.make_member(tenant, member, "viewer", gstins=[])
    return tenant, membership


@pytest.fixture
def violations(page):
    """Every CSP violation Chromium reports on the page's console, collected while the test runs."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: found.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return found


def test_pages_work_under_the_policy_without_violations(page, log_in, office, violations):
    tenant, membership = office
    log_in("olga", factories.PASSWORD)
    page.goto(f"/t/{tenant.slug}/")
    assert page.locator("h1").inner_text() == tenant.name

    page.goto(f"/t/{tenant.slug}/members/{membership.pk}/")
    remove = page.get_by_role("button", name="Remove member")
    page.once("dialog", lambda dialog: dialog.dismiss())
    remove.click()
    page.wait_for_timeout(300)  # a dismissed confirmation sends nothing: the page stays
    assert page.url.endswith(f"/members/{membership.pk}/")
    assert remove.is_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        remove.click()
    assert "Removed manu from Policy Traders" in page.locator("main").inner_text()
    assert "1 member of Policy Traders" in page.locator("main").inner_text()

    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)
    assert violations == []

"""The dashboard in a real browser (issue #14 §2): "What to do today" per GSTIN, each link opening the filtered
list with as many documents as the dashboard said, both charts drawn, and no Content-Security-Policy violation."""

from __future__ import annotations

import pytest

from tests import factories
from tests.documents.helpers import make_doc

pytestmark = pytest.mark.browser


@pytest.fixture
def office(transactional_db):
    tenant = factories.make_tenant("Links Traders", "links")
    reg = factories.make_registration(tenant, state="27", n=41)
    owner = factories.make_user("lina")
    factories.make_member(tenant, owner, "owner")
    for _ in range(3):
        make_doc(reg)  # no action
    make_doc(reg, portal_action="P")
    make_doc(reg, portal_action="A", local_action="R", local_remarks="not received")  # not yet pushed
    return tenant, reg


def test_each_today_link_opens_the_list_of_what_it_counts(page, log_in, office):
    tenant, reg = office
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    log_in("lina", factories.PASSWORD)
    home = f"/t/{tenant.slug}/"
    page.goto(home)
    card = page.locator(f"#today-{reg.gstin}")
    assert "No action yet: 3 documents" in card.inner_text()
    assert "Kept pending: 1 document" in card.inner_text()
    assert "Not yet pushed: 1 action" in card.inner_text()
    # Both charts were drawn by the page's script (Chart.js sizes the canvas it draws on).
    for canvas in ("#itc-trend", "#itc-risk"):
        page.wait_for_function(f"() => document.querySelector('{canvas}').width > 0")

    for key, expected in (("no-action", 3), ("pending", 1), ("not-pushed", 1)):
        page.goto(home)
        with page.expect_navigation():
            page.locator(f'#today-{reg.gstin} a[data-today="{key}"]').click()
        assert "/documents/" in page.url
        assert page.locator("tbody tr[data-href]").count() == expected, key

    for key in ("gstr3b", "deadlines", "sync"):
        page.goto(home)
        with page.expect_navigation():
            page.locator(f'#today-{reg.gstin} a[data-today="{key}"]').click()
        assert page.locator("h1").count() >= 1, key
    assert violations == []

"""The dashboard in a real browser (issue #14 §2): "What to do today" per GSTIN, each link opening the filtered
list with as many documents as the dashboard said (the nearest one-period Pending limit: the deadline queue of
exactly those documents), both charts drawn, and no Content-Security-Policy violation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.utils import timezone

from gst.periods import add_months
from tests import factories
from tests.documents.helpers import make_doc

pytestmark = pytest.mark.browser
SHOT = str(Path(tempfile.gettempdir()) / "desk-dashboard-{}.png")


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
    # two credit notes of last month kept pending: their one-period limit is the 20th of next month
    last_month = add_months(timezone.localdate().replace(day=1), -1)
    for taxable in ("10000.00", "2500.00"):
        make_doc(
            reg,
            section="b2bcn",
            portal_action="P",
            taxable_value=taxable,
            doc_date=last_month.replace(day=5),
        )
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
    assert "Kept pending: 3 documents" in card.inner_text()
    due = add_months(timezone.localdate().replace(day=1), 1).replace(day=20)
    assert (
        f"Pending limit {due:%d-%m-%Y}: 2 documents kept pending, ITC at stake ₹2,250.00: accept or reject by then"
        in card.inner_text()
    )
    card.screenshot(path=SHOT.format("1-card"))
    assert "Not yet pushed: 1 action" in card.inner_text()
    # Both charts were drawn by the page's script (Chart.js sizes the canvas it draws on).
    for canvas in ("#itc-trend", "#itc-risk"):
        page.wait_for_function(f"() => document.querySelector('{canvas}').width > 0")

    for key, expected in (("no-action", 3), ("pending", 3), ("not-pushed", 1)):
        page.goto(home)
        with page.expect_navigation():
            page.locator(f'#today-{reg.gstin} a[data-today="{key}"]').click()
        assert "/documents/" in page.url
        assert page.locator("tbody tr[data-href]").count() == expected, key

    # The Pending limit opens the deadline queue of exactly those two credit notes, its clock chosen.
    page.goto(home)
    with page.expect_navigation():
        page.locator(f'#today-{reg.gstin} a[data-today="pending-limit"]').click()
    assert "/returns/deadlines/" in page.url
    rows = page.locator("#deadlines tbody tr")
    assert rows.count() == 2
    assert rows.locator("td", has_text="Pending limit").count() == 2
    assert page.locator("#f-clock").input_value() == "Pending limit"
    assert (
        "2 documents need a decision, ITC at stake ₹2,250.00" in page.locator("#deadline-totals").inner_text()
    )
    page.screenshot(path=SHOT.format("2-deadlines"), full_page=True)

    for key in ("gstr3b", "deadlines", "sync"):
        page.goto(home)
        with page.expect_navigation():
            page.locator(f'#today-{reg.gstin} a[data-today="{key}"]').click()
        assert page.locator("h1").count() >= 1, key
    assert violations == []

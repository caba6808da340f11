"""The menu on an office laptop's screen (1366 × 768 is common; the helper's check of 07-12-2026 found every page
scrolling sideways below about 1,430 px): at every width the page is as wide as the window, and the user's menu
is within it."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def office(transactional_db):
    # long names, as a CA firm's client and a partner's e-mail login make them
    tenant = factories.make_tenant("Shree Venkateshwara Agro Industries Private Limited", "venkat")
    factories.make_registration(tenant, state="27", n=52)
    factories.make_member(tenant, factories.make_user("partner.accounts@example-ca-firm.in"), "owner")
    return tenant


@pytest.mark.parametrize("width", [1024, 1280, 1366, 1440])
def test_no_page_scrolls_sideways_and_the_user_menu_stays_in_view(office, log_in, width):
    page = log_in("partner.accounts@example-ca-firm.in", factories.PASSWORD)
    page.set_viewport_size({"width": width, "height": 768})
    for path in ("/t/venkat/", "/t/venkat/reconciliation/register/lines/"):
        page.goto(path)
        sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert sizes[0] <= sizes[1], f"{path} at {width}px is {sizes[0]}px wide"
        menu = page.locator("#user-menu").bounding_box()
        assert menu is not None
        assert menu["x"] + menu["width"] <= width, f"{path} at {width}px: the user menu ends at {menu}"

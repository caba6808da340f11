"""Browser tests: Playwright (sync API) driving Debian's headless Chromium against pytest-django's live server.

Every test here is marked ``browser``; ``make test`` runs them when /usr/bin/chromium exists and the summary
says plainly whether they ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module; Playwright is stopped afterwards so that no event loop outlives it."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or run -m 'not browser'"
        )
    # Playwright's sync API keeps an event loop running in this thread, and Django's ORM refuses to run while one
    # does unless told it is safe (it is: the test and the live server each use their own connection).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, monkeypatch):
    # The live server writes a response's headers and body separately: without TCP_NODELAY each response waits
    # ~40 ms for the browser's delayed ACK.
    monkeypatch.setattr(WSGIRequestHandler, "disable_nagle_algorithm", True)
    context = browser.new_context(base_url=live_server.url, accept_downloads=True, locale="en-IN")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def log_in(page):
    """Log in through the real login form: ``log_in(username, password)``; returns the page after the redirect."""

    def _log_in(username: str, password: str):
        page.goto("/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        return page

    return _log_in

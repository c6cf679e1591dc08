"""Browser fixtures shared by every test under tests/browser: Debian's Chromium driven by
Playwright, with the network closed to everything but this machine.

- ``browser``: headless Chromium from ``CHROMIUM`` (Debian's package; Playwright's own
  browser downloads are never used). Missing, the tests skip and say how to install
  it, unless RAPIDCARE_REQUIRE_BROWSER=1 (.ci/run sets it after installing Chromium),
  when a missing browser fails them instead.
- ``offline_page``: a page in a fresh browser context that aborts every request not
  addressed to 127.0.0.1 and records it in ``page.blocked_urls``, so a test proves
  the page needed nothing from outside.
- ``live_server``: the real service under gunicorn on a temporary database
  (tests/live_server.py).
"""
import os
from urllib.parse import urlsplit

import pytest

from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1"}


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        message = (f"NO BROWSER: {CHROMIUM} is missing, so the browser tests did not run. "
                   f"Install it with `apt-get install -y chromium` (.ci/run does).")
        if os.environ.get("RAPIDCARE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_server(tmp_path):
    with LiveServer(tmp_path, workers=1) as server:
        yield server


@pytest.fixture
def offline_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.blocked_urls = []

    def only_local(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            page.blocked_urls.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_local)
    try:
        yield page
    finally:
        context.close()

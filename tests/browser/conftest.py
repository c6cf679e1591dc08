"""Browser fixtures shared by every test under tests/browser: Playwright for Python
driving Debian's Chromium against the real service (gunicorn, tests/live_server.py).

- ``browser``: headless Chromium from ``CHROMIUM`` (Debian's package ``chromium``;
  Playwright's own browser downloads are never used). Missing, the tests skip and say
  how to install it, unless RAPIDCARE_REQUIRE_BROWSER=1 (.ci/run sets it after
  installing Chromium), when a missing browser fails them instead.
- ``page``: a fresh browser context (no cookies) and page; console errors are collected
  in ``page.console_errors`` (a content-security-policy refusal shows up there).
- ``offline_page``: a page whose context aborts every request not addressed to
  127.0.0.1 and records it in ``page.blocked_urls``, so a test proves the page needed
  nothing from outside.
- ``live_server``: the service under gunicorn on a temporary database;
  ``live``: an unstarted one with a migrated database and factories on it (arrange rows
  with ``live.make``, then ``live.start()``).
"""
import os
from urllib.parse import urlsplit

import pytest

from tests.factories import Factory
from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1"}
TIMEOUT_MS = 15_000


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
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error"
            and page.console_errors.append(message.text))
    try:
        yield page
    finally:
        context.close()


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


@pytest.fixture
def live(tmp_path):
    server = LiveServer(tmp_path, workers=2)
    server.migrate()
    conn = server.connect()
    server.make = Factory(conn)
    yield server
    server.stop()
    conn.close()
    server.drop()

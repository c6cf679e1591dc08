"""Browser tests: Playwright for Python driving Debian's Chromium against the real
service (gunicorn, tests/live_server.py). No browser is ever downloaded: the tests
use /usr/bin/chromium (apt package ``chromium``) and skip, saying why, without it.
"""
import os

import pytest

from app.db import connect
from tests.factories import Factory
from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page; console messages are collected
    in ``page.console_errors`` (a CSP refusal shows up there)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error"
            and page.console_errors.append(message.text))
    yield page
    context.close()


@pytest.fixture
def live(tmp_path):
    """An unstarted LiveServer with a migrated database and factories on it:
    arrange rows with ``live.make``, then ``live.start()``."""
    server = LiveServer(tmp_path, workers=2)
    server.migrate()
    conn = connect(server.database)
    server.make = Factory(conn)
    yield server
    server.stop()
    conn.close()

"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

`browser_page` is a fresh page in a fresh context; the test fails if Chromium reports a
Content-Security-Policy violation or an uncaught page error while it ran.
"""

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text)
        if msg.type == "error" and "Content Security Policy" in msg.text
        else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.problems = problems
    try:
        yield page
    finally:
        context.close()
    assert problems == [], "Chromium reported CSP violations or page errors"


def log_in(page, base_url, user, password=PASSWORD):
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page

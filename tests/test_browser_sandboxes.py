import pytest
from playwright.sync_api import expect

from sandboxes import services
from sandboxes.services import Check
from tests.browser import log_in
from tests.test_sandbox_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_a_member_pause_resume_diagnose_and_kill(
    browser_page, live_server, org_member, acme, make_sandbox, monkeypatch
):
    monkeypatch.setattr(services, "DIAGNOSTIC_CHECKS", (Check("Echo", "echo ready", 5), Check("Docker", "exit 1", 5)))
    sandbox = make_sandbox(acme)
    page = log_in(browser_page, live_server.url, org_member)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Sandboxes").first.click()
    page.get_by_role("link", name=sandbox.sandbox_id).click()
    state = page.locator("#sandbox-state")
    expect(state).to_have_text("running")
    expect(page.locator("svg.chart")).to_have_count(3)

    page.get_by_role("button", name="Pause").click()
    expect(state).to_have_text("paused")
    expect(page.locator("#messages")).to_contain_text(f"Paused {sandbox.sandbox_id}.")
    page.get_by_role("button", name="Resume").click()
    expect(state).to_have_text("running")

    page.reload()
    page.get_by_role("button", name="Run diagnostics").click()
    expect(page.locator("#diagnostics")).to_contain_text("1 failed")
    expect(page.locator("#diagnostics table.checks")).to_contain_text("echo ready")

    page.get_by_role("button", name="Kill").click()
    expect(page.locator("#sandbox-summary")).to_contain_text("E2B no longer has this sandbox")
    expect(page.get_by_role("button", name="Kill")).to_have_count(0)


def test_it_shows_support_no_action_buttons(browser_page, live_server, support, globex, make_sandbox):
    sandbox = make_sandbox(globex)
    page = log_in(browser_page, live_server.url, support)
    page.goto(f"{live_server.url}/orgs/{globex.slug}/sandboxes/{sandbox.sandbox_id}/")
    expect(page.locator("#sandbox-state")).to_have_text("running")
    expect(page.locator(".banner")).to_contain_text("support (read-only)")
    for name in ("Pause", "Resume", "Extend timeout", "Kill"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("button", name="Run diagnostics")).to_be_visible()

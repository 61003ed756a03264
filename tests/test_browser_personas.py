import pytest
from playwright.sync_api import expect

from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_an_org_admin_manage_members(browser_page, live_server, org_admin, org_member, org):
    page = log_in(browser_page, live_server.url, org_admin)
    expect(page.locator("h1")).to_have_text("Acme")
    page.get_by_role("link", name="Members").first.click()
    expect(page.get_by_role("button", name="Add")).to_be_visible()
    page.fill("#id_email", "new@acme.example")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#members")).to_contain_text("new@acme.example")
    expect(page.locator(".once-secret")).to_contain_text("One-time password")
    expect(page.get_by_role("link", name="Audit log")).to_be_visible()


def test_it_shows_an_org_member_no_member_controls(browser_page, live_server, org_member, org):
    page = log_in(browser_page, live_server.url, org_member)
    expect(page.locator("h1")).to_have_text("Acme")
    page.get_by_role("link", name="Members").first.click()
    expect(page.locator("#members")).to_contain_text(org_member.email)
    expect(page.get_by_role("button", name="Add")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)


def test_it_shows_support_every_organization_read_only(browser_page, live_server, support, org, other_org, org_admin):
    page = log_in(browser_page, live_server.url, support)
    expect(page.locator("table.list")).to_contain_text("Acme")
    expect(page.locator("table.list")).to_contain_text("Globex")
    page.locator("table.list").get_by_role("link", name="Acme").click()
    expect(page.locator(".banner")).to_contain_text("support (read-only)")
    page.goto(f"{live_server.url}/orgs/acme/members/")
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)


def test_it_lets_a_platform_admin_create_an_organization(browser_page, live_server, platform_admin):
    page = log_in(browser_page, live_server.url, platform_admin)
    page.goto(f"{live_server.url}/platform/orgs/")
    page.fill("#id_name", "Initech")
    page.fill("#id_slug", "initech")
    page.fill("#id_admin_email", "boss@initech.example")
    page.click("button:has-text('Create')")
    expect(page.locator(".once-secret")).to_contain_text("One-time password")
    page.locator(".once-secret").get_by_role("link", name="Initech").click()
    expect(page.locator("h1")).to_have_text("Initech")


def test_it_keeps_another_organizations_admin_out(browser_page, live_server, other_admin, org):
    page = log_in(browser_page, live_server.url, other_admin)
    expect(page.locator("h1")).to_have_text("Globex")
    response = page.goto(f"{live_server.url}/orgs/acme/")
    assert response.status == 404

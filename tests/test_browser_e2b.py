import httpx
import pytest
from playwright.sync_api import expect

from portal.models import E2BApiKey
from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_org_admin_connects_rotates_the_key_and_creates_a_token(browser_page, live_server, org_admin, org, e2b):
    page = log_in(browser_page, live_server.url, org_admin)
    page.on("dialog", lambda dialog: dialog.accept())

    page.get_by_role("link", name="E2B settings").first.click()
    page.select_option("#id_provider", "e2b")
    page.fill("#id_api_url", e2b.url)
    page.fill("#id_sandbox_url", e2b.url)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages .msg")).to_contain_text("Saved the E2B settings.")

    page.get_by_role("link", name="E2B keys").first.click()
    page.fill("#id_label", "first")
    page.fill("#id_key", e2b.api_key)
    page.get_by_role("button", name="Add key").click()
    expect(page.locator("#e2b-keys tbody tr")).to_have_count(1)
    expect(page.locator("#e2b-keys tbody")).to_contain_text("active")
    assert e2b.api_key not in page.content()

    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-status .badge")).to_have_text("ok")

    new_key = e2b.add_team()
    page.get_by_role("link", name="E2B keys").first.click()
    page.fill("#id_label", "second")
    page.fill("#id_key", new_key)
    page.get_by_role("button", name="Add key").click()
    second = page.locator("#e2b-keys tr", has_text="second")
    expect(second).to_contain_text("standby")
    second.get_by_role("button", name="Make active").click()
    expect(page.locator("#e2b-keys tr", has_text="second")).to_contain_text("active")
    page.locator("#e2b-keys tr", has_text="first").get_by_role("button", name="Revoke").click()
    expect(page.locator("#e2b-keys tr", has_text="first")).to_contain_text("revoked")
    assert E2BApiKey.objects.active().get().secret() == new_key
    assert new_key not in page.content()

    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-status .badge")).to_have_text("ok")

    page.get_by_role("link", name="Access tokens").first.click()
    page.fill("#id_name", "runtime")
    page.get_by_label("runtime-config").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator(".token-secret").inner_text()
    assert secret.startswith("spt_")
    response = httpx.get(f"{live_server.url}/api/v1/runtime-config", headers={"Authorization": f"Bearer {secret}"})
    assert response.json()["E2B_API_KEY"] == new_key

    page.reload()
    expect(page.locator("#access-tokens tbody")).to_contain_text("runtime")
    expect(page.locator(".token-secret")).to_have_count(0)
    assert secret not in page.content()

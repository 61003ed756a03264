import pytest
from playwright.sync_api import expect

from templates_app.models import BuildStatus, TemplateBuild
from tests.browser import log_in
from tests.test_builds_workers import on_local_e2b, worker_timing, workers  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_an_org_admin_watch_a_build_reach_ready(browser_page, live_server, org_admin, org, e2b, workers):  # noqa: F811
    on_local_e2b(org, e2b, e2b.api_key)
    workers("browser-worker")
    page = log_in(browser_page, live_server.url, org_admin)
    page.get_by_role("link", name="Builds").first.click()
    expect(page.locator("h1")).to_contain_text("Template builds of Acme")
    page.get_by_label("Skip cache").check()
    e2b.set_fault(stall_builds=True, team="team-1")  # hold the build until the page is following it
    page.get_by_role("button", name="Build").click()

    expect(page.locator("h1")).to_contain_text(org.template_alias)
    expect(page.locator("#log-lines")).to_contain_text("Build waiting for a builder", timeout=15_000)
    expect(page.locator("#build-state")).to_have_text("building")
    e2b.reset_faults()
    expect(page.locator("#build-state")).to_have_text("ready", timeout=30_000)
    expect(page.locator("#log-lines")).to_contain_text("Build finished")
    expect(page.locator("#log-tail")).to_contain_text("End of log.")
    assert page.locator("#log-tail[hx-trigger]").count() == 0

    build = TemplateBuild.objects.get()
    assert build.status == BuildStatus.READY and build.skip_cache
    # Every line once, in order, although it arrived over several polls.
    seqs = [int(s) for s in page.locator("#log-lines .log-line").evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(build.log_offset))
    expect(page.locator("#build-status")).to_contain_text("runtime template is now")

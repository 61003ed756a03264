"""Every page of the portal in Chromium, with real objects behind it: no page breaks the
Content-Security-Policy or throws a script error (the `browser_page` fixture fails the test
on either). The same walk takes the README's screenshots."""

import os
import re
import tempfile
import uuid
from pathlib import Path

import pytest
from django.urls import reverse
from e2b import Sandbox

from portal.models import AuditEvent, Membership
from portal.tokens import create_token
from templates_app import services as builds
from tests.browser import log_in
from tests.test_sandbox_fixtures import point_at_e2b
from tests.test_urlconf import walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `make screenshots` refreshes the README's pictures; other runs keep theirs out of the tree.
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("PORTAL_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "portal-screenshots"
)
# Pages shown in the README, by URL name.
SHOWN = {
    "org_home": "organization",
    "sandbox_list": "sandboxes",
    "sandbox_detail": "sandbox",
    "build_detail": "build",
    "e2b_settings": "e2b-settings",
    "platform_sandboxes": "all-sandboxes",
    "org_audit": "audit-log",
}


@pytest.fixture
def world(org, org_admin, org_member, support, e2b):
    """Acme on e2b_local with a key, a token, a ready build, a running sandbox and history."""
    point_at_e2b(org, e2b, e2b.add_team())
    org.template_alias = f"acme-{uuid.uuid4().hex[:8]}"  # template names are global on E2B
    org.save()
    create_token(org, "ci", ["read", "sandboxes"], created_by=org_admin)
    build, _ = builds.start_build(org, user=org_admin, enqueue=False)
    builds.follow(build.pk)
    build.refresh_from_db()
    assert build.status == "ready", build.error_reason
    sandbox = Sandbox.create("base", timeout=600, metadata={"purpose": "demo"}, **e2b.sdk_kwargs(org.team_key))
    sandbox.commands.run("echo hello from the sandbox")
    AuditEvent.objects.create(organization=org, actor_user=org_admin, actor_label=org_admin.email, action="key.add")
    yield {
        "org_slug": org.slug,
        "membership_id": Membership.objects.get(user=org_member).pk,
        "key_id": org.e2b_keys.get().pk,
        "token_id": org.access_tokens.get().pk,
        "build_id": build.pk,
        "sandbox_id": sandbox.sandbox_id,
        "template_id": build.template_id,
        "action": "pause",
    }
    sandbox.kill()


def page_urls(kwargs):
    for route, pattern, namespaces in walk():
        if namespaces or not pattern.name or route.startswith("^"):
            continue
        keywords = re.findall(r"<(?:\w+:)?(\w+)>", route)
        yield pattern.name, reverse(pattern.name, kwargs={k: kwargs[k] for k in keywords})


def test_it_keeps_every_page_within_the_content_security_policy(browser_page, live_server, platform_admin, world):
    page = log_in(browser_page, live_server.url, platform_admin)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visited = []
    for name, url in page_urls(world):
        probe = page.request.get(f"{live_server.url}{url}", max_redirects=0)
        if probe.status == 405:
            continue  # a POST-only endpoint
        if "attachment" in probe.headers.get("content-disposition", ""):
            assert probe.status == 200, url
            continue  # a download, not a page
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, (url, response.status)
        page.wait_for_load_state("networkidle")
        visited.append(name)
        if name in SHOWN:
            page.screenshot(path=SCREENSHOTS / f"{SHOWN[name]}.png", full_page=name == "sandbox_detail")
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_load_state("networkidle")
    assert set(SHOWN) <= set(visited)
    assert len(visited) > 20

"""Cross-cutting protections: CSRF on every form post, clickjacking, CSP headers."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import Membership
from tests.test_urlconf import walk

# A value for every URL keyword; a new keyword fails the sweep until it is added here.
DUMMY_KWARGS = {
    "org_slug": "acme",
    "membership_id": 1,
    "key_id": 1,
    "token_id": 1,
    "build_id": 1,
    "sandbox_id": "sbx0000000000000000",
    "template_id": "tpl0000000000000000",
    "action": "kill",
}


def portal_urls():
    """Every URL of the portal's own pages (not the admin, not the token-authenticated API)."""
    urls = []
    for route, pattern, namespaces in walk():
        if namespaces or not pattern.name or route.startswith("^"):
            continue
        keywords = re.findall(r"<(?:\w+:)?(\w+)>", route)
        missing = [k for k in keywords if k not in DUMMY_KWARGS]
        assert not missing, f"add a value for {missing} (URL {route}) to DUMMY_KWARGS"
        urls.append(reverse(pattern.name, kwargs={k: DUMMY_KWARGS[k] for k in keywords}))
    return urls


def test_it_finds_the_portals_urls(db):
    assert len(portal_urls()) > 20


def test_it_refuses_every_form_post_without_a_csrf_token(db, org, org_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_admin)
    refused = {}
    for url in portal_urls():
        for headers in ({}, {"HX-Request": "true"}):
            response = client.post(url, {"email": "x@example.com", "role": "admin"}, headers=headers)
            refused[(url, bool(headers))] = response.status_code
    assert {k: v for k, v in refused.items() if v != 403} == {}
    assert Membership.objects.filter(organization=org).count() == 1


def test_it_accepts_a_form_post_with_the_token_from_the_page(db, org, org_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_admin)
    page = client.get(reverse("members", args=[org.slug]))
    token = page.context["csrf_token"]
    response = client.post(
        reverse("members", args=[org.slug]),
        {"email": "new@acme.example", "role": "member"},
        headers={"X-CSRFToken": str(token), "HX-Request": "true"},
    )
    assert response.status_code == 200
    assert Membership.objects.filter(organization=org).count() == 2


def test_it_refuses_a_login_post_without_a_csrf_token(db, org_admin):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": org_admin.email, "password": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize("url", ["/login/", "/orgs/acme/"])
def test_it_forbids_framing_and_inline_code(client, org, org_admin, url):
    client.force_login(org_admin)
    response = client.get(url)
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "style-src 'self'" in policy


def test_it_has_no_inline_script_or_style_in_its_templates():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for template in root.glob("*/templates/**/*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text) or re.search(r"\sstyle=", text) or "<style" in text:
            offenders.append(str(template.relative_to(root)))
        if re.search(r"\shx-on[:-]", text):
            offenders.append(f"{template.relative_to(root)} (hx-on evaluates code)")
    assert offenders == []

"""Every mutating URL of the portal and every API route with an ID, tried by the wrong people
with Acme's real objects.

Another tenant gets 404 (never 403, never a redirect), support and Acme's own member get 403
where their role forbids the change, and nothing of Acme's changes: not its rows, not its
audit log, not its sandboxes or templates on E2B. A URL keyword the sweep cannot fill fails
it, so a new URL is swept as soon as it exists.
"""

import json
import re
import uuid
from itertools import product

import pytest
from django.urls import reverse
from e2b import Sandbox

from portal.models import (
    AccessToken,
    AccessTokenScope,
    AuditEvent,
    E2BApiKey,
    Membership,
    Organization,
)
from portal.tokens import create_token
from sandboxes import services as sandbox_services
from sandboxes.models import DiagnosticRun, SandboxRecord
from sandboxes.services import Check
from templates_app import services as build_services
from templates_app.models import BuildStatus, TemplateBuild
from tests.isolation import covers
from tests.test_builds import quick_template
from tests.test_sandbox_fixtures import *  # noqa: F403
from tests.test_urlconf import walk

API_NAMESPACE = "api-1.0.0"
HTMX = {"HX-Request": "true"}

# Pages that answer only GET: a POST is refused with 405 before the organization is looked up.
GET_ONLY = {"sandbox_list", "sandbox_detail", "build_list", "build_detail", "build_log_download", "template_list"}

# Everything a careless view would need to change something: a missing check shows as a change.
FORM = {
    "email": "intruder@globex.example",
    "role": "admin",
    "label": "intruder",
    "key": "e2b_" + "0" * 40,
    "name": "intruder",
    "scopes": ["read", "runtime-config"],
    "expires_in_days": "",
    "provider": "modal",
    "e2b_domain": "evil.example.com",
    "api_url": "",
    "sandbox_url": "",
    "template_alias": "stolen",
    "template_cpu_count": "1",
    "template_memory_mb": "512",
    "timeout": "60",
    "skip_cache": "on",
}
API_BODIES = {"timeout": {"timeout": 60}}


@pytest.fixture(autouse=True)
def quick(settings, monkeypatch):
    settings.TEMPLATE_BUILD_POLL_SECONDS = 0.05
    monkeypatch.setattr(sandbox_services, "DIAGNOSTIC_CHECKS", (Check("Echo", "echo ready", 5),))


@pytest.fixture
def victim(acme, org_admin, org_member, make_sandbox):
    """Acme's real objects, one of each kind a URL can name."""
    acme.template_alias = f"acme-{uuid.uuid4().hex[:8]}"
    acme.save()
    ready, _ = build_services.start_build(acme, user=org_admin, enqueue=False)
    ready = build_services.follow(ready.pk, template=quick_template())
    assert ready.status == BuildStatus.READY, ready.error_reason
    running, _ = build_services.start_build(acme, user=org_admin, enqueue=False)
    spare = E2BApiKey(organization=acme, label="spare")
    spare.set_secret("e2b_" + "1" * 40)
    spare.save()
    token, _ = create_token(acme, "CI", AccessTokenScope.values)
    sandbox = make_sandbox(acme)
    return {
        "org_slug": [acme.slug],
        "membership_id": [Membership.objects.get(organization=acme, user=org_member).pk],
        "key_id": [spare.pk, acme.e2b_keys.get(is_active=True).pk],
        "token_id": [token.pk],
        "build_id": [running.pk, ready.pk],
        "sandbox_id": [sandbox.sandbox_id],
        "template_id": [ready.template_id],
        "action": list(sandbox_services.ACTIONS),
    }


@pytest.fixture
def attacker(globex, other_admin):
    _, raw = create_token(globex, "Globex CI", AccessTokenScope.values)
    return {"user": other_admin, "org": globex, "bearer": {"Authorization": f"Bearer {raw}"}}


def keywords_of(route):
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


def filled(route, ids, **override):
    """Every way to fill the route's keywords with the victim's objects."""
    keywords = keywords_of(route)
    unknown = [k for k in keywords if k not in ids]
    assert not unknown, f"the sweep has no object for {unknown} (URL {route}): add one to the victim fixture"
    choices = [override.get(k, ids[k]) for k in keywords]
    return [dict(zip(keywords, values, strict=True)) for values in product(*choices)]


def org_urls(ids, objects_only=False, **override):
    """(url name, capability, url) of every organization page, filled with the victim's objects;
    objects_only: only the pages that name an object besides the organization."""
    urls = []
    for route, pattern, namespaces in walk():
        decision = getattr(pattern.callback, "access_decision", "") or ""
        if namespaces or not decision.startswith("org:"):
            continue
        if objects_only and not set(keywords_of(route)) - {"org_slug", "action"}:
            continue
        for kwargs in filled(route, ids, **override):
            urls.append((pattern.name, decision.removeprefix("org:"), reverse(pattern.name, kwargs=kwargs)))
    return urls


def api_routes(ids):
    """(route name, method, path) of every API route with an ID in its path."""
    routes = []
    for route, pattern, namespaces in walk():
        if API_NAMESPACE not in namespaces or "<" not in route:
            continue
        path_view = pattern.callback.__closure__[0].cell_contents
        methods = [m for operation in path_view.operations for m in operation.methods]
        assert methods, f"no methods found for {route}"
        for kwargs in filled(route, ids):
            url = reverse(f"{API_NAMESPACE}:{pattern.name}", kwargs=kwargs)
            routes.extend((pattern.name, method, url) for method in methods)
    return routes


def live_sandboxes(org):
    sandboxes = Sandbox.list(limit=100, api_key=org.team_key, api_url=org.api_url, sandbox_url=org.sandbox_url)
    return {s.sandbox_id: (s.state.value, s.end_at) for s in sandboxes.next_items()}


def snapshot(org):
    """Everything of the organization an intruder could change."""
    return {
        "org": Organization.objects.filter(pk=org.pk).values().get(),
        "members": list(Membership.objects.filter(organization=org).order_by("pk").values_list("pk", "user_id", "role")),
        "keys": list(
            E2BApiKey.objects.filter(organization=org)
            .order_by("pk")
            .values_list("pk", "label", "is_active", "revoked_at", "last_used_at", "ciphertext")
        ),
        "tokens": list(
            AccessToken.objects.filter(organization=org).order_by("pk").values_list("pk", "name", "revoked_at", "scopes")
        ),
        "builds": list(
            TemplateBuild.objects.filter(organization=org).order_by("pk").values_list("pk", "status", "error_reason")
        ),
        "audit": AuditEvent.objects.filter(organization=org).exclude(action="staff.view").count(),
        "diagnostics": DiagnosticRun.objects.filter(organization=org).count(),
        "records": list(SandboxRecord.objects.filter(organization=org).values_list("sandbox_id", "state", "gone_at")),
        "sandboxes": live_sandboxes(org),
        "templates": sorted(t.template_id for t in build_services.list_templates(org)),
    }


def post_both_ways(client, url, **headers):
    """A plain form post and an HTMX one; their statuses."""
    return {client.post(url, FORM, headers=headers).status_code, client.post(url, FORM, headers=HTMX | headers).status_code}


def refused(client, urls, expected):
    """{url: statuses} of every URL whose answer is not the expected one for its name and capability."""
    wrong = {}
    for name, capability, url in urls:
        want = 405 if name in GET_ONLY else expected(name, capability)
        if want is None:
            continue
        statuses = post_both_ways(client, url)
        if statuses != {want}:
            wrong[url] = (want, statuses)
    return wrong


def test_it_sweeps_every_organization_url_and_api_route(victim):
    names = {name for name, _, _ in org_urls(victim)}
    assert {"member_remove", "e2b_key_revoke", "access_token_revoke", "build_cancel", "template_delete"} <= names
    assert {"sandbox_action", "sandbox_diagnostics", "smoke_test", "e2b_check", "build_start"} <= names
    api = {name for name, _, _ in api_routes(victim)}
    assert {"get_build", "get_build_logs", "sandboxes_api_kill", "sandboxes_api_timeout"} <= api


def test_its_snapshot_sees_what_the_victims_own_admin_changes(client, acme, victim, org_admin):
    client.force_login(org_admin)
    before = snapshot(acme)
    member_id, key_id, token_id = victim["membership_id"][0], victim["key_id"][0], victim["token_id"][0]
    sandbox_id = victim["sandbox_id"][0]
    for url in (
        reverse("member_role", args=[acme.slug, member_id]),
        reverse("e2b_key_revoke", args=[acme.slug, key_id]),
        reverse("access_token_revoke", args=[acme.slug, token_id]),
        reverse("sandbox_action", args=[acme.slug, sandbox_id, "pause"]),
    ):
        assert client.post(url, FORM).status_code == 302
    after = snapshot(acme)
    changed = {part for part in before if before[part] != after[part]}
    assert {"members", "keys", "tokens", "audit", "sandboxes"} <= changed


def test_it_fails_for_a_url_keyword_it_cannot_fill():
    with pytest.raises(AssertionError, match="no object for"):
        filled("orgs/<slug:org_slug>/widgets/<int:widget_id>/", {"org_slug": ["acme"]})


@covers(
    "org_home", "members", "member_role", "member_remove", "org_audit", "e2b_settings", "e2b_check", "e2b_keys",
    "e2b_key_activate", "e2b_key_revoke", "access_tokens", "access_token_revoke", "sandbox_list", "smoke_test",
    "sandbox_detail", "sandbox_diagnostics", "sandbox_action", "build_list", "build_start", "build_detail",
    "build_log_download", "build_cancel", "template_list", "template_delete",
)
def test_it_answers_404_to_another_organizations_admin_and_changes_nothing(client, acme, victim, attacker):
    client.force_login(attacker["user"])
    before = snapshot(acme)
    with_victims_slug = org_urls(victim)
    assert refused(client, with_victims_slug, lambda name, capability: 404) == {}
    # The attacker's own organization in the address, the victim's objects after it.
    with_objects = org_urls(victim, objects_only=True, org_slug=[attacker["org"].slug])
    assert len(with_objects) >= 10
    assert refused(client, with_objects, lambda name, capability: 404) == {}
    assert snapshot(acme) == before


def test_it_refuses_changes_to_support_and_lets_it_diagnose(client, acme, victim, attacker, support):
    client.force_login(support)
    before = snapshot(acme)
    diagnose = [u for u in org_urls(victim) if u[1] == "diagnose"]
    for slug in (acme.slug, attacker["org"].slug):
        urls = org_urls(victim, org_slug=[slug])
        assert refused(client, urls, lambda name, capability: None if capability == "diagnose" else 403) == {}
    assert snapshot(acme) == before

    # Diagnostics and smoke tests are what support may run, in any organization.
    answers = {url: client.post(url, headers=HTMX).status_code for _, _, url in diagnose}
    assert set(answers.values()) == {200}, answers
    assert DiagnosticRun.objects.filter(organization=acme).count() == 1
    assert {"e2b.check", "sandbox.diagnostics", "sandbox.smoke_test"} <= set(
        AuditEvent.objects.filter(organization=acme, actor_user=support).values_list("action", flat=True)
    )
    # ... but not on another organization's sandbox through its own organization's address.
    sandbox_id = victim["sandbox_id"][0]
    through_globex = reverse("sandbox_diagnostics", args=[attacker["org"].slug, sandbox_id])
    assert client.post(through_globex).status_code == 404
    assert live_sandboxes(acme)[sandbox_id][0] == "running"


def test_it_refuses_admin_work_to_a_member(client, acme, victim, org_member):
    client.force_login(org_member)
    before = snapshot(acme)
    # Sandbox lifecycle and diagnostics are a member's to use; everything else is not.
    allowed = {"operate", "diagnose"}
    assert refused(client, org_urls(victim), lambda name, capability: None if capability in allowed else 403) == {}
    assert snapshot(acme) == before


def api_call(client, method, url, headers):
    name = url.rstrip("/").rsplit("/", 1)[-1]
    body = API_BODIES.get(name, {})
    return client.generic(method, url, data=json.dumps(body), content_type="application/json", headers=headers)


@covers(
    "api-1.0.0:get_build", "api-1.0.0:get_build_logs", "api-1.0.0:sandboxes_api_detail",
    "api-1.0.0:sandboxes_api_pause", "api-1.0.0:sandboxes_api_resume", "api-1.0.0:sandboxes_api_kill",
    "api-1.0.0:sandboxes_api_timeout",
)
def test_it_answers_404_to_another_organizations_token_on_every_api_route(client, acme, victim, attacker):
    before = snapshot(acme)
    wrong = {}
    for _, method, url in api_routes(victim):
        response = api_call(client, method, url, attacker["bearer"])
        body = response.json()
        if response.status_code != 404 or set(body) != {"error"} or body["error"].get("code") != "not_found":
            wrong[(method, url)] = (response.status_code, body)
    assert wrong == {}
    assert snapshot(acme) == before


def test_it_refuses_every_api_route_to_a_token_without_the_scope(client, acme, victim):
    _, raw = create_token(acme, "read only", [AccessTokenScope.READ])
    before = snapshot(acme)
    statuses = {
        (method, url): api_call(client, method, url, {"Authorization": f"Bearer {raw}"}).status_code
        for _, method, url in api_routes(victim)
    }
    assert set(statuses.values()) == {403}, statuses
    assert snapshot(acme) == before

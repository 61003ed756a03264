"""Faults of E2B seen from every page and API route that talks to it.

Each route meets each fault of e2b_local (a burst of 503s the SDK's retries cannot
absorb, 503 and 429 marked not to retry, latency past the request timeout, dropped
connections) and an E2B that refuses connections. Every answer must be a clear error
naming the outcome, within the timeout plus a margin, never a 500; and nothing in the
database may claim what E2B did not do.
"""

import socket
import time
import uuid
from dataclasses import dataclass, field

import pytest
from django.urls import reverse

from portal.e2b import Outcome
from portal.models import AuditEvent
from portal.tokens import create_token
from sandboxes.models import DiagnosticRun, SandboxRecord
from templates_app.models import TemplateBuild
from tests.test_sandbox_fixtures import make_sandbox, point_at_e2b  # noqa: F401

HTMX = {"HX-Request": "true"}
# Seconds any one E2B call may take in these tests; latency faults wait four times as long.
TIMEOUT = 0.3
# Django's own work, on a busy two-core machine.
MARGIN = 2.0
# A refused connection costs the SDK's connection retries (about 2.5 s of backoff),
# whatever the request timeout.
REFUSED_CALL = 3.5


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Scene:
    client: object
    e2b: object
    org: object
    team: str
    sandbox_id: str
    token: str
    org_admin: object
    platform_admin: object
    extra: dict = field(default_factory=dict)

    def api(self, method, path, **kwargs):
        call = getattr(self.client, method)
        return call(f"/api/v1{path}", headers={"Authorization": f"Bearer {self.token}"}, **kwargs)

    def url(self, name, *args):
        return reverse(name, args=[self.org.slug, *args])


@pytest.fixture
def fast_e2b_timeouts(settings):
    settings.E2B_REQUEST_TIMEOUT = TIMEOUT
    settings.E2B_CHECK_TIMEOUT = 5 * TIMEOUT
    settings.SANDBOX_FANOUT_TIMEOUT = 2 * TIMEOUT


@pytest.fixture
def scene(client, org, org_admin, platform_admin, e2b, fast_e2b_timeouts):
    """Acme on e2b_local in a team of its own, with a running sandbox the portal last saw.

    E2B never answers while a fault is on, so the sandbox is only the portal's record of it.
    """
    team = f"acme-{uuid.uuid4().hex[:8]}"
    point_at_e2b(org, e2b, e2b.add_team(team=team))
    sandbox_id = f"sbx{uuid.uuid4().hex[:16]}"
    SandboxRecord.objects.create(organization=org, sandbox_id=sandbox_id, state="running", template_id="base")
    _, raw = create_token(org, "CI", ["read", "sandboxes", "builds", "runtime-config"])
    client.force_login(org_admin)
    yield Scene(client, e2b, org, team, sandbox_id, raw, org_admin, platform_admin)
    e2b.reset_faults()


# The faults


@dataclass(frozen=True)
class Fault:
    name: str
    outcome: str
    options: dict = field(default_factory=dict)
    refused: bool = False

    def apply(self, scene, prefix="/"):
        if self.refused:
            scene.org.api_url = scene.org.sandbox_url = closed_port_url()
            scene.org.save(update_fields=["api_url", "sandbox_url"])
        else:
            scene.e2b.set_fault(prefix, team=scene.team, **self.options)

    def __str__(self):
        return self.name


FAULTS = [
    Fault("503 burst", Outcome.E2B_ERROR, {"status": 503, "times": 1000}),
    Fault("503 no retry", Outcome.E2B_ERROR, {"status": 503, "should_retry": False}),
    Fault("429 no retry", Outcome.RATE_LIMITED, {"status": 429, "should_retry": False}),
    Fault("latency", Outcome.UNREACHABLE, {"latency": 4 * TIMEOUT}),
    Fault("dropped", Outcome.UNREACHABLE, {"drop": True}),
]
REFUSED = Fault("refused", Outcome.UNREACHABLE, refused=True)

# How a page may name each outcome: the outcome itself, or the headline it is shown under.
PHRASES = {
    Outcome.E2B_ERROR: ("E2B error", "E2B answered with an error"),
    Outcome.RATE_LIMITED: ("rate limited", "rate limiting"),
    Outcome.UNREACHABLE: ("unreachable",),
}

# The API's error code and HTTP status of each outcome.
API_ERRORS = {
    Outcome.E2B_ERROR: ("e2b_error", 502),
    Outcome.RATE_LIMITED: ("rate_limited", 503),
    Outcome.UNREACHABLE: ("unreachable", 503),
}


# The routes: each makes one request while the fault is on


@dataclass(frozen=True)
class Route:
    name: str
    request: object  # scene -> response
    calls: int = 1  # E2B calls made one after another, each bounded by the timeout
    api: bool = False
    audited: tuple = ()  # audit actions the failed attempt may leave
    # A refused connection costs seconds of the SDK's connection retries: routes that share
    # another's error path (the other actions, a second way to the same view) skip it.
    refused: bool = True

    def __str__(self):
        return self.name


def connection_check_on_home(s):
    return s.client.post(s.url("e2b_check"), headers=HTMX)


def connection_check_on_settings(s):
    return s.client.post(s.url("e2b_check"), {"next": "settings"}, follow=True)


def platform_page(s):
    s.client.force_login(s.platform_admin)
    return s.client.get(reverse("platform_sandboxes"))


def platform_search(s):
    s.client.force_login(s.platform_admin)
    return s.client.get(reverse("platform_sandboxes"), {"q": "sbx-nobody-has-this"})


PAGES = [
    Route("connection check (org home)", connection_check_on_home, calls=3, audited=("e2b.check",)),
    Route("connection check (E2B settings)", connection_check_on_settings, calls=3, audited=("e2b.check",), refused=False),
    Route("sandbox list", lambda s: s.client.get(s.url("sandbox_list"))),
    Route("sandbox list refresh", lambda s: s.client.get(s.url("sandbox_list"), headers=HTMX), refused=False),
    Route("sandbox detail", lambda s: s.client.get(s.url("sandbox_detail", s.sandbox_id))),
    Route(
        "sandbox metrics",
        lambda s: s.client.get(s.url("sandbox_detail", s.sandbox_id), {"range": "5m"}, headers={**HTMX, "HX-Target": "metrics"}),
    ),
    Route(
        "sandbox logs",
        lambda s: s.client.get(s.url("sandbox_detail", s.sandbox_id), {"level": "info"}, headers={**HTMX, "HX-Target": "logs"}),
    ),
    *[
        Route(
            f"sandbox {action}",
            lambda s, action=action: s.client.post(
                s.url("sandbox_action", s.sandbox_id, action), {"timeout": 600}, headers=HTMX
            ),
            calls=3,
            audited=(f"sandbox.{action}",),
            refused=action == "pause",
        )
        for action in ("pause", "resume", "timeout", "kill")
    ],
    Route("diagnostics", lambda s: s.client.post(s.url("sandbox_diagnostics", s.sandbox_id), headers=HTMX), calls=2),
    Route("smoke test", lambda s: s.client.post(s.url("smoke_test"), headers=HTMX), audited=("sandbox.smoke_test",)),
    Route("template list", lambda s: s.client.get(s.url("template_list"))),
    Route("template delete", lambda s: s.client.post(s.url("template_delete", "tpl-any"), follow=True), calls=2, refused=False),
    Route("platform sandboxes", platform_page, calls=2),
    Route("platform search", platform_search, calls=4, refused=False),
]

API_ROUTES = [
    Route("API sandbox list", lambda s: s.api("get", "/sandboxes"), api=True),
    Route("API sandbox detail", lambda s: s.api("get", f"/sandboxes/{s.sandbox_id}"), api=True),
    *[
        Route(
            f"API sandbox {action}",
            lambda s, action=action: s.api(
                "post", f"/sandboxes/{s.sandbox_id}/{action}", data={"timeout": 600}, content_type="application/json"
            ),
            calls=2,
            api=True,
            audited=(f"sandbox.{action}",),
            refused=action == "kill",
        )
        for action in ("pause", "resume", "timeout", "kill")
    ],
]


def names_outcome(body, outcome):
    return any(phrase in body for phrase in PHRASES[outcome])


def assert_nothing_half_written(scene, route):
    """No row claims an effect E2B did not have; an attempt is audited only as failed."""
    record = SandboxRecord.objects.get(organization=scene.org, sandbox_id=scene.sandbox_id)
    assert (record.state, record.gone_at) == ("running", None)
    assert not DiagnosticRun.objects.exists()
    assert not TemplateBuild.objects.exists()
    events = AuditEvent.objects.filter(organization=scene.org).exclude(action="staff.view")
    assert {e.action for e in events} <= set(route.audited)
    for event in events:
        assert event.details.get("ok") is not True
        assert event.details.get("outcome") != "ok"
        assert scene.e2b.api_keys[-1] not in str(event.details)


def combinations(routes):
    for route in routes:
        for fault in [*FAULTS, REFUSED] if route.refused else FAULTS:
            yield pytest.param(route, fault, id=f"{route}-{fault}")


def budget(route, fault):
    return route.calls * (REFUSED_CALL if fault.refused else 2 * TIMEOUT) + MARGIN


@pytest.mark.parametrize("route, fault", list(combinations(PAGES)))
def test_it_shows_a_clear_error_on_every_page(scene, route, fault):
    fault.apply(scene)
    started = time.monotonic()
    response = route.request(scene)
    elapsed = time.monotonic() - started
    body = response.content.decode()
    assert response.status_code == 200, body[:500]
    assert "Traceback" not in body
    assert names_outcome(body, fault.outcome), body
    assert scene.e2b.api_keys[-1] not in body
    assert elapsed < budget(route, fault)
    scene.e2b.reset_faults()
    assert_nothing_half_written(scene, route)


@pytest.mark.parametrize("route, fault", list(combinations(API_ROUTES)))
def test_it_answers_the_api_with_the_outcome(scene, route, fault):
    fault.apply(scene)
    started = time.monotonic()
    response = route.request(scene)
    elapsed = time.monotonic() - started
    code, status = API_ERRORS[fault.outcome]
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.content
    assert response.json()["error"]["message"]
    assert scene.e2b.api_keys[-1] not in response.content.decode()
    assert elapsed < budget(route, fault)
    scene.e2b.reset_faults()
    assert_nothing_half_written(scene, route)

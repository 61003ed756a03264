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
from cryptography.fernet import Fernet
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from portal.e2b import Outcome
from portal.models import AuditEvent
from portal.tokens import create_token
from sandboxes import services
from sandboxes.models import DiagnosticRun, SandboxRecord
from templates_app import services as builds
from templates_app.models import TemplateBuild
from tests.test_builds import e2b_builds_of, e2b_log_of, quick_template
from tests.test_builds_workers import STALE_SECONDS, on_local_e2b, wait_for, workers  # noqa: F401
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
    # Pages that give each organization a deadline of their own: when E2B's answers (503s
    # the SDK retries) outlast it, the organization's row says it did not answer in time.
    deadline_per_org: bool = False

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
    Route("platform sandboxes", platform_page, calls=2, deadline_per_org=True),
    Route("platform search", platform_search, calls=4, refused=False, deadline_per_org=True),
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
    outcomes = {fault.outcome, Outcome.UNREACHABLE} if route.deadline_per_org else {fault.outcome}
    assert any(names_outcome(body, outcome) for outcome in outcomes), body
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


# A burst the SDK absorbs, and other organizations


@pytest.fixture
def acme(org, e2b):
    point_at_e2b(org, e2b, e2b.add_team(team=f"acme-{uuid.uuid4().hex[:8]}"))
    org.team = e2b.team_names[-1]
    return org


@pytest.fixture
def globex(other_org, e2b):
    point_at_e2b(other_org, e2b, e2b.add_team(team=f"globex-{uuid.uuid4().hex[:8]}"))
    other_org.team = e2b.team_names[-1]
    return other_org


def bearer(org, scopes=("read", "sandboxes")):
    return {"Authorization": f"Bearer {create_token(org, 'CI', list(scopes))[1]}"}


def test_it_rides_out_a_short_burst_of_503s_with_the_sdks_retries(client, acme, org_member, make_sandbox, e2b):  # noqa: F811
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    e2b.set_fault("/", team=acme.team, status=503, times=2)
    assert sandbox.sandbox_id in client.get(reverse("sandbox_list", args=[acme.slug])).content.decode()
    e2b.set_fault("/", team=acme.team, status=503, times=2)
    listed = client.get("/api/v1/sandboxes", headers=bearer(acme))
    assert [s["sandbox_id"] for s in listed.json()["sandboxes"]] == [sandbox.sandbox_id]
    assert e2b.faults() == []


def test_other_organizations_keep_working_while_one_e2b_team_fails(
    client, acme, globex, other_admin, platform_admin, make_sandbox, e2b, fast_e2b_timeouts, settings  # noqa: F811
):
    # Each call of Globex must answer well inside this, while every call of Acme hangs past it.
    settings.E2B_REQUEST_TIMEOUT = 2.0
    theirs = make_sandbox(globex)
    e2b.set_fault("/", team=acme.team, latency=6.0)
    client.force_login(other_admin)
    started = time.monotonic()
    assert theirs.sandbox_id in client.get(reverse("sandbox_list", args=[globex.slug])).content.decode()
    detail = client.get(reverse("sandbox_detail", args=[globex.slug, theirs.sandbox_id])).content.decode()
    assert "state-error" not in detail and "running" in detail
    api = client.get(f"/api/v1/sandboxes/{theirs.sandbox_id}", headers=bearer(globex))
    assert api.json()["state"] == "running"
    assert time.monotonic() - started < 2.0

    client.force_login(platform_admin)
    started = time.monotonic()
    rows = {row.organization.slug: row for row in client.get(reverse("platform_sandboxes")).context["listings"]}
    assert time.monotonic() - started < 2.0  # Acme's row gives up at the fan-out's own timeout
    assert rows["acme"].error.outcome == Outcome.UNREACHABLE
    assert rows["globex"].error is None
    assert [s.sandbox_id for s in rows["globex"].sandboxes] == [theirs.sandbox_id]
    e2b.reset_faults()  # before make_sandbox kills the sandbox


# Nothing half-written


def test_a_build_e2b_would_not_start_ends_in_error_and_blocks_nothing(client, acme, org_admin, e2b):

    acme.template_alias = f"acme-{uuid.uuid4().hex[:8]}"
    acme.save()
    e2b.set_fault("/v3/templates", team=acme.team, status=503, should_retry=False)
    queued = client.post("/api/v1/builds", {}, content_type="application/json", headers=bearer(acme, ["builds"]))
    assert queued.status_code == 201, queued.content  # the request only queues the build: E2B is asked by the worker
    build = builds.follow(queued.json()["id"], template=quick_template())
    assert build.status == "error"
    assert build.error_reason.startswith("E2B did not start the build (E2B error)")
    assert (build.template_id, build.build_id, build.lines.count()) == ("", "", 0)
    acme.refresh_from_db()
    assert acme.runtime_template == "base"
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"build.start"}

    e2b.reset_faults()
    again, created = builds.start_build(acme, user=org_admin, enqueue=False)
    assert created
    assert builds.follow(again.pk, template=quick_template()).status == "ready"


def test_a_failed_connection_check_is_stored_as_failed_and_marks_no_key_used(client, acme, org_admin, e2b, settings):
    settings.E2B_CHECK_TIMEOUT = 3
    e2b.set_fault("/health", team=acme.team, status=503, should_retry=False)
    client.force_login(org_admin)
    client.post(reverse("e2b_check", args=[acme.slug]), headers=HTMX)
    acme.refresh_from_db()
    assert (acme.last_check_outcome, acme.last_check_latency_ms) == ("E2B error", None)
    assert acme.e2b_keys.get().last_used_at is None
    event = AuditEvent.objects.get(action="e2b.check")
    assert event.details == {"outcome": "E2B error", "latency_ms": None}


def test_diagnostics_whose_commands_e2b_refuses_are_kept_as_failed_checks(
    client, acme, org_member, make_sandbox, e2b, monkeypatch  # noqa: F811
):
    monkeypatch.setattr(services, "DIAGNOSTIC_CHECKS", (services.Check("Echo", "echo ready", 5),))
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    e2b.set_fault("/process.Process/", team=acme.team, status=503, should_retry=False)
    client.post(reverse("sandbox_diagnostics", args=[acme.slug, sandbox.sandbox_id]), headers=HTMX)
    e2b.reset_faults()
    # The designed outcome: the sandbox was reached, its checks could not run, and that is the result.
    run = DiagnosticRun.objects.get()
    assert [(r["check"], r["status"]) for r in run.results] == [("Echo", "failed")], run.results
    assert not run.passed
    assert AuditEvent.objects.get(action="sandbox.diagnostics").details == {"failed": 1, "checks": 1}


def test_a_pause_that_timed_out_is_not_recorded_until_e2b_shows_it(
    client, acme, org_member, make_sandbox, e2b, settings  # noqa: F811
):
    settings.E2B_REQUEST_TIMEOUT = 0.5
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    client.get(reverse("sandbox_list", args=[acme.slug]))
    e2b.set_fault(f"/sandboxes/{sandbox.sandbox_id}/pause", team=acme.team, latency=1.0, times=1)
    client.post(reverse("sandbox_action", args=[acme.slug, sandbox.sandbox_id, "pause"]))
    record = SandboxRecord.objects.get(sandbox_id=sandbox.sandbox_id)
    assert record.state == "running"
    event = AuditEvent.objects.get(action="sandbox.pause")
    assert (event.details["ok"], event.details["outcome"]) == (False, "unreachable")
    # E2B paused it after all, once the slow request went through: the next look says so.
    deadline = time.monotonic() + 5
    while sandbox.get_info().state.value != "paused" and time.monotonic() < deadline:
        time.sleep(0.1)
    client.get(reverse("sandbox_list", args=[acme.slug]))
    assert SandboxRecord.objects.get(sandbox_id=sandbox.sandbox_id).state == "paused"


# A key the portal cannot decrypt


def test_an_undecryptable_key_is_a_clear_error_everywhere(client, acme, org_admin, platform_admin, settings):
    sandbox_id = f"sbx{uuid.uuid4().hex[:16]}"
    SandboxRecord.objects.create(organization=acme, sandbox_id=sandbox_id, state="running")
    headers = bearer(acme, ["read", "sandboxes", "runtime-config"])
    settings.PORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    client.force_login(org_admin)
    pages = [
        client.get(reverse("sandbox_list", args=[acme.slug])),
        client.get(reverse("sandbox_detail", args=[acme.slug, sandbox_id])),
        client.post(reverse("sandbox_action", args=[acme.slug, sandbox_id, "kill"]), headers=HTMX),
        client.get(reverse("template_list", args=[acme.slug])),
        client.post(reverse("e2b_check", args=[acme.slug]), headers=HTMX),
        client.post(reverse("smoke_test", args=[acme.slug]), headers=HTMX),
    ]
    for response in pages:
        assert response.status_code == 200
        assert "cannot be decrypted" in response.content.decode(), response.content.decode()
    client.force_login(platform_admin)
    rows = client.get(reverse("platform_sandboxes")).context["listings"]
    assert [str(row.error.outcome) for row in rows] == ["key unreadable"]
    for path in ("/api/v1/sandboxes", f"/api/v1/sandboxes/{sandbox_id}"):
        answer = client.get(path, headers=headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (503, "key_unreadable")
    kill = client.post(f"/api/v1/sandboxes/{sandbox_id}/kill", headers=headers)
    assert (kill.status_code, kill.json()["error"]["code"]) == (503, "key_unreadable")
    config = client.get("/api/v1/runtime-config", headers=headers)
    assert config.status_code == 503 and "decrypt" in config.json()["error"]["message"]
    assert SandboxRecord.objects.get(sandbox_id=sandbox_id).gone_at is None


# The build worker, a real `manage.py db_worker` process


@pytest.fixture
def worker_timing(settings):
    settings.TEMPLATE_BUILD_POLL_SECONDS = 0.1
    settings.TEMPLATE_BUILD_STALE_SECONDS = STALE_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_worker_rides_out_failing_e2b_calls_and_finishes_the_build(org, org_admin, e2b, workers, worker_timing):  # noqa: F811

    on_local_e2b(org, e2b, e2b.api_key)
    e2b.set_fault(stall_builds=True, team="team-1")
    build, _ = builds.start_build(org, user=org_admin)
    workers("worker-faults")
    wait_for(lambda: TemplateBuild.objects.filter(pk=build.pk, log_offset__gte=1).exclude(build_id="").exists())
    # E2B's status endpoint fails for longer than a worker may stay silent: dropped, then 503s.
    e2b.set_fault("/templates/", team="team-1", drop=True, times=3)
    e2b.set_fault("/templates/", team="team-1", status=503, should_retry=False)
    wait_for(lambda: TemplateBuild.objects.get(pk=build.pk).follow_problem.startswith("E2B error"))
    time.sleep(STALE_SECONDS * 2)
    assert TemplateBuild.objects.get(pk=build.pk).status == "building"
    e2b.reset_faults()

    build = wait_for(lambda: TemplateBuild.objects.filter(pk=build.pk, status="ready").first())
    assert build.follow_problem == ""
    assert len(e2b_builds_of(e2b, build.template_id)) == 1
    assert list(build.lines.values_list("seq", flat=True)) == list(range(build.log_offset))
    assert list(build.lines.values_list("message", flat=True)) == e2b_log_of(e2b, build)
    if settings.PORTAL_TASK_BACKEND == "db":
        task = wait_for(lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").first())
        assert (DBTaskResult.objects.count(), task.return_value) == (1, "ready")


@pytest.mark.django_db(transaction=True)
def test_a_worker_ends_a_stalled_build_at_its_deadline(org, org_admin, e2b, workers, worker_timing):  # noqa: F811

    on_local_e2b(org, e2b, e2b.api_key)
    e2b.set_fault(stall_builds=True, team="team-1")
    build, _ = builds.start_build(org, user=org_admin)
    TemplateBuild.objects.filter(pk=build.pk).update(deadline=timezone.now() + timezone.timedelta(seconds=3))
    workers("worker-stalled")
    build = wait_for(lambda: TemplateBuild.objects.filter(pk=build.pk, status="error").first())
    assert build.error_reason.startswith("timed out")
    assert build.build_id and build.finished_at
    e2b.reset_faults()

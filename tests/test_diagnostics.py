import pytest
from django.urls import reverse

from portal.models import AuditEvent
from sandboxes import services
from sandboxes.models import DiagnosticRun
from sandboxes.services import Check
from tests.isolation import covers
from tests.test_sandbox_fixtures import *  # noqa: F403

HTMX = {"HX-Request": "true"}
PASSING = Check("Echo", "echo ready", 5)
FAILING = Check("Refusal", "echo 'no server on 5999' >&2; exit 3", 5)
SLOW = Check("Sleeper", "sleep 5", 0.5)


def diagnostics_url(org, sandbox_id):
    return reverse("sandbox_diagnostics", args=[org.slug, sandbox_id])


@pytest.fixture
def checks(monkeypatch):
    monkeypatch.setattr(services, "DIAGNOSTIC_CHECKS", (PASSING, FAILING, SLOW))


def test_it_reports_each_check_with_exit_code_output_and_duration(client, org_member, acme, make_sandbox, checks):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    response = client.post(diagnostics_url(acme, sandbox.sandbox_id), headers=HTMX)
    assert response.status_code == 200
    run = DiagnosticRun.objects.get(sandbox_id=sandbox.sandbox_id)
    results = {r["check"]: r for r in run.results}
    assert results["Echo"] | {"duration_ms": 0} == {
        "check": "Echo", "command": "echo ready", "exit_code": 0, "output": "ready", "duration_ms": 0, "status": "ok",
    }
    assert results["Refusal"]["status"] == "failed"
    assert results["Refusal"]["exit_code"] == 3
    assert "no server on 5999" in results["Refusal"]["output"]
    assert results["Sleeper"]["status"] == "timeout"
    assert results["Sleeper"]["duration_ms"] < 4000
    assert run.requested_by == org_member
    body = response.content.decode()
    assert body.strip().startswith('<section id="diagnostics"')
    assert "2 of 3 checks failed" in body and "badge check-failed" in body
    event = AuditEvent.objects.get(action="sandbox.diagnostics")
    assert event.details == {"failed": 2, "checks": 3}


def test_it_runs_the_seeds_checks_and_reports_failures_as_failed(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    client.post(diagnostics_url(acme, sandbox.sandbox_id))
    run = DiagnosticRun.objects.get()
    assert [r["command"].split()[0] for r in run.results] == ["pg_isready", "redis-cli", "curl", "docker", "curl"]
    # A check passed exactly when its command exited 0; every one was timed.
    assert all((r["status"] == "ok") == (r["exit_code"] == 0) for r in run.results)
    assert all(r["duration_ms"] >= 0 for r in run.results)
    # Nothing serves Mailcatcher's port here: a failed check with curl's exit code, not a portal error.
    mailcatcher = next(r for r in run.results if r["check"] == "Mailcatcher")
    assert mailcatcher["status"] == "failed" and mailcatcher["exit_code"] not in (None, 0)
    page = client.get(reverse("sandbox_detail", args=[acme.slug, sandbox.sandbox_id])).content.decode()
    assert "Mailcatcher" in page and "localhost:1080" in page


def test_it_trims_and_scrubs_output(client, org_member, acme, make_sandbox, monkeypatch):
    monkeypatch.setattr(
        services,
        "DIAGNOSTIC_CHECKS",
        (Check("Leaky", f"echo {acme.team_key}; printf 'nul\\0'; head -c 5000 /dev/zero | tr '\\0' x", 5),),
    )
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    response = client.post(diagnostics_url(acme, sandbox.sandbox_id), follow=True)
    output = DiagnosticRun.objects.get().results[0]["output"]
    assert acme.team_key not in output and "e2b_***" in output and "\x00" not in output
    assert len(output) < 2100 and output.endswith("(trimmed)")
    assert acme.team_key not in response.content.decode()


def test_it_lets_support_run_diagnostics(client, support, acme, make_sandbox, checks):
    sandbox = make_sandbox(acme)
    client.force_login(support)
    response = client.post(diagnostics_url(acme, sandbox.sandbox_id))
    assert response.status_code == 302
    assert DiagnosticRun.objects.get().requested_by == support
    assert AuditEvent.objects.get(action="sandbox.diagnostics").actor_user == support


def test_it_asks_for_confirmation_without_javascript(client, org_member, acme, make_sandbox, checks):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    page = client.get(diagnostics_url(acme, sandbox.sandbox_id)).content.decode()
    assert "Run diagnostics" in page and "<form method=\"post\"" in page
    assert not DiagnosticRun.objects.exists()


def test_it_does_not_resume_a_paused_sandbox_to_diagnose_it(client, org_member, acme, make_sandbox, checks, e2b):
    sandbox = make_sandbox(acme)
    sandbox.pause()
    client.force_login(org_member)
    response = client.post(diagnostics_url(acme, sandbox.sandbox_id), headers=HTMX)
    assert "resume it to run diagnostics" in response.content.decode()
    assert not DiagnosticRun.objects.exists()
    assert sandbox.get_info().state.value == "paused"


@covers("sandbox_diagnostics")
def test_it_hides_another_organizations_sandbox(client, other_admin, globex, acme, make_sandbox, checks):
    sandbox = make_sandbox(acme)
    client.force_login(other_admin)
    assert client.post(diagnostics_url(globex, sandbox.sandbox_id)).status_code == 404
    assert client.post(diagnostics_url(acme, sandbox.sandbox_id)).status_code == 404
    assert not DiagnosticRun.objects.exists()

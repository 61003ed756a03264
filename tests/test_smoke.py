import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from e2b import Sandbox

from portal.models import AuditEvent
from sandboxes import services
from sandboxes.services import Check
from tests.test_sandbox_fixtures import *  # noqa: F403

HTMX = {"HX-Request": "true"}


@pytest.fixture
def passing_checks(monkeypatch):
    monkeypatch.setattr(services, "DIAGNOSTIC_CHECKS", (Check("Echo", "echo ready", 5),))


def leftovers(e2b, org):
    return Sandbox.list(**e2b.sdk_kwargs(org.team_key)).next_items()


def statuses(report):
    return {step.name: step.status for step in report.steps}


def test_it_creates_checks_pauses_resumes_and_kills(client, org_member, acme, e2b, passing_checks):
    client.force_login(org_member)
    response = client.post(reverse("smoke_test", args=[acme.slug]), headers=HTMX)
    body = response.content.decode()
    assert body.strip().startswith('<div id="smoke-result"')
    assert "badge check-ok\">passed" in body
    assert body.count("badge check-ok\">ok") == len(services.SMOKE_STEPS) + 1  # the steps and the check
    assert leftovers(e2b, acme) == []
    event = AuditEvent.objects.get(action="sandbox.smoke_test")
    assert event.details["steps"] == dict.fromkeys(services.SMOKE_STEPS, "ok")


def test_it_reports_failed_checks_and_still_finishes_the_lifecycle(acme, e2b, monkeypatch):
    monkeypatch.setattr(services, "DIAGNOSTIC_CHECKS", (Check("Docker", "exit 1", 5),))
    report = services.run_smoke_test(None, acme)
    assert statuses(report) == {"create": "ok", "diagnostics": "failed", "pause": "ok", "resume": "ok", "kill": "ok"}
    assert not report.passed
    assert leftovers(e2b, acme) == []


def test_it_kills_the_sandbox_when_pause_fails(acme, e2b, passing_checks):
    e2b.set_fault("/sandboxes/", status=500, should_retry=False, times=1, message="snapshot store down")
    report = services.run_smoke_test(None, acme)
    assert statuses(report) == {"create": "ok", "diagnostics": "ok", "pause": "failed", "resume": "skipped", "kill": "ok"}
    assert "snapshot store down" in report.steps[2].message
    assert leftovers(e2b, acme) == []


def test_it_kills_the_sandbox_when_resume_fails(acme, e2b, passing_checks):
    e2b.set_fault("/v2/sandboxes/", status=500, should_retry=False, times=1)
    report = services.run_smoke_test(None, acme)
    assert statuses(report)["resume"] == "failed"
    assert statuses(report)["kill"] == "ok"
    assert leftovers(e2b, acme) == []


def test_it_reports_a_create_failure_without_leaving_anything(acme, e2b, passing_checks):
    acme.runtime_template = "no-such-template"
    acme.save()
    report = services.run_smoke_test(None, acme)
    assert statuses(report) == {"create": "failed", "diagnostics": "skipped", "pause": "skipped", "resume": "skipped", "kill": "skipped"}
    assert "no-such-template" in report.steps[0].message
    assert leftovers(e2b, acme) == []


def test_it_lets_support_run_it(client, support, acme, e2b, passing_checks):
    client.force_login(support)
    response = client.post(reverse("smoke_test", args=[acme.slug]))
    assert response.context["report"].passed
    assert AuditEvent.objects.get(action="sandbox.smoke_test").actor_user == support


def test_it_offers_the_button_on_the_org_page(client, org_member, acme):
    client.force_login(org_member)
    body = client.get(reverse("org_home", args=[acme.slug])).content.decode()
    assert f'hx-post="{reverse("smoke_test", args=[acme.slug])}"' in body


def test_it_runs_from_the_command_line(acme, e2b, passing_checks, capsys):
    call_command("e2b_smoke", acme.slug)
    out = capsys.readouterr().out
    for step in services.SMOKE_STEPS:
        assert step in out
    assert "smoke test passed" in out
    assert leftovers(e2b, acme) == []


def test_it_fails_the_command_when_a_step_fails(acme, e2b, passing_checks):
    e2b.set_fault("/sandboxes/", status=500, should_retry=False, times=1)
    with pytest.raises(CommandError, match="smoke test failed"):
        call_command("e2b_smoke", acme.slug)
    assert leftovers(e2b, acme) == []


def test_it_refuses_an_unknown_organization(db):
    with pytest.raises(CommandError, match="no organization"):
        call_command("e2b_smoke", "nope")

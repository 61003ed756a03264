import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from e2b import Sandbox

from portal.models import AuditEvent, E2BApiKey
from sandboxes import services
from sandboxes.models import SandboxRecord
from tests.isolation import covers
from tests.test_sandbox_fixtures import *  # noqa: F403

HTMX = {"HX-Request": "true"}


def list_url(org):
    return reverse("sandbox_list", args=[org.slug])


def detail_url(org, sandbox_id):
    return reverse("sandbox_detail", args=[org.slug, sandbox_id])


def action_url(org, sandbox_id, action):
    return reverse("sandbox_action", args=[org.slug, sandbox_id, action])


def live_ids(e2b, org):
    return {s.sandbox_id for s in Sandbox.list(**e2b.sdk_kwargs(org.team_key)).next_items()}


# The list


def test_it_lists_running_and_paused_sandboxes(client, org_member, acme, make_sandbox):
    running = make_sandbox(acme, metadata={"env": "dev"})
    paused = make_sandbox(acme)
    paused.pause()
    client.force_login(org_member)
    body = client.get(list_url(acme)).content.decode()
    assert running.sandbox_id in body and paused.sandbox_id in body
    assert "state-paused" in body and "env=dev" in body
    assert 'data-ends-at="' in body
    assert 'hx-trigger="every 5s"' in body
    states = dict(SandboxRecord.objects.values_list("sandbox_id", "state"))
    assert states == {running.sandbox_id: "running", paused.sandbox_id: "paused"}


def test_it_filters_by_state_metadata_and_template(client, org_member, acme, make_sandbox):
    dev = make_sandbox(acme, metadata={"env": "dev", "owner": "ana"})
    prod = make_sandbox(acme, metadata={"env": "prod"})
    paused = make_sandbox(acme, metadata={"env": "dev"})
    paused.pause()
    client.force_login(org_member)

    def listed(**query):
        body = client.get(list_url(acme), query).content.decode()
        return {s for s in (dev.sandbox_id, prod.sandbox_id, paused.sandbox_id) if s in body}

    assert listed(state="paused") == {paused.sandbox_id}
    assert listed(state="running") == {dev.sandbox_id, prod.sandbox_id}
    assert listed(metadata="env=dev owner=ana") == {dev.sandbox_id}
    assert listed(metadata="env=dev") == {dev.sandbox_id, paused.sandbox_id}
    assert listed(template="base") == {dev.sandbox_id, prod.sandbox_id, paused.sandbox_id}
    assert listed(template="no-such-template") == set()
    # A filtered list is not complete: nothing is marked gone by it.
    assert not SandboxRecord.objects.filter(gone_at__isnull=False).exists()


def test_it_rejects_metadata_that_is_not_key_value(client, org_member, acme):
    client.force_login(org_member)
    response = client.get(list_url(acme), {"metadata": "env"})
    assert "is not key=value" in response.content.decode()


def test_it_pages_with_e2bs_token(client, org_member, acme, make_sandbox, monkeypatch):
    monkeypatch.setattr(services, "PAGE_SIZE", 2)
    ids = {make_sandbox(acme).sandbox_id for _ in range(3)}
    client.force_login(org_member)
    first = client.get(list_url(acme))
    token = first.context["page"].next_token
    assert token and len(first.context["page"].sandboxes) == 2
    assert 'id="next-page"' in first.content.decode()
    second = client.get(list_url(acme), {"next": token})
    assert second.context["page"].next_token is None
    seen = {s.sandbox_id for s in first.context["page"].sandboxes + second.context["page"].sandboxes}
    assert seen == ids
    assert "First page" in second.content.decode()


def test_it_shows_an_empty_list_with_what_to_do(client, org_member, acme):
    client.force_login(org_member)
    body = client.get(list_url(acme)).content.decode()
    assert "No running or paused sandboxes" in body
    assert "smoke test" in body


def test_it_refreshes_in_place_and_the_refresh_can_be_paused(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    partial = client.get(list_url(acme), headers=HTMX).content.decode()
    assert partial.strip().startswith('<div id="sandbox-list"') and "<html" not in partial
    assert sandbox.sandbox_id in partial and 'hx-trigger="every 5s"' in partial
    paused = client.get(list_url(acme), {"live": "0"}, headers=HTMX).content.decode()
    assert "hx-trigger" not in paused and "Resume refresh" in paused


def test_it_explains_an_unreachable_e2b(client, org_member, acme):
    acme.api_url = acme.sandbox_url = "http://127.0.0.1:9"
    acme.save()
    client.force_login(org_member)
    body = client.get(list_url(acme)).content.decode()
    assert "E2B is unreachable" in body
    assert "API URL" in body


def test_it_explains_a_rejected_key(client, org_member, acme):
    E2BApiKey.objects.filter(organization=acme).delete()
    key = E2BApiKey(organization=acme, label="bad", is_active=True)
    key.set_secret("e2b_" + "0" * 40)
    key.save()
    client.force_login(org_member)
    body = client.get(list_url(acme)).content.decode()
    assert "E2B rejected the API key" in body
    assert "e2b_" + "0" * 40 not in body


def test_it_explains_an_e2b_error(client, org_member, acme, e2b):
    e2b.set_fault("/v2/sandboxes", status=500, should_retry=False, message="database on fire")
    client.force_login(org_member)
    body = client.get(list_url(acme)).content.decode()
    assert "E2B answered with an error" in body
    assert "database on fire" in body


def test_it_explains_a_missing_key(client, org_member, acme):
    E2BApiKey.objects.filter(organization=acme).delete()
    client.force_login(org_member)
    body = client.get(list_url(acme)).content.decode()
    assert "No E2B API key" in body


# Records


def test_it_marks_records_gone_when_a_complete_list_lacks_them(client, org_member, acme, make_sandbox, e2b):
    kept = make_sandbox(acme)
    killed = make_sandbox(acme)
    client.force_login(org_member)
    client.get(list_url(acme))
    Sandbox.kill(killed.sandbox_id, **e2b.sdk_kwargs(acme.team_key))
    client.get(list_url(acme))
    gone = SandboxRecord.objects.get(sandbox_id=killed.sandbox_id)
    assert gone.gone_at is not None
    assert SandboxRecord.objects.get(sandbox_id=kept.sandbox_id).gone_at is None


def test_it_shows_a_timeout_that_e2b_applied_as_gone(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme, timeout=1)
    client.force_login(org_member)
    client.get(list_url(acme))
    time.sleep(1.3)
    body = client.get(detail_url(acme, sandbox.sandbox_id)).content.decode()
    assert "E2B no longer has this sandbox" in body
    assert 'id="sandbox-actions"' not in body
    assert SandboxRecord.objects.get(sandbox_id=sandbox.sandbox_id).is_gone


# The sandbox page


def test_it_shows_everything_e2b_knows_about_a_sandbox(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme, metadata={"purpose": "demo"})
    sandbox.commands.run("echo hello")
    client.force_login(org_member)
    response = client.get(detail_url(acme, sandbox.sandbox_id))
    body = response.content.decode()
    for text in ("purpose=demo", "Disk", "envd version", "on timeout: kill", "internet access", "rki5dems9wqfm4r03t7g"):
        assert text in body
    assert body.count('<svg class="chart"') == 3
    assert "command exited 0: echo hello" in body
    assert 'id="sandbox-actions"' in body


def test_it_changes_the_chart_range_in_place(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    response = client.get(detail_url(acme, sandbox.sandbox_id), {"range": "1h"}, headers={**HTMX, "HX-Target": "metrics"})
    body = response.content.decode()
    assert body.strip().startswith('<div id="metrics"') and body.count("<svg") == 3


def test_it_filters_and_searches_logs_in_place(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    sandbox.commands.run("echo needle")
    try:
        sandbox.commands.run("exit 3")
    except Exception:
        pass
    client.force_login(org_member)
    url = detail_url(acme, sandbox.sandbox_id)
    found = client.get(url, {"search": "needle"}, headers={**HTMX, "HX-Target": "logs"}).content.decode()
    assert found.strip().startswith('<div id="logs"')
    assert "needle" in found and "sandbox created" not in found
    errors = client.get(url, {"level": "error"}, headers={**HTMX, "HX-Target": "logs"}).content.decode()
    assert "sandbox created" not in errors


def test_it_pages_logs_to_older_entries(client, org_member, acme, make_sandbox, monkeypatch):
    monkeypatch.setattr(services, "LOG_PAGE_SIZE", 2)
    monkeypatch.setattr(services.fetch_logs, "__defaults__", ("", "", None, 2))
    sandbox = make_sandbox(acme)
    for word in ("one", "two", "three"):
        sandbox.commands.run(f"echo {word}")
        time.sleep(0.01)
    client.force_login(org_member)
    first = client.get(detail_url(acme, sandbox.sandbox_id))
    cursor = first.context["log_page"].next_cursor
    assert cursor
    older = client.get(detail_url(acme, sandbox.sandbox_id), {"cursor": cursor})
    assert older.context["log_page"].entries
    newest = {e.message for e in first.context["log_page"].entries}
    assert newest.isdisjoint(e.message for e in older.context["log_page"].entries)


def test_it_shows_a_gone_sandbox_from_its_record(client, org_member, acme, make_sandbox, e2b):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    client.get(list_url(acme))
    Sandbox.kill(sandbox.sandbox_id, **e2b.sdk_kwargs(acme.team_key))
    response = client.get(detail_url(acme, sandbox.sandbox_id))
    assert response.status_code == 200
    body = response.content.decode()
    assert "badge state-gone" in body and "Its last known record" in body


# Actions


def test_it_pauses_resumes_extends_and_kills(client, org_member, acme, make_sandbox, e2b):
    sandbox = make_sandbox(acme)
    sid = sandbox.sandbox_id
    client.force_login(org_member)
    response = client.post(action_url(acme, sid, "pause"), headers=HTMX)
    assert response.content.decode().strip().startswith('<section id="sandbox-summary"')
    assert f"Paused {sid}." in response.content.decode()
    assert Sandbox.get_info(sid, **e2b.sdk_kwargs(acme.team_key)).state.value == "paused"

    client.post(action_url(acme, sid, "resume"), headers=HTMX)
    assert Sandbox.get_info(sid, **e2b.sdk_kwargs(acme.team_key)).state.value == "running"

    before = Sandbox.get_info(sid, **e2b.sdk_kwargs(acme.team_key)).end_at
    client.post(action_url(acme, sid, "timeout"), {"timeout": 3600}, headers=HTMX)
    assert (Sandbox.get_info(sid, **e2b.sdk_kwargs(acme.team_key)).end_at - before).total_seconds() > 3000

    response = client.post(action_url(acme, sid, "kill"))
    assert response.status_code == 302
    assert sid not in live_ids(e2b, acme)
    actions = list(AuditEvent.objects.filter(target=sid).order_by("created_at", "id").values_list("action", flat=True))
    assert actions == ["sandbox.pause", "sandbox.resume", "sandbox.timeout", "sandbox.kill"]
    assert AuditEvent.objects.get(action="sandbox.timeout").details["timeout_seconds"] == 3600
    assert SandboxRecord.objects.get(sandbox_id=sid).is_gone


def test_it_confirms_on_a_page_without_javascript(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    page = client.get(action_url(acme, sandbox.sandbox_id, "kill")).content.decode()
    assert "Kill " in page and f'action="{action_url(acme, sandbox.sandbox_id, "kill")}"' in page
    assert not AuditEvent.objects.filter(action="sandbox.kill").exists()


def test_it_reports_killing_a_gone_sandbox_as_gone(client, org_member, acme, make_sandbox, e2b):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    client.get(list_url(acme))
    Sandbox.kill(sandbox.sandbox_id, **e2b.sdk_kwargs(acme.team_key))
    response = client.post(action_url(acme, sandbox.sandbox_id, "kill"), headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "is gone" in body and "msg warning" in body and "msg error" not in body
    assert AuditEvent.objects.get(action="sandbox.kill").details["outcome"] == "gone"


def test_it_refuses_a_bad_timeout(client, org_member, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    client.force_login(org_member)
    response = client.post(action_url(acme, sandbox.sandbox_id, "timeout"), {"timeout": "-5"})
    assert "greater than or equal to 1" in response.content.decode()
    assert not AuditEvent.objects.filter(action="sandbox.timeout").exists()


def test_it_lets_support_look_but_not_act(client, support, acme, make_sandbox, e2b):
    sandbox = make_sandbox(acme)
    client.force_login(support)
    page = client.get(detail_url(acme, sandbox.sandbox_id))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="sandbox-actions"' not in body and 'id="run-diagnostics"' in body
    assert AuditEvent.objects.filter(action="staff.view", organization=acme).exists()
    for action in ("pause", "resume", "timeout", "kill"):
        assert client.post(action_url(acme, sandbox.sandbox_id, action), {"timeout": 60}).status_code == 403
        assert client.get(action_url(acme, sandbox.sandbox_id, action)).status_code == 403
    assert sandbox.sandbox_id in live_ids(e2b, acme)


def test_it_lets_a_platform_admin_act(client, platform_admin, acme, make_sandbox, e2b):
    sandbox = make_sandbox(acme)
    client.force_login(platform_admin)
    client.post(action_url(acme, sandbox.sandbox_id, "pause"))
    assert Sandbox.get_info(sandbox.sandbox_id, **e2b.sdk_kwargs(acme.team_key)).state.value == "paused"


# Isolation


@covers("sandbox_list", "sandbox_detail", "sandbox_action", "sandbox_diagnostics", "smoke_test")
def test_it_hides_another_organizations_pages(client, other_admin, acme, make_sandbox):
    sandbox = make_sandbox(acme)
    client.force_login(other_admin)
    sid = sandbox.sandbox_id
    assert client.get(list_url(acme)).status_code == 404
    assert client.get(detail_url(acme, sid)).status_code == 404
    assert client.get(action_url(acme, sid, "kill")).status_code == 404
    assert client.post(action_url(acme, sid, "kill")).status_code == 404
    assert client.post(reverse("sandbox_diagnostics", args=[acme.slug, sid])).status_code == 404
    assert client.post(reverse("smoke_test", args=[acme.slug])).status_code == 404


def test_it_answers_404_for_another_organizations_sandbox_id(client, other_admin, acme, globex, make_sandbox, e2b):
    theirs = make_sandbox(acme)
    client.force_login(other_admin)
    sid = theirs.sandbox_id
    # Not even a record yet: E2B (per team) says 404.
    assert client.get(detail_url(globex, sid)).status_code == 404
    assert client.post(action_url(globex, sid, "kill")).status_code == 404
    # With acme's record present, the record alone answers 404.
    SandboxRecord.objects.record_listing(acme, [Sandbox.get_info(sid, **e2b.sdk_kwargs(acme.team_key))], complete=False)
    assert client.get(detail_url(globex, sid)).status_code == 404
    assert client.get(action_url(globex, sid, "pause")).status_code == 404
    assert client.post(reverse("sandbox_diagnostics", args=[globex.slug, sid])).status_code == 404
    assert sid in live_ids(e2b, acme)
    assert not AuditEvent.objects.filter(action__startswith="sandbox.").exists()


# Query counts


def queries_of(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_it_runs_as_many_queries_for_many_sandboxes_as_for_few(client, org_member, acme, make_sandbox):
    client.force_login(org_member)
    counts = {}
    ids = []
    for total in (10, 100):
        ids += [make_sandbox(acme).sandbox_id for _ in range(total - len(ids))]
        client.get(list_url(acme))  # the first visit creates the records
        counts[total] = (queries_of(client, list_url(acme)), queries_of(client, detail_url(acme, ids[-1])))
    # Ten sandboxes fit one page, so that list is complete and also marks absent records gone.
    assert counts[100][0] <= counts[10][0] <= 12
    assert counts[100][1] == counts[10][1] <= 12

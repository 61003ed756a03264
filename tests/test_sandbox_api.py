import pytest
from e2b import Sandbox

from portal.models import AuditEvent
from portal.tokens import create_token
from sandboxes import services
from sandboxes.models import SandboxRecord
from tests.isolation import covers
from tests.test_sandbox_fixtures import *  # noqa: F403

BASE = "/api/v1/sandboxes"


@pytest.fixture
def token(acme):
    return create_token(acme, "CI", ["sandboxes"])


def bearer(token):
    return {"Authorization": f"Bearer {token[1]}"}


def test_it_lists_sandboxes_with_filters_and_pages(client, acme, token, make_sandbox, monkeypatch):
    monkeypatch.setattr(services, "PAGE_SIZE", 1)
    tagged = make_sandbox(acme, metadata={"env": "dev"})
    make_sandbox(acme).pause()
    everything = client.get(BASE, {"limit": 1}, headers=bearer(token)).json()
    assert len(everything["sandboxes"]) == 1 and everything["next_token"]
    rest = client.get(BASE, {"limit": 1, "next_token": everything["next_token"]}, headers=bearer(token)).json()
    assert rest["next_token"] is None
    assert {s["state"] for s in everything["sandboxes"] + rest["sandboxes"]} == {"running", "paused"}
    dev = client.get(BASE, {"metadata": "env=dev"}, headers=bearer(token)).json()["sandboxes"]
    assert [s["sandbox_id"] for s in dev] == [tagged.sandbox_id]
    assert dev[0]["metadata"] == {"env": "dev"} and dev[0]["alias"] == "base"
    paused = client.get(BASE, {"state": "paused"}, headers=bearer(token)).json()["sandboxes"]
    assert [s["state"] for s in paused] == ["paused"]


def test_it_refuses_bad_metadata(client, acme, token):
    response = client.get(BASE, {"metadata": "env"}, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_it_refuses_a_token_without_the_sandboxes_scope(client, acme, make_sandbox):
    _, raw = create_token(acme, "read only", ["read"])
    sandbox = make_sandbox(acme)
    assert client.get(BASE, headers={"Authorization": f"Bearer {raw}"}).status_code == 403
    kill = client.post(f"{BASE}/{sandbox.sandbox_id}/kill", headers={"Authorization": f"Bearer {raw}"})
    assert kill.status_code == 403
    assert sandbox.is_running()


def test_it_shows_one_sandbox(client, acme, token, make_sandbox):
    sandbox = make_sandbox(acme, metadata={"env": "dev"})
    body = client.get(f"{BASE}/{sandbox.sandbox_id}", headers=bearer(token)).json()
    assert body["sandbox_id"] == sandbox.sandbox_id
    assert body["state"] == "running" and body["gone"] is False
    assert body["disk_size_mb"] == 1024 and body["envd_version"] and body["on_timeout"] == "kill"
    assert body["metadata"] == {"env": "dev"}


def test_it_pauses_resumes_extends_and_kills(client, acme, token, make_sandbox, e2b):
    sandbox = make_sandbox(acme)
    url = f"{BASE}/{sandbox.sandbox_id}"
    assert client.post(f"{url}/pause", headers=bearer(token)).json()["ok"] is True
    assert sandbox.get_info().state.value == "paused"
    assert client.post(f"{url}/resume", headers=bearer(token)).json()["ok"] is True
    assert sandbox.get_info().state.value == "running"
    extended = client.post(f"{url}/timeout", {"timeout": 900}, content_type="application/json", headers=bearer(token))
    assert extended.json()["ok"] is True
    killed = client.post(f"{url}/kill", headers=bearer(token)).json()
    assert killed == {
        "sandbox_id": sandbox.sandbox_id, "action": "kill", "ok": True, "outcome": "ok",
        "message": f"Killed {sandbox.sandbox_id}.",
    }
    events = AuditEvent.objects.filter(target=sandbox.sandbox_id)
    assert {e.action for e in events} == {"sandbox.pause", "sandbox.resume", "sandbox.timeout", "sandbox.kill"}
    assert all(e.actor_token == token[0] for e in events)
    # Killing it again: the record knows it, E2B does not: gone, not an error.
    again = client.post(f"{url}/kill", headers=bearer(token))
    assert again.status_code == 200 and again.json()["outcome"] == "gone"
    assert client.get(url, headers=bearer(token)).json()["state"] == "gone"


def test_it_refuses_a_bad_timeout(client, acme, token, make_sandbox):
    sandbox = make_sandbox(acme)
    response = client.post(
        f"{BASE}/{sandbox.sandbox_id}/timeout", {"timeout": 0}, content_type="application/json", headers=bearer(token)
    )
    assert response.status_code == 422


def test_it_answers_e2b_failures_with_their_status(client, acme, token):
    acme.api_url = "http://127.0.0.1:9"
    acme.save()
    response = client.get(BASE, headers=bearer(token))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unreachable"


@covers(
    "api-1.0.0:sandboxes_api_detail",
    "api-1.0.0:sandboxes_api_pause",
    "api-1.0.0:sandboxes_api_resume",
    "api-1.0.0:sandboxes_api_kill",
    "api-1.0.0:sandboxes_api_timeout",
)
def test_it_answers_404_for_another_organizations_sandbox(client, acme, globex, make_sandbox, e2b):
    theirs = make_sandbox(globex)
    SandboxRecord.objects.record_listing(globex, [theirs.get_info()], complete=False)
    stranger = make_sandbox(globex)  # no record: E2B (per team) answers 404 for it
    _, raw = create_token(acme, "CI", ["sandboxes", "read"])
    headers = {"Authorization": f"Bearer {raw}"}
    for sandbox in (theirs, stranger):
        url = f"{BASE}/{sandbox.sandbox_id}"
        assert client.get(url, headers=headers).status_code == 404
        for action in ("pause", "resume", "kill"):
            assert client.post(f"{url}/{action}", headers=headers).status_code == 404
        timeout = client.post(f"{url}/timeout", {"timeout": 60}, content_type="application/json", headers=headers)
        assert timeout.status_code == 404
        assert sandbox.is_running()
    assert not AuditEvent.objects.filter(action__startswith="sandbox.").exists()
    listed = client.get(BASE, headers=headers).json()["sandboxes"]
    assert listed == []
    assert Sandbox.list(**e2b.sdk_kwargs(globex.team_key)).next_items()

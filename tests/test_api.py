import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.api import _e2b_error
from portal.e2b import E2BError, Outcome
from portal.models import AccessToken, AuditEvent, E2BApiKey
from portal.tokens import create_token

UNAUTHORIZED = {
    "error": {"code": "unauthorized", "message": "A valid access token is required: Authorization: Bearer <token>."}
}
E2B_KEY = "e2b_0123456789abcdef0123456789abcdef01234567"


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def active_key(org):
    key = E2BApiKey(organization=org, label="production", is_active=True)
    key.set_secret(E2B_KEY)
    key.save()
    return key


def test_it_returns_the_tokens_organization(client, org):
    org.e2b_domain = "e2b.acme.example"
    org.save()
    _, raw = create_token(org, "CI", ["read"])
    response = client.get("/api/v1/org", headers=bearer(raw))
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "acme"
    assert body["e2b_domain"] == "e2b.acme.example"
    assert body["template_cpu_count"] == 4
    assert body["has_active_key"] is False


def test_it_never_shows_another_organizations_data(client, org, other_org, active_key):
    _, raw = create_token(other_org, "Globex CI", ["read", "runtime-config"])
    assert client.get("/api/v1/org", headers=bearer(raw)).json()["slug"] == "globex"
    config = client.get("/api/v1/runtime-config", headers=bearer(raw)).json()
    assert config["E2B_TEMPLATE"] == "globex-sandbox"
    assert config["E2B_API_KEY"] is None


@pytest.mark.parametrize("case", ["missing", "unknown", "wrong", "revoked", "expired", "basic", "empty"])
def test_it_answers_every_bad_token_with_the_same_401(client, org, case):
    token, raw = create_token(org, "CI", ["read"])
    headers = {
        "missing": {},
        "unknown": bearer("spt_0123456789ab_" + raw.split("_", 2)[2]),
        "wrong": bearer(raw[:-3] + "abc"),
        "revoked": bearer(raw),
        "expired": bearer(raw),
        "basic": {"Authorization": f"Basic {raw}"},
        "empty": {"Authorization": "Bearer "},
    }[case]
    if case == "revoked":
        token.revoke()
    if case == "expired":
        AccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get("/api/v1/org", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_missing_scope_with_403(client, org):
    _, raw = create_token(org, "builder", ["builds"])
    for path in ("/api/v1/org", "/api/v1/runtime-config"):
        response = client.get(path, headers=bearer(raw))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert "'read'" in response.json()["error"]["message"]


def test_it_gives_runtime_config_without_the_key_to_read_tokens(client, org, active_key):
    _, raw = create_token(org, "CI", ["read"])
    response = client.get("/api/v1/runtime-config", headers=bearer(raw))
    assert response.json() == {
        "DEFAULT_SANDBOX_PROVIDER": "modal",
        "E2B_DOMAIN": "",
        "E2B_TEMPLATE": "acme-sandbox",
    }
    assert not AuditEvent.objects.filter(action="runtime_config.read_key").exists()


def test_it_gives_the_key_to_runtime_config_tokens_and_audits_it(client, org, active_key, caplog):
    org.provider = "e2b"
    org.api_url = org.sandbox_url = "http://127.0.0.1:3000"
    org.save()
    token, raw = create_token(org, "runtime", ["runtime-config"])
    with caplog.at_level(logging.DEBUG):
        response = client.get("/api/v1/runtime-config", headers=bearer(raw))
    assert response.json() == {
        "DEFAULT_SANDBOX_PROVIDER": "e2b",
        "E2B_DOMAIN": "",
        "E2B_TEMPLATE": "acme-sandbox",
        "E2B_API_URL": "http://127.0.0.1:3000",
        "E2B_SANDBOX_URL": "http://127.0.0.1:3000",
        "E2B_API_KEY": E2B_KEY,
    }
    event = AuditEvent.objects.get(action="runtime_config.read_key")
    assert event.organization == org
    assert event.actor_token == token
    assert event.actor_user is None
    assert event.actor_label == f"token {token.prefix}"
    assert E2B_KEY not in repr(event.details) + event.target
    assert E2B_KEY not in caplog.text
    assert raw not in caplog.text
    active_key.refresh_from_db()
    assert active_key.last_used_at is not None


def test_it_keeps_secrets_out_of_logs_on_rejected_tokens(client, org, caplog):
    _, raw = create_token(org, "CI", ["read"])
    with caplog.at_level(logging.DEBUG):
        client.get("/api/v1/org", headers={"Authorization": f"Token {raw}"})
        client.get("/api/v1/org", headers=bearer(raw + "x"))
    assert raw not in caplog.text


def test_it_acts_as_the_token_even_with_a_browser_session(client, org, other_admin, active_key):
    client.force_login(other_admin)
    token, raw = create_token(org, "runtime", ["runtime-config"])
    client.get("/api/v1/runtime-config", headers=bearer(raw))
    event = AuditEvent.objects.get(action="runtime_config.read_key")
    assert event.actor_user is None
    assert event.actor_token == token


def test_it_answers_unknown_routes_with_json_404(client, org):
    _, raw = create_token(org, "CI", ["read"])
    response = client.get("/api/v1/no-such-thing", headers=bearer(raw))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_serves_the_api_reference_from_local_files(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


def test_it_serves_an_openapi_schema(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Sandbox Portal API"
    assert "/api/v1/org" in schema["paths"]
    assert "/api/v1/runtime-config" in schema["paths"]


@pytest.mark.parametrize(
    ("outcome", "status", "code"),
    [
        (Outcome.UNREACHABLE, 503, "unreachable"),
        (Outcome.KEY_REJECTED, 502, "key_rejected"),
        (Outcome.E2B_ERROR, 502, "e2b_error"),
        (Outcome.NOT_FOUND, 404, "not_found"),
        (Outcome.RATE_LIMITED, 503, "rate_limited"),
        (Outcome.NO_KEY, 503, "no_key"),
    ],
)
def test_it_maps_e2b_outcomes_to_statuses(rf, outcome, status, code):
    response = _e2b_error(rf.get("/api/v1/x"), E2BError(outcome, "what happened"))
    assert response.status_code == status
    assert json.loads(response.content) == {"error": {"code": code, "message": "what happened"}}


def test_it_answers_the_api_health_check_without_a_token(client, db):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}

import pytest
from django.utils import timezone

from portal.models import AuditEvent
from portal.tokens import create_token
from templates_app.models import BuildLogLine, BuildStatus, TemplateBuild
from tests.isolation import covers


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def builds_token(org):
    token, raw = create_token(org, "CI", ["builds"])
    return token, raw


def test_it_starts_a_build_and_then_shows_the_running_one(client, org, builds_token, django_capture_on_commit_callbacks):
    token, raw = builds_token
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/api/v1/builds", {"skip_cache": True}, content_type="application/json", headers=bearer(raw))
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True and body["status"] == "queued" and body["skip_cache"] is True
    assert body["alias"] == "acme-sandbox" and body["cpu_count"] == 4
    assert len(callbacks) == 1
    again = client.post("/api/v1/builds", content_type="application/json", headers=bearer(raw))
    assert again.status_code == 200
    assert again.json()["id"] == body["id"] and again.json()["created"] is False
    assert TemplateBuild.objects.count() == 1
    event = AuditEvent.objects.get(action="build.start")
    assert event.actor_token == token and event.actor_label == f"token {token.prefix}"
    assert TemplateBuild.objects.get().requested_by_label == f"token {token.prefix}"


def test_it_shows_a_build_and_its_log_after_a_sequence_number(client, org, builds_token):
    _, raw = builds_token
    build = TemplateBuild.objects.create(organization=org, alias="acme-sandbox", cpu_count=4, memory_mb=8192, status=BuildStatus.BUILDING)
    now = timezone.now()
    BuildLogLine.objects.bulk_create(
        BuildLogLine(build=build, seq=n, time=now, level="error" if n == 4 else "info", step="1", message=f"line {n}") for n in range(6)
    )
    detail = client.get(f"/api/v1/builds/{build.pk}", headers=bearer(raw))
    assert detail.status_code == 200 and detail.json()["status"] == "building"
    logs = client.get(f"/api/v1/builds/{build.pk}/logs", {"after": 2}, headers=bearer(raw)).json()
    assert [line["seq"] for line in logs["lines"]] == [3, 4, 5]
    assert logs["next_after"] == 5 and logs["more"] is False
    page = client.get(f"/api/v1/builds/{build.pk}/logs", {"after": -1, "limit": 2}, headers=bearer(raw)).json()
    assert [line["seq"] for line in page["lines"]] == [0, 1] and page["more"] is True
    errors = client.get(f"/api/v1/builds/{build.pk}/logs", {"level": "error"}, headers=bearer(raw)).json()
    assert [line["message"] for line in errors["lines"]] == ["line 4"]


def test_it_needs_the_builds_scope(client, org):
    _, raw = create_token(org, "read only", ["read"])
    build = TemplateBuild.objects.create(organization=org, alias="acme-sandbox", cpu_count=4, memory_mb=8192)
    assert client.post("/api/v1/builds", content_type="application/json", headers=bearer(raw)).status_code == 403
    assert client.get(f"/api/v1/builds/{build.pk}", headers=bearer(raw)).status_code == 403
    assert client.get(f"/api/v1/builds/{build.pk}/logs", headers=bearer(raw)).status_code == 403
    assert client.get(f"/api/v1/builds/{build.pk}").status_code == 401
    assert TemplateBuild.objects.count() == 1


@covers("api-1.0.0:get_build", "api-1.0.0:get_build_logs")
def test_it_answers_404_for_another_organizations_build(client, org, other_org):
    _, raw = create_token(other_org, "Globex CI", ["builds"])
    build = TemplateBuild.objects.create(organization=org, alias="acme-sandbox", cpu_count=4, memory_mb=8192)
    assert client.get(f"/api/v1/builds/{build.pk}", headers=bearer(raw)).status_code == 404
    assert client.get(f"/api/v1/builds/{build.pk}/logs", headers=bearer(raw)).status_code == 404

import hmac
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from portal import tokens
from portal.models import AccessToken, AuditEvent
from portal.tokens import InvalidScopes, authenticate, create_token
from tests.isolation import covers


def test_it_stores_a_keyed_hash_and_never_the_token(org, org_admin):
    token, raw = create_token(org, "CI", ["read"], created_by=org_admin)
    assert raw.startswith(f"spt_{token.prefix}_")
    assert token.secret_hash == tokens.hash_token(raw)
    secret_part = raw.split("_", 2)[2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM portal_accesstoken")
        rows = repr(cursor.fetchall())
    assert secret_part not in rows
    assert raw not in rows


def test_it_depends_on_the_pepper(org, settings):
    _, raw = create_token(org, "CI", ["read"])
    settings.PORTAL_TOKEN_PEPPER = "another pepper"
    assert authenticate(raw) is None


def test_it_authenticates_a_valid_token(org):
    token, raw = create_token(org, "CI", ["read", "builds"])
    found = authenticate(raw)
    assert found == token
    assert found.organization == org
    assert found.scopes == ["read", "builds"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        lambda raw: raw.replace(raw.split("_")[1], "0123456789ab"),
        lambda raw: "",
        lambda raw: "garbage",
        lambda raw: raw + "x" * 300,
        lambda raw: raw.split("_", 2)[2],
    ],
    ids=["wrong secret", "unknown prefix", "empty", "garbage", "too long", "no prefix"],
)
def test_it_rejects_unknown_and_wrong_tokens(org, mangle):
    _, raw = create_token(org, "CI", ["read"])
    assert authenticate(mangle(raw)) is None


def test_it_rejects_a_revoked_token(org):
    token, raw = create_token(org, "CI", ["read"])
    token.revoke()
    assert authenticate(raw) is None


def test_it_rejects_an_expired_token(org):
    token, raw = create_token(org, "CI", ["read"], expires_at=timezone.now() + timedelta(hours=1))
    assert authenticate(raw) == token
    AccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert authenticate(raw) is None


def test_it_compares_in_constant_time_on_every_path(org, monkeypatch):
    _, raw = create_token(org, "CI", ["read"])
    calls = []
    compare_digest = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return compare_digest(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    authenticate(raw)
    authenticate(raw[:-2] + "zz")
    authenticate(raw.replace(raw.split("_")[1], "0123456789ab"))
    authenticate("spt_nothex______x_secret")
    assert calls == [(64, 64)] * 4


def test_it_writes_last_used_at_most_once_a_minute(org, django_assert_num_queries):
    token, raw = create_token(org, "CI", ["read"])
    authenticate(raw)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with django_assert_num_queries(2):  # the token and its organization, no write
        authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at == first
    AccessToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=2)


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "everything"]])
def test_it_refuses_unknown_or_no_scopes(org, scopes):
    with pytest.raises(InvalidScopes):
        create_token(org, "CI", scopes)
    assert not AccessToken.objects.exists()


def test_it_keeps_scopes_in_a_stable_order(org):
    token, _ = create_token(org, "CI", ["runtime-config", "read", "read"])
    assert token.scopes == ["read", "runtime-config"]


def tokens_url(org):
    return reverse("access_tokens", args=[org.slug])


def test_it_shows_a_new_token_once_and_lists_it_by_prefix(client, org_admin, org, caplog):
    client.force_login(org_admin)
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            tokens_url(org), {"name": "CI", "scopes": ["read", "builds"], "expires_in_days": "30"}
        )
    token = AccessToken.objects.get(organization=org)
    raw = response.context["created"]["secret"]
    assert authenticate(raw) == token
    assert raw.encode() in response.content
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    assert token.scopes == ["read", "builds"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert token.created_by == org_admin
    again = client.get(tokens_url(org))
    assert raw.encode() not in again.content
    assert f"{token.prefix}…".encode() in again.content
    assert raw not in caplog.text
    event = AuditEvent.objects.get(action="access_token.create")
    assert raw.split("_", 2)[2] not in repr(event.details) + event.target
    assert event.details["scopes"] == ["read", "builds"]


def test_it_creates_tokens_in_place_with_htmx(client, org_admin, org):
    client.force_login(org_admin)
    response = client.post(tokens_url(org), {"name": "CI", "scopes": ["read"]}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"shown only this once" in response.content
    assert AccessToken.objects.get().expires_at is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "CI"}, b"Choose at least one scope."),
        ({"name": "CI", "scopes": ["admin"]}, b"Choose among read, builds, sandboxes and runtime-config."),
        ({"name": "  ", "scopes": ["read"]}, b"Enter a name."),
        ({"name": "CI", "scopes": ["read"], "expires_in_days": "2"}, b"Choose never, 7, 30, 90 or 365 days."),
    ],
)
def test_it_rejects_bad_token_requests(client, org_admin, org, data, message):
    client.force_login(org_admin)
    response = client.post(tokens_url(org), data)
    assert message in response.content
    assert not AccessToken.objects.exists()


def test_it_revokes_a_token(client, org_admin, org):
    token, raw = create_token(org, "CI", ["read"])
    client.force_login(org_admin)
    client.post(reverse("access_token_revoke", args=[org.slug, token.pk]))
    assert authenticate(raw) is None
    assert AuditEvent.objects.get(action="access_token.revoke").details == {"prefix": token.prefix}
    assert client.get("/api/v1/org", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_it_keeps_tokens_from_members_and_read_only_for_support(client, org_member, support, org):
    token, _ = create_token(org, "CI", ["read"])
    client.force_login(org_member)
    assert client.get(tokens_url(org)).status_code == 403
    client.force_login(support)
    response = client.get(tokens_url(org))
    assert response.status_code == 200
    assert b"Create a token" not in response.content
    assert client.post(tokens_url(org), {"name": "x", "scopes": ["read"]}).status_code == 403
    assert client.post(reverse("access_token_revoke", args=[org.slug, token.pk])).status_code == 403
    assert AccessToken.objects.get().revoked_at is None


@covers("access_tokens", "access_token_revoke")
def test_it_hides_tokens_from_other_organizations(client, other_admin, org, other_org):
    token, raw = create_token(org, "CI", ["read"])
    client.force_login(other_admin)
    assert client.get(tokens_url(org)).status_code == 404
    assert client.post(tokens_url(org), {"name": "x", "scopes": ["read"]}).status_code == 404
    assert client.post(reverse("access_token_revoke", args=[org.slug, token.pk])).status_code == 404
    assert client.post(reverse("access_token_revoke", args=[other_org.slug, token.pk])).status_code == 404
    assert authenticate(raw) == token

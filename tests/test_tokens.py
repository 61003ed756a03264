import hmac
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal import tokens
from portal.models import AccessToken
from portal.tokens import InvalidScopes, authenticate, create_token


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
    with django_assert_num_queries(1):  # the lookup, no write
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

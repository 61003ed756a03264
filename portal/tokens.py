"""Access tokens: the portal's own API credentials.

A token reads `spt_<prefix>_<secret>`. The database keeps the prefix (indexed, unique,
shown in lists) and HMAC-SHA256(PORTAL_TOKEN_PEPPER, whole token), never the token.
"""

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection

from portal.models import AccessToken, AccessTokenScope, E2BApiKey, Organization

TOKEN_PREFIX = "spt"  # noqa: S105 (a marker, not a secret)
PREFIX_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200

# Compared against when the prefix is unknown, so that path costs the same as a wrong secret.
_UNKNOWN_HASH = "0" * 64


class InvalidScopes(ValueError):
    """A scope that is not one of AccessTokenScope."""


def hash_token(raw):
    return hmac.new(settings.PORTAL_TOKEN_PEPPER.encode(), raw.encode(), hashlib.sha256).hexdigest()


def _split(raw):
    """The lookup prefix of a well-formed token, else None."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[2]:
        return None
    prefix = parts[1]
    if len(prefix) != PREFIX_BYTES * 2 or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def clean_scopes(scopes):
    allowed = set(AccessTokenScope.values)
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        raise InvalidScopes(f"Unknown scope {unknown[0]!r}: use {', '.join(AccessTokenScope.values)}.")
    if not scopes:
        raise InvalidScopes("Choose at least one scope.")
    return [s for s in AccessTokenScope.values if s in scopes]


def create_token(organization, name, scopes, created_by=None, expires_at=None):
    """Returns (AccessToken, the token itself); the token is shown once and never stored."""
    scopes = clean_scopes(scopes)
    while True:
        prefix = secrets.token_hex(PREFIX_BYTES)
        if not AccessToken.objects.filter(prefix=prefix).exists():
            break
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    token = AccessToken.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        secret_hash=hash_token(raw),
        scopes=scopes,
        created_by=created_by,
        expires_at=expires_at,
    )
    return token, raw


def _first(raw_queryset):
    return next(iter(raw_queryset), None)


@functools.cache
def _lookup_sql():
    """The two queries of `_token_with_organization`. Table names come from the models;
    every value is a query parameter."""
    quote = connection.ops.quote_name
    tokens, orgs, keys = (quote(m._meta.db_table) for m in (AccessToken, Organization, E2BApiKey))
    token_sql = f"SELECT * FROM {tokens} WHERE prefix = %s"  # noqa: S608
    org_sql = (
        f"SELECT o.*, EXISTS (SELECT 1 FROM {keys} k WHERE k.organization_id = o.id"  # noqa: S608
        " AND k.is_active = %s AND k.revoked_at IS NULL) AS active_key_exists"
        f" FROM {orgs} o WHERE o.id = %s"
    )
    return token_sql, org_sql


def _token_with_organization(prefix):
    """The token with this prefix and its organization, which also learns whether it has
    an active E2B key (`active_key_exists`), in two indexed lookups.

    Every API request runs this: written as plain SQL because Django's compilation of the
    equivalent queries costs several times the queries themselves.
    """
    token_sql, org_sql = _lookup_sql()
    token = _first(AccessToken.objects.raw(token_sql, [prefix]))
    if token is None:
        return None
    token.organization = _first(Organization.objects.raw(org_sql, [True, token.organization_id]))
    return token


def authenticate(raw):
    """The usable AccessToken this raw token names, else None (unknown, wrong, revoked, expired)."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    prefix = _split(raw)
    token = _token_with_organization(prefix) if prefix is not None else None
    expected = token.secret_hash if token is not None else _UNKNOWN_HASH
    matches = hmac.compare_digest(hash_token(raw), expected)
    if token is None or not matches or not token.is_usable():
        return None
    token.touch()
    return token

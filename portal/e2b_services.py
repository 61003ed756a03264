"""Workflows of an organization's E2B connection: settings, API keys and the connection check."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from e2b import Sandbox

from portal import audit
from portal.crypto import SecretUnreadable, rotate
from portal.e2b import E2BError, NoActiveKey, Outcome, classify, connection_for
from portal.models import E2BApiKey, Organization

log = logging.getLogger(__name__)

SETTINGS_FIELDS = [
    "provider",
    "e2b_domain",
    "api_url",
    "sandbox_url",
    "template_alias",
    "template_cpu_count",
    "template_memory_mb",
]


class KeyRefused(Exception):
    """A key change that would leave the organization in a bad state."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def save_settings(request, organization, previous):
    """Saves the settings form's organization and audits which fields changed."""
    changes = {
        name: {"from": previous[name], "to": getattr(organization, name)}
        for name in SETTINGS_FIELDS
        if previous[name] != getattr(organization, name)
    }
    organization.save(update_fields=SETTINGS_FIELDS)
    if changes:
        audit.record(request, "e2b.settings_change", organization, target=organization.slug, details=changes)
    return changes


def settings_snapshot(organization):
    return {name: getattr(organization, name) for name in SETTINGS_FIELDS}


@transaction.atomic
def add_key(request, organization, label, secret):
    """Stores a new E2B key, encrypted; the organization's first usable key becomes active."""
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    has_active = organization.e2b_keys.active().exists()
    key = E2BApiKey(organization=organization, label=label, is_active=not has_active)
    key.created_by = request.user if request and request.user.is_authenticated else None
    key.set_secret(secret)
    key.save()
    audit.record(
        request, "e2b_key.add", organization, target=key.label, details={"key_id": key.pk, "active": key.is_active}
    )
    return key


@transaction.atomic
def activate_key(request, key):
    """Makes `key` the active one, in one transaction: never a moment without an active key."""
    keys = list(E2BApiKey.objects.select_for_update().filter(organization_id=key.organization_id))
    key = next(k for k in keys if k.pk == key.pk)
    if key.is_revoked:
        raise KeyRefused("A revoked key cannot be made active; add it again as a new key.")
    if key.is_active:
        return key
    previous = next((k for k in keys if k.is_active), None)
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active"])
    key.is_active = True
    key.save(update_fields=["is_active"])
    audit.record(
        request,
        "e2b_key.activate",
        key.organization,
        target=key.label,
        details={"key_id": key.pk, "previous_key_id": previous.pk if previous else None},
    )
    return key


@transaction.atomic
def revoke_key(request, key):
    key = E2BApiKey.objects.select_for_update().get(pk=key.pk)
    if key.is_active:
        raise KeyRefused("The active key cannot be revoked: make another key active first.")
    if key.is_revoked:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit.record(request, "e2b_key.revoke", key.organization, target=key.label, details={"key_id": key.pk})
    return key


def _under_first_key(ciphertext):
    try:
        Fernet(settings.PORTAL_ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode())
    except (InvalidToken, ValueError, IndexError):
        return False
    return True


@transaction.atomic
def reencrypt_keys():
    """Moves every stored E2B key under the first encryption key; all or nothing.

    Returns {"keys": read, "changed": re-encrypted}; running it again changes nothing.
    """
    counts = {"keys": 0, "changed": 0}
    for key in E2BApiKey.objects.select_for_update().order_by("pk"):
        counts["keys"] += 1
        if _under_first_key(key.ciphertext):
            continue
        key.ciphertext = rotate(key.ciphertext)
        key.save(update_fields=["ciphertext"])
        counts["changed"] += 1
    return counts


@dataclass(frozen=True)
class CheckResult:
    outcome: str
    message: str
    latency_ms: int | None = None

    @property
    def ok(self):
        return self.outcome == Outcome.OK


def _e2b_message(conn, response):
    """E2B's own error message, when the body is E2B's error shape. Any other body stays off
    the page: the URL may point at something that is not E2B."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return "."
    return f": {conn.scrub(message)[:200]}" if isinstance(message, str) and message else "."


def _probe(conn, deadline):
    """GET /health on the organization's API, then the key with a one-item sandbox list."""
    started = time.monotonic()
    client = conn.api_client(request_timeout=max(deadline - started, 0.1))
    response = client.get_httpx_client().get("/health")
    if response.status_code == 429:
        raise E2BError(Outcome.RATE_LIMITED, f"{conn.host} is rate limiting requests; try again shortly.", 429)
    if response.status_code >= 400:
        raise E2BError(
            Outcome.E2B_ERROR,
            f"{conn.host} answered /health with {response.status_code}{_e2b_message(conn, response)}",
            response.status_code,
        )
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    Sandbox.list(limit=1, **conn.sdk_kwargs(request_timeout=remaining)).next_items()
    return round((time.monotonic() - started) * 1000)


def _timed_out(conn):
    return CheckResult(Outcome.UNREACHABLE, f"{conn.host} did not answer within the check's time limit.")


def run_check(organization, timeout):
    """The check's result; it returns within `timeout` seconds even if E2B does not answer."""
    try:
        conn = connection_for(organization, request_timeout=timeout)
    except NoActiveKey as exc:
        return CheckResult(Outcome.NO_KEY, exc.message)
    deadline = time.monotonic() + timeout
    # The SDK's retries can outlast a request timeout, so the deadline is kept from outside.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e2b-check")
    future = pool.submit(_probe, conn, deadline)
    pool.shutdown(wait=False)
    try:
        latency_ms = future.result(timeout=timeout)
    except FutureTimeout:
        return _timed_out(conn)
    except Exception as exc:
        error = classify(exc, conn)
        if time.monotonic() >= deadline and error.outcome == Outcome.UNREACHABLE:
            return _timed_out(conn)
        message = error.message
        if error.outcome == Outcome.E2B_ERROR and error.status and str(error.status) not in message:
            message = f"{error.status}: {message}"
        return CheckResult(error.outcome, message[:500])
    return CheckResult(Outcome.OK, f"{conn.host} is healthy and accepts the key.", latency_ms)


def check_connection(request, organization, timeout=None):
    """Runs the connection check, stores its result on the organization and audits it.

    A stored key that cannot be decrypted raises SecretUnreadable: an operator error, not an
    outcome to store.
    """
    timeout = timeout or settings.E2B_CHECK_TIMEOUT
    try:
        result = run_check(organization, timeout)
    except SecretUnreadable:
        log.error("connection check of %s: the active E2B key cannot be decrypted", organization.slug)
        raise
    organization.last_check_outcome = result.outcome
    organization.last_check_latency_ms = result.latency_ms
    organization.last_check_message = result.message
    organization.last_check_at = timezone.now()
    organization.save(
        update_fields=["last_check_outcome", "last_check_latency_ms", "last_check_message", "last_check_at"]
    )
    if result.ok:
        organization.e2b_keys.active().update(last_used_at=organization.last_check_at)
    audit.record(
        request,
        "e2b.check",
        organization,
        target=organization.slug,
        details={"outcome": str(result.outcome), "latency_ms": result.latency_ms},
    )
    return result

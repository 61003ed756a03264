"""The one place an Organization becomes E2B SDK connection parameters, and SDK errors
become outcomes a person can act on. Every E2B call in the project goes through here.
"""

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import models
from e2b import ConnectionConfig
from e2b import exceptions as sdk
from e2b.api import handle_api_exception
from e2b.api.client_sync import get_api_client

from portal.crypto import SecretUnreadable

log = logging.getLogger(__name__)

E2B_CLOUD_DOMAIN = "e2b.app"


class Outcome(models.TextChoices):
    OK = "ok", "ok"
    UNREACHABLE = "unreachable", "unreachable"
    KEY_REJECTED = "key rejected", "key rejected"
    NOT_FOUND = "not found", "not found"
    RATE_LIMITED = "rate limited", "rate limited"
    E2B_ERROR = "E2B error", "E2B error"
    NO_KEY = "no key", "no key"
    KEY_UNREADABLE = "key unreadable", "key unreadable"


class E2BError(Exception):
    """An E2B call failed in a way a person can act on. Never carries a secret."""

    def __init__(self, outcome, message, status=None):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.status = status

    def __str__(self):
        return f"{self.outcome}: {self.message}"


class NoActiveKey(E2BError):
    def __init__(self, organization):
        super().__init__(
            Outcome.NO_KEY,
            f"{organization.name} has no active E2B API key: an org admin adds one under E2B settings.",
        )


class KeyUnreadable(E2BError, SecretUnreadable):
    """The active key cannot be decrypted: PORTAL_ENCRYPTION_KEYS lacks the key that encrypted it."""

    def __init__(self, organization):
        super().__init__(
            Outcome.KEY_UNREADABLE,
            f"The E2B key of {organization.name} cannot be decrypted: an operator must restore the "
            "encryption key that encrypted it to PORTAL_ENCRYPTION_KEYS.",
        )


@dataclass(frozen=True)
class E2BConnection:
    """What the SDK needs to reach one organization's E2B."""

    api_key: str = field(repr=False)
    domain: str
    api_url: str
    sandbox_url: str | None
    request_timeout: float

    @property
    def host(self):
        return urlsplit(self.api_url).hostname or self.api_url

    def sdk_kwargs(self, request_timeout=None):
        """Keyword arguments for `Sandbox.*` and `Template.*` calls."""
        kwargs = {
            "api_key": self.api_key,
            "domain": self.domain,
            "api_url": self.api_url,
            "request_timeout": request_timeout or self.request_timeout,
        }
        if self.sandbox_url:
            kwargs["sandbox_url"] = self.sandbox_url
        return kwargs

    def config(self, request_timeout=None):
        return ConnectionConfig(**self.sdk_kwargs(request_timeout))

    def api_client(self, request_timeout=None):
        """The SDK's generated API client, for endpoints its classes do not wrap."""
        return get_api_client(self.config(request_timeout))

    def scrub(self, text):
        """Text with this connection's key removed, for messages and logs."""
        text = str(text)
        return text.replace(self.api_key, "e2b_***") if self.api_key else text


def api_url_for(organization):
    if organization.api_url:
        return organization.api_url.rstrip("/")
    return f"https://api.{organization.e2b_domain or E2B_CLOUD_DOMAIN}"


def connection_for(organization, api_key=None, request_timeout=None):
    """SDK parameters for this organization, with its active key unless one is given."""
    if api_key is None:
        key = organization.e2b_keys.active().first()
        if key is None:
            raise NoActiveKey(organization)
        try:
            api_key = key.secret()
        except SecretUnreadable:
            raise KeyUnreadable(organization) from None
    return E2BConnection(
        api_key=api_key,
        domain=organization.e2b_domain or E2B_CLOUD_DOMAIN,
        api_url=api_url_for(organization),
        sandbox_url=organization.sandbox_url.rstrip("/") or None,
        request_timeout=request_timeout or settings.E2B_REQUEST_TIMEOUT,
    )


def _status_of(exc):
    status = getattr(exc, "status_code", None)
    if status is None:
        text = str(exc)
        head = text.split(":", 1)[0].strip()
        if head.isdigit():
            status = int(head)
    return status


def _transport_reason(exc, scrub):
    """The cause of a network failure in a few words, without the transport's stack of wrappers."""
    text = str(exc).lower()
    if "dns" in text or "name or service not known" in text or "name resolution" in text:
        return "the name does not resolve (DNS lookup failed)"
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "the connection timed out"
    if "certificate" in text or "tls" in text or "ssl" in text:
        return f"TLS failed ({scrub(exc)[:200]})"
    return scrub(exc)[:300] or type(exc).__name__


def classify(exc, connection=None):
    """The E2BError a person can act on, for any exception an SDK call raised."""
    if isinstance(exc, E2BError):
        return exc
    host = connection.host if connection else "E2B"
    scrub = connection.scrub if connection else str
    if isinstance(exc, sdk.AuthenticationException):
        return E2BError(Outcome.KEY_REJECTED, f"{host} rejected the E2B API key.", 401)
    if isinstance(exc, sdk.RateLimitException):
        return E2BError(Outcome.RATE_LIMITED, f"{host} is rate limiting requests; try again shortly.", 429)
    if isinstance(exc, sdk.NotFoundException):
        return E2BError(Outcome.NOT_FOUND, scrub(exc) or "Not found.", 404)
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)) or (
        isinstance(exc, sdk.TimeoutException) and _status_of(exc) is None
    ):
        return E2BError(Outcome.UNREACHABLE, f"{host} did not answer in time.")
    if isinstance(exc, (httpx.TransportError, ConnectionError, OSError)):
        return E2BError(Outcome.UNREACHABLE, f"Cannot reach {host}: {_transport_reason(exc, scrub)}.")
    if isinstance(exc, sdk.ServiceBusyException):
        return E2BError(Outcome.E2B_ERROR, f"{host} is busy (503); try again shortly.", 503)
    status = _status_of(exc)
    if status == 404:
        return E2BError(Outcome.NOT_FOUND, scrub(exc), 404)
    message = scrub(exc) or type(exc).__name__
    return E2BError(Outcome.E2B_ERROR, message, status)


def parsed(response, not_found=None):
    """The parsed body of a response of the SDK's generated client; an error status raises
    the SDK's own exception (an E2BError once `translated_errors` sees it), or NOT_FOUND
    with the `not_found` message on a 404 when one is given."""
    if response.status_code == 404 and not_found:
        raise E2BError(Outcome.NOT_FOUND, not_found, 404)
    if response.status_code >= 300:
        raise handle_api_exception(response)
    return response.parsed


@contextmanager
def translated_errors(connection=None):
    """Turn any SDK or network error raised inside into an E2BError."""
    try:
        yield
    except E2BError:
        raise
    except Exception as exc:
        error = classify(exc, connection)
        log.info("E2B call failed: %s", error)
        raise error from None

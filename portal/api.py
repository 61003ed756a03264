"""The portal's JSON API at /api/v1/, authenticated with access tokens.

`request.auth` is the AccessToken, `request.auth.organization` the tenant. Every error
answers `{"error": {"code": "...", "message": "..."}}`.
"""

import logging
from datetime import datetime

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, JsonResponse
from django.utils import timezone
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.security import HttpBearer

from portal import audit, tokens
from portal.access import public
from portal.crypto import SecretUnreadable
from portal.e2b import E2BError, Outcome
from portal.health import database_reachable
from portal.models import AccessTokenScope, E2BApiKey

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An API failure with its HTTP status and stable code."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <access token>`; the token is never logged."""

    def __call__(self, request):
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, raw.strip())

    def authenticate(self, request, token):
        access_token = tokens.authenticate(token)
        if access_token is not None:
            # The token is the actor of an API request, never a browser session riding along.
            request.user = AnonymousUser()
        return access_token


api = NinjaAPI(
    title="Sandbox Portal API",
    version="1.0.0",
    description="Bearer access tokens created by org admins under Access tokens.",
    auth=TokenAuth(),
)


def require_scope(request, scope):
    """Refuses (403) a request whose token lacks `scope`."""
    if not request.auth.has_scope(scope):
        raise ApiError(403, "forbidden", f"This token lacks the {str(scope)!r} scope.")


def error_response(status, code, message, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


# HTTP status of each E2B outcome: our upstream failed (502) or is out of reach (503).
E2B_STATUS = {
    Outcome.NOT_FOUND: 404,
    Outcome.KEY_REJECTED: 502,
    Outcome.E2B_ERROR: 502,
    Outcome.UNREACHABLE: 503,
    Outcome.RATE_LIMITED: 503,
    Outcome.NO_KEY: 503,
    Outcome.KEY_UNREADABLE: 503,
}


def e2b_error_code(outcome):
    """`key rejected` -> `key_rejected`, `E2B error` -> `e2b_error`."""
    return str(outcome).lower().replace(" ", "_")


@api.exception_handler(ApiError)
def _api_error(request, exc):
    return error_response(exc.status, exc.code, exc.message)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return error_response(401, "unauthorized", "A valid access token is required: Authorization: Bearer <token>.")


@api.exception_handler(AuthorizationError)
def _forbidden(request, exc):
    return error_response(403, "forbidden", exc.message)


@api.exception_handler(HttpError)
def _http_error(request, exc):
    code = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "error"
    )
    return error_response(exc.status_code, code, exc.message)


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    details = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors
    ]
    return error_response(422, "invalid_request", "The request is not valid.", details=details)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(404, "not_found", "Not found.")


@api.exception_handler(E2BError)
def _e2b_error(request, exc):
    status = E2B_STATUS.get(exc.outcome, 502)
    return error_response(status, e2b_error_code(exc.outcome), exc.message)


@api.exception_handler(SecretUnreadable)
def _secret_unreadable(request, exc):
    log.error("API: %s", exc)
    return error_response(
        503, "secret_unreadable", "The stored E2B key cannot be decrypted; an operator must fix the encryption keys."
    )


class ApiMethodNotAllowedMiddleware:
    """ninja answers a method a route lacks with a plain-text 405; API clients get the API's error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if response.status_code == 405 and match is not None and api.urls_namespace in match.namespaces:
            allowed = response.get("Allow", "")
            response = error_response(405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}.")
            response["Allow"] = allowed
        return response


@public
def not_found(request, rest=""):
    """Any other path under /api/v1/."""
    return error_response(404, "not_found", "No such API route.")


class LastCheck(Schema):
    outcome: str
    latency_ms: int | None
    message: str
    at: datetime | None


class OrganizationOut(Schema):
    name: str
    slug: str
    provider: str
    e2b_domain: str
    api_url: str
    sandbox_url: str
    template_alias: str
    e2b_template: str
    template_cpu_count: int
    template_memory_mb: int
    has_active_key: bool
    last_check: LastCheck


class RuntimeConfigOut(Schema):
    DEFAULT_SANDBOX_PROVIDER: str
    E2B_DOMAIN: str
    E2B_TEMPLATE: str
    E2B_API_URL: str | None = None
    E2B_SANDBOX_URL: str | None = None
    E2B_API_KEY: str | None = None


class HealthOut(Schema):
    status: str
    database: str


@api.get("/health", auth=None, response={200: HealthOut, 503: HealthOut}, tags=["health"], summary="Liveness")
def get_health(request):
    """For monitors that speak the API: no token needed; 503 when the database is out of reach."""
    if database_reachable():
        return Status(200, {"status": "ok", "database": "ok"})
    return Status(503, {"status": "error", "database": "unreachable"})


@api.get("/org", response=OrganizationOut, tags=["organization"], summary="This token's organization")
def get_org(request):
    require_scope(request, AccessTokenScope.READ)
    org = request.auth.organization
    return {
        "name": org.name,
        "slug": org.slug,
        "provider": org.provider,
        "e2b_domain": org.e2b_domain,
        "api_url": org.api_url,
        "sandbox_url": org.sandbox_url,
        "template_alias": org.template_alias,
        "e2b_template": org.e2b_template,
        "template_cpu_count": org.template_cpu_count,
        "template_memory_mb": org.template_memory_mb,
        "has_active_key": bool(org.active_key_exists),  # looked up with the token
        "last_check": {
            "outcome": org.last_check_outcome,
            "latency_ms": org.last_check_latency_ms,
            "message": org.last_check_message,
            "at": org.last_check_at,
        },
    }


@api.get(
    "/runtime-config",
    response=RuntimeConfigOut,
    exclude_unset=True,
    tags=["organization"],
    summary="The sandbox runtime's environment variables",
    description="E2B_API_KEY is included only for tokens with the runtime-config scope; each such read is audited.",
)
def get_runtime_config(request):
    token = request.auth
    with_key = token.has_scope(AccessTokenScope.RUNTIME_CONFIG)
    if not with_key:
        require_scope(request, AccessTokenScope.READ)
    org = token.organization
    config = {
        "DEFAULT_SANDBOX_PROVIDER": org.provider,
        "E2B_DOMAIN": org.e2b_domain,
        "E2B_TEMPLATE": org.e2b_template,
    }
    if org.api_url:
        config["E2B_API_URL"] = org.api_url
    if org.sandbox_url:
        config["E2B_SANDBOX_URL"] = org.sandbox_url
    if with_key:
        key = org.e2b_keys.active().first()
        config["E2B_API_KEY"] = key.secret() if key is not None else None
        if key is not None:
            E2BApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        audit.record(
            request,
            "runtime_config.read_key",
            org,
            target=f"token {token.prefix}",
            details={"key_id": key.pk if key else None, "key_label": key.label if key else None},
            token=token,
        )
    return config


api.add_router("/builds", "templates_app.api.router")
api.add_router("/sandboxes", "sandboxes.api.router")

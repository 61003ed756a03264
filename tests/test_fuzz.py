"""Every form post, every page's query parameters and every API route, fed odd input by
Hypothesis: no input gives a 500, and an API error always has the API's shape.

Organizations point at e2b_local (each test's Acme has a team of its own), so the pages that
talk to E2B do so for real. The few examples per test keep the file fast; a 500 that one
finds stays here as an @example.
"""

import json
import os
from urllib.parse import quote

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.models import AccessTokenScope, E2BApiKey, Membership
from portal.tokens import create_token
from sandboxes import services as sandbox_services
from sandboxes.services import Check
from templates_app import services as build_services
from templates_app.models import TemplateBuild
from tests.test_sandbox_fixtures import *  # noqa: F403

FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    # In CI the same inputs every run, so a red run is one anybody can reproduce;
    # elsewhere each run explores new ones.
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=8)

HTMX = {"HX-Request": "true"}

ODD = [
    "", " ", "\t\n\r", "\x00", "a\x00b", "\x7f\x1b[31m", "\u202eevil", "🙂", "ß", "İ", "\ufeff",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
    "' OR '1'='1' --", "'; DROP TABLE portal_organization; --", "%", "%00", "%2F..%2F", "../../etc/passwd",
    "{{ 7|add:7 }}", "{% debug %}", "${jndi:ldap://x}", "-1", "0", "1", "2147483648", "-9223372036854775809",
    "99999999999999999999999", "1e309", "NaN", "true", "null", "[]", "{}", "x" * 5000, "é" * 3000,
    "²", "١٢", "\uff11\uff12", "running", "paused", "env=dev", "a=b,c", "=", "info", "debug", "warn", "error", "5m", "6h",
]

text = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=40),
    st.text(max_size=300),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
big_int = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 59, 60, 86400, 86401, 2**31, 2**63, -(2**63) - 1]),
)
json_value = st.recursive(
    st.none() | st.booleans() | big_int | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


def form(**fields):
    """Form data with any of these fields (each maybe missing, repeated or odd) and extra ones."""
    values = {name: st.one_of(strategy, text, st.lists(text, max_size=3)) for name, strategy in fields.items()}
    values |= {"extra": text, "csrfmiddlewaretoken": text, "_method": st.sampled_from(["DELETE", "PUT"])}
    return st.fixed_dictionaries({}, optional=values)


def query(**fields):
    """Query parameters: any of these (each maybe missing or odd) and extra ones."""
    values = {name: st.one_of(strategy, text) for name, strategy in fields.items()}
    values |= {"extra": text}
    return st.fixed_dictionaries({}, optional=values)


def path_id():
    """An ID as it may arrive in a path: odd characters quoted, a slash included."""
    return st.one_of(st.sampled_from(ODD), st.text(min_size=1, max_size=60)).filter(bool).map(lambda v: quote(v, safe=""))


def ok_page(response):
    assert response.status_code < 500, response.content[:500]


def ok_api(response):
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str), body


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch):
    monkeypatch.setattr(sandbox_services, "DIAGNOSTIC_CHECKS", (Check("Echo", "echo ready", 5),))


@pytest.fixture
def admin(client, acme, org_admin):
    client.force_login(org_admin)
    return client


@pytest.fixture
def sandbox(acme, make_sandbox):
    return make_sandbox(acme, timeout=300)


@pytest.fixture
def api(acme):
    _, raw = create_token(acme, "fuzz", AccessTokenScope.values)
    return {"Authorization": f"Bearer {raw}"}


# Members and organizations


@FUZZ
@given(data=form(email=st.emails(), role=st.sampled_from(["admin", "member"])), htmx=st.booleans())
def test_it_survives_any_member_to_add(admin, acme, data, htmx):
    ok_page(admin.post(reverse("members", args=[acme.slug]), data, headers=HTMX if htmx else {}))


@FUZZ
@given(data=form(role=st.sampled_from(["admin", "member"])), which=st.sampled_from(["role", "remove"]), htmx=st.booleans())
def test_it_survives_any_role_change_or_removal(admin, acme, org_member, data, which, htmx):
    membership = Membership.objects.filter(organization=acme).order_by("-pk").first()
    url = reverse(f"member_{which}", args=[acme.slug, membership.pk])
    ok_page(admin.post(url, data, headers=HTMX if htmx else {}))


@FUZZ
@given(
    number=st.integers(min_value=10**6, max_value=10**30),
    which=st.sampled_from(["member_role", "member_remove", "e2b_key_activate", "access_token_revoke", "build_cancel"]),
)
def test_it_answers_an_unknown_or_huge_id_with_404(admin, acme, number, which):
    url = reverse(which, args=[acme.slug, 1]).replace("/1/", f"/{number}/")
    assert admin.post(url, {"role": "admin"}).status_code == 404


@FUZZ
@given(data=form(name=text, slug=st.from_regex(r"[a-z0-9-]{1,60}", fullmatch=True), admin_email=st.emails()))
def test_it_survives_any_new_organization(client, platform_admin, data):
    client.force_login(platform_admin)
    ok_page(client.post(reverse("platform_orgs"), data))


@FEW
@given(data=form(username=st.emails(), password=text))
def test_it_survives_any_login(client, org_admin, data):
    ok_page(client.post(reverse("login"), data))


@FEW
@given(data=form(old_password=text, new_password1=text, new_password2=text))
def test_it_survives_any_password_change(admin, data):
    ok_page(admin.post(reverse("password_change"), data))


# E2B settings, keys, tokens, the connection check


@FUZZ
@given(
    data=form(
        provider=st.sampled_from(["e2b", "modal"]),
        e2b_domain=st.sampled_from(["e2b.company.com", "E2B.Example.COM."]),
        api_url=st.sampled_from(["http://127.0.0.1:1", "https://api.x.example/", "ftp://x"]),
        sandbox_url=st.sampled_from(["http://127.0.0.1:1"]),
        template_alias=st.from_regex(r"[a-z0-9_-]{1,40}", fullmatch=True),
        template_cpu_count=big_int,
        template_memory_mb=big_int,
    ),
    htmx=st.booleans(),
)
def test_it_survives_any_e2b_settings(admin, acme, data, htmx):
    ok_page(admin.post(reverse("e2b_settings", args=[acme.slug]), data, headers=HTMX if htmx else {}))


@FUZZ
@given(data=form(label=text, key=st.from_regex(r"e2b_[0-9a-f]{40}", fullmatch=True)), htmx=st.booleans())
def test_it_survives_any_key_to_add_and_never_echoes_it(admin, acme, data, htmx):
    response = admin.post(reverse("e2b_keys", args=[acme.slug]), data, headers=HTMX if htmx else {})
    ok_page(response)
    key = data.get("key")
    if isinstance(key, str) and key.startswith("e2b_") and len(key) == 44:
        assert key not in response.content.decode()


@FEW
@given(which=st.sampled_from(["e2b_key_activate", "e2b_key_revoke"]), data=form(), htmx=st.booleans())
def test_it_survives_any_key_activation_or_revocation(admin, acme, which, data, htmx):
    spare = E2BApiKey(organization=acme, label="spare")
    spare.set_secret("e2b_" + "2" * 40)
    spare.save()
    for key in acme.e2b_keys.all():
        ok_page(admin.post(reverse(which, args=[acme.slug, key.pk]), data, headers=HTMX if htmx else {}))


@FUZZ
@given(
    data=form(
        name=text,
        scopes=st.lists(st.sampled_from(AccessTokenScope.values), max_size=4),
        expires_in_days=st.sampled_from(["", "7", "30", "90", "365"]),
    ),
    htmx=st.booleans(),
)
def test_it_survives_any_token_to_create(admin, acme, data, htmx):
    ok_page(admin.post(reverse("access_tokens", args=[acme.slug]), data, headers=HTMX if htmx else {}))


@FEW
@given(data=form(), htmx=st.booleans())
def test_it_survives_any_token_revocation(admin, acme, data, htmx):
    token, _ = create_token(acme, "to revoke", ["read"])
    for _ in range(2):
        ok_page(admin.post(reverse("access_token_revoke", args=[acme.slug, token.pk]), data, headers=HTMX if htmx else {}))


@FEW
@given(data=form(next=st.sampled_from(["settings", "home"])), htmx=st.booleans())
def test_it_survives_any_connection_check(admin, acme, data, htmx):
    ok_page(admin.post(reverse("e2b_check", args=[acme.slug]), data, headers=HTMX if htmx else {}))


# Builds and templates


@FEW
@given(data=form(skip_cache=st.sampled_from(["on", "true", "1", "off"])), cancel=st.booleans())
def test_it_survives_any_build_start_and_cancel(admin, acme, data, cancel):
    response = admin.post(reverse("build_start", args=[acme.slug]), data)
    ok_page(response)
    build = TemplateBuild.objects.filter(organization=acme).latest("pk")
    if cancel:
        ok_page(admin.post(reverse("build_cancel", args=[acme.slug, build.pk]), data))


@FUZZ
@given(params=query(after=big_int.map(str), level=st.sampled_from(["", "info", "warn", "error", "debug"])), htmx=st.booleans())
def test_it_survives_any_build_page_query(admin, acme, org_admin, params, htmx):
    build = TemplateBuild.objects.filter(organization=acme).first()
    if build is None:
        build, _ = build_services.start_build(acme, user=org_admin, enqueue=False)
    ok_page(admin.get(reverse("build_detail", args=[acme.slug, build.pk]), params, headers=HTMX if htmx else {}))
    ok_page(admin.get(reverse("build_list", args=[acme.slug]), params | {"page": params.get("after", "")}))


@FEW
@given(template_id=path_id(), data=form(), method=st.sampled_from(["get", "post"]))
def test_it_survives_any_template_to_delete(admin, acme, template_id, data, method):
    url = f"/orgs/{acme.slug}/templates/{template_id}/delete/"
    ok_page(getattr(admin, method)(url, data))


# Sandboxes


@FUZZ
@given(
    params=query(
        state=st.sampled_from(["running", "paused", ""]),
        metadata=st.sampled_from(["env=dev", "a=b c=d", "a", "=x"]),
        template=st.sampled_from(["base", ""]),
        next=text,
        live=st.sampled_from(["0", "1"]),
    ),
    htmx=st.booleans(),
)
def test_it_survives_any_sandbox_list_query(admin, acme, params, htmx):
    ok_page(admin.get(reverse("sandbox_list", args=[acme.slug]), params, headers=HTMX if htmx else {}))


@FUZZ
@given(
    params=query(
        range=st.sampled_from(list(sandbox_services.METRIC_RANGES)),
        level=st.sampled_from(sandbox_services.LOG_LEVELS),
        search=text,
        cursor=big_int.map(str),
    ),
    target=st.sampled_from([None, "metrics", "logs", "sandbox-summary", "other"]),
)
@example(params={"cursor": "²"}, target="logs")  # str.isdigit() says yes, int() says no
def test_it_survives_any_sandbox_detail_query(admin, acme, sandbox, params, target):
    headers = HTMX | {"HX-Target": target} if target else {}
    ok_page(admin.get(reverse("sandbox_detail", args=[acme.slug, sandbox.sandbox_id]), params, headers=headers))


@FUZZ
@given(data=form(timeout=big_int.map(str)), htmx=st.booleans())
def test_it_survives_any_timeout(admin, acme, sandbox, data, htmx):
    url = reverse("sandbox_action", args=[acme.slug, sandbox.sandbox_id, "timeout"])
    ok_page(admin.post(url, data, headers=HTMX if htmx else {}))


@FUZZ
@given(
    sandbox_id=path_id(),
    action=st.one_of(st.sampled_from([*sandbox_services.ACTIONS, "diagnostics"]), path_id()),
    data=form(timeout=big_int.map(str)),
    method=st.sampled_from(["get", "post"]),
)
def test_it_survives_any_sandbox_id_and_action(admin, acme, sandbox_id, action, data, method):
    request = getattr(admin, method)
    ok_page(request(f"/orgs/{acme.slug}/sandboxes/{sandbox_id}/", headers=HTMX))
    ok_page(request(f"/orgs/{acme.slug}/sandboxes/{sandbox_id}/{action}/", data))


@FEW
@given(data=form(), htmx=st.booleans())
def test_it_survives_any_diagnostics_post(admin, acme, sandbox, data, htmx):
    url = reverse("sandbox_diagnostics", args=[acme.slug, sandbox.sandbox_id])
    ok_page(admin.post(url, data, headers=HTMX if htmx else {}))


@settings(FUZZ, max_examples=4)
@given(data=form(template=text), htmx=st.booleans())
def test_it_survives_any_smoke_test_post(admin, acme, data, htmx):
    ok_page(admin.post(reverse("smoke_test", args=[acme.slug]), data, headers=HTMX if htmx else {}))


# Audit and platform pages


@FUZZ
@given(params=query(action=text, actor=text, page=big_int.map(str)), htmx=st.booleans())
def test_it_survives_any_audit_query(admin, acme, params, htmx):
    ok_page(admin.get(reverse("org_audit", args=[acme.slug]), params, headers=HTMX if htmx else {}))


@FUZZ
@given(
    params=query(
        action=text, actor=text, page=big_int.map(str), q=text,
        status=st.sampled_from(["ready", "error", ""]), org=text,
    ),
)
def test_it_survives_any_platform_page_query(client, platform_admin, acme, params):
    client.force_login(platform_admin)
    for name in ("platform_audit", "platform_builds", "platform_sandboxes", "platform_orgs", "org_list"):
        ok_page(client.get(reverse(name), params))


# The API


def api_post(client, url, body, headers):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=headers)


raw_body = st.one_of(json_value, st.binary(max_size=60), st.sampled_from([b"", b"{", b"\x00", b"null"]))


@FUZZ
@given(body=st.one_of(raw_body, st.fixed_dictionaries({}, optional={"skip_cache": json_value, "extra": json_value})))
def test_it_survives_any_build_api_body(client, acme, api, body):
    ok_api(api_post(client, "/api/v1/builds", body, api))


@FUZZ
@given(
    build_id=st.one_of(path_id(), big_int.map(str)),
    params=query(after=big_int.map(str), level=st.sampled_from(["info", "warn", "x"]), limit=big_int.map(str)),
)
def test_it_survives_any_build_api_path_and_query(client, acme, org_admin, api, build_id, params):
    build = TemplateBuild.objects.filter(organization=acme).first()
    if build is None:
        build, _ = build_services.start_build(acme, user=org_admin, enqueue=False)
    ok_api(client.get(f"/api/v1/builds/{build.pk}/logs", params, headers=api))
    ok_api(client.get(f"/api/v1/builds/{build_id}", params, headers=api))
    ok_api(client.get(f"/api/v1/builds/{build_id}/logs", params, headers=api))


@FUZZ
@given(
    params=query(
        state=st.sampled_from(["running", "paused", "killed"]),
        metadata=st.sampled_from(["env=dev", "a", "a=b,c=d"]),
        template=text,
        next_token=text,
        limit=big_int.map(str),
    )
)
@example(params={"next_token": " "})  # E2B's 400 for a token it never issued was a 502
def test_it_survives_any_sandbox_api_list_query(client, acme, api, params):
    ok_api(client.get("/api/v1/sandboxes", params, headers=api))


@FUZZ
@given(body=st.one_of(raw_body, st.fixed_dictionaries({}, optional={"timeout": json_value, "extra": json_value})))
def test_it_survives_any_sandbox_api_timeout_body(client, acme, api, sandbox, body):
    ok_api(api_post(client, f"/api/v1/sandboxes/{sandbox.sandbox_id}/timeout", body, api))


@FUZZ
@given(
    sandbox_id=path_id(),
    action=st.one_of(st.sampled_from(["", "pause", "resume", "kill", "timeout"]), path_id()),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    body=raw_body,
)
# An ID the SDK cannot put in a URL was a 502; a method the route lacks answered plain text.
@example(sandbox_id="%09%0A%0D", action="", method="GET", body=b"")
@example(sandbox_id="%20", action="", method="POST", body=b"")
def test_it_survives_any_sandbox_api_path(client, acme, api, sandbox_id, action, method, body):
    url = f"/api/v1/sandboxes/{sandbox_id}" + (f"/{action}" if action else "")
    data = body if isinstance(body, bytes) else json.dumps(body)
    ok_api(client.generic(method, url, data, content_type="application/json", headers=api))


@FEW
@given(header=st.one_of(text, st.sampled_from(["Bearer", "Bearer ", "bearer x", "Basic abc", "Bearer \x00"])))
def test_it_survives_any_authorization_header(client, acme, header):
    try:
        response = client.get("/api/v1/org", headers={"Authorization": header})
    except (UnicodeEncodeError, ValueError):
        return  # a header the HTTP stack could not have carried
    ok_api(response)

"""The portal under gunicorn (4 workers) with wrk on loopback for 20 s: the sandbox list
API and an organization page at once, 200 connections in all.

Prints `load_p99_ms` (the worse p99 of the two) and `load_rps` (both together).
"""

import tempfile
from pathlib import Path

SECONDS = 20
CONNECTIONS_EACH = 100


def run():
    from django.test import Client
    from e2b import Sandbox

    from e2b_local.testing import LocalE2B
    from portal.models import E2BApiKey, Membership, Organization, Role, User
    from portal.tokens import create_token
    from tests.servers import Gunicorn, parse_wrk, wrk

    with LocalE2B(teams=1) as e2b, tempfile.TemporaryDirectory() as static:
        org = Organization.objects.create(
            name="Load", slug="load", provider="e2b", api_url=e2b.url, sandbox_url=e2b.url
        )
        key = E2BApiKey(organization=org, label="load", is_active=True)
        key.set_secret(e2b.api_key)
        key.save()
        user = User.objects.create_user(email="load@example.com", password="load-bench-password")
        Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
        _, token = create_token(org, "load", ["read", "sandboxes"], created_by=user)
        client = Client()
        client.force_login(user)
        session = client.cookies["sessionid"].value
        for _ in range(5):
            Sandbox.create("base", timeout=600, **e2b.sdk_kwargs())

        with Gunicorn(Path(static), workers=4) as server:
            api = wrk(f"{server.url}/api/v1/sandboxes", SECONDS, CONNECTIONS_EACH, [f"Authorization: Bearer {token}"])
            page = wrk(f"{server.url}/orgs/{org.slug}/", SECONDS, CONNECTIONS_EACH, [f"Cookie: sessionid={session}"])
            results = [parse_wrk(p.communicate(timeout=SECONDS + 60)[0]) for p in (api, page)]
    errors = sum(r["non_2xx"] + r["socket_errors"] for r in results)
    if errors:
        raise RuntimeError(f"{errors} failed requests under load: {results}")
    return {
        "load_p99_ms": max(r["p99_ms"] for r in results),
        "load_rps": sum(r["rps"] for r in results),
    }

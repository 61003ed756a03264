"""The portal under gunicorn (4 workers) and a bounded load from wrk on loopback."""

import pytest

from portal.models import E2BApiKey
from portal.tokens import create_token
from tests.servers import Gunicorn, parse_wrk, wrk

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 20
CONNECTIONS_EACH = 100  # two generators at once: 200 concurrent connections


@pytest.fixture
def loaded_org(org, org_admin, e2b, client):
    from e2b import Sandbox

    org.api_url = org.sandbox_url = e2b.url
    org.provider = "e2b"
    org.save()
    key = E2BApiKey(organization=org, label="load", is_active=True)
    key.set_secret(e2b.api_key)
    key.save()
    sandboxes = [Sandbox.create("base", timeout=300, metadata={"load": "yes"}, **e2b.sdk_kwargs()) for _ in range(5)]
    _, secret = create_token(org, "load", ["read", "sandboxes"], created_by=org_admin)
    client.force_login(org_admin)
    yield org, secret, client.cookies["sessionid"].value
    for sandbox in sandboxes:
        sandbox.kill()


def test_it_serves_the_sandbox_api_and_an_organization_page_under_load(loaded_org, tmp_path):
    org, token, session = loaded_org
    with Gunicorn(tmp_path / "static", workers=4) as server:
        api = wrk(
            f"{server.url}/api/v1/sandboxes",
            SECONDS,
            CONNECTIONS_EACH,
            headers=[f"Authorization: Bearer {token}"],
        )
        page = wrk(f"{server.url}/orgs/{org.slug}/", SECONDS, CONNECTIONS_EACH, headers=[f"Cookie: sessionid={session}"])
        results = {}
        for name, process in (("api", api), ("page", page)):
            output, _ = process.communicate(timeout=SECONDS + 60)
            assert process.returncode == 0, output
            results[name] = parse_wrk(output)
    for name, result in results.items():
        assert result["requests"] > 100, (name, result)
        assert result["non_2xx"] == 0, (name, result)
        assert result["socket_errors"] == 0, (name, result)

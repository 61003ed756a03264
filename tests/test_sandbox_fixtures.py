"""Fixtures for the sandbox tests: organizations on e2b_local, each with a team of its own
so that sandboxes other tests leave on the shared server never show up."""

import pytest
from e2b import Sandbox

from portal.models import E2BApiKey, Provider

__all__ = ["acme", "globex", "make_sandbox", "point_at_e2b"]


def point_at_e2b(org, e2b, api_key):
    org.provider = Provider.E2B
    org.api_url = org.sandbox_url = e2b.url
    org.runtime_template = "base"
    org.save()
    key = E2BApiKey(organization=org, label="team key", is_active=True)
    key.set_secret(api_key)
    key.save()
    org.team_key = api_key
    return org


@pytest.fixture
def acme(org, e2b):
    return point_at_e2b(org, e2b, e2b.add_team())


@pytest.fixture
def globex(other_org, e2b):
    return point_at_e2b(other_org, e2b, e2b.add_team())


@pytest.fixture
def make_sandbox(e2b):
    created = []

    def make(org, timeout=120, **options):
        sandbox = Sandbox.create("base", timeout=timeout, **e2b.sdk_kwargs(org.team_key), **options)
        created.append((sandbox.sandbox_id, org.team_key))
        return sandbox

    yield make
    for sandbox_id, key in created:
        Sandbox.kill(sandbox_id, **e2b.sdk_kwargs(key))

import time

import pytest
from django.urls import reverse

from portal.models import AuditEvent, Organization
from sandboxes import services
from sandboxes.models import SandboxRecord
from tests.test_sandbox_fixtures import *  # noqa: F403

URL = "/platform/sandboxes/"


@pytest.fixture
def slow_org(db, e2b):
    org = Organization.objects.create(name="Slowpoke", slug="slowpoke")
    key = e2b.add_team(team="slowpoke-team")
    point_at_e2b(org, e2b, key)  # noqa: F405
    e2b.set_fault("/v2/sandboxes", latency=3, team="slowpoke-team")
    return org


@pytest.fixture
def broken_org(db, e2b):
    org = Organization.objects.create(name="Brokenco", slug="brokenco")
    return point_at_e2b(org, e2b, "e2b_" + "f" * 40)  # noqa: F405


def test_it_lists_every_organizations_sandboxes(client, platform_admin, acme, globex, make_sandbox):
    ours = make_sandbox(acme)
    theirs = make_sandbox(globex)
    client.force_login(platform_admin)
    body = client.get(URL).content.decode()
    assert ours.sandbox_id in body and theirs.sandbox_id in body
    assert reverse("sandbox_detail", args=[globex.slug, theirs.sandbox_id]) in body
    assert SandboxRecord.objects.filter(organization=globex, sandbox_id=theirs.sandbox_id).exists()


def test_it_shows_a_slow_or_broken_organization_as_an_error_in_its_row(
    client, support, acme, slow_org, broken_org, make_sandbox, settings
):
    settings.SANDBOX_FANOUT_TIMEOUT = 0.5
    ours = make_sandbox(acme)
    client.force_login(support)
    started = time.monotonic()
    body = client.get(URL).content.decode()
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert ours.sandbox_id in body
    slow_row = body.split('id="org-slowpoke"')[1].split("</tr>")[0]
    assert "unreachable" in slow_row and "did not answer" in slow_row
    broken_row = body.split('id="org-brokenco"')[1].split("</tr>")[0]
    assert "key rejected" in broken_row
    assert "f" * 40 not in body


def test_it_bounds_concurrency(client, platform_admin, e2b, settings):
    settings.SANDBOX_FANOUT_CONCURRENCY = 2
    team = "bounded-team"
    for number in range(4):
        org = Organization.objects.create(name=f"Bounded {number}", slug=f"bounded-{number}")
        point_at_e2b(org, e2b, e2b.add_team(team=team))  # noqa: F405
    e2b.set_fault("/v2/sandboxes", latency=0.3, team=team)
    client.force_login(platform_admin)
    started = time.monotonic()
    body = client.get(URL).content.decode()
    elapsed = time.monotonic() - started
    assert body.count("0 listed") == 4
    assert 0.6 <= elapsed < 2


def test_it_audits_a_staff_visit_to_each_organization_shown(client, support, acme, globex):
    client.force_login(support)
    client.get(URL)
    events = AuditEvent.objects.filter(action="staff.view", actor_user=support)
    assert {e.organization for e in events} == {acme, globex}
    assert all(e.details["page"] == "all sandboxes" for e in events)


def test_it_is_for_platform_staff_only(client, org_admin, acme):
    client.force_login(org_admin)
    assert client.get(URL).status_code == 404


def test_it_finds_a_sandbox_by_its_record(client, support, acme, globex, make_sandbox):
    sandbox = make_sandbox(globex)
    services.list_sandboxes(globex)  # any list fetch writes the record
    client.force_login(support)
    response = client.get(URL, {"q": sandbox.sandbox_id})
    assert response.status_code == 302
    assert response["Location"] == reverse("sandbox_detail", args=[globex.slug, sandbox.sandbox_id])


def test_it_finds_a_sandbox_no_record_knows_live(client, support, acme, globex, make_sandbox):
    sandbox = make_sandbox(globex)
    assert not SandboxRecord.objects.exists()
    client.force_login(support)
    response = client.get(URL, {"q": sandbox.sandbox_id}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("sandbox_detail", args=[globex.slug, sandbox.sandbox_id])
    assert sandbox.sandbox_id in response.content.decode()
    assert SandboxRecord.objects.get().organization == globex
    assert AuditEvent.objects.filter(action="staff.view", organization=globex, target__contains=sandbox.sandbox_id)


def test_it_says_when_no_organization_has_the_sandbox(client, platform_admin, acme):
    client.force_login(platform_admin)
    body = client.get(URL, {"q": "nosuchsandbox"}).content.decode()
    assert "No organization has a sandbox nosuchsandbox" in body


def test_it_refuses_a_search_that_is_not_a_sandbox_id(client, platform_admin, acme):
    client.force_login(platform_admin)
    body = client.get(URL, {"q": "../admin"}).content.decode()
    assert "only letters, digits" in body


def test_it_shows_an_unreadable_key_in_its_own_row(client, platform_admin, acme, globex, make_sandbox, settings):
    from cryptography.fernet import Fernet

    make_sandbox(globex)
    acme.e2b_keys.update(ciphertext=Fernet(Fernet.generate_key()).encrypt(b"e2b_lost").decode())
    client.force_login(platform_admin)
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "cannot be decrypted" in body
    assert "1 listed" in body


def test_it_includes_an_organization_with_a_key_whatever_its_runtime_provider(
    client, platform_admin, acme, make_sandbox
):
    acme.provider = "modal"
    acme.save()
    sandbox = make_sandbox(acme)
    client.force_login(platform_admin)
    assert sandbox.sandbox_id in client.get(URL).content.decode()

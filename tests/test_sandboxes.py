
from django.urls import reverse

from sandboxes.models import SandboxRecord
from tests.test_sandbox_fixtures import *  # noqa: F403

HTMX = {"HX-Request": "true"}


def list_url(org, **query):
    return reverse("sandbox_list", args=[org.slug])


def detail_url(org, sandbox_id):
    return reverse("sandbox_detail", args=[org.slug, sandbox_id])


def action_url(org, sandbox_id, action):
    return reverse("sandbox_action", args=[org.slug, sandbox_id, action])


def test_it_lists_running_and_paused_sandboxes(client, org_member, acme, make_sandbox):
    running = make_sandbox(acme, metadata={"env": "dev"})
    paused = make_sandbox(acme)
    paused.pause()
    client.force_login(org_member)
    response = client.get(list_url(acme))
    body = response.content.decode()
    assert running.sandbox_id in body and paused.sandbox_id in body
    assert "state-paused" in body and "env=dev" in body
    assert 'hx-trigger="every 5s"' in body
    states = dict(SandboxRecord.objects.values_list("sandbox_id", "state"))
    assert states == {running.sandbox_id: "running", paused.sandbox_id: "paused"}

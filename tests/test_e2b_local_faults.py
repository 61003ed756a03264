import os
import time

import httpx
import pytest
from e2b import Sandbox, Template
from e2b.exceptions import AuthenticationException, ServiceBusyException
from werkzeug.test import Client

from e2b_local.server import App
from e2b_local.state import Store


def test_it_adds_latency(e2b):
    e2b.set_fault("/v2/sandboxes", latency=0.5)
    started = time.monotonic()
    Sandbox.list(**e2b.sdk_kwargs()).next_items()
    assert time.monotonic() - started >= 0.5


def test_it_answers_a_status_n_times_and_the_sdk_retries(e2b):
    e2b.set_fault("/v2/sandboxes", status=503, times=2)
    Sandbox.list(**e2b.sdk_kwargs()).next_items()
    assert e2b.faults() == []


def test_it_answers_a_status_the_sdk_must_not_retry(e2b):
    e2b.set_fault("/v2/sandboxes", status=503, times=1, should_retry=False)
    with pytest.raises(ServiceBusyException):
        Sandbox.create(**e2b.sdk_kwargs())
    Sandbox.create(**e2b.sdk_kwargs()).kill()


def test_it_drops_connections(e2b):
    e2b.set_fault("/sandboxes/", drop=True)
    with pytest.raises(Exception) as failure:
        Sandbox.get_info("nosuchsandbox00000000", **e2b.sdk_kwargs())
    assert not isinstance(failure.value, AssertionError)


def test_it_applies_faults_per_team(e2b):
    e2b.set_fault("/", team=e2b.team_names[1], status=500, should_retry=False)
    Sandbox.list(**e2b.sdk_kwargs()).next_items()
    with pytest.raises(Exception, match="500"):
        Sandbox.list(**e2b.sdk_kwargs(e2b.other_api_key)).next_items()


def test_it_applies_faults_to_envd_calls(e2b):
    sandbox = Sandbox.create(**e2b.sdk_kwargs())
    e2b.set_fault("/process.Process/", latency=0.4, times=1)
    started = time.monotonic()
    assert sandbox.commands.run("echo ok").stdout == "ok\n"
    assert time.monotonic() - started >= 0.4
    sandbox.kill()


def test_it_stalls_builds_until_reset(e2b):
    kwargs = e2b.sdk_kwargs()
    kwargs.pop("sandbox_url")
    e2b.set_fault(stall_builds=True)
    build = Template.build_in_background(
        Template().from_image("ubuntu"), f"stalled-{time.monotonic_ns()}", **kwargs
    )
    time.sleep(1.0)
    assert Template.get_build_status(build, **kwargs).status.value in ("waiting", "building")
    e2b.reset_faults()
    deadline = time.monotonic() + 10
    while Template.get_build_status(build, **kwargs).status.value != "ready":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_it_resets_faults(e2b):
    e2b.set_fault("/", status=500)
    e2b.reset_faults()
    Sandbox.list(**e2b.sdk_kwargs()).next_items()


def test_it_rejects_malformed_faults_naming_the_field(e2b):
    response = httpx.post(f"{e2b.url}/_local/faults", json={"status": "often"})
    assert response.status_code == 400
    assert "status" in response.json()["message"]


def test_it_refuses_control_calls_from_other_hosts():
    store = Store()
    client = Client(App(store))
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    local = {"REMOTE_ADDR": "127.0.0.1"}
    faults = client.post("/_local/faults", json={"status": 500}, environ_overrides=remote)
    assert faults.status_code == 403
    teams = client.post("/_local/teams", json={"api_key": "e2b_x"}, environ_overrides=remote)
    assert teams.status_code == 403
    teams = client.post("/_local/teams", json={"api_key": "e2b_x"}, environ_overrides=local)
    assert teams.status_code == 201
    store.close()


def test_it_adds_teams_at_runtime(e2b):
    key = e2b.add_team("runtime-team")
    with pytest.raises(AuthenticationException):
        Sandbox.list(**e2b.sdk_kwargs("e2b_00000000")).next_items()
    sandbox = Sandbox.create(**e2b.sdk_kwargs(key))
    assert sandbox.sandbox_id not in {
        s.sandbox_id for s in Sandbox.list(**e2b.sdk_kwargs()).next_items()
    }
    sandbox.kill()


def test_it_stops_and_removes_sandbox_folders(fresh_e2b):
    sandbox = Sandbox.create(**fresh_e2b.sdk_kwargs())
    folder = sandbox.commands.run("pwd").stdout.strip()
    fresh_e2b.stop()
    assert not fresh_e2b.running
    assert not os.path.exists(folder)
    with pytest.raises(httpx.ConnectError):
        httpx.get(fresh_e2b.url + "/health", timeout=2)

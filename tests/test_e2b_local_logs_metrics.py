import itertools
import time

import httpx
import pytest
from e2b import Sandbox, Template
from e2b.api.client.models import SandboxesWithMetrics, SandboxLogsV2Response


@pytest.fixture
def sandbox(e2b):
    sandbox = Sandbox.create(**e2b.sdk_kwargs())
    yield sandbox
    sandbox.kill()


def logs(e2b, sandbox_id, **params):
    response = httpx.get(
        f"{e2b.url}/v2/sandboxes/{sandbox_id}/logs",
        params=params,
        headers={"X-API-Key": e2b.api_key},
    )
    assert response.status_code == 200, response.text
    return SandboxLogsV2Response.from_dict(response.json()).logs


def test_it_gives_deterministic_plausible_metrics(sandbox):
    first = sandbox.get_metrics()
    second = sandbox.get_metrics()
    assert first and first == second
    sample = first[0]
    assert 0 <= sample.cpu_used_pct <= 100
    assert 0 < sample.mem_used < sample.mem_total
    assert 0 < sample.disk_used < sample.disk_total


def test_it_gives_a_sample_every_five_seconds(e2b, sandbox):
    later = int(time.time()) + 60
    response = httpx.get(
        f"{e2b.url}/sandboxes/{sandbox.sandbox_id}/metrics",
        params={"start": 0, "end": later},
        headers={"X-API-Key": e2b.api_key},
    )
    samples = response.json()
    stamps = [s["timestampUnix"] for s in samples]
    assert stamps == sorted(stamps)
    assert all(b - a == 5 for a, b in itertools.pairwise(stamps))


def test_it_gives_bulk_metrics_for_own_sandboxes_only(e2b, sandbox):
    other = Sandbox.create(**e2b.sdk_kwargs(e2b.other_api_key))
    response = httpx.get(
        f"{e2b.url}/sandboxes/metrics",
        params={"sandbox_ids": f"{sandbox.sandbox_id},{other.sandbox_id}"},
        headers={"X-API-Key": e2b.api_key},
    )
    bulk = SandboxesWithMetrics.from_dict(response.json())
    assert set(bulk.sandboxes) == {sandbox.sandbox_id}
    other.kill()
    missing = httpx.get(f"{e2b.url}/sandboxes/metrics", headers={"X-API-Key": e2b.api_key})
    assert missing.status_code == 400
    assert "sandbox_ids" in missing.json()["message"]


def test_it_logs_lifecycle_events_and_commands(e2b, sandbox):
    sandbox.set_timeout(200)
    sandbox.commands.run("echo hello")
    sandbox.pause()
    Sandbox.connect(sandbox.sandbox_id, **e2b.sdk_kwargs())
    messages = [entry.message for entry in logs(e2b, sandbox.sandbox_id)]
    assert messages[0].startswith("sandbox created")
    assert "sandbox timeout changed" in messages
    assert "command started: echo hello" in messages
    assert "command exited 0: echo hello" in messages
    assert messages[-2:] == ["sandbox paused", "sandbox resumed"]


def test_it_filters_logs_by_level_search_cursor_direction_and_limit(e2b, sandbox):
    sandbox.commands.run("true")
    try:
        sandbox.commands.run("exit 2")
    except Exception:
        pass
    everything = logs(e2b, sandbox.sandbox_id)
    warnings = logs(e2b, sandbox.sandbox_id, level="warn")
    assert [e.message for e in warnings] == ["command exited 2: exit 2"]
    assert len(logs(e2b, sandbox.sandbox_id, search="EXIT 2")) == 2
    assert len(logs(e2b, sandbox.sandbox_id, limit=2)) == 2
    newest_first = logs(e2b, sandbox.sandbox_id, direction="backward")
    assert [e.message for e in newest_first] == [e.message for e in reversed(everything)]
    cursor = int(everything[-1].timestamp.timestamp() * 1000)
    after = logs(e2b, sandbox.sandbox_id, cursor=cursor)
    assert after and after[0].message == everything[-1].message
    bad = httpx.get(
        f"{e2b.url}/v2/sandboxes/{sandbox.sandbox_id}/logs",
        params={"limit": 5000},
        headers={"X-API-Key": e2b.api_key},
    )
    assert bad.status_code == 400
    assert "limit" in bad.json()["message"]


def test_it_serves_build_logs_by_time(e2b):
    kwargs = e2b.sdk_kwargs()
    kwargs.pop("sandbox_url")
    info = Template.build(Template().from_image("ubuntu"), f"logs-{time.monotonic_ns()}", **kwargs)
    response = httpx.get(
        f"{e2b.url}/templates/{info.template_id}/builds/{info.build_id}/logs",
        params={"direction": "backward", "limit": 2},
        headers={"X-API-Key": e2b.api_key},
    )
    entries = response.json()["logs"]
    assert entries[0]["message"] == "Build finished"
    assert entries[0]["step"] == "finalize"

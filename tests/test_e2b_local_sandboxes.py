import time

import pytest
from e2b import Sandbox, SandboxQuery, SandboxState
from e2b.exceptions import NotFoundException, SandboxNotFoundException


@pytest.fixture
def sdk(e2b):
    return e2b.sdk_kwargs()


def test_it_creates_a_sandbox_that_get_info_describes(sdk):
    sandbox = Sandbox.create(metadata={"purpose": "test"}, timeout=120, **sdk)
    info = sandbox.get_info()
    assert info.sandbox_id == sandbox.sandbox_id
    assert info.metadata == {"purpose": "test"}
    assert info.state == SandboxState.RUNNING
    assert 115 <= (info.end_at - info.started_at).total_seconds() <= 121
    sandbox.kill()


def test_it_lists_filters_by_metadata_and_state(sdk):
    tag = "a b&c=d é"
    running = Sandbox.create(metadata={"suite": tag, "kind": "run"}, **sdk)
    paused = Sandbox.create(metadata={"suite": tag, "kind": "pause"}, **sdk)
    paused.pause()

    def ids(**query):
        paginator = Sandbox.list(query=SandboxQuery(**query), **sdk)
        return {s.sandbox_id for s in paginator.next_items()}

    assert ids(metadata={"suite": tag}) == {running.sandbox_id, paused.sandbox_id}
    assert ids(metadata={"suite": tag, "kind": "run"}) == {running.sandbox_id}
    assert ids(metadata={"suite": tag}, state=[SandboxState.PAUSED]) == {paused.sandbox_id}
    assert ids(metadata={"suite": tag}, state=[SandboxState.RUNNING]) == {running.sandbox_id}
    running.kill()
    paused.kill()


def test_it_pauses_once_and_connect_resumes(sdk):
    sandbox = Sandbox.create(**sdk)
    assert sandbox.pause() is True
    assert sandbox.pause() is False
    assert sandbox.get_info().state == SandboxState.PAUSED
    resumed = Sandbox.connect(sandbox.sandbox_id, **sdk)
    assert resumed.get_info().state == SandboxState.RUNNING
    again = Sandbox.connect(sandbox.sandbox_id, **sdk)
    assert again.commands.run("echo still here").stdout == "still here\n"
    sandbox.kill()


def test_it_kills_once_then_answers_404(sdk):
    sandbox = Sandbox.create(**sdk)
    assert sandbox.kill() is True
    assert Sandbox.kill(sandbox.sandbox_id, **sdk) is False
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info(sandbox.sandbox_id, **sdk)
    with pytest.raises((SandboxNotFoundException, NotFoundException)):
        Sandbox.connect(sandbox.sandbox_id, **sdk)


def test_it_sets_the_timeout(sdk):
    sandbox = Sandbox.create(timeout=60, **sdk)
    sandbox.set_timeout(600)
    info = sandbox.get_info()
    assert 590 <= (info.end_at - info.started_at).total_seconds() <= 610
    sandbox.kill()


def test_it_kills_a_sandbox_past_its_end(sdk):
    sandbox = Sandbox.create(timeout=1, **sdk)
    time.sleep(1.6)
    with pytest.raises(SandboxNotFoundException):
        sandbox.get_info()


def test_it_pauses_a_sandbox_past_its_end_when_its_lifecycle_says_so(sdk):
    sandbox = Sandbox.create(timeout=1, lifecycle={"on_timeout": "pause"}, **sdk)
    time.sleep(1.6)
    assert sandbox.get_info().state == SandboxState.PAUSED
    sandbox.kill()


def test_it_hides_sandboxes_from_other_teams(e2b):
    sandbox = Sandbox.create(**e2b.sdk_kwargs())
    other = e2b.sdk_kwargs(e2b.other_api_key)
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info(sandbox.sandbox_id, **other)
    assert Sandbox.kill(sandbox.sandbox_id, **other) is False
    listed = Sandbox.list(**other).next_items()
    assert sandbox.sandbox_id not in {s.sandbox_id for s in listed}
    sandbox.kill()

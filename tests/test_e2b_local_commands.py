import os

import pytest
from e2b import CommandExitException, Sandbox, TimeoutException
from e2b.exceptions import SandboxNotRunningException


@pytest.fixture
def sandbox(e2b):
    sandbox = Sandbox.create(envs={"SANDBOX_VAR": "from-create"}, **e2b.sdk_kwargs())
    yield sandbox
    sandbox.kill()


def test_it_streams_stdout_and_stderr(sandbox):
    seen = []
    result = sandbox.commands.run("echo out; echo err >&2", on_stdout=seen.append)
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.exit_code == 0
    assert seen == ["out\n"]


def test_it_reports_a_failing_exit_code(sandbox):
    with pytest.raises(CommandExitException) as failure:
        sandbox.commands.run("echo nope >&2; exit 3")
    assert failure.value.exit_code == 3
    assert failure.value.stderr == "nope\n"


def test_it_passes_env_vars_and_cwd(sandbox):
    result = sandbox.commands.run(
        "echo $SANDBOX_VAR $CALL_VAR; pwd", envs={"CALL_VAR": "x y"}, cwd="work"
    )
    first, folder = result.stdout.splitlines()
    assert first == "from-create x y"
    assert folder.endswith(f"/{sandbox.sandbox_id}/work")


def test_it_runs_in_a_folder_of_its_own_that_kill_removes(e2b):
    sandbox = Sandbox.create(**e2b.sdk_kwargs())
    folder = sandbox.commands.run("touch marker; pwd").stdout.strip()
    assert os.path.exists(os.path.join(folder, "marker"))
    sandbox.kill()
    assert not os.path.exists(folder)


def test_it_honours_the_command_timeout(sandbox):
    with pytest.raises(TimeoutException):
        sandbox.commands.run("sleep 10", timeout=1)


def test_it_refuses_commands_in_a_paused_or_killed_sandbox(e2b):
    sandbox = Sandbox.create(**e2b.sdk_kwargs())
    sandbox.pause()
    with pytest.raises(SandboxNotRunningException):
        sandbox.commands.run("echo hi")
    sandbox.kill()
    with pytest.raises(SandboxNotRunningException):
        sandbox.commands.run("echo hi")

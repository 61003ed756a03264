"""envd's process service, served with the SDK's own generated Connect classes."""

from __future__ import annotations

import hmac
import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.process import process_pb
from e2b.envd.process.process_connect import ProcessWSGIApplication
from protobuf import Oneof

from .state import Sandbox, Store, kill_process_group

Event = process_pb.ProcessEvent
KEEPALIVE_SECONDS = 1.0


def not_running(sandbox_id: str, why: str = "") -> ConnectError:
    # "was not found" is what the SDK maps to SandboxNotRunningException
    return ConnectError(Code.UNAVAILABLE, f"The sandbox {sandbox_id} was not found{why}")


def event(kind: str, value) -> process_pb.StartResponse:
    return process_pb.StartResponse(event=Event(event=Oneof(kind, value)))


def sandbox_cwd(sandbox: Sandbox, cwd: str | None) -> Path:
    """The sandbox folder is the sandbox's `/`; a missing directory is made."""
    if not cwd:
        return sandbox.folder
    folder = sandbox.folder.resolve()
    target = (folder / cwd.lstrip("/")).resolve()
    if not target.is_relative_to(folder):
        raise ConnectError(Code.INVALID_ARGUMENT, f"cwd '{cwd}' is outside the sandbox")
    target.mkdir(parents=True, exist_ok=True)
    return target


def sandbox_env(sandbox: Sandbox, envs: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(sandbox.folder),
        "USER": "user",
        "LANG": "C.UTF-8",
        "E2B_SANDBOX": "true",
        "E2B_SANDBOX_ID": sandbox.sandbox_id,
    }
    env.update(sandbox.env_vars)
    env.update(envs)
    return env


def pump(stream, name: str, events: queue.Queue) -> None:
    fd = stream.fileno()
    while chunk := os.read(fd, 65536):
        events.put((name, chunk))
    events.put((name, None))
    stream.close()


def end_event(returncode: int) -> process_pb.StartResponse:
    if returncode >= 0:
        end = Event.EndEvent(exit_code=returncode, exited=True, status=f"exit status {returncode}")
    else:
        end = Event.EndEvent(exit_code=-1, exited=False, status=f"signal: {-returncode}")
    return event("end", end)


class ProcessService:
    """Implements the SDK's `ProcessSync` protocol over host processes."""

    def __init__(self, store: Store):
        self.store = store

    def sandbox(self, ctx) -> Sandbox:
        sandbox_id = ctx.request_headers.get("e2b-sandbox-id", "")
        sandbox = self.store.sandbox_by_id(sandbox_id)
        if sandbox is None:
            raise not_running(sandbox_id)
        # The token E2B handed out at create or connect; another local process that only
        # knows a sandbox ID runs nothing in it.
        token = ctx.request_headers.get("x-access-token") or ""
        if not hmac.compare_digest(token.encode(), sandbox.envd_access_token.encode()):
            raise ConnectError(Code.UNAUTHENTICATED, "invalid access token")
        if sandbox.state == "paused" and sandbox.auto_resume:
            self.store.resume(sandbox, None)
        if sandbox.state != "running":
            raise not_running(sandbox_id, f" running: it is {sandbox.state}")
        return sandbox

    def start(self, request, ctx) -> Iterator[process_pb.StartResponse]:
        sandbox = self.sandbox(ctx)
        config = request.process
        if config is None or not config.cmd:
            raise ConnectError(Code.INVALID_ARGUMENT, "process.cmd is required")
        cwd = sandbox_cwd(sandbox, config.cwd if config.has_field("cwd") else None)
        command = [config.cmd, *config.args]
        try:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=sandbox_env(sandbox, dict(config.envs)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise ConnectError(Code.INVALID_ARGUMENT, f"cannot start process: {error}") from error
        shown = config.args[-1] if config.cmd == "/bin/bash" and config.args else " ".join(command)
        sandbox.processes[process.pid] = process
        sandbox.log(f"command started: {shown}", pid=process.pid, cwd=cwd)
        return self.stream(sandbox, process, shown, ctx)

    def stream(self, sandbox: Sandbox, process, shown: str, ctx):
        events: queue.Queue = queue.Queue()
        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            threading.Thread(target=pump, args=(stream, name, events), daemon=True).start()
        deadline = None if ctx.timeout_ms is None else time.monotonic() + ctx.timeout_ms / 1000
        open_streams = 2
        try:
            yield event("start", Event.StartEvent(pid=process.pid))
            while open_streams:
                wait = KEEPALIVE_SECONDS
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                try:
                    name, chunk = events.get(timeout=wait)
                except queue.Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        sandbox.log(f"command timed out: {shown}", level="warn", pid=process.pid)
                        raise ConnectError(Code.DEADLINE_EXCEEDED, "command timed out") from None
                    if sandbox.state != "running":
                        raise not_running(sandbox.sandbox_id, " running anymore") from None
                    yield event("keepalive", Event.KeepAlive())
                    continue
                if chunk is None:
                    open_streams -= 1
                    continue
                yield event("data", Event.DataEvent(output=Oneof(name, chunk)))
            returncode = process.wait()
            if sandbox.state != "running":
                raise not_running(sandbox.sandbox_id, " running anymore")
            level = "info" if returncode == 0 else "warn"
            sandbox.log(f"command exited {returncode}: {shown}", level=level, pid=process.pid)
            yield end_event(returncode)
        finally:
            kill_process_group(process)
            process.wait()
            sandbox.processes.pop(process.pid, None)

    def list(self, request, ctx):
        sandbox = self.sandbox(ctx)
        infos = [
            process_pb.ProcessInfo(
                config=process_pb.ProcessConfig(cmd=p.args[0], args=list(p.args[1:])),
                pid=pid,
            )
            for pid, p in list(sandbox.processes.items())
            if p.poll() is None
        ]
        return process_pb.ListResponse(processes=infos)

    def send_signal(self, request, ctx):
        sandbox = self.sandbox(ctx)
        selector = request.process.selector if request.process else None
        pid = selector.value if selector is not None and selector.field == "pid" else None
        process = sandbox.processes.get(pid)
        if process is None:
            raise ConnectError(Code.NOT_FOUND, f"process {pid} not found")
        kill_process_group(process)
        return process_pb.SendSignalResponse()

    def unimplemented(self, request, ctx):
        raise ConnectError(Code.UNIMPLEMENTED, "not implemented by e2b_local")

    connect = update = stream_input = send_input = close_stdin = unimplemented


class Envd:
    """envd's HTTP side: `/health` per sandbox and the process service."""

    def __init__(self, store: Store):
        self.store = store
        self.process_app = ProcessWSGIApplication(ProcessService(store))

    def handles(self, environ) -> bool:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/process.Process/") or path.startswith("/filesystem.Filesystem/"):
            return True
        return path == "/health" and "HTTP_E2B_SANDBOX_ID" in environ

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/health":
            sandbox_id = environ.get("HTTP_E2B_SANDBOX_ID", "")
            sandbox = self.store.sandbox_by_id(sandbox_id)
            if sandbox is not None and sandbox.state == "running":
                start_response("204 No Content", [])
                return [b""]
            body = json.dumps(
                {"code": 502, "message": f"The sandbox {sandbox_id} was not found"}
            ).encode()
            start_response(
                "502 Bad Gateway",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.process_app(environ, start_response)

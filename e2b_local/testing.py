"""Run e2b_local as a subprocess, for tests and benchmarks."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

LISTENING = "e2b_local listening on "


def new_api_key() -> str:
    return f"e2b_{secrets.token_hex(20)}"


class LocalE2B:
    """An e2b_local server in a child process; `.url` is both api_url and sandbox_url."""

    def __init__(
        self,
        teams: int = 2,
        build_seconds: float = 1.0,
        step_seconds: float | None = None,
        root: str | Path | None = None,
        start_timeout: float = 20.0,
    ):
        self.api_keys = [new_api_key() for _ in range(teams)]
        self.team_names = [f"team-{number}" for number in range(1, teams + 1)]
        command = [sys.executable, "-m", "e2b_local", "--host", "127.0.0.1", "--port", "0"]
        for key, name in zip(self.api_keys, self.team_names, strict=True):
            command += ["--api-key", f"{key}={name}"]
        command += ["--build-seconds", str(build_seconds)]
        if step_seconds is not None:
            command += ["--step-seconds", str(step_seconds)]
        if root is not None:
            command += ["--root", str(root)]
        self.output: list[str] = []
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.url = self._wait_for_listening(start_timeout)
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_listening(self, timeout: float) -> str:
        timer = threading.Timer(timeout, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                self.output.append(line)
                if line.startswith(LISTENING):
                    return line[len(LISTENING) :].strip()
        finally:
            timer.cancel()
        self.stop()
        raise RuntimeError("e2b_local did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            del self.output[:-1000]

    @property
    def api_key(self) -> str:
        return self.api_keys[0]

    @property
    def other_api_key(self) -> str:
        return self.api_keys[1]

    def sdk_kwargs(self, api_key: str | None = None) -> dict:
        return {"api_key": api_key or self.api_key, "api_url": self.url, "sandbox_url": self.url}

    def control(self, method: str, path: str, body: dict | None = None):
        response = httpx.request(method, self.url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def add_team(self, team: str | None = None, api_key: str | None = None) -> str:
        """Registers a new team's key at runtime and returns it."""
        api_key = api_key or new_api_key()
        answer = self.control("POST", "/_local/teams", {"api_key": api_key, "team": team})
        self.api_keys.append(api_key)
        self.team_names.append(answer["team"])
        return api_key

    def set_fault(
        self,
        prefix: str = "/",
        *,
        team: str | None = None,
        latency: float = 0.0,
        status: int | None = None,
        times: int | None = None,
        should_retry: bool | None = None,
        retry_after: int | None = None,
        drop: bool = False,
        stall_builds: bool = False,
        message: str | None = None,
    ) -> int:
        """Adds a fault for paths starting with `prefix` (and only `team`, a team name, if given)."""
        body = {
            "prefix": prefix,
            "team": team,
            "latency_ms": int(latency * 1000),
            "status": status,
            "times": times,
            "should_retry": should_retry,
            "retry_after": retry_after,
            "drop": drop,
            "stall_builds": stall_builds,
            "message": message,
        }
        return self.control("POST", "/_local/faults", body)["id"]

    def faults(self) -> list[dict]:
        return self.control("GET", "/_local/faults")

    def reset_faults(self) -> None:
        self.control("DELETE", "/_local/faults")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait()
        if self.process.stdout and not self.process.stdout.closed:
            try:
                self.process.stdout.close()
            except OSError:
                pass

    def __enter__(self) -> LocalE2B:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.kill()

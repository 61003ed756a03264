"""Template builds: a thread walks the steps, logging each, and ends `ready` or `error`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .state import Build, Store, now

BASE_STEP = "base"
FINALIZE_STEP = "finalize"


class Builder:
    def __init__(
        self,
        store: Store,
        build_seconds: float,
        step_seconds: float | None,
        stalled: Callable[[str], bool],
    ):
        self.store = store
        self.build_seconds = build_seconds
        self.step_seconds = step_seconds
        self.stalled = stalled

    def start(self, build: Build, spec: dict) -> None:
        build.spec = spec
        thread = threading.Thread(target=self.run, args=(build,), daemon=True)
        thread.start()

    def delay(self, build: Build) -> float:
        if self.step_seconds is not None:
            return self.step_seconds
        steps = len(build.spec.get("steps") or [])
        # waiting, base, every step and finalize share the build time
        return self.build_seconds / (steps + 3)

    def pause(self, build: Build, seconds: float) -> None:
        time.sleep(seconds)
        team = build.template.team
        while team is not None and self.stalled(team.name):
            time.sleep(0.1)

    def run(self, build: Build) -> None:
        spec = build.spec
        delay = self.delay(build)
        build.log("Build waiting for a builder", step=BASE_STEP)
        self.pause(build, delay)
        with self.store.lock:
            build.status = "building"
        source = spec.get("fromImage") or spec.get("fromTemplate") or "e2bdev/base"
        build.log(f"Building template {build.template.template_id}", step=BASE_STEP)
        build.log(f"FROM {source}", step=BASE_STEP)
        self.pause(build, delay)
        steps = spec.get("steps") or []
        for number, step in enumerate(steps, 1):
            name = str(number)
            kind = str(step.get("type", "")).upper()
            args = [str(a) for a in step.get("args") or []]
            line = f"{kind} {' '.join(args)}".strip()
            build.log(f"[{number}/{len(steps)}] {line}", step=name)
            failure = self.check_step(build, name, kind, args, step)
            if failure:
                self.fail(build, name, f"step {number} ({line}) failed: {failure}")
                return
            build.log(f"Step {number} finished", step=name)
            self.pause(build, delay)
        build.log("Finalizing template", step=FINALIZE_STEP)
        if spec.get("startCmd"):
            build.log(f"Start command: {spec['startCmd']}", step=FINALIZE_STEP)
        self.pause(build, delay)
        with self.store.lock:
            moment = now()
            build.status = "ready"
            build.finished_at = moment
            build.template.updated_at = moment
        build.log("Build finished", step=FINALIZE_STEP)

    def check_step(
        self, build: Build, name: str, kind: str, args: list[str], step: dict
    ) -> str | None:
        if kind == "RUN" and "exit 1" in " ".join(args):
            build.log("exit status 1", level="error", step=name)
            return "exit status 1"
        if kind == "COPY":
            files_hash = step.get("filesHash")
            if files_hash and not self.store.has_files(build.template.team, files_hash):
                return f"files {files_hash} were never uploaded"
        return None

    def fail(self, build: Build, step: str, message: str) -> None:
        build.log(message, level="error", step=step)
        with self.store.lock:
            moment = now()
            build.status = "error"
            build.finished_at = moment
            build.reason = {
                "message": message,
                "step": step,
                "logEntries": build.logs[-2:],
            }

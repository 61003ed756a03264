"""Injected faults: latency, canned error statuses, dropped connections, stalled builds."""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field

from .errors import ApiError, bad_request


@dataclass
class Fault:
    id: int
    prefix: str = "/"
    team: str | None = None
    latency_ms: int = 0
    status: int | None = None
    message: str = "fault injected by e2b_local"
    should_retry: bool | None = None
    retry_after: int | None = None
    drop: bool = False
    stall_builds: bool = False
    times: int | None = None
    used: int = field(default=0)

    def matches(self, path: str, team: str | None) -> bool:
        if self.team is not None and self.team != team:
            return False
        return path.startswith(self.prefix)


@dataclass
class Action:
    latency: float = 0.0
    status: int | None = None
    message: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


FIELDS = {
    "prefix": str,
    "team": str,
    "latency_ms": int,
    "status": int,
    "message": str,
    "should_retry": bool,
    "retry_after": int,
    "drop": bool,
    "stall_builds": bool,
    "times": int,
}


def parse_fault(body: object, fault_id: int) -> Fault:
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    values = {}
    for name, value in body.items():
        kind = FIELDS.get(name)
        if kind is None:
            raise bad_request(name, "unknown field")
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad_request(name, f"must be {kind.__name__}")
        values[name] = value
    fault = Fault(id=fault_id, **values)
    if fault.status is not None and not 100 <= fault.status <= 599:
        raise bad_request("status", "must be an HTTP status")
    if not fault.prefix.startswith("/"):
        raise bad_request("prefix", "must start with /")
    if fault.times is not None and fault.times < 1:
        raise bad_request("times", "must be at least 1")
    return fault


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules: list[Fault] = []
        self.ids = itertools.count(1)

    def add(self, body: object) -> Fault:
        fault = parse_fault(body, next(self.ids))
        with self.lock:
            self.rules.append(fault)
        return fault

    def reset(self) -> None:
        with self.lock:
            self.rules.clear()

    def describe(self) -> list[dict]:
        with self.lock:
            return [asdict(f) for f in self.rules]

    def builds_stalled(self, team: str) -> bool:
        with self.lock:
            return any(f.stall_builds and f.team in (None, team) for f in self.rules)

    def take(self, path: str, team: str | None) -> Action:
        """What to do to this request; every matching rule counts one use."""
        action = Action()
        with self.lock:
            for fault in list(self.rules):
                if fault.stall_builds or not fault.matches(path, team):
                    continue
                if action.status is not None or action.drop:
                    if fault.status is not None or fault.drop:
                        continue
                fault.used += 1
                if fault.times is not None and fault.used >= fault.times:
                    self.rules.remove(fault)
                action.latency += fault.latency_ms / 1000
                if fault.drop:
                    action.drop = True
                elif fault.status is not None and action.status is None:
                    action.status = fault.status
                    action.message = fault.message
                    if fault.should_retry is False:
                        action.headers.append(("Should-Retry", "false"))
                    if fault.retry_after is not None:
                        action.headers.append(("Retry-After", str(fault.retry_after)))
        return action

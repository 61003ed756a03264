"""In-memory state: teams, sandboxes, templates and builds."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .errors import ApiError, not_found

ID_ALPHABET = string.ascii_lowercase + string.digits
LEVELS = ("debug", "info", "warn", "error")
CLIENT_ID = "6532622b"
DEFAULT_TIMEOUT = 300
BASE_TEMPLATE_ID = "rki5dems9wqfm4r03t7g"


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def new_id(length: int = 20) -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


@dataclass
class LogEntry:
    timestamp: datetime
    level: str
    message: str
    fields: dict = field(default_factory=dict)
    step: str | None = None


@dataclass
class Team:
    team_id: str
    name: str


@dataclass
class Sandbox:
    sandbox_id: str
    team: Team
    template: Template
    alias: str | None
    started_at: datetime
    end_at: datetime
    timeout: int
    metadata: dict[str, str]
    env_vars: dict[str, str]
    on_timeout: str
    auto_resume: bool
    allow_internet_access: bool
    folder: Path
    state: str = "running"
    envd_access_token: str = field(default_factory=lambda: secrets.token_hex(16))
    logs: list[LogEntry] = field(default_factory=list)
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)
    running_since: datetime | None = None

    def log(self, message: str, level: str = "info", **fields) -> None:
        self.logs.append(LogEntry(now(), level, message, {k: str(v) for k, v in fields.items()}))


@dataclass
class Build:
    build_id: str
    template: Template
    status: str
    created_at: datetime
    updated_at: datetime
    cpu_count: int
    memory_mb: int
    disk_size_mb: int
    finished_at: datetime | None = None
    logs: list[LogEntry] = field(default_factory=list)
    reason: dict | None = None
    spec: dict | None = None

    def log(self, message: str, level: str = "info", step: str | None = None) -> None:
        entry = LogEntry(now(), level, message, step=step)
        self.logs.append(entry)
        self.updated_at = entry.timestamp


@dataclass
class Template:
    template_id: str
    team: Team | None
    names: list[str]
    tags: list[str]
    public: bool
    created_at: datetime
    updated_at: datetime
    cpu_count: int = 2
    memory_mb: int = 512
    disk_size_mb: int = 1024
    builds: list[Build] = field(default_factory=list)
    spawn_count: int = 0
    last_spawned_at: datetime | None = None
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def latest_build(self) -> Build | None:
        return self.builds[-1] if self.builds else None

    @property
    def ready_build(self) -> Build | None:
        for build in reversed(self.builds):
            if build.status == "ready":
                return build
        return None

    @property
    def build_status(self) -> str:
        latest = self.latest_build
        return latest.status if latest else "ready"


class Store:
    """Everything the server knows, behind one lock."""

    def __init__(self, root: Path | None = None):
        self.lock = threading.RLock()
        self.own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="e2b_local_"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.teams_by_key: dict[str, Team] = {}
        self.teams_by_name: dict[str, Team] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.templates: dict[str, Template] = {}
        self.files: dict[tuple[str, str], bytes] = {}
        self.uploads: dict[str, tuple[Team, str]] = {}
        created = now()
        self.base = Template(
            template_id=BASE_TEMPLATE_ID,
            team=None,
            names=["base"],
            tags=["default"],
            public=True,
            created_at=created,
            updated_at=created,
        )
        self.base.builds.append(
            Build(
                build_id=str(uuid.uuid4()),
                template=self.base,
                status="ready",
                created_at=created,
                updated_at=created,
                finished_at=created,
                cpu_count=2,
                memory_mb=512,
                disk_size_mb=1024,
            )
        )
        self.templates[self.base.template_id] = self.base

    # teams

    def add_team(self, api_key: str, name: str | None = None) -> Team:
        with self.lock:
            if api_key in self.teams_by_key:
                return self.teams_by_key[api_key]
            name = name or f"team-{len(self.teams_by_name) + 1}"
            team = self.teams_by_name.get(name)
            if team is None:
                team = Team(team_id=str(uuid.uuid4()), name=name)
                self.teams_by_name[name] = team
            self.teams_by_key[api_key] = team
            return team

    def team_for_key(self, api_key: str | None) -> Team | None:
        if not api_key:
            return None
        with self.lock:
            return self.teams_by_key.get(api_key)

    # templates

    def find_template(self, team: Team, ref: str) -> Template:
        """A template by ID or name (optionally `team/name:tag`) that the team may use."""
        name = ref.split("/", 1)[-1].split(":", 1)[0]
        with self.lock:
            template = self.templates.get(ref) or self.templates.get(name)
            if template is None:
                for candidate in self.templates.values():
                    if name in candidate.names and (candidate.public or candidate.team is team):
                        template = candidate
                        break
            if template is None or not (template.public or template.team is team):
                raise not_found(f"template '{ref}'")
            return template

    def template_by_name(self, name: str) -> Template | None:
        name = name.split("/", 1)[-1].split(":", 1)[0]
        with self.lock:
            for template in self.templates.values():
                if name in template.names:
                    return template
        return None

    def own_template(self, team: Team, template_id: str) -> Template:
        with self.lock:
            template = self.templates.get(template_id)
            if template is None or template.team is not team:
                template = self.template_by_name(template_id)
            if template is None or template.team is not team:
                raise not_found(f"template '{template_id}'")
            return template

    def own_build(self, team: Team, template_id: str, build_id: str) -> Build:
        template = self.own_template(team, template_id)
        for build in template.builds:
            if build.build_id == build_id:
                return build
        raise not_found(f"build '{build_id}'")

    # build files, by team and content hash

    def has_files(self, team: Team | None, files_hash: str) -> bool:
        with self.lock:
            return team is not None and (team.team_id, files_hash) in self.files

    def upload_token(self, team: Team, files_hash: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.uploads[token] = (team, files_hash)
        return token

    def receive_upload(self, token: str, content: bytes) -> bool:
        with self.lock:
            target = self.uploads.pop(token, None)
            if target is None:
                return False
            team, files_hash = target
            self.files[(team.team_id, files_hash)] = content
            return True

    # sandboxes

    def create_sandbox(
        self,
        team: Team,
        template_ref: str,
        timeout: int,
        metadata: dict[str, str],
        env_vars: dict[str, str],
        on_timeout: str,
        auto_resume: bool,
        allow_internet_access: bool,
    ) -> Sandbox:
        template = self.find_template(team, template_ref)
        if template.ready_build is None:
            raise ApiError(400, f"template '{template_ref}' has no ready build")
        sandbox_id = new_id()
        folder = self.root / sandbox_id
        folder.mkdir()
        started = now()
        alias = template.names[0] if template.names else None
        sandbox = Sandbox(
            sandbox_id=sandbox_id,
            team=team,
            template=template,
            alias=alias,
            started_at=started,
            end_at=started + timedelta(seconds=timeout),
            timeout=timeout,
            metadata=metadata,
            env_vars=env_vars,
            on_timeout=on_timeout,
            auto_resume=auto_resume,
            allow_internet_access=allow_internet_access,
            folder=folder,
            running_since=started,
        )
        sandbox.log("sandbox created", template=template.template_id, timeout=timeout)
        with self.lock:
            template.spawn_count += 1
            template.last_spawned_at = started
            self.sandboxes[sandbox_id] = sandbox
        return sandbox

    def get_sandbox(self, team: Team, sandbox_id: str) -> Sandbox:
        self.reap()
        with self.lock:
            sandbox = self.sandboxes.get(sandbox_id)
            if sandbox is None or sandbox.team is not team:
                raise not_found(f"sandbox '{sandbox_id}'")
            return sandbox

    def sandbox_by_id(self, sandbox_id: str) -> Sandbox | None:
        self.reap()
        with self.lock:
            return self.sandboxes.get(sandbox_id)

    def team_sandboxes(self, team: Team) -> list[Sandbox]:
        self.reap()
        with self.lock:
            return [s for s in self.sandboxes.values() if s.team is team]

    def kill(self, sandbox: Sandbox, reason: str = "sandbox killed") -> None:
        with self.lock:
            if self.sandboxes.pop(sandbox.sandbox_id, None) is None:
                return
            sandbox.log(reason)
            sandbox.state = "killed"
        stop_processes(sandbox)
        shutil.rmtree(sandbox.folder, ignore_errors=True)

    def pause(self, sandbox: Sandbox, reason: str = "sandbox paused") -> bool:
        with self.lock:
            if sandbox.state != "running":
                return False
            sandbox.state = "paused"
            sandbox.running_since = None
            sandbox.log(reason)
        stop_processes(sandbox)
        return True

    def resume(self, sandbox: Sandbox, timeout: int | None) -> None:
        with self.lock:
            sandbox.state = "running"
            moment = now()
            sandbox.running_since = moment
            sandbox.end_at = moment + timedelta(seconds=timeout or sandbox.timeout)
            sandbox.log("sandbox resumed", timeout=timeout or sandbox.timeout)

    def set_timeout(self, sandbox: Sandbox, timeout: int) -> None:
        with self.lock:
            sandbox.end_at = now() + timedelta(seconds=timeout)
            sandbox.log("sandbox timeout changed", timeout=timeout)

    def reap(self) -> None:
        """Kill, or pause where the lifecycle says so, the running sandboxes past their end."""
        moment = now()
        with self.lock:
            expired = [
                s for s in self.sandboxes.values() if s.state == "running" and s.end_at <= moment
            ]
        for sandbox in expired:
            if sandbox.on_timeout == "pause":
                self.pause(sandbox, "sandbox paused: timeout reached")
            else:
                self.kill(sandbox, "sandbox killed: timeout reached")

    def close(self) -> None:
        with self.lock:
            sandboxes = list(self.sandboxes.values())
        for sandbox in sandboxes:
            self.kill(sandbox)
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)


def stop_processes(sandbox: Sandbox) -> None:
    for process in list(sandbox.processes.values()):
        kill_process_group(process)


def kill_process_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

"""E2B's control-plane REST API, as SDK 2.63 calls it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl, unquote

from werkzeug.wrappers import Request, Response

from . import ENVD_VERSION
from .builds import Builder
from .errors import ApiError, bad_request, not_found
from .metrics import latest_metric, metric_series
from .state import (
    CLIENT_ID,
    DEFAULT_TIMEOUT,
    LEVELS,
    Build,
    LogEntry,
    Sandbox,
    Store,
    Team,
    Template,
    new_id,
    now,
    rfc3339,
)


def json_response(status: int, body=None, headers=None) -> Response:
    if body is None:
        return Response(status=status, headers=headers)
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def error_response(status: int, message: str, headers=None) -> Response:
    return json_response(status, {"code": status, "message": message}, headers)


class Call:
    """One request: who asks, path parameters, query and body."""

    def __init__(self, request: Request, team: Team | None, params: dict[str, str]):
        self.request = request
        self.team = team
        self.params = params
        self.args = request.args

    def body(self) -> dict:
        raw = self.request.get_data()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise ApiError(400, f"malformed JSON body: {error}") from error
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        return body

    def int_arg(
        self, name: str, default: int | None, low: int | None = None, high: int | None = None
    ):
        raw = self.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(name, "must be an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad_request(name, f"must be between {low} and {high}")
        return value

    def choice_arg(self, name: str, choices: tuple[str, ...], default: str | None):
        value = self.args.get(name) or default
        if value is not None and value not in choices:
            raise bad_request(name, f"must be one of {', '.join(choices)}")
        return value


def field(body: dict, name: str, kind, default=None, required: bool = False):
    if name not in body or body[name] is None:
        if required:
            raise bad_request(name, "is required")
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad_request(name, f"must be {getattr(kind, '__name__', 'valid')}")
    return value


def string_map(body: dict, name: str) -> dict[str, str]:
    value = field(body, name, dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise bad_request(name, "must map strings to strings")
    return dict(value)


def seconds(body: dict, name: str, default: int | None, required: bool = False) -> int | None:
    value = field(body, name, int, default, required)
    if value is not None and value < 0:
        raise bad_request(name, "must not be negative")
    return value


# JSON shapes


def sandbox_json(sandbox: Sandbox) -> dict:
    body = {
        "templateID": sandbox.template.template_id,
        "sandboxID": sandbox.sandbox_id,
        "clientID": CLIENT_ID,
        "envdVersion": ENVD_VERSION,
        "envdAccessToken": sandbox.envd_access_token,
    }
    if sandbox.alias:
        body["alias"] = sandbox.alias
    return body


def listed_sandbox_json(sandbox: Sandbox) -> dict:
    template = sandbox.template
    body = {
        "templateID": template.template_id,
        "sandboxID": sandbox.sandbox_id,
        "clientID": CLIENT_ID,
        "startedAt": rfc3339(sandbox.started_at),
        "endAt": rfc3339(sandbox.end_at),
        "cpuCount": template.cpu_count,
        "memoryMB": template.memory_mb,
        "diskSizeMB": template.disk_size_mb,
        "state": sandbox.state,
        "envdVersion": ENVD_VERSION,
        "metadata": dict(sandbox.metadata),
    }
    if sandbox.alias:
        body["alias"] = sandbox.alias
    return body


def sandbox_detail_json(sandbox: Sandbox) -> dict:
    body = listed_sandbox_json(sandbox)
    body.update(
        {
            "envdAccessToken": sandbox.envd_access_token,
            "allowInternetAccess": sandbox.allow_internet_access,
            "lifecycle": {"autoResume": sandbox.auto_resume, "onTimeout": sandbox.on_timeout},
        }
    )
    return body


def log_entry_json(entry: LogEntry) -> dict:
    return {
        "timestamp": rfc3339(entry.timestamp),
        "level": entry.level,
        "message": entry.message,
        "fields": dict(entry.fields),
    }


def build_log_json(entry: LogEntry) -> dict:
    body = {"timestamp": rfc3339(entry.timestamp), "level": entry.level, "message": entry.message}
    if entry.step is not None:
        body["step"] = entry.step
    return body


def template_json(template: Template) -> dict:
    build = template.ready_build or template.latest_build
    return {
        "templateID": template.template_id,
        "buildID": build.build_id if build else "",
        "cpuCount": template.cpu_count,
        "memoryMB": template.memory_mb,
        "diskSizeMB": template.disk_size_mb,
        "public": template.public,
        "aliases": list(template.names),
        "names": list(template.names),
        "createdAt": rfc3339(template.created_at),
        "updatedAt": rfc3339(template.updated_at),
        "createdBy": None,
        "lastSpawnedAt": rfc3339(template.last_spawned_at) if template.last_spawned_at else None,
        "spawnCount": template.spawn_count,
        "buildCount": len(template.builds),
        "envdVersion": ENVD_VERSION,
        "buildStatus": template.build_status,
    }


def build_json(build: Build) -> dict:
    body = {
        "buildID": build.build_id,
        "status": build.status,
        "createdAt": rfc3339(build.created_at),
        "updatedAt": rfc3339(build.updated_at),
        "cpuCount": build.cpu_count,
        "memoryMB": build.memory_mb,
        "diskSizeMB": build.disk_size_mb,
        "envdVersion": ENVD_VERSION,
    }
    if build.finished_at:
        body["finishedAt"] = rfc3339(build.finished_at)
    return body


def reason_json(reason: dict) -> dict:
    return {
        "message": reason["message"],
        "step": reason["step"],
        "logEntries": [build_log_json(e) for e in reason["logEntries"]],
    }


# Pagination tokens carry the sort key of the last item returned.


def encode_token(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode()


def decode_token(token: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("|")
    except ValueError:
        raise bad_request("nextToken", "is not a token this server issued") from None
    if len(parts) != count:
        raise bad_request("nextToken", "is not a token this server issued")
    return parts


def parse_metadata_query(raw: str) -> dict[str, str]:
    """The SDK percent-encodes each key and value, then the pairs again as a query."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise bad_request("metadata", "must be a query string of key=value pairs") from None
    return {unquote(k): unquote(v) for k, v in pairs}


def parse_time(name: str, raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(name, "must be an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise bad_request(name, "must carry a time zone")
    return moment


def filter_logs(entries: list[LogEntry], call: Call, default_limit: int, max_limit: int):
    cursor = call.int_arg("cursor", None, 0)
    limit = call.int_arg("limit", default_limit, 0, max_limit)
    direction = call.choice_arg("direction", ("forward", "backward"), "forward")
    level = call.choice_arg("level", LEVELS, None)
    search = (call.args.get("search") or "").lower()
    selected = []
    for entry in entries:
        millis = int(entry.timestamp.timestamp() * 1000)
        if cursor is not None and (millis < cursor if direction == "forward" else millis > cursor):
            continue
        if level and LEVELS.index(entry.level) < LEVELS.index(level):
            continue
        if search and search not in entry.message.lower():
            continue
        selected.append(entry)
    if direction == "backward":
        selected.reverse()
    return selected[:limit]


class Rest:
    def __init__(self, store: Store, builder: Builder):
        self.store = store
        self.builder = builder
        self.routes: list[tuple[str, list[str], Callable[[Call], Response]]] = []
        for method, path, handler in [
            ("GET", "/health", self.health),
            ("POST", "/sandboxes", self.create_sandbox),
            ("POST", "/v2/sandboxes", self.create_sandbox),
            ("GET", "/sandboxes", self.list_sandboxes_v1),
            ("GET", "/v2/sandboxes", self.list_sandboxes),
            ("GET", "/sandboxes/metrics", self.bulk_metrics),
            ("GET", "/sandboxes/{sandboxID}", self.get_sandbox),
            ("DELETE", "/sandboxes/{sandboxID}", self.kill_sandbox),
            ("POST", "/sandboxes/{sandboxID}/timeout", self.set_timeout),
            ("POST", "/sandboxes/{sandboxID}/pause", self.pause_sandbox),
            ("POST", "/sandboxes/{sandboxID}/resume", self.resume_sandbox),
            ("POST", "/sandboxes/{sandboxID}/connect", self.connect_sandbox),
            ("POST", "/v2/sandboxes/{sandboxID}/connect", self.connect_sandbox),
            ("GET", "/sandboxes/{sandboxID}/metrics", self.sandbox_metrics),
            ("GET", "/v2/sandboxes/{sandboxID}/logs", self.sandbox_logs),
            ("GET", "/templates", self.list_templates),
            ("GET", "/v2/templates", self.list_templates_v2),
            ("POST", "/v3/templates", self.request_build),
            ("GET", "/templates/aliases/{alias}", self.template_alias),
            ("GET", "/templates/{templateID}", self.get_template),
            ("DELETE", "/templates/{templateID}", self.delete_template),
            ("GET", "/templates/{templateID}/files/{hash}", self.files_link),
            ("POST", "/v2/templates/{templateID}/builds/{buildID}", self.start_build),
            ("GET", "/templates/{templateID}/builds/{buildID}/status", self.build_status),
            ("GET", "/templates/{templateID}/builds/{buildID}/logs", self.build_logs),
        ]:
            self.routes.append((method, path.strip("/").split("/"), handler))

    def route(self, method: str, raw_path: str):
        """Match on the raw path: template names arrive with `/` encoded as %2F."""
        segments = raw_path.strip("/").split("/")
        allowed = False
        for route_method, pattern, handler in self.routes:
            if len(pattern) != len(segments):
                continue
            params = {}
            for expected, actual in zip(pattern, segments, strict=True):
                if expected.startswith("{"):
                    params[expected[1:-1]] = unquote(actual)
                elif expected != actual:
                    break
            else:
                if route_method == method:
                    return handler, params
                allowed = True
        if allowed:
            raise ApiError(405, f"method {method} not allowed on {raw_path}")
        raise ApiError(404, f"no route for {raw_path}")

    def __call__(self, request: Request, team: Team | None, raw_path: str) -> Response:
        try:
            handler, params = self.route(request.method, raw_path)
            if handler != self.health and team is None:
                raise ApiError(401, "Invalid API key, it must start with 'e2b_'")
            return handler(Call(request, team, params))
        except ApiError as error:
            return error_response(error.status, error.message)

    def health(self, call: Call) -> Response:
        return Response("Health check successful", status=200, mimetype="text/plain")

    # sandboxes

    def create_sandbox(self, call: Call) -> Response:
        body = call.body()
        template_ref = field(body, "templateID", str, required=True)
        timeout = seconds(body, "timeout", DEFAULT_TIMEOUT)
        metadata = string_map(body, "metadata")
        env_vars = string_map(body, "envVars")
        auto_pause = field(body, "autoPause", bool, False)
        auto_resume = body.get("autoResume", False)
        if isinstance(auto_resume, dict):
            auto_resume = auto_resume.get("enabled", False)
        if not isinstance(auto_resume, bool):
            raise bad_request("autoResume", "must be a boolean or {enabled}")
        allow_internet = field(body, "allow_internet_access", bool, True)
        sandbox = self.store.create_sandbox(
            call.team,
            template_ref,
            timeout,
            metadata,
            env_vars,
            "pause" if auto_pause else "kill",
            auto_resume,
            allow_internet,
        )
        return json_response(201, sandbox_json(sandbox))

    def filtered_sandboxes(self, call: Call, default_states: tuple[str, ...]) -> list[Sandbox]:
        states = default_states
        if call.args.get("state"):
            states = tuple(s for part in call.args.getlist("state") for s in part.split(","))
            for state in states:
                if state not in ("running", "paused"):
                    raise bad_request("state", f"unknown state '{state}'")
        metadata = parse_metadata_query(call.args["metadata"]) if call.args.get("metadata") else {}
        template = call.args.get("template")
        started_after = (
            parse_time("startedAfter", call.args["startedAfter"])
            if call.args.get("startedAfter")
            else None
        )
        chosen = []
        for sandbox in self.store.team_sandboxes(call.team):
            if sandbox.state not in states:
                continue
            if any(sandbox.metadata.get(k) != v for k, v in metadata.items()):
                continue
            if template and template not in (sandbox.template.template_id, sandbox.alias):
                continue
            if started_after and sandbox.started_at < started_after:
                continue
            chosen.append(sandbox)
        return chosen

    def list_sandboxes_v1(self, call: Call) -> Response:
        sandboxes = self.filtered_sandboxes(call, ("running",))
        sandboxes.sort(key=lambda s: (s.started_at, s.sandbox_id), reverse=True)
        return json_response(200, [listed_sandbox_json(s) for s in sandboxes])

    def list_sandboxes(self, call: Call) -> Response:
        order = call.choice_arg("order", ("asc", "desc"), "desc")
        limit = call.int_arg("limit", 100, 1, 100)
        sandboxes = self.filtered_sandboxes(call, ("running", "paused"))
        descending = order == "desc"
        sandboxes.sort(key=lambda s: (s.started_at, s.sandbox_id), reverse=descending)
        token = call.args.get("nextToken")
        if token:
            started, sandbox_id = decode_token(token, 2)
            after = (parse_time("nextToken", started), sandbox_id)
            if descending:
                sandboxes = [s for s in sandboxes if (s.started_at, s.sandbox_id) < after]
            else:
                sandboxes = [s for s in sandboxes if (s.started_at, s.sandbox_id) > after]
        page = sandboxes[:limit]
        headers = {"X-Total-Running": str(sum(s.state == "running" for s in sandboxes))}
        if len(sandboxes) > limit:
            last = page[-1]
            headers["X-Next-Token"] = encode_token(rfc3339(last.started_at), last.sandbox_id)
        return json_response(200, [listed_sandbox_json(s) for s in page], headers)

    def get_sandbox(self, call: Call) -> Response:
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        return json_response(200, sandbox_detail_json(sandbox))

    def kill_sandbox(self, call: Call) -> Response:
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        self.store.kill(sandbox)
        return json_response(204)

    def set_timeout(self, call: Call) -> Response:
        timeout = seconds(call.body(), "timeout", None, required=True)
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        if sandbox.state != "running":
            raise ApiError(409, f"sandbox '{sandbox.sandbox_id}' is {sandbox.state}")
        self.store.set_timeout(sandbox, timeout)
        return json_response(204)

    def pause_sandbox(self, call: Call) -> Response:
        call.body()
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        if not self.store.pause(sandbox):
            raise ApiError(409, f"sandbox '{sandbox.sandbox_id}' is already paused")
        return json_response(204)

    def resume_sandbox(self, call: Call) -> Response:
        timeout = seconds(call.body(), "timeout", None)
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        if sandbox.state == "running":
            raise ApiError(409, f"sandbox '{sandbox.sandbox_id}' is already running")
        self.store.resume(sandbox, timeout)
        return json_response(201, sandbox_json(sandbox))

    def connect_sandbox(self, call: Call) -> Response:
        timeout = seconds(call.body(), "timeout", None)
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        if sandbox.state == "running":
            if timeout is not None:
                with self.store.lock:
                    wanted = now().timestamp() + timeout
                    if wanted > sandbox.end_at.timestamp():
                        self.store.set_timeout(sandbox, timeout)
            return json_response(200, sandbox_json(sandbox))
        self.store.resume(sandbox, timeout)
        return json_response(201, sandbox_json(sandbox))

    def sandbox_metrics(self, call: Call) -> Response:
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        start = call.int_arg("start", None, 0)
        end = call.int_arg("end", None, 0)
        return json_response(200, metric_series(sandbox, start, end))

    def bulk_metrics(self, call: Call) -> Response:
        raw = call.args.get("sandbox_ids")
        if not raw:
            raise bad_request("sandbox_ids", "is required")
        ids = [i for part in call.args.getlist("sandbox_ids") for i in part.split(",") if i]
        if len(ids) > 100:
            raise bad_request("sandbox_ids", "at most 100 IDs")
        found = {}
        for sandbox_id in dict.fromkeys(ids):
            try:
                sandbox = self.store.get_sandbox(call.team, sandbox_id)
            except ApiError:
                continue
            found[sandbox_id] = latest_metric(sandbox)
        return json_response(200, {"sandboxes": found})

    def sandbox_logs(self, call: Call) -> Response:
        sandbox = self.store.get_sandbox(call.team, call.params["sandboxID"])
        entries = filter_logs(list(sandbox.logs), call, 1000, 1000)
        return json_response(200, {"logs": [log_entry_json(e) for e in entries]})

    # templates

    def team_templates(self, team: Team) -> list[Template]:
        with self.store.lock:
            templates = [t for t in self.store.templates.values() if t.team is team]
        return sorted(templates, key=lambda t: (t.created_at, t.template_id))

    def list_templates(self, call: Call) -> Response:
        return json_response(200, [template_json(t) for t in self.team_templates(call.team)])

    def list_templates_v2(self, call: Call) -> Response:
        limit = call.int_arg("limit", 100, 1, 100)
        templates = self.team_templates(call.team)
        token = call.args.get("nextToken")
        if token:
            (template_id,) = decode_token(token, 1)
            ids = [t.template_id for t in templates]
            if template_id not in ids:
                raise bad_request("nextToken", "is not a token this server issued")
            templates = templates[ids.index(template_id) + 1 :]
        headers = {}
        if len(templates) > limit:
            headers["X-Next-Token"] = encode_token(templates[limit - 1].template_id)
        return json_response(200, [template_json(t) for t in templates[:limit]], headers)

    def get_template(self, call: Call) -> Response:
        template = self.store.own_template(call.team, call.params["templateID"])
        limit = call.int_arg("limit", 100, 1, 100)
        builds = list(reversed(template.builds))
        token = call.args.get("nextToken")
        if token:
            (build_id,) = decode_token(token, 1)
            ids = [b.build_id for b in builds]
            if build_id not in ids:
                raise bad_request("nextToken", "is not a token this server issued")
            builds = builds[ids.index(build_id) + 1 :]
        headers = {}
        if len(builds) > limit:
            headers["X-Next-Token"] = encode_token(builds[limit - 1].build_id)
        body = template_json(template)
        body["builds"] = [build_json(b) for b in builds[:limit]]
        return json_response(200, body, headers)

    def delete_template(self, call: Call) -> Response:
        template = self.store.own_template(call.team, call.params["templateID"])
        with self.store.lock:
            self.store.templates.pop(template.template_id, None)
        return json_response(204)

    def template_alias(self, call: Call) -> Response:
        template = self.store.template_by_name(call.params["alias"])
        if template is None:
            raise not_found(f"template '{call.params['alias']}'")
        if template.team is not call.team:
            raise ApiError(403, f"template '{call.params['alias']}' belongs to another team")
        return json_response(200, {"templateID": template.template_id, "public": template.public})

    def request_build(self, call: Call) -> Response:
        body = call.body()
        full_name = field(body, "name", str, required=True).strip()
        if not full_name:
            raise bad_request("name", "must not be empty")
        tags = field(body, "tags", list, [])
        if not all(isinstance(t, str) for t in tags):
            raise bad_request("tags", "must be a list of strings")
        cpu_count = field(body, "cpuCount", int, 2)
        memory_mb = field(body, "memoryMB", int, 512)
        if cpu_count < 1:
            raise bad_request("cpuCount", "must be at least 1")
        if memory_mb < 128:
            raise bad_request("memoryMB", "must be at least 128")
        field(body, "minFreeDiskMb", int, None)
        name, _, tag = full_name.split("/", 1)[-1].partition(":")
        tags = list(dict.fromkeys([*([tag] if tag else []), *tags])) or ["default"]
        moment = now()
        with self.store.lock:
            template = self.store.template_by_name(name)
            if template is not None and template.team is not call.team:
                raise ApiError(403, f"template name '{name}' is taken by another team")
            if template is None:
                template = Template(
                    template_id=new_id(),
                    team=call.team,
                    names=[name],
                    tags=tags,
                    public=False,
                    created_at=moment,
                    updated_at=moment,
                )
                self.store.templates[template.template_id] = template
            template.cpu_count = cpu_count
            template.memory_mb = memory_mb
            template.tags = list(dict.fromkeys([*template.tags, *tags]))
            build = Build(
                build_id=str(uuid.uuid4()),
                template=template,
                status="waiting",
                created_at=moment,
                updated_at=moment,
                cpu_count=cpu_count,
                memory_mb=memory_mb,
                disk_size_mb=template.disk_size_mb,
            )
            template.builds.append(build)
        return json_response(
            202,
            {
                "templateID": template.template_id,
                "buildID": build.build_id,
                "public": template.public,
                "names": list(template.names),
                "tags": tags,
                "aliases": list(template.names),
            },
        )

    def files_link(self, call: Call) -> Response:
        template = self.store.own_template(call.team, call.params["templateID"])
        files_hash = call.params["hash"]
        if self.store.has_files(call.team, files_hash):
            return json_response(201, {"present": True})
        token = self.store.upload_token(call.team, files_hash)
        url = f"{call.request.host_url}_uploads/{token}"
        return json_response(
            201, {"present": False, "url": url, "headers": {"X-Template-ID": template.template_id}}
        )

    def start_build(self, call: Call) -> Response:
        body = call.body()
        build = self.store.own_build(call.team, call.params["templateID"], call.params["buildID"])
        field(body, "fromImage", str)
        field(body, "fromTemplate", str)
        field(body, "startCmd", str)
        field(body, "readyCmd", str)
        field(body, "force", bool)
        steps = field(body, "steps", list, [])
        for index, step in enumerate(steps):
            if not isinstance(step, dict) or not isinstance(step.get("type"), str):
                raise bad_request(f"steps[{index}].type", "is required")
            if not isinstance(step.get("args", []), list):
                raise bad_request(f"steps[{index}].args", "must be a list")
        with self.store.lock:
            if build.spec is not None:
                raise ApiError(409, f"build '{build.build_id}' was already started")
            build.spec = body
        self.builder.start(build, body)
        return json_response(202)

    def build_status(self, call: Call) -> Response:
        build = self.store.own_build(call.team, call.params["templateID"], call.params["buildID"])
        offset = call.int_arg("logsOffset", 0, 0)
        limit = call.int_arg("limit", 100, 0, 100)
        level = call.choice_arg("level", LEVELS, None)
        with self.store.lock:
            entries = list(build.logs)
            status = build.status
            reason = build.reason
        if level:
            entries = [e for e in entries if LEVELS.index(e.level) >= LEVELS.index(level)]
        body = {
            "templateID": build.template.template_id,
            "buildID": build.build_id,
            "status": status,
            "logs": [],
            "logEntries": [build_log_json(e) for e in entries[offset : offset + limit]],
        }
        if reason:
            body["reason"] = reason_json(reason)
        return json_response(200, body)

    def build_logs(self, call: Call) -> Response:
        build = self.store.own_build(call.team, call.params["templateID"], call.params["buildID"])
        call.choice_arg("source", ("temporary", "persistent"), None)
        entries = filter_logs(list(build.logs), call, 100, 100)
        return json_response(200, {"logs": [build_log_json(e) for e in entries]})

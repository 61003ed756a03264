"""One loopback port for REST, envd, uploads and the local control endpoints."""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .builds import Builder
from .envd import Envd
from .errors import ApiError
from .faults import Faults
from .rest import Rest, error_response, json_response
from .state import Store, Team

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
UPLOADS = "/_uploads/"
CONTROL = "/_local/"


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def raw_path(environ) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return environ.get("PATH_INFO", "/")
    return urlsplit(raw).path or "/"


class App:
    def __init__(self, store: Store, build_seconds: float = 3.0, step_seconds: float | None = None):
        self.store = store
        self.faults = Faults()
        self.builder = Builder(store, build_seconds, step_seconds, self.faults.builds_stalled)
        self.rest = Rest(store, self.builder)
        self.envd = Envd(store)

    def team_of(self, environ) -> Team | None:
        team = self.store.team_for_key(environ.get("HTTP_X_API_KEY"))
        if team is None and "HTTP_E2B_SANDBOX_ID" in environ:
            sandbox = self.store.sandbox_by_id(environ["HTTP_E2B_SANDBOX_ID"])
            team = sandbox.team if sandbox else None
        return team

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = raw_path(environ)
        if path.startswith(CONTROL):
            return self.control(request, path)(environ, start_response)
        team = self.team_of(environ)
        action = self.faults.take(path, team.name if team else None)
        if action.latency:
            time.sleep(action.latency)
        if action.drop:
            drop(environ)
        if action.status is not None:
            response = error_response(action.status, action.message, action.headers)
            return response(environ, start_response)
        if path.startswith(UPLOADS):
            return self.upload(request, path)(environ, start_response)
        if self.envd.handles(environ):
            return self.envd(environ, start_response)
        return self.rest(request, team, path)(environ, start_response)

    def upload(self, request: Request, path: str) -> Response:
        if request.method != "PUT":
            return error_response(405, "uploads take PUT")
        token = path[len(UPLOADS) :]
        if not self.store.receive_upload(token, request.get_data()):
            return error_response(404, "unknown or used upload URL")
        return Response(status=200)

    def control(self, request: Request, path: str) -> Response:
        if not is_loopback(request.remote_addr):
            return error_response(403, "control endpoints answer loopback clients only")
        try:
            return self.control_call(request, path)
        except ApiError as error:
            return error_response(error.status, error.message)

    def control_call(self, request: Request, path: str) -> Response:
        route = (request.method, path.rstrip("/"))
        if route == ("GET", "/_local/faults"):
            return json_response(200, self.faults.describe())
        if route == ("POST", "/_local/faults"):
            fault = self.faults.add(control_body(request))
            return json_response(201, {"id": fault.id})
        if route in (("DELETE", "/_local/faults"), ("POST", "/_local/faults/reset")):
            self.faults.reset()
            return json_response(204)
        if route == ("POST", "/_local/teams"):
            body = control_body(request)
            api_key = body.get("api_key")
            name = body.get("team")
            if not isinstance(api_key, str) or not api_key:
                raise ApiError(400, "invalid 'api_key': is required")
            if name is not None and not isinstance(name, str):
                raise ApiError(400, "invalid 'team': must be a string")
            team = self.store.add_team(api_key, name)
            return json_response(201, {"team": team.name, "teamID": team.team_id})
        if route == ("GET", "/_local/teams"):
            with self.store.lock:
                teams = list(self.store.teams_by_name.values())
            return json_response(200, [{"team": t.name, "teamID": t.team_id} for t in teams])
        raise ApiError(404, f"no control endpoint {request.method} {path}")


def control_body(request: Request) -> dict:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError as error:
        raise ApiError(400, f"malformed JSON body: {error}") from error
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


def drop(environ) -> None:
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionResetError("connection dropped by an injected fault")


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        pass


def parse_key(value: str) -> tuple[str, str | None]:
    key, _, team = value.partition("=")
    return key, team or None


def reap_forever(store: Store, stop: threading.Event) -> None:
    while not stop.wait(0.25):
        store.reap()


def serve(
    host: str,
    port: int,
    api_keys: list[str],
    root: Path | None = None,
    build_seconds: float = 3.0,
    step_seconds: float | None = None,
) -> None:
    if host not in LOOPBACK_HOSTS and not is_loopback(host):
        raise SystemExit(f"e2b_local binds to loopback only, not {host}")
    store = Store(root)
    for value in api_keys:
        store.add_team(*parse_key(value))
    app = App(store, build_seconds, step_seconds)
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    stop = threading.Event()
    threading.Thread(target=reap_forever, args=(store, stop), daemon=True).start()

    def shut_down(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"e2b_local listening on http://{shown_host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()
        store.close()
        sys.stdout.flush()

"""Every SDK call in CONTRACT.md, through the real SDK, with every JSON answer checked
against E2B's OpenAPI spec."""

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from e2b import CommandExitException, Sandbox, SandboxQuery, SandboxState, Template
from e2b.exceptions import BuildException, SandboxNotFoundException
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import PathError
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_input_stream

from e2b_local.server import App, QuietHandler
from e2b_local.state import Store

# E2B's own server spec, in the shared reference folder beside the checkout.
SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "e2b" / "infra-openapi.yml"
KEY = "e2b_" + "ab" * 20
OTHER_KEY = "e2b_" + "cd" * 20


class Recorder:
    """Keeps each REST request and JSON answer; envd streams pass through untouched."""

    def __init__(self, app):
        self.app = app
        self.exchanges = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/process.", "/_uploads/")) or "HTTP_E2B_SANDBOX_ID" in environ:
            return self.app(environ, start_response)
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        seen = {}

        def record_start(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        answer = b"".join(self.app(environ, record_start))
        with self.lock:
            self.exchanges.append(
                (
                    environ["REQUEST_METHOD"],
                    environ.get("RAW_URI") or path,
                    body,
                    seen["status"],
                    seen["headers"],
                    answer,
                )
            )
        return [answer]


@pytest.fixture(scope="module")
def recorded():
    store = Store()
    store.add_team(KEY, "contract")
    store.add_team(OTHER_KEY, "contract-other")
    recorder = Recorder(App(store, build_seconds=0.4))
    server = make_server("127.0.0.1", 0, recorder, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.port}"
    yield url, recorder
    server.shutdown()
    store.close()


def sdk(url, key=KEY):
    return {"api_key": key, "api_url": url, "sandbox_url": url}


def api(url, key=KEY):
    return {"api_key": key, "api_url": url}


def test_it_drives_every_sdk_call_and_answers_match_the_spec(recorded, tmp_path):
    url, recorder = recorded
    metadata = {"team name": "a b&c=d", "city": "Zürich"}
    sandbox = Sandbox.create(metadata=metadata, envs={"GREETING": "hi"}, timeout=120, **sdk(url))
    listed = Sandbox.list(query=SandboxQuery(metadata=metadata), **sdk(url)).next_items()
    assert [s.sandbox_id for s in listed] == [sandbox.sandbox_id]
    assert sandbox.get_info().metadata == metadata
    sandbox.set_timeout(300)
    result = sandbox.commands.run("echo $GREETING; echo oops >&2", envs={"X": "1"})
    assert (result.stdout, result.stderr, result.exit_code) == ("hi\n", "oops\n", 0)
    with pytest.raises(CommandExitException):
        sandbox.commands.run("exit 7")
    assert sandbox.get_metrics()
    assert sandbox.pause() is True
    assert sandbox.pause() is False
    paused = Sandbox.list(query=SandboxQuery(state=[SandboxState.PAUSED]), **sdk(url))
    assert [s.sandbox_id for s in paused.next_items()] == [sandbox.sandbox_id]
    Sandbox.connect(sandbox.sandbox_id, **sdk(url))
    Sandbox.connect(sandbox.sandbox_id, **sdk(url))
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info(sandbox.sandbox_id, **sdk(url, OTHER_KEY))
    assert Sandbox.kill(sandbox.sandbox_id, **sdk(url, OTHER_KEY)) is False
    assert sandbox.kill() is True
    assert sandbox.kill() is False
    with pytest.raises(SandboxNotFoundException):
        sandbox.get_info()

    (tmp_path / "app.py").write_text("print('hi')\n")
    dockerfile = "FROM python:3.11\nCOPY app.py /app/app.py\nRUN echo ok\nCMD python /app/app.py"
    template = Template(file_context_path=tmp_path).from_dockerfile(dockerfile)
    info = Template.build(template, "contract-app", **api(url))
    assert Template.exists("contract-app", **api(url))
    assert Template.exists("contract-app", **api(url, OTHER_KEY))
    assert not Template.exists("contract-none", **api(url))
    background = Template.build_in_background(template, "contract-app-2", **api(url))
    offset = 0
    while True:
        status = Template.get_build_status(background, logs_offset=offset, **api(url))
        offset += len(status.log_entries)
        if status.status.value == "ready" and not status.log_entries:
            break
        time.sleep(0.1)
    failing = Template().from_image("ubuntu").run_cmd("exit 1")
    with pytest.raises(BuildException):
        Template.build(failing, "contract-bad", **api(url))
    from_template = Sandbox.create(info.template_id, **sdk(url))
    from_template.kill()

    headers = {"X-API-Key": KEY}
    for path in (
        "/templates",
        "/v2/templates",
        f"/templates/{info.template_id}",
        f"/templates/{info.template_id}/builds/{info.build_id}/logs",
        "/templates/aliases/contract-app",
        "/sandboxes/metrics?sandbox_ids=nope",
        "/v2/sandboxes?limit=1000",
        "/v2/sandboxes?state=gone",
    ):
        httpx.get(url + path, headers=headers)
    httpx.get(url + "/v2/sandboxes", headers={"X-API-Key": "e2b_unknown"})
    httpx.post(url + "/v2/sandboxes", headers=headers, content=b"{not json")
    httpx.post(url + "/v2/sandboxes", headers=headers, json={"timeout": 5})

    validated = validate(recorder.exchanges)
    assert validated >= 30


def validate(exchanges) -> int:
    spec = OpenAPI.from_file_path(str(SPEC))
    validated = 0
    undescribed = set()
    for method, raw_uri, body, status, headers, answer in exchanges:
        content_type = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        if not content_type.startswith("application/json"):
            continue
        payload = json.loads(answer)
        if int(status.split()[0]) >= 400:
            assert set(payload) <= {"code", "message", "error_code"}, (raw_uri, payload)
            assert isinstance(payload["code"], int) and isinstance(payload["message"], str)
        path, _, query = raw_uri.partition("?")
        path = described_path(method, path)
        request = EnvironBuilder(
            method=method,
            base_url="https://api.e2b.app",
            path=path,
            query_string=query,
            headers={"X-API-Key": KEY, "Content-Type": "application/json"},
            data=body,
        ).get_request()
        response = Response(answer, status=int(status.split()[0]), headers=headers)
        try:
            spec.validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
            )
        except PathError:
            undescribed.add((method, path))
            continue
        validated += 1
    assert undescribed <= {("GET", "/health")}, undescribed
    return validated


def described_path(method: str, path: str) -> str:
    """The SDK's newer paths answer with the same schemas as the spec's older ones."""
    if (method, path) == ("POST", "/v2/sandboxes"):
        return "/sandboxes"
    if method == "POST" and path.startswith("/v2/sandboxes/") and path.endswith("/connect"):
        return path[len("/v2") :]
    return path


def test_it_pages_through_250_sandboxes(e2b):
    key = e2b.add_team(f"paging-{time.monotonic_ns()}")
    with ThreadPoolExecutor(16) as pool:
        created = set(
            pool.map(
                lambda _: Sandbox.create(timeout=120, **e2b.sdk_kwargs(key)).sandbox_id, range(250)
            )
        )
    paginator = Sandbox.list(limit=100, **e2b.sdk_kwargs(key))
    pages = []
    while paginator.has_next:
        pages.append([s.sandbox_id for s in paginator.next_items()])
    assert [len(p) for p in pages] == [100, 100, 50]
    assert set().union(*pages) == created
    oldest_first = Sandbox.list(limit=100, query=SandboxQuery(), **e2b.sdk_kwargs(key))
    assert len(oldest_first.next_items()) == 100
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: Sandbox.kill(i, **e2b.sdk_kwargs(key)), created))


def test_it_answers_50_concurrent_list_requests(e2b):
    sandbox = Sandbox.create(**e2b.sdk_kwargs())
    barrier = threading.Barrier(50)

    def list_once(_):
        barrier.wait()
        return Sandbox.list(**e2b.sdk_kwargs()).next_items()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(list_once, range(50)))
    assert all(sandbox.sandbox_id in {s.sandbox_id for s in r} for r in results)
    sandbox.kill()

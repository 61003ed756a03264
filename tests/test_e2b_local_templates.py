import time

import httpx
import pytest
from e2b import Sandbox, Template
from e2b.api.client.models import Template as TemplateModel
from e2b.api.client.models import TemplateWithBuilds
from e2b.exceptions import BuildException


def api(e2b, api_key=None):
    kwargs = e2b.sdk_kwargs(api_key)
    kwargs.pop("sandbox_url")
    return kwargs


def headers(e2b, api_key=None):
    return {"X-API-Key": api_key or e2b.api_key}


@pytest.fixture
def context(tmp_path):
    (tmp_path / "hello.txt").write_text("hello")
    return tmp_path


def unique(name):
    return f"{name}-{time.monotonic_ns()}"


def test_it_builds_a_dockerfile_with_a_copy_and_creates_sandboxes_from_it(e2b, context):
    dockerfile = "FROM python:3.11\nCOPY hello.txt /app/hello.txt\nRUN echo built\n"
    template = Template(file_context_path=context).from_dockerfile(dockerfile)
    logs = []
    name = unique("copy-tpl")
    info = Template.build(template, name, on_build_logs=logs.append, **api(e2b))
    messages = [entry.message for entry in logs]
    assert any("COPY hello.txt /app/hello.txt" in m for m in messages)
    assert any("Build finished" in m for m in messages)
    by_name = Sandbox.create(name, **e2b.sdk_kwargs())
    by_id = Sandbox.create(info.template_id, **e2b.sdk_kwargs())
    assert by_name.get_info().template_id == info.template_id
    assert by_id.get_info().template_id == info.template_id
    by_name.kill()
    by_id.kill()


def test_it_skips_uploading_files_it_already_has(e2b, context):
    template = Template(file_context_path=context).from_image("ubuntu").copy("hello.txt", "/app/")
    Template.build(template, unique("cached-a"), **api(e2b))
    logs = []
    Template.build(template, unique("cached-b"), on_build_logs=logs.append, **api(e2b))
    assert any("already cached" in entry.message for entry in logs)


def test_it_reports_status_with_log_offsets_in_the_background(e2b):
    template = Template().from_image("ubuntu").run_cmd("echo one").run_cmd("echo two")
    build = Template.build_in_background(template, unique("bg-tpl"), **api(e2b))
    offset, entries, statuses = 0, [], []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = Template.get_build_status(build, logs_offset=offset, **api(e2b))
        statuses.append(status.status.value)
        entries += status.log_entries
        offset += len(status.log_entries)
        if status.status.value in ("ready", "error") and not status.log_entries:
            break
        time.sleep(0.05)
    assert statuses[-1] == "ready"
    assert statuses[0] == "waiting"
    assert "building" in statuses
    whole = Template.get_build_status(build, logs_offset=0, **api(e2b)).log_entries
    assert [e.message for e in entries] == [e.message for e in whole]
    tail = Template.get_build_status(build, logs_offset=len(whole) - 2, **api(e2b))
    assert [e.message for e in tail.log_entries] == [e.message for e in whole[-2:]]


def test_it_fails_a_build_at_the_step_that_exits_1(e2b):
    template = Template().from_image("ubuntu").run_cmd("echo fine").run_cmd("make && exit 1")
    with pytest.raises(BuildException, match="exit 1") as failure:
        Template.build(template, unique("bad-tpl"), **api(e2b))
    assert "step 2" in str(failure.value)
    build = Template.build_in_background(template, unique("bad-bg"), **api(e2b))
    deadline = time.monotonic() + 15
    while (status := Template.get_build_status(build, **api(e2b))).status.value != "error":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status.reason.step == "2"
    assert "RUN make && exit 1" in status.reason.message


def test_it_tells_whether_a_name_exists(e2b):
    name = unique("exists-tpl")
    assert Template.exists(name, **api(e2b)) is False
    Template.build(Template().from_image("ubuntu"), name, **api(e2b))
    assert Template.exists(name, **api(e2b)) is True
    assert Template.exists(name, **api(e2b, e2b.other_api_key)) is True
    mine = httpx.get(f"{e2b.url}/templates/aliases/{name}", headers=headers(e2b))
    theirs = httpx.get(
        f"{e2b.url}/templates/aliases/{name}", headers=headers(e2b, e2b.other_api_key)
    )
    free = httpx.get(f"{e2b.url}/templates/aliases/{name}-free", headers=headers(e2b))
    assert (mine.status_code, theirs.status_code, free.status_code) == (200, 403, 404)


def test_it_lists_shows_and_deletes_templates(e2b):
    name = unique("listed-tpl")
    info = Template.build(Template().from_image("ubuntu"), name, **api(e2b))
    for path in ("/templates", "/v2/templates?limit=100"):
        listed = httpx.get(e2b.url + path, headers=headers(e2b)).json()
        templates = [TemplateModel.from_dict(t) for t in listed]
        assert info.template_id in {t.template_id for t in templates}
    other = httpx.get(f"{e2b.url}/templates", headers=headers(e2b, e2b.other_api_key)).json()
    assert info.template_id not in {t["templateID"] for t in other}
    detail = httpx.get(f"{e2b.url}/templates/{info.template_id}", headers=headers(e2b))
    with_builds = TemplateWithBuilds.from_dict(detail.json())
    assert [str(b.build_id) for b in with_builds.builds] == [info.build_id]
    assert with_builds.builds[0].status.value == "ready"
    deleted = httpx.delete(f"{e2b.url}/templates/{info.template_id}", headers=headers(e2b))
    assert deleted.status_code == 204
    gone = httpx.get(f"{e2b.url}/templates/{info.template_id}", headers=headers(e2b))
    assert gone.status_code == 404
    assert set(gone.json()) == {"code", "message"}


def test_it_has_a_builtin_base_template(e2b):
    sandbox = Sandbox.create("base", **e2b.sdk_kwargs())
    assert sandbox.get_info().name == "base"
    sandbox.kill()

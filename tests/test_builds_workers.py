"""Builds followed by real worker processes: one killed mid-build, two side by side.

The workers are those of the configured task backend: `manage.py db_worker` for the
database backend, `manage.py rqworker` for Redis (tests/test_task_backends.py runs this
file again with PORTAL_TASK_BACKEND=rq).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from portal.models import E2BApiKey
from templates_app import services
from templates_app.models import BuildStatus, TemplateBuild
from tests.test_builds import e2b_builds_of, e2b_log_of

ROOT = Path(__file__).resolve().parent.parent
STALE_SECONDS = 1.5

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def worker_timing(settings):
    settings.TEMPLATE_BUILD_POLL_SECONDS = 0.1
    settings.TEMPLATE_BUILD_STALE_SECONDS = STALE_SECONDS


def database_url():
    """The test database, as DATABASE_URL for processes the test starts."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, name):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "PORTAL_TASK_BACKEND": settings.PORTAL_TASK_BACKEND,
            "REDIS_URL": settings.REDIS_URL,
            "TEMPLATE_BUILD_POLL_SECONDS": "0.1",
            "TEMPLATE_BUILD_STALE_SECONDS": str(STALE_SECONDS),
            "LOG_LEVEL": "WARNING",
        }
        if settings.PORTAL_TASK_BACKEND == "rq":
            command = [sys.executable, "manage.py", "rqworker", "default", "--job-class", "django_tasks_rq.Job"]
            command += ["--name", f"{name}-{uuid.uuid4().hex[:6]}"]
        else:
            command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1", "--no-startup-delay"]
            command += ["--worker-id", name]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, start_new_session=True,
            stdout=None if os.environ.get("SHOW_WORKERS") else subprocess.DEVNULL,
            stderr=None if os.environ.get("SHOW_WORKERS") else subprocess.DEVNULL,
        )

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers():
    started = []

    def start(name):
        worker = Worker(name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(condition, timeout=30, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def on_local_e2b(org, e2b, api_key):
    org.api_url = org.sandbox_url = e2b.url
    org.template_alias = f"{org.slug}-{uuid.uuid4().hex[:8]}"
    org.save()
    key = E2BApiKey(organization=org, label="local", is_active=True)
    key.set_secret(api_key)
    key.save()
    return org


def test_it_finishes_a_build_whose_worker_was_killed_mid_build(client, org, org_admin, e2b, workers):
    on_local_e2b(org, e2b, e2b.api_key)
    e2b.set_fault(stall_builds=True, team="team-1")
    build, _ = services.start_build(org, user=org_admin)
    first = workers("worker-a")
    build = wait_for(lambda: TemplateBuild.objects.filter(pk=build.pk, log_offset__gte=1).exclude(build_id="").first())
    started = (build.template_id, build.build_id)
    first.kill()
    consumed = TemplateBuild.objects.get(pk=build.pk).log_offset
    e2b.reset_faults()  # E2B carries on building while nobody follows

    workers("worker-b")
    client.force_login(org_admin)

    def followed_again():
        # Someone watching the build page is what notices the silent worker.
        client.get(reverse("build_detail", args=[org.slug, build.pk]))
        current = TemplateBuild.objects.get(pk=build.pk)
        return current if current.status == BuildStatus.READY else None

    build = wait_for(followed_again, interval=0.3)
    assert (build.template_id, build.build_id) == started
    assert len(e2b_builds_of(e2b, build.template_id)) == 1
    assert build.log_offset > consumed
    assert list(build.lines.values_list("seq", flat=True)) == list(range(build.log_offset))
    assert list(build.lines.values_list("message", flat=True)) == e2b_log_of(e2b, build)
    if settings.PORTAL_TASK_BACKEND == "db":
        killed, *others = DBTaskResult.objects.order_by("enqueued_at")
        assert killed.status == "RUNNING" and killed.worker_ids == ["worker-a"]
        assert [(t.worker_ids, t.return_value) for t in others] == [(["worker-b"], "ready")]
    org.refresh_from_db()
    assert org.runtime_template == build.alias


def test_it_follows_each_build_once_with_two_workers(org, other_org, org_admin, other_admin, e2b, workers):
    on_local_e2b(org, e2b, e2b.api_key)
    on_local_e2b(other_org, e2b, e2b.other_api_key)
    acme, _ = services.start_build(org, user=org_admin)
    globex, _ = services.start_build(other_org, user=other_admin)
    services.enqueue_follow(acme.pk)  # a duplicate task, as a second recovery would leave
    workers("worker-a")
    workers("worker-b")
    wait_for(lambda: not TemplateBuild.objects.active().exists())
    for build, api_key in [(acme, e2b.api_key), (globex, e2b.other_api_key)]:
        build.refresh_from_db()
        assert build.status == BuildStatus.READY, build.error_reason
        assert len(e2b_builds_of(e2b, build.template_id, api_key)) == 1
        assert list(build.lines.values_list("message", flat=True)) == e2b_log_of(e2b, build, api_key)
    if settings.PORTAL_TASK_BACKEND == "db":
        wait_for(lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 3)
        results = sorted(DBTaskResult.objects.values_list("return_value", flat=True))
        assert results == ["followed elsewhere", "ready", "ready"]
        assert {w for t in DBTaskResult.objects.all() for w in t.worker_ids} <= {"worker-a", "worker-b"}

import threading
import time

import pytest
from django.db import connection
from django.utils import timezone
from e2b import Template

from portal.models import AuditEvent, E2BApiKey
from templates_app import services
from templates_app.models import BuildLogLine, BuildStatus, TemplateBuild


@pytest.fixture(autouse=True)
def fast_polling(settings):
    settings.TEMPLATE_BUILD_POLL_SECONDS = 0.05
    settings.TEMPLATE_BUILD_STALE_SECONDS = 5


def failing_template():
    return Template().from_image("ubuntu:22.04").run_cmd("echo preparing").run_cmd("exit 1")


def quick_template():
    return Template().from_image("ubuntu:22.04").run_cmd("echo one").run_cmd("echo two")


def test_it_builds_the_seed_template_and_makes_it_the_runtime_template(e2b_org, org_admin):
    build, created = services.start_build(e2b_org, user=org_admin, enqueue=False)
    assert created
    build = services.follow(build.pk)
    assert build.status == BuildStatus.READY, build.error_reason
    assert build.template_id and build.build_id
    seqs = list(build.lines.values_list("seq", flat=True))
    assert seqs == list(range(len(seqs))) and len(seqs) == build.log_offset > 5
    assert build.lines.last().message == "Build finished"
    assert build.step_total > 5
    e2b_org.refresh_from_db()
    assert e2b_org.runtime_template == build.alias
    assert AuditEvent.objects.filter(action="build.ready", organization=e2b_org).exists()


def e2b_builds_of(e2b, template_id, api_key=None):
    """The builds E2B holds for a template, through the SDK's generated client."""
    from e2b.api.client.api.templates import get_templates_template_id
    from e2b.api.client_sync import get_api_client
    from e2b.connection_config import ConnectionConfig

    client = get_api_client(ConnectionConfig(**e2b.sdk_kwargs(api_key)))
    return get_templates_template_id.sync(template_id=template_id, client=client).builds


def e2b_log_of(e2b, build, api_key=None):
    """Every message of the build's log as E2B holds it."""
    from e2b.api.client.api.templates import get_templates_template_id_builds_build_id_status
    from e2b.api.client_sync import get_api_client
    from e2b.connection_config import ConnectionConfig

    client = get_api_client(ConnectionConfig(**e2b.sdk_kwargs(api_key)))
    info = get_templates_template_id_builds_build_id_status.sync(
        template_id=build.template_id, build_id=build.build_id, client=client, logs_offset=0, limit=100
    )
    return [entry.message for entry in info.log_entries]


class Died(Exception):
    """Stands in for a worker process that stops mid-build."""


def test_it_shows_the_failing_step_and_its_reason(e2b_org, org_admin):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    build = services.follow(build.pk, template=failing_template())
    assert build.status == BuildStatus.ERROR
    assert build.error_step == "2"
    assert "exit 1" in build.error_reason and "exit status 1" in build.error_reason
    assert build.lines.filter(level="error", step="2").exists()
    e2b_org.refresh_from_db()
    assert e2b_org.runtime_template == ""


def test_it_shows_the_running_build_on_a_second_press(e2b_org, org_admin):
    first, created = services.start_build(e2b_org, user=org_admin, enqueue=False)
    second, created_again = services.start_build(e2b_org, user=org_admin, enqueue=False)
    assert created and not created_again
    assert second.pk == first.pk
    assert TemplateBuild.objects.count() == 1
    # Once it has ended, a new press starts a new build.
    TemplateBuild.objects.filter(pk=first.pk).update(status=BuildStatus.ERROR)
    third, created = services.start_build(e2b_org, user=org_admin, enqueue=False)
    assert created and third.pk != first.pk


@pytest.mark.django_db(transaction=True)
def test_it_starts_one_build_when_two_people_press_at_once(org, org_admin):
    presses = 6
    barrier = threading.Barrier(presses)
    results, errors = [], []

    def press():
        try:
            barrier.wait(5)
            results.append(services.start_build(org, user=org_admin, enqueue=False, source_hash=""))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=press) for _ in range(presses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert TemplateBuild.objects.count() == 1
    assert {build.pk for build, _ in results} == {TemplateBuild.objects.get().pk}
    assert sum(created for _, created in results) == 1


def test_it_retries_with_backoff_while_e2b_fails_and_keeps_the_same_build(e2b_org, org_admin, e2b):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    problems, sleeps = [], []

    def sleep(seconds):
        sleeps.append(seconds)
        current = TemplateBuild.objects.get(pk=build.pk)
        if current.follow_problem:
            problems.append((current.follow_problem, current.build_id, current.status))
        if len(sleeps) == 1:
            # From the first poll on, E2B's status endpoint fails: dropped, then 503s.
            e2b.set_fault("/templates/", drop=True, times=2)
            e2b.set_fault("/templates/", status=503, should_retry=False, times=2)

    build = services.follow(build.pk, template=quick_template(), sleep=sleep)
    assert build.status == BuildStatus.READY
    assert len(problems) >= 4
    assert any("unreachable" in problem for problem, _, _ in problems)
    assert {(build_id, status) for _, build_id, status in problems} == {(build.build_id, "building")}
    backoff = sleeps[1:5]
    assert backoff == sorted(backoff) and backoff[-1] > backoff[0]
    assert len(e2b_builds_of(e2b, build.template_id)) == 1
    assert build.follow_problem == ""


def test_it_times_out_a_stalled_build_past_its_deadline(e2b_org, org_admin, e2b):
    e2b.set_fault(stall_builds=True, team="team-1")
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    TemplateBuild.objects.filter(pk=build.pk).update(deadline=timezone.now() + timezone.timedelta(seconds=1))
    build = services.follow(build.pk, template=quick_template())
    assert build.status == BuildStatus.ERROR
    assert build.error_reason.startswith("timed out")
    assert build.template_id and build.finished_at


def test_it_keeps_following_the_same_build_when_e2b_stops_mid_build(org, org_admin, fresh_e2b):
    org.api_url = org.sandbox_url = fresh_e2b.url
    org.save()
    key = E2BApiKey(organization=org, label="local", is_active=True)
    key.set_secret(fresh_e2b.api_key)
    key.save()
    fresh_e2b.set_fault(stall_builds=True, team="team-1")
    build, _ = services.start_build(org, user=org_admin, enqueue=False)
    seen = []

    def sleep(seconds):
        current = TemplateBuild.objects.get(pk=build.pk)
        seen.append((current.status, current.build_id, current.follow_problem, current.log_offset))
        if fresh_e2b.running:
            fresh_e2b.stop()
            TemplateBuild.objects.filter(pk=build.pk).update(deadline=timezone.now() + timezone.timedelta(seconds=1))
        time.sleep(min(seconds, 0.2))

    build = services.follow(build.pk, template=quick_template(), sleep=sleep)
    assert seen[0][3] >= 1  # lines arrived before E2B went away
    unreachable = [s for s in seen if "unreachable" in s[2]]
    assert len(unreachable) >= 1
    assert {(status, build_id) for status, build_id, _, _ in unreachable} == {("building", build.build_id)}
    assert build.status == BuildStatus.ERROR and build.error_reason.startswith("timed out")


def test_it_stops_following_a_cancelled_build(e2b_org, org_admin, e2b):
    e2b.set_fault(stall_builds=True, team="team-1")
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    offsets = []

    def sleep(seconds):
        current = TemplateBuild.objects.get(pk=build.pk)
        if not offsets:
            assert services.cancel_build(current)
        offsets.append(current.log_offset)

    build = services.follow(build.pk, template=quick_template(), sleep=sleep)
    assert build.status == BuildStatus.CANCELLED
    assert "E2B may still finish" in build.error_reason
    assert build.lines.count() == offsets[0]
    assert not services.cancel_build(build)
    assert AuditEvent.objects.filter(action="build.cancel").count() == 1


def test_it_resumes_a_build_by_its_e2b_ids_after_its_worker_dies(e2b_org, org_admin, e2b):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)

    def die(seconds):
        raise Died

    with pytest.raises(Died):
        services.follow(build.pk, template=quick_template(), worker_id="worker-a", sleep=die)
    build.refresh_from_db()
    started = (build.template_id, build.build_id)
    assert build.status == BuildStatus.BUILDING and build.log_offset >= 1
    # While worker A's heartbeat is fresh nobody else takes the build.
    assert services.follow(build.pk, worker_id="worker-b") is None
    assert services.recover_stale_builds() == []

    TemplateBuild.objects.filter(pk=build.pk).update(heartbeat=timezone.now() - timezone.timedelta(seconds=60))
    recovered = services.recover_stale_builds()
    assert [b.pk for b in recovered] == [build.pk]
    build = services.follow(build.pk, template=failing_template(), worker_id="worker-b")
    assert build.status == BuildStatus.READY  # resumed the quick build, never built the failing one
    assert (build.template_id, build.build_id) == started
    assert len(e2b_builds_of(e2b, build.template_id)) == 1
    seqs = list(build.lines.values_list("seq", flat=True))
    assert seqs == list(range(build.log_offset))
    assert list(build.lines.values_list("message", flat=True)) == e2b_log_of(e2b, build)


def test_it_lets_a_worker_that_lost_its_claim_write_nothing(e2b_org, org_admin):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    assert services.claim(build.pk, "worker-a")
    TemplateBuild.objects.filter(pk=build.pk).update(claimed_by="worker-b")
    progress = services.Progress(status="building", entries=[])
    assert not services.record_progress(build, "worker-a", 0, progress, final=False)


def test_it_ends_in_error_without_an_active_key(org, org_admin):
    build, _ = services.start_build(org, user=org_admin, enqueue=False)
    build = services.follow(build.pk)
    assert build.status == BuildStatus.ERROR
    assert "no active E2B API key" in build.error_reason


def test_it_never_puts_the_e2b_key_in_a_build_or_its_audit(e2b_org, org_admin, e2b):
    e2b.set_fault("/v3/templates", status=401, message=f"bad key {e2b.api_key}")
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    build = services.follow(build.pk, template=quick_template())
    assert build.status == BuildStatus.ERROR
    assert "key rejected" in build.error_reason
    texts = [build.error_reason, *build.lines.values_list("message", flat=True)]
    texts += [str(e.details) + e.target for e in AuditEvent.objects.all()]
    assert not any(e2b.api_key in text for text in texts)


def test_it_enqueues_a_follow_task_on_commit(org, org_admin, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        build, _ = services.start_build(org, user=org_admin)
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"] == [build.pk]
    assert task.task_path == "templates_app.tasks.follow_build"


def test_it_hands_a_silent_build_to_a_new_task_once(org, org_admin, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    build, _ = services.start_build(org, user=org_admin, enqueue=False)
    TemplateBuild.objects.filter(pk=build.pk).update(
        claimed_by="dead-worker", heartbeat=timezone.now() - timezone.timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert len(services.recover_stale_builds()) == 1
        assert services.recover_stale_builds() == []
    build.refresh_from_db()
    assert build.claimed_by == ""
    assert DBTaskResult.objects.count() == 1


def test_it_tails_only_lines_after_the_last_one_with_a_level_filter(org, org_admin):
    build, _ = services.start_build(org, user=org_admin, enqueue=False)
    now = timezone.now()
    levels = ["info", "debug", "warn", "error", "info"]
    BuildLogLine.objects.bulk_create(
        BuildLogLine(build=build, seq=n, time=now, level=level, message=f"line {n}") for n, level in enumerate(levels)
    )
    assert [line.seq for line in services.tail(build, after=1)] == [2, 3, 4]
    assert [line.seq for line in services.tail(build, after=-1, level="warn")] == [2, 3]
    assert [line.seq for line in services.tail(build, after=3, limit=5)] == [4]
    text = "".join(services.log_text(build))
    assert text.count("\n") == 5 and "[error] line 3" in text


def test_it_ends_a_build_whose_key_cannot_be_decrypted(e2b_org, org_admin, settings):
    from cryptography.fernet import Fernet

    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    settings.PORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    build = services.follow(build.pk, template=quick_template())
    assert build.status == BuildStatus.ERROR
    assert "cannot be decrypted" in build.error_reason
    assert not build.build_id


def test_it_ends_a_build_whose_template_cannot_be_read(e2b_org, org_admin, tmp_path):
    (tmp_path / "e2b.Dockerfile").write_text("FROM ubuntu:22.04\nCOPY missing.txt /srv/\n")
    unreadable = Template(file_context_path=str(tmp_path)).from_dockerfile(str(tmp_path / "e2b.Dockerfile"))
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    build = services.follow(build.pk, template=unreadable)
    assert build.status == BuildStatus.ERROR
    assert build.error_reason.startswith("The template cannot be read")
    assert not build.template_id  # E2B was never asked


def test_it_does_not_start_a_build_past_its_deadline(e2b_org, org_admin):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    TemplateBuild.objects.filter(pk=build.pk).update(deadline=timezone.now() - timezone.timedelta(seconds=1))
    build = services.follow(build.pk, template=quick_template())
    assert build.status == BuildStatus.ERROR and "timed out" in build.error_reason
    assert not build.template_id

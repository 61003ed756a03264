from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from e2b import Sandbox

from sandboxes import tasks
from sandboxes.models import SandboxRecord, SyncSchedule
from tests.test_sandbox_fixtures import *  # noqa: F403


def test_it_syncs_every_e2b_organization(acme, globex, make_sandbox, e2b, capsys):
    ours = make_sandbox(acme)
    paused = make_sandbox(globex)
    paused.pause()
    call_command("sync_sandboxes")
    assert capsys.readouterr().out.splitlines() == ["acme: 1 sandbox", "globex: 1 sandbox"]
    assert SandboxRecord.objects.get(sandbox_id=paused.sandbox_id).state == "paused"
    first_seen = SandboxRecord.objects.get(sandbox_id=ours.sandbox_id).first_seen

    Sandbox.kill(ours.sandbox_id, **e2b.sdk_kwargs(acme.team_key))
    call_command("sync_sandboxes")
    record = SandboxRecord.objects.get(sandbox_id=ours.sandbox_id)
    assert record.is_gone and record.first_seen == first_seen


def test_it_brings_back_a_record_that_reappears(acme, make_sandbox):
    sandbox = make_sandbox(acme)
    call_command("sync_sandboxes")
    SandboxRecord.objects.update(gone_at=timezone.now())
    call_command("sync_sandboxes")
    assert SandboxRecord.objects.get(sandbox_id=sandbox.sandbox_id).gone_at is None


def test_it_keeps_syncing_the_others_when_one_organization_fails(acme, globex, make_sandbox, capsys):
    make_sandbox(globex)
    acme.api_url = "http://127.0.0.1:9"
    acme.save()
    call_command("sync_sandboxes")
    captured = capsys.readouterr()
    assert "globex: 1 sandbox" in captured.out
    assert "acme: unreachable" in captured.err
    assert SandboxRecord.objects.filter(organization=globex).count() == 1


def test_it_schedules_the_periodic_sync_once(db, capsys, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_sandboxes", "--schedule")
        call_command("sync_sandboxes", "--schedule")
    out = capsys.readouterr().out
    assert out.splitlines() == ["Periodic sandbox sync enqueued.", "Periodic sandbox sync already running."]
    assert DBTaskResult.objects.filter(task_path="sandboxes.tasks.sync_sandbox_records").count() == 1


def test_the_periodic_task_syncs_and_enqueues_its_next_run(
    acme, make_sandbox, settings, django_capture_on_commit_callbacks
):
    settings.SANDBOX_SYNC_INTERVAL = 60
    sandbox = make_sandbox(acme)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.ensure_sync_scheduled()
    due = SyncSchedule.objects.get().next_run_at
    result = tasks.sync_sandbox_records.call(due.isoformat())
    assert result == {"acme": 1}
    assert SandboxRecord.objects.filter(sandbox_id=sandbox.sandbox_id).exists()
    schedule = SyncSchedule.objects.get()
    assert schedule.next_run_at >= due + timedelta(seconds=60)
    queued = DBTaskResult.objects.filter(task_path="sandboxes.tasks.sync_sandbox_records").order_by("enqueued_at")
    assert queued.count() == 2
    assert queued.last().run_after == schedule.next_run_at


def test_a_duplicate_chain_stops_itself(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.ensure_sync_scheduled()
    stale = (timezone.now() - timedelta(hours=1)).isoformat()
    assert tasks.sync_sandbox_records.call(stale) == {}
    assert DBTaskResult.objects.filter(task_path="sandboxes.tasks.sync_sandbox_records").count() == 1


def test_a_dead_chain_is_restarted(db, settings):
    settings.SANDBOX_SYNC_INTERVAL = 60
    SyncSchedule.objects.create(pk=1, next_run_at=timezone.now() - timedelta(minutes=5))
    assert tasks.ensure_sync_scheduled() is True
    assert tasks.ensure_sync_scheduled() is False

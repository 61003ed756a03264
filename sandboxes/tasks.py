"""The periodic sandbox sync: a task that re-enqueues itself with `run_after`.

django-tasks has no scheduler, so the chain is started by `manage.py sync_sandboxes
--schedule` (idempotent: run it at every deploy or start-up). The SyncSchedule row names
the one live link of the chain; a duplicate finds its due time stale and stops, and a
chain that died (a lost task) is restarted by the next `--schedule`.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from sandboxes import services
from sandboxes.models import SyncSchedule

log = logging.getLogger(__name__)


def sync_interval():
    return timedelta(seconds=settings.SANDBOX_SYNC_INTERVAL)


def _enqueue(due_at):
    sync_sandbox_records.using(run_after=due_at).enqueue(due_at.isoformat())


def ensure_sync_scheduled(now=None):
    """Start the chain unless a live one exists; returns True when it enqueued a task."""
    now = now or timezone.now()
    with transaction.atomic():
        schedule = SyncSchedule.objects.select_for_update().filter(pk=1).first()
        if schedule is not None and schedule.next_run_at > now - sync_interval():
            return False
        if schedule is None:
            schedule = SyncSchedule(pk=1)
        schedule.next_run_at = now
        schedule.save()
        transaction.on_commit(lambda: _enqueue(now))
    return True


@task()
def sync_sandbox_records(due_at):
    """Sync every E2B organization's records, after enqueuing the next run."""
    due = datetime.fromisoformat(due_at)
    now = timezone.now()
    next_due = max(due, now) + sync_interval()
    claimed = SyncSchedule.objects.filter(pk=1, next_run_at=due).update(next_run_at=next_due, last_run_at=now)
    if not claimed:
        log.info("sandbox sync due %s is not the live schedule; stopping this chain", due_at)
        return {}
    _enqueue(next_due)
    results = services.sync_all()
    return {slug: (count if isinstance(count, int) else str(count)) for slug, count in results.items()}

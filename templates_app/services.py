"""Template builds across the E2B boundary: start, follow, recover, cancel; the template list.

A build is followed by one worker at a time. The worker claims the build row, writes a
heartbeat on every poll, and every write it makes is guarded by its claim and by the log
offset it read, so a slow worker that lost its claim can neither double a line nor
overwrite a newer state. A build whose heartbeat went stale is handed to a new task by
`recover_stale_builds`, which resumes by the build's E2B IDs instead of starting again.
"""

import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from e2b import Template
from e2b.api import encode_path_param
from e2b.api.client.api.templates import (
    delete_templates_template_id,
    get_templates,
    get_templates_template_id_builds_build_id_status,
)
from e2b.api.client.types import Unset

from portal import audit
from portal.e2b import E2BError, Outcome, connection_for, parsed, translated_errors
from templates_app.models import BuildLogLine, BuildStatus, LogLevel, TemplateBuild

log = logging.getLogger(__name__)

# E2B's status endpoint returns at most this many log entries per call.
LOG_PAGE = 100
# E2B answers that mean the build cannot be followed any more; anything else is retried.
FATAL_OUTCOMES = {Outcome.KEY_REJECTED, Outcome.NOT_FOUND, Outcome.NO_KEY}
CANCEL_NOTE = "Cancelled{by}. E2B may still finish this build; the portal stopped following it."


def seed_source_hash():
    from e2b_template.template import source_hash

    try:
        return source_hash()
    except OSError:
        return ""


def seed_template():
    from e2b_template.template import make_template

    return make_template()


def actor_label(user=None, token=None):
    if token is not None:
        return f"token {token.prefix}"
    if user is not None and user.is_authenticated:
        return user.email
    return "command line"


# Starting


def start_build(organization, *, user=None, token=None, request=None, skip_cache=False, source_hash=None, enqueue=True):
    """(build, created): a new queued build, or the one of this alias already running."""
    if user is not None and not user.is_authenticated:
        user = None
    for _attempt in range(3):
        build = TemplateBuild(
            organization=organization,
            alias=organization.template_alias,
            requested_by=user,
            requested_by_label=actor_label(user, token),
            cpu_count=organization.template_cpu_count,
            memory_mb=organization.template_memory_mb,
            skip_cache=skip_cache,
            source_hash=seed_source_hash() if source_hash is None else source_hash,
        )
        try:
            with transaction.atomic():
                build.save()
                audit.record(
                    request,
                    "build.start",
                    organization,
                    target=f"build {build.pk}",
                    details={
                        "alias": build.alias,
                        "cpu_count": build.cpu_count,
                        "memory_mb": build.memory_mb,
                        "skip_cache": skip_cache,
                    },
                    token=token,
                )
        except IntegrityError:
            running = TemplateBuild.objects.active().filter(organization=organization, alias=build.alias).first()
            if running is not None:
                return running, False
            continue  # the running one ended in between: try again
        if enqueue:
            enqueue_follow(build.pk)
        return build, True
    raise RuntimeError("could not start or find a build")  # pragma: no cover


def enqueue_follow(build_id):
    from templates_app.tasks import follow_build

    transaction.on_commit(lambda: follow_build.enqueue(build_id))


# Following


@dataclass
class Progress:
    status: str
    entries: list
    reason_message: str = ""
    reason_step: str = ""

    @property
    def terminal(self):
        return self.status in ("ready", "error")


def new_worker_id():
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(4)}"


def claim(build_id, worker_id):
    """Take the build if nobody follows it, or its follower went silent. True if taken."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.TEMPLATE_BUILD_STALE_SECONDS)
    free = Q(claimed_by="") | Q(claimed_by=worker_id) | Q(heartbeat__lt=cutoff)
    taken = (
        TemplateBuild.objects.active()
        .filter(free, pk=build_id)
        .update(claimed_by=worker_id, heartbeat=now)
    )
    return taken == 1


def _mine(build, worker_id):
    return TemplateBuild.objects.active().filter(pk=build.pk, claimed_by=worker_id)


def fetch_progress(conn, build, offset):
    """One call of E2B's build status with the log entries after `offset`.

    The generated client rather than `Template.get_build_status`, which drops each
    entry's step, and the step is what the page's progress is made of.
    """
    with translated_errors(conn):
        response = get_templates_template_id_builds_build_id_status.sync_detailed(
            template_id=encode_path_param(build.template_id),
            build_id=build.build_id,
            client=conn.api_client(),
            logs_offset=offset,
            limit=LOG_PAGE,
        )
        info = parsed(response)
    reason = info.reason if not isinstance(info.reason, Unset) else None
    step = reason.step if reason is not None and not isinstance(reason.step, Unset) else ""
    return Progress(
        status=info.status.value,
        entries=list(info.log_entries),
        reason_message=reason.message if reason is not None else "",
        reason_step=step or "",
    )


def _line(build, seq, entry):
    level = entry.level.value if hasattr(entry.level, "value") else str(entry.level)
    step = entry.step if not isinstance(entry.step, Unset) and entry.step else ""
    return BuildLogLine(
        build=build,
        seq=seq,
        time=entry.timestamp,
        level=level if level in LogLevel.values else LogLevel.INFO,
        step=str(step)[:32],
        message=entry.message,
    )


def record_progress(build, worker_id, offset, progress, final):
    """Append the new lines and advance the offset in one transaction; False if not ours."""
    lines = [_line(build, offset + number, entry) for number, entry in enumerate(progress.entries)]
    now = timezone.now()
    changes = {"log_offset": offset + len(lines), "heartbeat": now, "follow_problem": ""}
    if lines:
        steps = [line.step for line in lines if line.step]
        if steps:
            changes["current_step"] = steps[-1]
    if final:
        changes["finished_at"] = now
        changes["status"] = BuildStatus.READY if progress.status == "ready" else BuildStatus.ERROR
        if progress.status == "error":
            changes["error_reason"] = progress.reason_message or "E2B reported the build failed."
            changes["error_step"] = progress.reason_step[:32]
    with transaction.atomic():
        if _mine(build, worker_id).filter(log_offset=offset).update(**changes) != 1:
            return False
        BuildLogLine.objects.bulk_create(lines)
        if final and progress.status == "ready":
            _make_runtime_template(build)
    for name, value in changes.items():
        setattr(build, name, value)
    return True


def _make_runtime_template(build):
    org = build.organization
    previous = org.runtime_template
    org.runtime_template = build.alias
    org.save(update_fields=["runtime_template"])
    audit.record(
        None,
        "build.ready",
        org,
        target=f"build {build.pk}",
        details={
            "alias": build.alias,
            "template_id": build.template_id,
            "build_id": build.build_id,
            "runtime_template": {"from": previous, "to": build.alias},
        },
    )


def finish_with_error(build, worker_id, reason, step=""):
    now = timezone.now()
    done = _mine(build, worker_id).update(
        status=BuildStatus.ERROR, finished_at=now, heartbeat=now, error_reason=reason[:2000], error_step=step
    )
    if done:
        build.status, build.error_reason, build.finished_at = BuildStatus.ERROR, reason, now
    return bool(done)


def _duration(delta):
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{seconds // 60} minutes"


def count_steps(template):
    return len(json.loads(Template.to_json(template)).get("steps") or [])


def start_on_e2b(build, conn, worker_id, template, step_total):
    """Ask E2B to build; True once the build's E2B IDs are stored."""
    with translated_errors(conn):
        info = Template.build_in_background(
            template,
            name=build.alias,
            cpu_count=build.cpu_count,
            memory_mb=build.memory_mb,
            skip_cache=build.skip_cache,
            **conn.sdk_kwargs(),
        )
    now = timezone.now()
    changes = {
        "template_id": info.template_id,
        "build_id": info.build_id,
        "status": BuildStatus.BUILDING,
        "started_at": now,
        "heartbeat": now,
        "step_total": step_total,
    }
    if _mine(build, worker_id).update(**changes) != 1:
        log.warning("build %s was cancelled while E2B started it (E2B build %s)", build.pk, info.build_id)
        return False
    for name, value in changes.items():
        setattr(build, name, value)
    return True


def follow(build_id, *, template=None, worker_id=None, on_lines=None, sleep=time.sleep):
    """Start the build on E2B unless it already has E2B IDs, then follow it to its end.

    template: what to build, by default the seed's (e2b_template). on_lines: called with
    each batch of new BuildLogLines (the build_template command prints them). Returns the
    build as it ended, or None if another worker holds it.
    """
    worker_id = worker_id or new_worker_id()
    if not claim(build_id, worker_id):
        return None
    build = TemplateBuild.objects.select_related("organization").get(pk=build_id)
    poll = settings.TEMPLATE_BUILD_POLL_SECONDS
    max_backoff = max(poll, settings.TEMPLATE_BUILD_STALE_SECONDS / 3)
    try:
        conn = connection_for(build.organization)
    except E2BError as exc:  # no active key, or one that cannot be decrypted
        finish_with_error(build, worker_id, exc.message)
        return build

    if not build.build_id:
        if timezone.now() > build.deadline:
            finish_with_error(build, worker_id, "timed out: no worker started it before its deadline")
            return build
        try:
            # Read before E2B is asked, so nothing can fail between its answer and storing the IDs.
            template = template or seed_template()
            step_total = count_steps(template)
        except Exception as exc:  # the template source itself is broken: no retry can mend it
            log.exception("build %s: the template cannot be read", build.pk)
            finish_with_error(build, worker_id, f"The template cannot be read: {exc}"[:500])
            return build
        try:
            if not start_on_e2b(build, conn, worker_id, template, step_total):
                return build
        except E2BError as exc:
            finish_with_error(build, worker_id, f"E2B did not start the build ({exc.outcome}): {exc.message}")
            return build

    backoff = poll
    while True:
        build.refresh_from_db()
        if not build.is_active or build.claimed_by != worker_id:
            return build
        if timezone.now() > build.deadline:
            allowed = build.deadline - (build.started_at or build.created_at)
            finish_with_error(build, worker_id, f"timed out: not finished within {_duration(allowed)}")
            return build
        try:
            progress = fetch_progress(conn, build, build.log_offset)
        except E2BError as exc:
            if exc.outcome in FATAL_OUTCOMES:
                finish_with_error(build, worker_id, f"E2B build can no longer be followed ({exc.outcome}): {exc.message}")
                return build
            # E2B out of reach or failing: keep the same build, retry with backoff.
            _mine(build, worker_id).update(
                heartbeat=timezone.now(), follow_problem=f"{exc.outcome}: {exc.message}"[:500]
            )
            sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        backoff = poll
        more_pages = len(progress.entries) >= LOG_PAGE
        final = progress.terminal and not more_pages
        offset = build.log_offset
        if not record_progress(build, worker_id, offset, progress, final):
            return build
        if on_lines and progress.entries:
            on_lines(list(build.lines.filter(seq__gte=offset).order_by("seq")))
        if final:
            return build
        if not more_pages:
            sleep(poll)


# Recovery and cancel


def recover_stale_builds(organization=None):
    """Hand every build no live worker follows to a new task; returns those builds."""
    builds = TemplateBuild.objects.stale()
    if organization is not None:
        builds = builds.filter(organization=organization)
    recovered = []
    for build in builds.only("pk", "heartbeat", "claimed_by"):
        # Guarded by the values just read, so two recoverers enqueue one task.
        released = TemplateBuild.objects.filter(
            pk=build.pk, heartbeat=build.heartbeat, claimed_by=build.claimed_by
        ).update(claimed_by="", heartbeat=timezone.now())
        if released:
            log.info("build %s: worker %r went silent; handing it to a new task", build.pk, build.claimed_by)
            enqueue_follow(build.pk)
            recovered.append(build)
    return recovered


def cancel_build(build, *, request=None, token=None):
    """Stop following; True if the build was still running."""
    user = request.user if request is not None and request.user.is_authenticated else None
    by = f" by {actor_label(user, token)}"
    now = timezone.now()
    with transaction.atomic():
        cancelled = TemplateBuild.objects.active().filter(pk=build.pk).update(
            status=BuildStatus.CANCELLED, finished_at=now, error_reason=CANCEL_NOTE.format(by=by), claimed_by=""
        )
        if cancelled:
            audit.record(
                request,
                "build.cancel",
                build.organization,
                target=f"build {build.pk}",
                details={"alias": build.alias, "build_id": build.build_id},
                token=token,
            )
    build.refresh_from_db()
    return bool(cancelled)


# Reading logs


def tail(build, after=-1, level=None, limit=500):
    """Log lines after sequence number `after` (and at least `level`), oldest first."""
    lines = build.lines.filter(seq__gt=after)
    if level and level in LogLevel.values and level != LogLevel.DEBUG:
        lines = lines.filter(level__in=LogLevel.at_least(level))
    return list(lines.order_by("seq")[:limit])


def last_lines(build, level=None, limit=500):
    lines = build.lines.all()
    if level and level in LogLevel.values and level != LogLevel.DEBUG:
        lines = lines.filter(level__in=LogLevel.at_least(level))
    return list(reversed(lines.order_by("-seq")[:limit]))


def log_text(build):
    """The whole log as text, a line at a time, for a streamed download."""
    for line in build.lines.order_by("seq").iterator(chunk_size=2000):
        yield line.as_text() + "\n"


# Templates as E2B reports them


@dataclass
class TemplateRow:
    template_id: str
    names: list
    aliases: list
    status: str
    cpu_count: int
    memory_mb: int
    created_at: object
    last_spawned_at: object
    spawn_count: int
    build_count: int


def list_templates(organization):
    conn = connection_for(organization)
    with translated_errors(conn):
        templates = parsed(get_templates.sync_detailed(client=conn.api_client()))
    rows = []
    for t in templates or []:
        status = t.build_status.value if hasattr(t.build_status, "value") else str(t.build_status)
        rows.append(
            TemplateRow(
                template_id=t.template_id,
                names=list(t.names),
                aliases=list(t.aliases),
                status=status,
                cpu_count=t.cpu_count,
                memory_mb=t.memory_mb,
                created_at=t.created_at,
                last_spawned_at=t.last_spawned_at,
                spawn_count=t.spawn_count,
                build_count=t.build_count,
            )
        )
    return rows


def delete_template(organization, template_id, *, request=None):
    conn = connection_for(organization)
    with translated_errors(conn):
        parsed(
            delete_templates_template_id.sync_detailed(template_id=encode_path_param(template_id), client=conn.api_client())
        )
    audit.record(request, "template.delete", organization, target=f"template {template_id}", details={"template_id": template_id})

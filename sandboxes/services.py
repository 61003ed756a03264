"""Sandbox workflows across the E2B boundary: listing, inspection, lifecycle actions,
diagnostics, the smoke test and the all-organizations view.

Functions that only talk to E2B take an E2BConnection and touch no database, so they
can run in worker threads; the rest do the database work in the caller's thread.
"""

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from e2b import CommandExitException, Sandbox, SandboxQuery
from e2b import exceptions as sdk
from e2b.api.client.api.sandboxes import get_sandboxes_sandbox_id, get_v_2_sandboxes_sandbox_id_logs
from e2b.api.client.models import LogLevel, LogsDirection
from e2b.api.client.models import SandboxState as E2BSandboxState
from e2b.api.client.types import UNSET, Unset

from portal.audit import record, record_staff_views
from portal.crypto import SecretUnreadable
from portal.e2b import (
    E2BError,
    KeyUnreadable,
    NoActiveKey,
    Outcome,
    classify,
    connection_for,
    parsed,
    translated_errors,
)
from portal.models import E2BApiKey, Organization
from sandboxes.models import CheckStatus, DiagnosticRun, SandboxRecord, SandboxState

log = logging.getLogger(__name__)

PAGE_SIZE = 50
OUTPUT_LIMIT = 2000


@dataclass(frozen=True)
class Check:
    name: str
    command: str
    timeout: float


# The seed's troubleshooting steps, run inside the sandbox.
DIAGNOSTIC_CHECKS = (
    Check("PostgreSQL", "pg_isready", 10),
    Check("Redis", "redis-cli ping", 10),
    Check("Mailcatcher", "curl -fsS --max-time 5 localhost:1080", 10),
    Check("Docker", "docker info", 20),
    # Any HTTP answer means Caddy is up: with no dev server behind it, it answers 502.
    Check("Caddy", "curl -sS -o /dev/null -w 'HTTP %{http_code}' --max-time 5 localhost:20000", 10),
)


# Listing


@dataclass
class ListFilter:
    states: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    template: str = ""

    @property
    def is_empty(self):
        return not (self.states or self.metadata or self.template)

    def query(self):
        if self.is_empty:
            return None
        return SandboxQuery(
            state=[E2BSandboxState(s) for s in self.states] or None, metadata=self.metadata or None, template=self.template or None
        )


def parse_metadata(text):
    """`key=value` pairs separated by spaces or commas; raises ValueError on a bare word."""
    pairs = {}
    for part in text.replace(",", " ").split():
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"“{part}” is not key=value.")
        pairs[key] = value
    return pairs


@dataclass
class SandboxPage:
    sandboxes: list
    next_token: str | None


def fetch_page(conn, filters=None, limit=PAGE_SIZE, next_token=None):
    """One page of the organization's sandboxes from E2B. No database work."""
    filters = filters or ListFilter()
    with translated_errors(conn):
        paginator = Sandbox.list(query=filters.query(), limit=limit, next_token=next_token, **conn.sdk_kwargs())
        items = paginator.next_items()
        return SandboxPage(items, paginator.next_token if paginator.has_next else None)


# A sync follows at most this many pages of 100: a server that never stops answering with a
# next token cannot keep a worker busy forever.
MAX_SYNC_PAGES = 200


def fetch_all(conn):
    """Every running and paused sandbox, following E2B's pages."""
    sandboxes = []
    with translated_errors(conn):
        paginator = Sandbox.list(limit=100, **conn.sdk_kwargs())
        for _ in range(MAX_SYNC_PAGES):
            if not paginator.has_next:
                return sandboxes
            sandboxes.extend(paginator.next_items())
    raise E2BError(Outcome.E2B_ERROR, f"{conn.host} listed more than {MAX_SYNC_PAGES * 100} sandboxes; sync stopped.")


def list_sandboxes(org, filters=None, next_token=None, limit=None):
    """A page of the live list; the organization's records learn what it saw."""
    filters = filters or ListFilter()
    conn = connection_for(org)
    page = fetch_page(conn, filters, limit or PAGE_SIZE, next_token)
    complete = filters.is_empty and not next_token and page.next_token is None
    SandboxRecord.objects.record_listing(org, page.sandboxes, complete=complete)
    return page


def sync_organization(org):
    """Refresh one organization's records from a complete list; returns how many it saw."""
    sandboxes = fetch_all(connection_for(org))
    SandboxRecord.objects.record_listing(org, sandboxes, complete=True)
    return len(sandboxes)


def e2b_organizations():
    """Organizations with an active E2B key, each with `.active_keys` prefetched."""
    return (
        Organization.objects.filter(e2b_keys__is_active=True, e2b_keys__revoked_at__isnull=True)
        .distinct()
        .prefetch_related(Prefetch("e2b_keys", queryset=E2BApiKey.objects.active(), to_attr="active_keys"))
        .order_by("name")
    )


def sync_all():
    """Sync every E2B organization; one organization's failure does not stop the others."""
    results = {}
    for org in e2b_organizations():
        try:
            results[org.slug] = sync_organization(org)
        except E2BError as exc:
            log.warning("sandbox sync of %s failed: %s", org.slug, exc)
            results[org.slug] = exc
    return results


# One sandbox


@dataclass
class SandboxView:
    """What the sandbox page shows: the live detail when E2B has it, else the last record."""

    sandbox_id: str
    detail: object | None  # the generated client's SandboxDetail
    record: SandboxRecord | None
    error: E2BError | None = None

    @property
    def is_gone(self):
        return self.detail is None and self.error is None

    @property
    def state(self):
        if self.detail is not None:
            return str(self.detail.state.value)
        return "gone" if self.is_gone else (self.record.state if self.record else "unknown")


def fetch_detail(conn, sandbox_id):
    """E2B's SandboxDetail (everything it carries, disk included), or NOT_FOUND."""
    with translated_errors(conn):
        response = get_sandboxes_sandbox_id.sync_detailed(sandbox_id, client=conn.api_client())
        return parsed(response, not_found=f"Sandbox {sandbox_id} is not in E2B.")


def unset_to_none(value):
    return None if isinstance(value, Unset) or value is UNSET else value


class SandboxNotVisible(Exception):
    """The sandbox is not this organization's (or does not exist): the view answers 404."""


# What an E2B sandbox ID can look like; anything else is not asked of E2B at all.
SANDBOX_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def sandbox_for_org(org, sandbox_id):
    """The sandbox as this organization sees it, or SandboxNotVisible.

    A record of another organization answers 404 without asking E2B; E2B is per team, so
    an ID of another team is a 404 there too. A sandbox E2B no longer has is shown from
    its last record, marked gone.
    """
    if not SANDBOX_ID.fullmatch(sandbox_id):
        raise SandboxNotVisible(sandbox_id)
    records = {r.organization_id: r for r in SandboxRecord.objects.filter(sandbox_id=sandbox_id)}
    own = records.get(org.pk)
    if own is None and records:
        raise SandboxNotVisible(sandbox_id)
    try:
        detail = fetch_detail(connection_for(org), sandbox_id)
    except E2BError as exc:
        if exc.outcome == Outcome.NOT_FOUND:
            if own is None:
                raise SandboxNotVisible(sandbox_id) from None
            if own.gone_at is None:
                own.gone_at = timezone.now()
                own.save(update_fields=["gone_at"])
            return SandboxView(sandbox_id, None, own)
        return SandboxView(sandbox_id, None, own, error=exc)
    SandboxRecord.objects.record_listing(org, [detail], complete=False)
    return SandboxView(sandbox_id, detail, own)


# Metrics and logs

METRIC_RANGES = {"5m": timedelta(minutes=5), "15m": timedelta(minutes=15), "1h": timedelta(hours=1), "6h": timedelta(hours=6)}
DEFAULT_RANGE = "15m"


def fetch_metrics(conn, sandbox_id, range_key=DEFAULT_RANGE):
    end = timezone.now()
    start = end - METRIC_RANGES.get(range_key, METRIC_RANGES[DEFAULT_RANGE])
    with translated_errors(conn):
        return Sandbox.get_metrics(sandbox_id, start=start, end=end, **conn.sdk_kwargs())


LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_PAGE_SIZE = 50


@dataclass
class LogPage:
    entries: list
    next_cursor: int | None


def fetch_logs(conn, sandbox_id, level="", search="", cursor=None, limit=LOG_PAGE_SIZE):
    """Newest first; `next_cursor` (ms) pages to older entries."""
    with translated_errors(conn):
        response = get_v_2_sandboxes_sandbox_id_logs.sync_detailed(
            sandbox_id,
            client=conn.api_client(),
            cursor=cursor if cursor is not None else int(time.time() * 1000) + 1000,
            limit=limit + 1,
            direction=LogsDirection.BACKWARD,
            level=LogLevel(level) if level in LOG_LEVELS else UNSET,
            search=search or UNSET,
        )
        logs = parsed(response, not_found=f"Sandbox {sandbox_id} is not in E2B.").logs
    entries = list(logs)
    for entry in entries:
        entry.message = conn.scrub(entry.message)
    next_cursor = None
    if len(entries) > limit:
        entries = entries[:limit]
        next_cursor = int(entries[-1].timestamp.timestamp() * 1000) - 1
    return LogPage(entries, next_cursor)


# Lifecycle actions

ACTIONS = {
    "pause": "Pause",
    "resume": "Resume",
    "timeout": "Extend timeout",
    "kill": "Kill",
}
MAX_TIMEOUT_SECONDS = 24 * 3600


@dataclass
class ActionResult:
    action: str
    sandbox_id: str
    ok: bool
    message: str
    outcome: str = Outcome.OK
    gone: bool = False


def perform_action(request, org, sandbox_id, action, timeout_seconds=None, token=None):
    """Pause, resume, extend or kill a sandbox; audited; a gone sandbox is reported as gone."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    result = _call_action(org, sandbox_id, action, timeout_seconds)
    if result.gone:
        SandboxRecord.objects.mark_gone(org, sandbox_id)
    elif result.ok and action == "kill":
        SandboxRecord.objects.mark_gone(org, sandbox_id)
    elif result.ok and action in ("pause", "resume"):
        SandboxRecord.objects.filter(organization=org, sandbox_id=sandbox_id).update(
            state=SandboxState.PAUSED if action == "pause" else SandboxState.RUNNING, last_seen=timezone.now()
        )
    details = {"outcome": "gone" if result.gone else str(result.outcome), "ok": result.ok}
    if action == "timeout" and timeout_seconds:
        details["timeout_seconds"] = timeout_seconds
    if not result.ok and not result.gone:
        details["message"] = result.message[:300]
    record(request, f"sandbox.{action}", organization=org, target=sandbox_id, details=details, token=token)
    return result


def _call_action(org, sandbox_id, action, timeout_seconds):
    try:
        conn = connection_for(org)
    except E2BError as exc:
        return ActionResult(action, sandbox_id, False, exc.message, exc.outcome)
    kwargs = conn.sdk_kwargs()
    gone = ActionResult(action, sandbox_id, False, f"Sandbox {sandbox_id} is gone: E2B no longer has it.", gone=True)
    try:
        with translated_errors(conn):
            if action == "pause":
                if Sandbox.pause(sandbox_id, **kwargs):
                    return ActionResult(action, sandbox_id, True, f"Paused {sandbox_id}.")
                return ActionResult(action, sandbox_id, True, f"{sandbox_id} was already paused.")
            if action == "resume":
                Sandbox.connect(sandbox_id, timeout=timeout_seconds, **kwargs)
                return ActionResult(action, sandbox_id, True, f"Resumed {sandbox_id}.")
            if action == "timeout":
                Sandbox.set_timeout(sandbox_id, timeout_seconds, **kwargs)
                return ActionResult(
                    action, sandbox_id, True, f"{sandbox_id} now ends {timeout_seconds} seconds from now."
                )
            if Sandbox.kill(sandbox_id, **kwargs):
                return ActionResult(action, sandbox_id, True, f"Killed {sandbox_id}.")
            return gone
    except E2BError as exc:
        if exc.outcome == Outcome.NOT_FOUND:
            return gone
        return ActionResult(action, sandbox_id, False, exc.message, exc.outcome)


# Diagnostics


def _trimmed(conn, *parts):
    # PostgreSQL's JSON cannot hold NUL, and a check's output may contain any bytes.
    text = "\n".join(p for p in parts if p).replace("\x00", "").strip()
    text = conn.scrub(text)
    if len(text) > OUTPUT_LIMIT:
        text = text[:OUTPUT_LIMIT] + "\n… (trimmed)"
    return text


def run_check(conn, sandbox, check):
    """One check inside the sandbox. A non-zero exit is a failed check, not an error."""
    started = time.monotonic()
    result = {"check": check.name, "command": conn.scrub(check.command), "exit_code": None, "output": ""}
    try:
        outcome = sandbox.commands.run(check.command, timeout=check.timeout, request_timeout=check.timeout + 5)
        result.update(exit_code=outcome.exit_code, output=_trimmed(conn, outcome.stdout, outcome.stderr))
        result["status"] = CheckStatus.OK if outcome.exit_code == 0 else CheckStatus.FAILED
    except CommandExitException as exc:
        result.update(exit_code=exc.exit_code, output=_trimmed(conn, exc.stdout, exc.stderr, exc.error))
        result["status"] = CheckStatus.FAILED
    except sdk.TimeoutException as exc:
        if time.monotonic() - started < check.timeout:
            # The SDK names an envd error answer (a 503, a lost connection) a timeout too.
            result.update(output=_trimmed(conn, str(exc)))
            result["status"] = CheckStatus.FAILED
        else:
            result.update(output=_trimmed(conn, f"No answer within {check.timeout:g} s.", str(exc)))
            result["status"] = CheckStatus.TIMEOUT
    except Exception as exc:
        result.update(output=_trimmed(conn, classify(exc, conn).message))
        result["status"] = CheckStatus.FAILED
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    return result


def run_checks(conn, sandbox, checks=None):
    return [run_check(conn, sandbox, check) for check in (checks or DIAGNOSTIC_CHECKS)]


def run_diagnostics(request, org, sandbox_id, checks=None):
    """Run the checks in a running sandbox and keep the result. Raises E2BError when the
    sandbox cannot be reached at all (gone, paused, E2B down): that is not a check result."""
    conn = connection_for(org)
    detail = fetch_detail(conn, sandbox_id)
    if str(detail.state.value) != SandboxState.RUNNING:
        raise E2BError(Outcome.E2B_ERROR, f"{sandbox_id} is {detail.state.value}: resume it to run diagnostics.")
    with translated_errors(conn):
        sandbox = Sandbox.connect(sandbox_id, **conn.sdk_kwargs())
    results = run_checks(conn, sandbox, checks)
    run = DiagnosticRun.objects.create(
        organization=org,
        sandbox_id=sandbox_id,
        requested_by=request.user if request is not None and request.user.is_authenticated else None,
        results=results,
    )
    record(
        request,
        "sandbox.diagnostics",
        organization=org,
        target=sandbox_id,
        details={"failed": run.failed_count, "checks": len(results)},
    )
    return run


# Smoke test


@dataclass
class SmokeStep:
    name: str
    status: str = "skipped"  # ok | failed | skipped
    duration_ms: int = 0
    message: str = ""


@dataclass
class SmokeReport:
    template: str
    sandbox_id: str = ""
    steps: list = field(default_factory=list)
    checks: list = field(default_factory=list)

    @property
    def passed(self):
        return all(step.status == "ok" for step in self.steps)


SMOKE_STEPS = ("create", "diagnostics", "pause", "resume", "kill")
SMOKE_TIMEOUT_SECONDS = 300


def run_smoke_test(request, org, checks=None, template=None):
    """The seed's scripts/test-e2b.ts: create, check services, pause, resume, kill. The
    sandbox is killed in every case; each step is reported with its outcome and duration."""
    template = template or org.e2b_template
    report = SmokeReport(template=template, steps=[SmokeStep(name) for name in SMOKE_STEPS])
    steps = {step.name: step for step in report.steps}
    conn = connection_for(org)
    kwargs = conn.sdk_kwargs()
    sandbox = None

    def timed(step, work):
        started = time.monotonic()
        try:
            with translated_errors(conn):
                step.message = work() or ""
            step.status = "ok"
        except E2BError as exc:
            step.status = "failed"
            step.message = f"{exc.outcome}: {exc.message}"
        finally:
            step.duration_ms = int((time.monotonic() - started) * 1000)
        return step.status == "ok"

    def create():
        nonlocal sandbox
        sandbox = Sandbox.create(
            template, timeout=SMOKE_TIMEOUT_SECONDS, metadata={"portal": "smoke-test"}, **kwargs
        )
        report.sandbox_id = sandbox.sandbox_id
        return f"Created {sandbox.sandbox_id} from {template}."

    def diagnostics():
        report.checks = run_checks(conn, sandbox, checks)
        failed = [c["check"] for c in report.checks if c["status"] != CheckStatus.OK]
        if failed:
            raise E2BError("check failed", f"Failed checks: {', '.join(failed)}.")
        return f"{len(report.checks)} checks passed."

    def pause():
        sandbox.pause()
        return "Paused."

    def resume():
        Sandbox.connect(report.sandbox_id, **kwargs)
        return "Resumed."

    try:
        if timed(steps["create"], create):
            # A failed service check is reported but does not stop the lifecycle steps.
            timed(steps["diagnostics"], diagnostics)
            if timed(steps["pause"], pause):
                timed(steps["resume"], resume)
    finally:
        if report.sandbox_id:
            timed(steps["kill"], lambda: _smoke_kill(report.sandbox_id, kwargs))
    record(
        request,
        "sandbox.smoke_test",
        organization=org,
        target=report.sandbox_id or template,
        details={"template": template, "steps": {s.name: s.status for s in report.steps}},
    )
    return report


def _smoke_kill(sandbox_id, kwargs):
    Sandbox.kill(sandbox_id, **kwargs)
    return f"Killed {sandbox_id}."


# All organizations


@dataclass
class OrgListing:
    organization: Organization
    sandboxes: list = field(default_factory=list)
    more: bool = False
    error: E2BError | None = None


def fetch_organizations_concurrently(orgs, work):
    """Run `work(conn)` for each organization in bounded threads, each with its own
    deadline, and return {org.pk: result or E2BError}. Threads only talk to E2B."""
    timeout = settings.SANDBOX_FANOUT_TIMEOUT
    results = {}
    jobs = {}
    for org in orgs:
        keys = getattr(org, "active_keys", None)
        try:
            if keys is not None and not keys:
                raise NoActiveKey(org)
            key = keys[0].secret() if keys else None
            jobs[org.pk] = connection_for(org, api_key=key, request_timeout=timeout)
        except SecretUnreadable:
            results[org.pk] = KeyUnreadable(org)
        except E2BError as exc:
            results[org.pk] = exc
    if not jobs:
        return results
    workers = max(1, min(settings.SANDBOX_FANOUT_CONCURRENCY, len(jobs)))
    # Queued jobs start only when a worker frees up, so the batch gets one timeout per
    # wave of workers, plus a little slack; each request is bounded by `timeout` itself.
    waves = -(-len(jobs) // workers)
    deadline = time.monotonic() + timeout * waves + 1
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-fanout")
    try:
        futures = {pk: executor.submit(_outcome_of, work, conn) for pk, conn in jobs.items()}
        for pk, future in futures.items():
            try:
                results[pk] = future.result(timeout=max(0, deadline - time.monotonic()))
            except FutureTimeout:
                results[pk] = E2BError(Outcome.UNREACHABLE, f"{jobs[pk].host} did not answer within {timeout:g} s.")
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return results


def _outcome_of(work, conn):
    try:
        return work(conn)
    except Exception as exc:
        return classify(exc, conn)


def all_organizations_listing(request):
    """Every organization's first page, fetched concurrently; records updated here, in
    the request's thread. Staff views are audited to each organization shown."""
    orgs = list(
        Organization.objects.on_e2b()
        .prefetch_related(Prefetch("e2b_keys", queryset=E2BApiKey.objects.active(), to_attr="active_keys"))
        .order_by("name")
    )
    fetched = fetch_organizations_concurrently(orgs, lambda conn: fetch_page(conn, limit=PAGE_SIZE))
    listings = []
    # One transaction: one commit for every organization's records and the audit events.
    with transaction.atomic():
        for org in orgs:
            result = fetched.get(org.pk)
            if isinstance(result, E2BError):
                listings.append(OrgListing(org, error=result))
                continue
            SandboxRecord.objects.record_listing(org, result.sandboxes, complete=result.next_token is None)
            listings.append(OrgListing(org, result.sandboxes, more=result.next_token is not None))
        record_staff_views(request, orgs, page="all sandboxes")
    return listings



def find_sandbox(sandbox_id):
    """The organization that owns this sandbox ID: records first, then a live look-up
    in every E2B organization at once. None when no organization has it."""
    record_hit = (
        SandboxRecord.objects.filter(sandbox_id=sandbox_id).select_related("organization").order_by("gone_at").first()
    )
    if record_hit is not None:
        return record_hit.organization
    orgs = list(e2b_organizations())
    found = fetch_organizations_concurrently(orgs, lambda conn: fetch_detail(conn, sandbox_id))
    for org in orgs:
        detail = found.get(org.pk)
        if detail is not None and not isinstance(detail, E2BError):
            SandboxRecord.objects.record_listing(org, [detail], complete=False)
            return org
    return None


def detail_facts(view):
    """Plain values for the sandbox page, from the live detail or else the last record."""
    detail, rec = view.detail, view.record
    if detail is not None:
        lifecycle = unset_to_none(detail.lifecycle)
        network = unset_to_none(detail.network)
        metadata = unset_to_none(detail.metadata)
        return {
            "template_id": detail.template_id,
            "alias": unset_to_none(detail.alias) or "",
            "state": str(detail.state.value),
            "started_at": detail.started_at,
            "end_at": detail.end_at,
            "cpu_count": detail.cpu_count,
            "memory_mb": detail.memory_mb,
            "disk_size_mb": detail.disk_size_mb,
            "envd_version": detail.envd_version,
            "domain": unset_to_none(detail.domain) or "",
            "on_timeout": str(lifecycle.on_timeout.value) if lifecycle else "",
            "auto_resume": lifecycle.auto_resume if lifecycle else None,
            "internet_access": unset_to_none(detail.allow_internet_access),
            "network": network.to_dict() if network else {},
            "metadata": metadata if isinstance(metadata, dict) else {},
        }
    if rec is not None:
        return {
            "template_id": rec.template_id,
            "alias": rec.alias,
            "state": rec.state,
            "started_at": rec.started_at,
            "end_at": rec.end_at,
            "cpu_count": rec.cpu_count,
            "memory_mb": rec.memory_mb,
            "metadata": rec.metadata,
        }
    return {}


ADVICE = {
    Outcome.UNREACHABLE: "Check the organization's E2B domain or API URL under E2B settings, and that E2B is up.",
    Outcome.KEY_REJECTED: "E2B refused the API key: an org admin adds a valid team key under E2B settings.",
    Outcome.NO_KEY: "An org admin adds the E2B team API key under E2B settings.",
    Outcome.RATE_LIMITED: "E2B is rate limiting this team; the list retries on its next refresh.",
    Outcome.E2B_ERROR: "E2B answered with an error; try again shortly, and check E2B's status if it persists.",
    Outcome.NOT_FOUND: "E2B does not know this resource.",
}

"""Template builds over the API, mounted at /api/v1/builds (scope `builds`)."""

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status

from portal.api import require_scope
from portal.models import AccessTokenScope
from templates_app import services
from templates_app.models import LogLevel, TemplateBuild

router = Router(tags=["builds"])

LOG_PAGE = 1000


class BuildIn(Schema):
    skip_cache: bool = False


class BuildOut(Schema):
    id: int
    alias: str
    status: str
    created: bool | None = None
    template_id: str
    build_id: str
    cpu_count: int
    memory_mb: int
    skip_cache: bool
    source_hash: str
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline: datetime
    error_reason: str
    error_step: str
    step: str
    step_total: int | None
    log_lines: int


class LogLineOut(Schema):
    seq: int
    time: datetime
    level: str
    step: str
    message: str


class LogsOut(Schema):
    build_id: int
    status: str
    lines: list[LogLineOut]
    next_after: int
    more: bool


class LogsQuery(Schema):
    after: int = -1
    level: LogLevel | None = None
    limit: int = LOG_PAGE


def _build_out(build, created=None):
    return {
        "id": build.pk,
        "alias": build.alias,
        "status": build.status,
        "created": created,
        "template_id": build.template_id,
        "build_id": build.build_id,
        "cpu_count": build.cpu_count,
        "memory_mb": build.memory_mb,
        "skip_cache": build.skip_cache,
        "source_hash": build.source_hash,
        "requested_by": build.requested_by_label,
        "created_at": build.created_at,
        "started_at": build.started_at,
        "finished_at": build.finished_at,
        "deadline": build.deadline,
        "error_reason": build.error_reason,
        "error_step": build.error_step,
        "step": build.current_step,
        "step_total": build.step_total,
        "log_lines": build.log_offset,
    }


def _get_build(request, build_id):
    """One of the token's organization's builds, else 404."""
    return get_object_or_404(TemplateBuild, pk=build_id, organization=request.auth.organization)


@router.post(
    "",
    response={201: BuildOut, 200: BuildOut},
    summary="Start a build of the organization's template",
    description="If a build of the alias is already running, answers 200 with that build instead.",
)
def start_build(request, payload: BuildIn = None):
    require_scope(request, AccessTokenScope.BUILDS)
    token = request.auth
    skip_cache = payload.skip_cache if payload is not None else False
    build, created = services.start_build(
        token.organization, token=token, request=request, skip_cache=skip_cache
    )
    return Status(201 if created else 200, _build_out(build, created))


@router.get("/{int:build_id}", response=BuildOut, summary="A build's state")
def get_build(request, build_id: int):
    require_scope(request, AccessTokenScope.BUILDS)
    return _build_out(_get_build(request, build_id))


@router.get("/{int:build_id}/logs", response=LogsOut, summary="A build's log lines after sequence number `after`")
def get_build_logs(request, build_id: int, query: Query[LogsQuery]):
    require_scope(request, AccessTokenScope.BUILDS)
    build = _get_build(request, build_id)
    limit = max(1, min(query.limit, LOG_PAGE))
    lines = services.tail(build, max(query.after, -1), query.level, limit=limit + 1)
    more = len(lines) > limit
    lines = lines[:limit]
    return {
        "build_id": build.pk,
        "status": build.status,
        "lines": [
            {"seq": line.seq, "time": line.time, "level": line.level, "step": line.step, "message": line.message}
            for line in lines
        ],
        "next_after": lines[-1].seq if lines else max(query.after, -1),
        "more": more,
    }

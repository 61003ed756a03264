"""Sandboxes over the API, mounted at /api/v1/sandboxes (scope `sandboxes`)."""

from datetime import datetime
from typing import Literal

from django.http import Http404
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from portal.api import require_scope
from portal.e2b import E2BError
from portal.models import AccessTokenScope
from sandboxes import services

router = Router(tags=["sandboxes"])


class SandboxOut(Schema):
    sandbox_id: str
    template_id: str
    alias: str
    state: str
    started_at: datetime | None
    end_at: datetime | None
    cpu_count: int | None
    memory_mb: int | None
    metadata: dict[str, str]


class SandboxPageOut(Schema):
    sandboxes: list[SandboxOut]
    next_token: str | None


class SandboxDetailOut(SandboxOut):
    gone: bool
    disk_size_mb: int | None = None
    envd_version: str | None = None
    on_timeout: str | None = None
    auto_resume: bool | None = None
    internet_access: bool | None = None


class ListQuery(Schema):
    state: Literal["running", "paused"] | None = None
    metadata: str = Field("", description="key=value pairs separated by spaces or commas")
    template: str = ""
    next_token: str | None = None
    limit: int = Field(services.PAGE_SIZE, ge=1, le=100)


class TimeoutIn(Schema):
    timeout: int = Field(..., ge=1, le=services.MAX_TIMEOUT_SECONDS, description="seconds from now")


class ActionOut(Schema):
    sandbox_id: str
    action: str
    ok: bool
    outcome: str
    message: str


def _listed(info):
    return {
        "sandbox_id": info.sandbox_id,
        "template_id": info.template_id,
        "alias": info.name or "",
        "state": str(info.state.value),
        "started_at": info.started_at,
        "end_at": info.end_at,
        "cpu_count": info.cpu_count,
        "memory_mb": info.memory_mb,
        "metadata": info.metadata or {},
    }


def _sandbox_for_token(request, sandbox_id):
    require_scope(request, AccessTokenScope.SANDBOXES)
    try:
        return services.sandbox_for_org(request.auth.organization, sandbox_id)
    except services.SandboxNotVisible:
        raise Http404 from None


@router.get("", response=SandboxPageOut, url_name="sandboxes_api_list", summary="Running and paused sandboxes")
def list_sandboxes(request, filters: Query[ListQuery]):
    require_scope(request, AccessTokenScope.SANDBOXES)
    try:
        metadata = services.parse_metadata(filters.metadata)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    wanted = services.ListFilter(
        states=[filters.state] if filters.state else [], metadata=metadata, template=filters.template.strip()
    )
    try:
        page = services.list_sandboxes(request.auth.organization, wanted, filters.next_token, filters.limit)
    except E2BError as exc:
        if exc.status == 400:
            # E2B refused what the client sent (a next_token it never issued): not an upstream failure.
            raise HttpError(400, exc.message) from None
        raise
    return {"sandboxes": [_listed(s) for s in page.sandboxes], "next_token": page.next_token}


@router.get("/{sandbox_id}", response=SandboxDetailOut, url_name="sandboxes_api_detail", summary="One sandbox")
def get_sandbox(request, sandbox_id: str):
    view = _sandbox_for_token(request, sandbox_id)
    if view.error is not None:
        raise view.error
    facts = services.detail_facts(view)
    return {
        "sandbox_id": sandbox_id,
        "gone": view.is_gone,
        **{k: facts.get(k) for k in SandboxDetailOut.model_fields if k in facts},
        "alias": facts.get("alias") or "",
        "metadata": facts.get("metadata") or {},
        "state": "gone" if view.is_gone else facts.get("state", ""),
    }


def _act(request, sandbox_id, action, seconds=None):
    _sandbox_for_token(request, sandbox_id)
    result = services.perform_action(
        request, request.auth.organization, sandbox_id, action, timeout_seconds=seconds, token=request.auth
    )
    if not result.ok and not result.gone:
        raise E2BError(result.outcome, result.message)
    return {
        "sandbox_id": sandbox_id,
        "action": action,
        "ok": result.ok,
        "outcome": "gone" if result.gone else "ok",
        "message": result.message,
    }


@router.post("/{sandbox_id}/pause", response=ActionOut, url_name="sandboxes_api_pause", summary="Pause a sandbox")
def pause_sandbox(request, sandbox_id: str):
    return _act(request, sandbox_id, "pause")


@router.post("/{sandbox_id}/resume", response=ActionOut, url_name="sandboxes_api_resume", summary="Resume a sandbox")
def resume_sandbox(request, sandbox_id: str):
    return _act(request, sandbox_id, "resume")


@router.post("/{sandbox_id}/kill", response=ActionOut, url_name="sandboxes_api_kill", summary="Kill a sandbox")
def kill_sandbox(request, sandbox_id: str):
    return _act(request, sandbox_id, "kill")


@router.post(
    "/{sandbox_id}/timeout", response=ActionOut, url_name="sandboxes_api_timeout", summary="Set a sandbox's timeout"
)
def set_sandbox_timeout(request, sandbox_id: str, body: TimeoutIn):
    return _act(request, sandbox_id, "timeout", body.timeout)

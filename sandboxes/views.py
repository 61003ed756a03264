from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from portal.access import org_view, platform_view
from portal.e2b import E2BError
from sandboxes import services
from sandboxes.charts import resource_charts
from sandboxes.forms import SandboxFilterForm, TimeoutForm
from sandboxes.models import DiagnosticRun


def _get_sandbox_for_user(request, sandbox_id):
    """The sandbox as request.org sees it; another organization's sandbox is a 404."""
    try:
        return services.sandbox_for_org(request.org, sandbox_id)
    except services.SandboxNotVisible:
        raise Http404("No such sandbox") from None


def _query_without(request, *names):
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query


@require_GET
@org_view("view")
def sandbox_list(request):
    form = SandboxFilterForm(request.GET or None)
    next_token = request.GET.get("next") or None
    page, error = None, None
    try:
        page = services.list_sandboxes(request.org, form.filters(), next_token=next_token)
    except E2BError as exc:
        error = exc
    live = request.GET.get("live") != "0"
    query = _query_without(request, "live")
    context = {
        "org": request.org,
        "form": form,
        "page": page,
        "error": error,
        "advice": services.ADVICE.get(error.outcome, "") if error else "",
        "live": live,
        "query": query.urlencode(),
        "first_page_query": _query_without(request, "live", "next").urlencode(),
        "is_next_page": bool(next_token),
    }
    template = "sandboxes/sandbox_list.html#sandbox-list" if request.htmx else "sandboxes/sandbox_list.html"
    return render(request, template, context)


def _detail_context(request, view, parts=("metrics", "logs", "diagnostics")):
    org = request.org
    context = {
        "org": org,
        "view": view,
        "facts": services.detail_facts(view),
        "actions": services.ACTIONS,
        "ranges": list(services.METRIC_RANGES),
        "levels": services.LOG_LEVELS,
        "timeout_form": TimeoutForm(),
    }
    live = view.detail is not None
    # A partial refreshed while E2B fails shows why it is empty.
    unavailable = view.error
    if "metrics" in parts:
        range_key = request.GET.get("range")
        range_key = range_key if range_key in services.METRIC_RANGES else services.DEFAULT_RANGE
        context.update(range=range_key, charts=None, metrics_error=unavailable)
        if live:
            try:
                conn = services.connection_for(org)
                context["charts"] = resource_charts(services.fetch_metrics(conn, view.sandbox_id, range_key))
            except E2BError as exc:
                context["metrics_error"] = exc
    if "logs" in parts:
        level = request.GET.get("level", "")
        search = request.GET.get("search", "").strip()[:200]
        cursor = request.GET.get("cursor")
        cursor = int(cursor) if cursor and cursor.isascii() and cursor.isdigit() else None
        context.update(level=level, search=search, log_page=None, logs_error=unavailable, cursor=cursor)
        if live:
            try:
                conn = services.connection_for(org)
                context["log_page"] = services.fetch_logs(conn, view.sandbox_id, level, search, cursor)
            except E2BError as exc:
                context["logs_error"] = exc
    if "diagnostics" in parts:
        context["diagnostic_runs"] = list(
            DiagnosticRun.objects.filter(organization=org, sandbox_id=view.sandbox_id).select_related("requested_by")[:3]
        )
    return context


PARTIALS = {"metrics": ("metrics",), "logs": ("logs",), "sandbox-summary": ()}


@require_GET
@org_view("view")
def sandbox_detail(request, sandbox_id):
    view = _get_sandbox_for_user(request, sandbox_id)
    target = request.htmx.target if request.htmx else None
    if target in PARTIALS:
        context = _detail_context(request, view, PARTIALS[target])
        return render(request, f"sandboxes/sandbox_detail.html#{target}", context)
    return render(request, "sandboxes/sandbox_detail.html", _detail_context(request, view))


@require_http_methods(["GET", "POST"])
@org_view("operate")
def sandbox_action(request, sandbox_id, action):
    if action not in services.ACTIONS:
        raise Http404("No such action")
    view = _get_sandbox_for_user(request, sandbox_id)
    form = TimeoutForm(request.POST or None) if action == "timeout" else None
    if request.method == "GET" or (form is not None and not form.is_valid()):
        context = {"org": request.org, "view": view, "action": action, "label": services.ACTIONS[action], "form": form}
        return render(request, "sandboxes/sandbox_confirm.html", context)
    seconds = form.cleaned_data["timeout"] if form is not None else None
    result = services.perform_action(request, request.org, sandbox_id, action, timeout_seconds=seconds)
    if result.ok:
        messages.success(request, result.message)
    elif result.gone:
        messages.warning(request, result.message)
    else:
        messages.error(request, f"{services.ACTIONS[action]} failed ({result.outcome}): {result.message}")
    if request.htmx:
        view = _get_sandbox_for_user(request, sandbox_id)
        return render(request, "sandboxes/sandbox_detail.html#sandbox-summary", _detail_context(request, view, ()))
    return redirect("sandbox_detail", org_slug=request.org.slug, sandbox_id=sandbox_id)


@require_http_methods(["GET", "POST"])
@org_view("diagnose")
def sandbox_diagnostics(request, sandbox_id):
    view = _get_sandbox_for_user(request, sandbox_id)
    if request.method == "GET":
        context = {"org": request.org, "view": view, "action": "diagnostics", "label": "Run diagnostics", "form": None}
        return render(request, "sandboxes/sandbox_confirm.html", context)
    try:
        run = services.run_diagnostics(request, request.org, sandbox_id)
        if run.passed:
            messages.success(request, f"All {len(run.results)} checks passed.")
        else:
            messages.warning(request, f"{run.failed_count} of {len(run.results)} checks failed.")
    except E2BError as exc:
        messages.error(request, f"Diagnostics could not run ({exc.outcome}): {exc.message}")
    if request.htmx:
        return render(request, "sandboxes/sandbox_detail.html#diagnostics", _detail_context(request, view, ("diagnostics",)))
    return redirect("sandbox_detail", org_slug=request.org.slug, sandbox_id=sandbox_id)


@require_http_methods(["GET", "POST"])
@org_view("diagnose")
def smoke_test(request):
    context = {"org": request.org, "report": None, "error": None}
    if request.method == "POST":
        try:
            context["report"] = services.run_smoke_test(request, request.org)
        except E2BError as exc:
            context["error"] = exc
    template = "sandboxes/smoke_test.html#smoke-result" if request.htmx else "sandboxes/smoke_test.html"
    return render(request, template, context)


@require_GET
@platform_view()
def platform_sandboxes(request):
    query = request.GET.get("q", "").strip()
    if query and not services.SANDBOX_ID.fullmatch(query):
        messages.error(request, "A sandbox ID has only letters, digits, hyphens and underscores.")
    elif query:
        org = services.find_sandbox(query)
        if org is not None:
            return redirect(reverse("sandbox_detail", args=[org.slug, query]))
        messages.warning(request, f"No organization has a sandbox {query}.")
    listings = services.all_organizations_listing(request)
    return render(request, "sandboxes/platform_sandboxes.html", {"listings": listings, "q": query})

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from portal.access import org_view, platform_view
from portal.audit import record_staff_views
from portal.e2b import E2BError
from templates_app import services
from templates_app.forms import BuildFilterForm, BuildForm, LevelFilterForm
from templates_app.models import TemplateBuild

TAIL_LIMIT = 500


def _get_build(request, build_id):
    """One of this organization's builds, else 404."""
    return get_object_or_404(TemplateBuild.objects.select_related("organization"), pk=build_id, organization=request.org)


def _builds_page(request, builds):
    page = Paginator(builds.select_related("organization"), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


@require_GET
@org_view("view")
def build_list(request):
    org = request.org
    services.recover_stale_builds(org)
    page, query = _builds_page(request, TemplateBuild.objects.for_organization(org))
    context = {
        "org": org,
        "page": page,
        "query": query,
        "form": BuildForm(),
        "running": TemplateBuild.objects.for_organization(org).active().filter(alias=org.template_alias).first(),
    }
    template = "templates_app/build_list.html#builds" if request.htmx else "templates_app/build_list.html"
    return render(request, template, context)


@require_POST
@org_view("manage")
def build_start(request):
    form = BuildForm(request.POST)
    skip_cache = form.is_valid() and form.cleaned_data["skip_cache"]
    build, created = services.start_build(request.org, user=request.user, request=request, skip_cache=skip_cache)
    if created:
        messages.success(request, f"Build of {build.alias} queued.")
    else:
        messages.info(request, f"A build of {build.alias} is already running: here it is.")
    return redirect("build_detail", org_slug=request.org.slug, build_id=build.pk)


def _after(request):
    try:
        return max(-1, int(request.GET.get("after", -1)))
    except ValueError:
        return -1


@require_GET
@org_view("view")
def build_detail(request, build_id):
    build = _get_build(request, build_id)
    level_form = LevelFilterForm(request.GET or None)
    level = level_form.cleaned_data["level"] if level_form.is_valid() else ""
    if request.htmx and "after" in request.GET:
        # The build is read before its lines: once it has ended, every line is already in.
        after = _after(request)
        lines = services.tail(build, after, level, limit=TAIL_LIMIT)
        caught_up = len(lines) < TAIL_LIMIT
        polling = build.is_active or not caught_up
        context = _detail_context(request, build, lines, after, level, level_form, polling)
        response = render(request, "templates_app/build_detail.html#tail", context)
        if not polling:
            return HttpResponseStopPolling(response.content)
        return response
    if build.is_active:
        services.recover_stale_builds(request.org)
    lines = services.last_lines(build, level, limit=TAIL_LIMIT)
    context = _detail_context(request, build, lines, -1, level, level_form, build.is_active)
    context["first_seq"] = lines[0].seq if lines else None
    return render(request, "templates_app/build_detail.html", context)


def _detail_context(request, build, lines, after, level, level_form, polling):
    return {
        "org": request.org,
        "build": build,
        "lines": lines,
        "last_seq": lines[-1].seq if lines else after,
        "level": level,
        "level_form": level_form if level_form.is_bound else LevelFilterForm(),
        "polling": polling,
    }


@require_GET
@org_view("view")
def build_log_download(request, build_id):
    build = _get_build(request, build_id)
    response = StreamingHttpResponse(services.log_text(build), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{build.alias}-build-{build.pk}.log"'
    return response


@require_POST
@org_view("manage")
def build_cancel(request, build_id):
    build = _get_build(request, build_id)
    if services.cancel_build(build, request=request):
        messages.warning(request, build.error_reason)
    else:
        messages.info(request, f"The build had already ended ({build.status}).")
    return redirect("build_detail", org_slug=request.org.slug, build_id=build.pk)


@require_GET
@org_view("view")
def template_list(request):
    context = {"org": request.org, "templates": [], "error": None}
    try:
        context["templates"] = services.list_templates(request.org)
    except E2BError as exc:
        context["error"] = exc
    return render(request, "templates_app/template_list.html", context)


@org_view("manage")
def template_delete(request, template_id):
    org = request.org
    try:
        # Only a template E2B lists for this organization's team can be deleted here.
        found = [t for t in services.list_templates(org) if t.template_id == template_id]
    except E2BError as exc:
        messages.error(request, f"Could not read the templates ({exc.outcome}): {exc.message}")
        return redirect("template_list", org_slug=org.slug)
    if not found:
        raise Http404("No such template")
    if request.method == "POST":
        try:
            services.delete_template(org, template_id, request=request)
        except E2BError as exc:
            messages.error(request, f"E2B did not delete {template_id} ({exc.outcome}): {exc.message}")
        else:
            messages.success(request, f"Deleted template {', '.join(found[0].names) or template_id}.")
        return redirect("template_list", org_slug=org.slug)
    return render(request, "templates_app/template_delete.html", {"org": org, "template": found[0]})


@require_GET
@platform_view()
def platform_builds(request):
    builds = TemplateBuild.objects.all()
    form = BuildFilterForm(request.GET or None)
    if form.is_valid():
        if form.cleaned_data["status"]:
            builds = builds.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["org"]:
            builds = builds.filter(organization__slug__icontains=form.cleaned_data["org"])
    page, query = _builds_page(request, builds)
    record_staff_views(request, [build.organization for build in page], page="all builds")
    return render(request, "templates_app/platform_builds.html", {"page": page, "query": query, "form": form})

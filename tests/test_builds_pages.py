
import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent
from templates_app import services
from templates_app.models import BuildLogLine, BuildStatus, TemplateBuild
from tests.isolation import covers
from tests.test_builds import failing_template, quick_template

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def fast_polling(settings):
    settings.TEMPLATE_BUILD_POLL_SECONDS = 0.05


def make_build(org, lines=0, status=BuildStatus.BUILDING, **fields):
    build = TemplateBuild.objects.create(
        organization=org, alias=org.template_alias, cpu_count=4, memory_mb=8192, status=status,
        started_at=timezone.now(), requested_by_label="admin@acme.example", **fields
    )
    now = timezone.now()
    BuildLogLine.objects.bulk_create(
        BuildLogLine(build=build, seq=n, time=now, level="warn" if n % 10 == 9 else "info", step=str(n // 10 + 1), message=f"line {n}")
        for n in range(lines)
    )
    TemplateBuild.objects.filter(pk=build.pk).update(log_offset=lines, current_step=str((lines - 1) // 10 + 1) if lines else "")
    build.refresh_from_db()
    return build


def test_it_starts_a_build_when_an_admin_presses_build(client, org_admin, org, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    client.force_login(org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("build_start", args=[org.slug]), {"skip_cache": "on"})
    build = TemplateBuild.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("build_detail", args=[org.slug, build.pk])
    assert (build.alias, build.cpu_count, build.memory_mb, build.skip_cache) == ("acme-sandbox", 4, 8192, True)
    assert build.requested_by == org_admin and build.status == BuildStatus.QUEUED
    assert len(build.source_hash) == 64
    assert DBTaskResult.objects.filter(task_path="templates_app.tasks.follow_build").count() == 1
    assert AuditEvent.objects.get(action="build.start").details["skip_cache"] is True


def test_it_shows_the_running_build_on_a_second_press(client, org_admin, org):
    client.force_login(org_admin)
    client.post(reverse("build_start", args=[org.slug]))
    response = client.post(reverse("build_start", args=[org.slug]), follow=True)
    assert TemplateBuild.objects.count() == 1
    assert b"already running" in response.content
    assert response.redirect_chain[-1][0] == reverse("build_detail", args=[org.slug, TemplateBuild.objects.get().pk])


@pytest.mark.parametrize("persona", ["org_member", "support"])
def test_it_lets_only_admins_build_cancel_and_delete(client, personas, org, persona):
    build = make_build(org)
    client.force_login(personas[persona])
    assert client.post(reverse("build_start", args=[org.slug])).status_code == 403
    assert client.post(reverse("build_cancel", args=[org.slug, build.pk])).status_code == 403
    assert client.get(reverse("template_delete", args=[org.slug, "abc"])).status_code == 403
    assert client.post(reverse("template_delete", args=[org.slug, "abc"])).status_code == 403
    page = client.get(reverse("build_list", args=[org.slug]))
    assert page.status_code == 200 and b"id=\"build-form\"" not in page.content
    assert client.get(reverse("build_detail", args=[org.slug, build.pk])).status_code == 200
    assert TemplateBuild.objects.count() == 1


def test_it_shows_status_progress_elapsed_and_the_last_lines(client, org_admin, org):
    build = make_build(org, lines=25, step_total=4)
    client.force_login(org_admin)
    response = client.get(reverse("build_detail", args=[org.slug, build.pk]))
    body = response.content.decode()
    assert "step 3 of 4" in body
    assert 'class="badge status-building"' in body
    assert "line 24" in body and 'hx-trigger="every 1s"' in body
    assert "?after=24" in body


def test_it_tails_only_lines_after_the_last_one_it_has(client, org_admin, org):
    build = make_build(org, lines=30)
    client.force_login(org_admin)
    url = reverse("build_detail", args=[org.slug, build.pk])
    response = client.get(url, {"after": 27}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'data-seq="28"' in body and 'data-seq="29"' in body and 'data-seq="27"' not in body
    assert 'hx-swap-oob="beforeend:#log-lines"' in body and "?after=29" in body
    nothing_new = client.get(url, {"after": 29}, headers=HX).content.decode()
    assert "data-seq" not in nothing_new and "?after=29" in nothing_new


def test_it_filters_the_log_by_level(client, org_admin, org):
    build = make_build(org, lines=30)
    client.force_login(org_admin)
    url = reverse("build_detail", args=[org.slug, build.pk])
    body = client.get(url, {"level": "warn"}).content.decode()
    assert "line 9<" in body and "line 19<" in body and "line 8<" not in body
    tail = client.get(url, {"level": "warn", "after": 9}, headers=HX).content.decode()
    assert 'data-seq="19"' in tail and 'data-seq="10"' not in tail and "level=warn" in tail


def test_it_stops_polling_when_the_build_has_ended(client, org_admin, org):
    build = make_build(org, lines=3, status=BuildStatus.READY, finished_at=timezone.now())
    client.force_login(org_admin)
    url = reverse("build_detail", args=[org.slug, build.pk])
    response = client.get(url, {"after": 0}, headers=HX)
    assert response.status_code == 286
    body = response.content.decode()
    assert 'data-seq="2"' in body and "hx-trigger" not in body.split('id="log-tail"')[1]
    assert 'hx-trigger="every 1s"' not in client.get(url).content.decode()


def test_it_downloads_the_whole_log_as_text(client, org_admin, org):
    build = make_build(org, lines=1200)
    client.force_login(org_admin)
    response = client.get(reverse("build_log_download", args=[org.slug, build.pk]))
    assert response.streaming
    assert response["Content-Type"].startswith("text/plain")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    assert text.count("\n") == 1200 and text.splitlines()[-1].endswith("line 1199")


def test_it_shows_the_failing_step_and_reason_on_the_build_page(client, org_admin, e2b_org):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    services.follow(build.pk, template=failing_template())
    client.force_login(org_admin)
    body = client.get(reverse("build_detail", args=[e2b_org.slug, build.pk])).content.decode()
    assert 'class="badge status-error"' in body
    assert "Step 2:" in body and "exit status 1" in body


def test_it_cancels_a_build_and_says_e2b_may_still_finish_it(client, org_admin, org):
    build = make_build(org)
    client.force_login(org_admin)
    response = client.post(reverse("build_cancel", args=[org.slug, build.pk]), follow=True)
    build.refresh_from_db()
    assert build.status == BuildStatus.CANCELLED
    assert b"E2B may still finish" in response.content
    assert AuditEvent.objects.filter(action="build.cancel", organization=org).exists()


def test_it_lists_builds_per_organization(client, org_admin, org, other_org):
    mine = make_build(org, status=BuildStatus.READY, finished_at=timezone.now())
    theirs = make_build(other_org, status=BuildStatus.ERROR)
    client.force_login(org_admin)
    body = client.get(reverse("build_list", args=[org.slug])).content.decode()
    assert f'id="build-{mine.pk}"' in body and f'id="build-{theirs.pk}"' not in body
    assert "admin@acme.example" in body


def test_it_lists_every_organizations_builds_for_platform_staff(client, support, org_admin, org, other_org):
    mine = make_build(org, status=BuildStatus.READY, finished_at=timezone.now())
    theirs = make_build(other_org, status=BuildStatus.ERROR)
    client.force_login(support)
    body = client.get(reverse("platform_builds")).content.decode()
    assert f'id="build-{mine.pk}"' in body and f'id="build-{theirs.pk}"' in body
    filtered = client.get(reverse("platform_builds"), {"status": "error"}).content.decode()
    assert f'id="build-{mine.pk}"' not in filtered and f'id="build-{theirs.pk}"' in filtered
    client.force_login(org_admin)
    assert client.get(reverse("platform_builds")).status_code == 404


def test_it_lists_the_organizations_templates_as_e2b_reports_them(client, org_admin, e2b_org):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    build = services.follow(build.pk, template=quick_template())
    client.force_login(org_admin)
    body = client.get(reverse("template_list", args=[e2b_org.slug])).content.decode()
    assert e2b_org.template_alias in body and build.template_id in body
    assert 'class="badge status-ready"' in body
    assert reverse("template_delete", args=[e2b_org.slug, build.template_id]) in body


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [({"status": 500, "message": "database on fire"}, "E2B error"), ({"status": 401}, "key rejected")],
)
def test_it_shows_an_e2b_failure_with_its_outcome(client, org_admin, e2b_org, e2b, fault, outcome):
    e2b.set_fault("/templates", **fault)
    client.force_login(org_admin)
    response = client.get(reverse("template_list", args=[e2b_org.slug]))
    assert response.status_code == 200
    assert outcome in response.content.decode()
    assert e2b.api_key not in response.content.decode()


def test_it_says_when_there_is_no_key(client, org_admin, org):
    client.force_login(org_admin)
    body = client.get(reverse("template_list", args=[org.slug])).content.decode()
    assert "no key" in body and "no active E2B API key" in body


def test_it_deletes_a_template_after_confirmation(client, org_admin, e2b_org):
    build, _ = services.start_build(e2b_org, user=org_admin, enqueue=False)
    build = services.follow(build.pk, template=quick_template())
    client.force_login(org_admin)
    url = reverse("template_delete", args=[e2b_org.slug, build.template_id])
    confirm = client.get(url)
    assert confirm.status_code == 200 and b"Delete template" in confirm.content
    response = client.post(url, follow=True)
    assert b"Deleted template" in response.content
    assert build.template_id not in response.content.decode()
    event = AuditEvent.objects.get(action="template.delete")
    assert event.details == {"template_id": build.template_id}
    assert client.post(url).status_code == 404


def test_it_shows_the_last_build_on_the_org_home(client, org_admin, org):
    build = make_build(org, status=BuildStatus.READY, finished_at=timezone.now())
    client.force_login(org_admin)
    body = client.get(reverse("org_home", args=[org.slug])).content.decode()
    assert reverse("build_detail", args=[org.slug, build.pk]) in body
    assert reverse("build_list", args=[org.slug]) in body


@covers(
    "build_list",
    "build_start",
    "build_detail",
    "build_log_download",
    "build_cancel",
    "template_list",
    "template_delete",
)
def test_it_answers_404_for_another_organizations_builds(client, other_admin, org, other_org):
    build = make_build(org, lines=3)
    client.force_login(other_admin)
    assert client.get(reverse("build_list", args=[org.slug])).status_code == 404
    assert client.post(reverse("build_start", args=[org.slug])).status_code == 404
    assert client.get(reverse("build_detail", args=[org.slug, build.pk])).status_code == 404
    assert client.get(reverse("build_log_download", args=[org.slug, build.pk])).status_code == 404
    assert client.post(reverse("build_cancel", args=[org.slug, build.pk])).status_code == 404
    assert client.get(reverse("template_list", args=[org.slug])).status_code == 404
    assert client.post(reverse("template_delete", args=[org.slug, "abc"])).status_code == 404
    # Acme's build under Globex's own slug is not Globex's either.
    assert client.get(reverse("build_detail", args=[other_org.slug, build.pk])).status_code == 404
    assert client.get(reverse("build_log_download", args=[other_org.slug, build.pk])).status_code == 404
    assert client.post(reverse("build_cancel", args=[other_org.slug, build.pk])).status_code == 404
    build.refresh_from_db()
    assert build.status == BuildStatus.BUILDING and TemplateBuild.objects.count() == 1

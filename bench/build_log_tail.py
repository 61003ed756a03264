"""One live-log tail request (HTMX, `?after=N`) on a build with 20,000 lines, over the same
request on a build with 100 lines. The tail reads `seq > N` through the (build, seq) index,
so the ratio should stay near 1."""

import os
import statistics
import time

ROUNDS = 40


def _build_with_lines(org, count):
    from django.utils import timezone

    from templates_app.models import BuildLogLine, BuildStatus, TemplateBuild

    build = TemplateBuild.objects.create(
        organization=org, alias=f"bench-{count}", cpu_count=4, memory_mb=8192, status=BuildStatus.BUILDING
    )
    now = timezone.now()
    BuildLogLine.objects.bulk_create(
        (
            BuildLogLine(build=build, seq=n, time=now, level="info", step=str(n % 40), message=f"RUN step output line {n}")
            for n in range(count)
        ),
        batch_size=2000,
    )
    TemplateBuild.objects.filter(pk=build.pk).update(log_offset=count)
    return build


def _tail_seconds(client, org, build, after):
    from django.urls import reverse

    url = reverse("build_detail", args=[org.slug, build.pk])
    started = time.perf_counter()
    response = client.get(url, {"after": after}, headers={"HX-Request": "true"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return elapsed


def run():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_databases, teardown_databases

    from portal.models import Membership, Organization, Role, User

    databases = setup_databases(verbosity=0, interactive=False)
    try:
        org = Organization.objects.create(name="Bench", slug="bench")
        user = User.objects.create_user(email="bench@example.com", password="unused-bench-password")
        Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
        small = _build_with_lines(org, 100)
        large = _build_with_lines(org, 20_000)
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        # Each request asks for what a page following the build has not seen yet: the last 5
        # lines. Rounds alternate between the two builds so that drift hits both alike.
        small_times, large_times = [], []
        for round_number in range(ROUNDS + 5):
            small_time = _tail_seconds(client, org, small, 95)
            large_time = _tail_seconds(client, org, large, 19_995)
            if round_number >= 5:  # warm-up
                small_times.append(small_time)
                large_times.append(large_time)
        small_time, large_time = statistics.median(small_times), statistics.median(large_times)
        return {"build_log_tail_ratio": large_time / small_time}
    finally:
        teardown_databases(databases, verbosity=0)

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from templates_app.models import BuildStatus, TemplateBuild


@pytest.fixture(autouse=True)
def fast_polling(settings):
    settings.TEMPLATE_BUILD_POLL_SECONDS = 0.05


def test_it_builds_in_the_foreground_and_streams_the_log(e2b_org):
    out = StringIO()
    call_command("build_template", e2b_org.slug, stdout=out)
    build = TemplateBuild.objects.get()
    assert build.status == BuildStatus.READY and build.requested_by_label == "command line"
    text = out.getvalue()
    assert f"Build #{build.pk} of {e2b_org.template_alias}" in text
    assert "[info] base: FROM" in text and "Build finished" in text
    assert text.count("\n") >= build.log_offset + 2
    assert "ready" in text.splitlines()[-1]


def test_it_exits_non_zero_with_the_failing_step(e2b_org, tmp_path):
    (tmp_path / "e2b.Dockerfile").write_text("FROM ubuntu:22.04\nRUN echo first\nRUN exit 1\n")
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("build_template", e2b_org.slug, "--template-dir", str(tmp_path), stdout=out)
    message = str(failure.value)
    assert "ended error" in message and "exit status 1" in message and "(step " in message
    assert "[error]" in out.getvalue()


def test_it_refuses_an_unknown_organization(db):
    with pytest.raises(CommandError, match="no organization"):
        call_command("build_template", "nope")


def test_it_recovers_silent_builds_from_the_command_line(org):
    out = StringIO()
    call_command("recover_builds", stdout=out)
    assert "0 build(s) recovered" in out.getvalue()

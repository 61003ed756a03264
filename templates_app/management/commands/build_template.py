from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.e2b import E2BError
from portal.models import Organization
from templates_app import services
from templates_app.models import BuildStatus, TemplateBuild


class Command(BaseCommand):
    help = (
        "Build an organization's sandbox template in the foreground and stream its log. "
        "Exits non-zero unless the build ends ready."
    )

    def add_arguments(self, parser):
        parser.add_argument("org_slug", help="the organization's slug")
        parser.add_argument("--skip-cache", action="store_true", help="rebuild every step")
        parser.add_argument(
            "--template-dir",
            help="a directory with an e2b.Dockerfile to build instead of the seed's template (e2b_template/)",
        )

    def handle(self, *args, org_slug, skip_cache, template_dir, **options):
        from e2b_template.template import make_template, source_hash

        try:
            org = Organization.objects.get(slug=org_slug)
        except Organization.DoesNotExist:
            raise CommandError(f"no organization with slug {org_slug!r}") from None
        try:
            template = make_template(template_dir) if template_dir else make_template()
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the template: {exc}") from None
        try:
            digest = source_hash(template_dir) if template_dir else source_hash()
        except OSError:
            digest = ""
        build, created = services.start_build(org, skip_cache=skip_cache, source_hash=digest, enqueue=False)
        if not created:
            raise CommandError(
                f"build #{build.pk} of {build.alias} is already running; follow it in the portal or cancel it first"
            )
        where = Path(template_dir).resolve() if template_dir else "e2b_template/"
        self.stdout.write(f"Build #{build.pk} of {build.alias} for {org.name} from {where}")

        def print_lines(lines):
            for line in lines:
                self.stdout.write(line.as_text())

        try:
            services.follow(build.pk, template=template, on_lines=print_lines)
        except E2BError as exc:  # pragma: no cover - follow() turns E2B errors into the build's state
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            services.cancel_build(build)
            raise CommandError("interrupted: stopped following; E2B may still finish the build") from None
        build = TemplateBuild.objects.get(pk=build.pk)
        if build.status != BuildStatus.READY:
            step = f" (step {build.error_step})" if build.error_step else ""
            raise CommandError(f"build #{build.pk} ended {build.status}{step}: {build.error_reason}")
        self.stdout.write(self.style.SUCCESS(f"Build #{build.pk} ready: {build.alias} is the runtime template."))

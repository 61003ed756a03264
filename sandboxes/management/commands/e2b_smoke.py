from django.core.management.base import BaseCommand, CommandError

from portal.e2b import E2BError
from portal.models import Organization
from sandboxes import services


class Command(BaseCommand):
    help = "Smoke-test an organization's E2B: create a sandbox, check its services, pause, resume, kill."

    def add_arguments(self, parser):
        parser.add_argument("org", help="organization slug")
        parser.add_argument("--template", help="template to create from (default: the organization's)")

    def handle(self, *args, org, template, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"no organization with slug {org!r}") from None
        try:
            report = services.run_smoke_test(None, organization, template=template)
        except E2BError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Smoke test of {organization.name} with template {report.template}")
        for step in report.steps:
            self.stdout.write(f"  {step.name:<12} {step.status:<8} {step.duration_ms:>6} ms  {step.message}")
        for check in report.checks:
            self.stdout.write(f"    {check['check']:<12} {check['status']:<8} exit {check['exit_code']}  {check['command']}")
        if not report.passed:
            raise CommandError("smoke test failed")
        self.stdout.write(self.style.SUCCESS("smoke test passed"))

from django.core.management.base import BaseCommand, CommandError

from portal.crypto import SecretUnreadable
from portal.e2b_services import check_connection
from portal.models import Organization


class Command(BaseCommand):
    help = "Checks an organization's E2B connection (health, then its key); exits non-zero unless ok."

    def add_arguments(self, parser):
        parser.add_argument("organization", help="the organization's slug")
        parser.add_argument("--timeout", type=float, default=None, help="seconds, at most (default 10)")

    def handle(self, *args, organization, timeout, **options):
        try:
            org = Organization.objects.get(slug=organization)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with the slug {organization!r}.") from None
        try:
            result = check_connection(None, org, timeout=timeout)
        except SecretUnreadable as exc:
            raise CommandError(str(exc)) from None
        latency = f" in {result.latency_ms} ms" if result.latency_ms is not None else ""
        line = f"{org.slug}: {result.outcome}{latency}. {result.message}"
        if not result.ok:
            raise CommandError(line, returncode=2)
        self.stdout.write(line)

from django.core.management.base import BaseCommand

from sandboxes import services
from sandboxes.tasks import ensure_sync_scheduled


class Command(BaseCommand):
    help = "Refresh the sandbox records of every E2B organization from E2B's lists."

    def add_arguments(self, parser):
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="instead, start the worker's periodic sync unless it is already running",
        )

    def handle(self, *args, schedule, **options):
        if schedule:
            started = ensure_sync_scheduled()
            self.stdout.write("Periodic sandbox sync enqueued." if started else "Periodic sandbox sync already running.")
            return
        failures = 0
        for slug, result in services.sync_all().items():
            if isinstance(result, int):
                self.stdout.write(f"{slug}: {result} sandbox{'es' if result != 1 else ''}")
            else:
                failures += 1
                self.stderr.write(f"{slug}: {result}")
        if failures:
            self.stderr.write(self.style.WARNING(f"{failures} organization(s) could not be synced."))

from django.core.management.base import BaseCommand
from django.db import transaction

from templates_app import services


class Command(BaseCommand):
    help = "Hand every template build whose worker went silent to a new task (run it from cron if you like)."

    def handle(self, *args, **options):
        with transaction.atomic():
            recovered = services.recover_stale_builds()
        for build in recovered:
            self.stdout.write(f"build #{build.pk}: handed to a new task")
        self.stdout.write(f"{len(recovered)} build(s) recovered")

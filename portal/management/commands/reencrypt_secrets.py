from django.core.management.base import BaseCommand, CommandError

from portal.crypto import SecretUnreadable
from portal.e2b_services import reencrypt_keys


class Command(BaseCommand):
    help = "Re-encrypts every stored E2B key under the first key of PORTAL_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        try:
            counts = reencrypt_keys()
        except SecretUnreadable as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from None
        self.stdout.write(
            f"{counts['keys']} E2B key(s) read, {counts['changed']} re-encrypted under the first key."
        )

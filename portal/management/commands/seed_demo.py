"""Demo users and organizations for `make run`. Idempotent; refuses to run in production."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.models import E2BApiKey, Membership, Organization, PlatformRole, Provider, Role, User

DEMO_PASSWORD = "portal-demo"  # noqa: S105 - a published demo credential, refused outside DEBUG

# Team keys of the local E2B backend that `make run` starts (see the Makefile); they open
# nothing but that loopback server.
DEMO_E2B_KEYS = {
    "acme": "e2b_" + "a1" * 20,
    "globex": "e2b_" + "b2" * 20,
}

USERS = [
    ("platform@demo.local", PlatformRole.PLATFORM_ADMIN, None, None),
    ("support@demo.local", PlatformRole.SUPPORT, None, None),
    ("admin@acme.demo", PlatformRole.NONE, "acme", Role.ADMIN),
    ("member@acme.demo", PlatformRole.NONE, "acme", Role.MEMBER),
    ("admin@globex.demo", PlatformRole.NONE, "globex", Role.ADMIN),
]

ORGS = [("acme", "Acme"), ("globex", "Globex")]


class Command(BaseCommand):
    help = "Create the demo users and organizations (DEBUG only; safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--e2b-url", default=settings.E2B_LOCAL_URL, help="the local E2B backend")

    @transaction.atomic
    def handle(self, *args, e2b_url, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates published passwords; it runs only with DEBUG on.")
        orgs = {}
        for slug, name in ORGS:
            org, _ = Organization.objects.get_or_create(
                slug=slug,
                defaults={"name": name, "provider": Provider.E2B, "api_url": e2b_url, "sandbox_url": e2b_url},
            )
            orgs[slug] = org
            if not org.e2b_keys.exists():
                key = E2BApiKey(organization=org, label="Local demo key", is_active=True)
                key.set_secret(DEMO_E2B_KEYS[slug])
                key.save()
        for email, platform_role, slug, role in USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email=email, password=DEMO_PASSWORD)
            user.platform_role = platform_role
            user.is_staff = user.is_superuser = platform_role == PlatformRole.PLATFORM_ADMIN
            user.save()
            if slug:
                Membership.objects.get_or_create(user=user, organization=orgs[slug], defaults={"role": role})
        self.stdout.write(f"Demo data ready. Log in with any of these, password {DEMO_PASSWORD}:")
        for email, *_ in USERS:
            self.stdout.write(f"  {email}")

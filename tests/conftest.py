import os
import uuid

import pytest

from portal.models import E2BApiKey, Membership, Organization, PlatformRole, Role, User

pytest_plugins = ["tests.e2b_fixtures", "tests.browser"]

# Playwright's sync API runs an event loop in the test's thread; Django's ORM calls made
# from that thread in tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


def make_user(email, platform_role=PlatformRole.NONE):
    return User.objects.create_user(email=email, password=PASSWORD, platform_role=platform_role)


@pytest.fixture
def org(db):
    return Organization.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_org(db):
    return Organization.objects.create(name="Globex", slug="globex")


@pytest.fixture
def platform_admin(db):
    user = make_user("platform@example.com", PlatformRole.PLATFORM_ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def support(db):
    return make_user("support@example.com", PlatformRole.SUPPORT)


@pytest.fixture
def org_admin(org):
    user = make_user("admin@acme.example")
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    return user


@pytest.fixture
def org_member(org):
    user = make_user("member@acme.example")
    Membership.objects.create(user=user, organization=org, role=Role.MEMBER)
    return user


@pytest.fixture
def other_admin(other_org):
    user = make_user("admin@globex.example")
    Membership.objects.create(user=user, organization=other_org, role=Role.ADMIN)
    return user


@pytest.fixture
def personas(platform_admin, support, org_admin, org_member, other_admin):
    return {
        "platform_admin": platform_admin,
        "support": support,
        "org_admin": org_admin,
        "org_member": org_member,
        "other_admin": other_admin,
    }


@pytest.fixture
def login(client):
    def log_in(user):
        client.force_login(user)
        return client

    return log_in


@pytest.fixture
def e2b_org(org, e2b):
    """Acme on the local E2B with an active key, and a template alias of its own (template
    names are global on E2B, so builds of other tests do not mix in)."""
    org.api_url = org.sandbox_url = e2b.url
    org.template_alias = f"acme-{uuid.uuid4().hex[:8]}"
    org.save()
    key = E2BApiKey(organization=org, label="local", is_active=True)
    key.set_secret(e2b.api_key)
    key.save()
    return org

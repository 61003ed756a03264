from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from portal.models import User
from tests.conftest import PASSWORD


def test_it_logs_in_with_email_and_password(client, org_admin, org):
    response = client.post(reverse("login"), {"username": org_admin.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"], follow=True).status_code == 200


def test_it_locks_an_account_after_repeated_failures(client, org_admin):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), {"username": org_admin.email, "password": "wrong"})
    # Another account from the same address is not locked by these failures.
    assert client.post(reverse("login"), {"username": "nobody@example.com", "password": "x"}).status_code == 200
    for _ in range(1):
        client.post(reverse("login"), {"username": org_admin.email, "password": "wrong"})
    response = client.post(reverse("login"), {"username": org_admin.email, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_it_expires_sessions():
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_it_changes_a_password(client, org_admin):
    client.force_login(org_admin)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a-new-long-passphrase-42", "new_password2": "a-new-long-passphrase-42"},
    )
    assert response.status_code == 302
    org_admin.refresh_from_db()
    assert org_admin.check_password("a-new-long-passphrase-42")


def test_it_seeds_the_demo_users_idempotently(db, settings):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    emails = set(User.objects.values_list("email", flat=True))
    assert emails == {
        "platform@demo.local",
        "support@demo.local",
        "admin@acme.demo",
        "member@acme.demo",
        "admin@globex.demo",
    }
    for user in User.objects.all():
        assert user.check_password("portal-demo")
    assert User.objects.get(email="platform@demo.local").is_platform_admin


def test_it_locks_the_client_behind_a_proxy_not_the_proxy(client, org_admin, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    attacker = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "REMOTE_ADDR": "10.0.0.2"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": org_admin.email, "password": "wrong"}, **attacker)
    locked = client.post(reverse("login"), {"username": org_admin.email, "password": PASSWORD}, **attacker)
    assert locked.status_code == 429
    # The owner, through the same load balancer from another address, still gets in.
    owner = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", "REMOTE_ADDR": "10.0.0.2"}
    assert client.post(reverse("login"), {"username": org_admin.email, "password": PASSWORD}, **owner).status_code == 302


def test_it_ignores_forwarded_addresses_it_was_not_told_to_trust(rf, settings):
    from portal.audit import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="203.0.113.9", REMOTE_ADDR="10.0.0.2")
    assert client_ip(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    spoofed = rf.get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9", REMOTE_ADDR="10.0.0.2")
    assert client_ip(spoofed) == "203.0.113.9"

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from portal.crypto import SecretUnreadable
from portal.e2b import connection_for
from portal.e2b_services import KeyRefused, activate_key, add_key, reencrypt_keys, revoke_key
from portal.models import AuditEvent, E2BApiKey
from tests.isolation import covers

FIRST = "e2b_1111111111111111111111111111111111aaaa"
SECOND = "e2b_2222222222222222222222222222222222bbbb"


def keys_url(org):
    return reverse("e2b_keys", args=[org.slug])


def add(client, org, label, key, **kwargs):
    return client.post(keys_url(org), {"label": label, "key": key}, **kwargs)


def store(org, label, secret, active=False):
    key = E2BApiKey(organization=org, label=label, is_active=active)
    key.set_secret(secret)
    key.save()
    return key


def test_it_makes_the_first_key_active_and_never_shows_it_again(client, org_admin, org, caplog):
    client.force_login(org_admin)
    with caplog.at_level(logging.DEBUG):
        response = add(client, org, "production", FIRST, follow=True)
    key = E2BApiKey.objects.get(organization=org)
    assert key.is_active
    assert key.secret() == FIRST
    assert key.created_by == org_admin
    assert FIRST.encode() not in response.content
    assert "e2b_…aaaa".encode() in response.content
    assert FIRST not in caplog.text
    event = AuditEvent.objects.get(action="e2b_key.add")
    assert FIRST not in repr(event.details) + event.target


def test_it_stores_no_plaintext_in_the_key_table(org, org_admin):
    store(org, "production", FIRST, active=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM portal_e2bapikey")
        rows = repr(cursor.fetchall())
    assert FIRST not in rows
    assert FIRST[4:-4] not in rows


def test_it_adds_a_second_key_on_standby(client, org_admin, org):
    store(org, "old", FIRST, active=True)
    client.force_login(org_admin)
    add(client, org, "new", SECOND)
    assert E2BApiKey.objects.get(label="new").is_active is False
    assert E2BApiKey.objects.active().get().label == "old"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", b"Enter the key."),
        ("      ", b"Enter the key."),
        ("e2b_abc def0123456789", b"no spaces or line breaks"),
        ("e2b_abc\n0123456789", b"no spaces or line breaks"),
        ("e2b_1", b"10 to 200 characters"),
        ("e2b_" + "a" * 500, b"10 to 200 characters"),
        ("e2b_ключ0123456789", b"only letters, digits and punctuation"),
    ],
)
def test_it_rejects_unusable_keys(client, org_admin, org, key, message):
    client.force_login(org_admin)
    response = add(client, org, "bad", key)
    assert response.status_code == 200
    assert message in response.content
    assert not E2BApiKey.objects.exists()
    if key.strip():
        assert key.encode() not in response.content


def test_it_rejects_a_blank_label(client, org_admin, org):
    client.force_login(org_admin)
    assert b"Enter a label." in add(client, org, "   ", FIRST).content
    assert not E2BApiKey.objects.exists()


def test_it_rotates_with_exactly_one_active_key_at_every_step(client, org_admin, org):
    client.force_login(org_admin)
    add(client, org, "old", FIRST)
    add(client, org, "new", SECOND)
    old, new = E2BApiKey.objects.get(label="old"), E2BApiKey.objects.get(label="new")
    assert E2BApiKey.objects.filter(organization=org, is_active=True).count() == 1

    client.post(reverse("e2b_key_activate", args=[org.slug, new.pk]))
    assert list(E2BApiKey.objects.filter(is_active=True)) == [new]
    assert connection_for(org).api_key == SECOND

    client.post(reverse("e2b_key_revoke", args=[org.slug, old.pk]))
    old.refresh_from_db()
    assert old.is_revoked
    assert list(E2BApiKey.objects.active()) == [new]
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["e2b_key.add", "e2b_key.add", "e2b_key.activate", "e2b_key.revoke"]


def test_it_refuses_to_revoke_the_active_key(client, org_admin, org):
    key = store(org, "only", FIRST, active=True)
    client.force_login(org_admin)
    response = client.post(reverse("e2b_key_revoke", args=[org.slug, key.pk]), follow=True)
    key.refresh_from_db()
    assert key.is_active and not key.is_revoked
    assert b"make another key active first" in response.content


def test_it_refuses_to_activate_a_revoked_key(org):
    store(org, "current", FIRST, active=True)
    old = store(org, "old", SECOND)
    revoke_key(None, old)
    with pytest.raises(KeyRefused):
        activate_key(None, old)
    assert E2BApiKey.objects.active().get().label == "current"


def test_it_swaps_keys_in_place_with_htmx(client, org_admin, org):
    store(org, "old", FIRST, active=True)
    new = store(org, "new", SECOND)
    client.force_login(org_admin)
    response = client.post(reverse("e2b_key_activate", args=[org.slug, new.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"is now the active key" in response.content


def test_it_lets_members_and_support_read_the_list_masked(client, org_member, support, org):
    key = store(org, "production", FIRST, active=True)
    for user in (org_member, support):
        client.force_login(user)
        response = client.get(keys_url(org))
        assert response.status_code == 200
        assert "e2b_…aaaa".encode() in response.content
        assert FIRST[4:-4].encode() not in response.content
        assert b"Add a key" not in response.content
        assert b"Make active" not in response.content
        assert add(client, org, "mine", SECOND).status_code == 403
        assert client.post(reverse("e2b_key_revoke", args=[org.slug, key.pk])).status_code == 403
    assert E2BApiKey.objects.count() == 1


@covers("e2b_keys", "e2b_key_activate", "e2b_key_revoke")
def test_it_hides_keys_from_other_organizations(client, other_admin, org, other_org):
    key = store(org, "production", FIRST, active=True)
    mine = store(other_org, "globex", SECOND, active=True)
    client.force_login(other_admin)
    assert client.get(keys_url(org)).status_code == 404
    assert add(client, org, "sneaky", SECOND).status_code == 404
    assert client.post(reverse("e2b_key_activate", args=[org.slug, key.pk])).status_code == 404
    assert client.post(reverse("e2b_key_revoke", args=[org.slug, key.pk])).status_code == 404
    # Another organization's key through one's own organization's URL: also 404.
    assert client.post(reverse("e2b_key_revoke", args=[other_org.slug, key.pk])).status_code == 404
    assert client.post(reverse("e2b_key_activate", args=[other_org.slug, key.pk])).status_code == 404
    key.refresh_from_db()
    mine.refresh_from_db()
    assert key.is_active and mine.is_active


def test_it_fails_loudly_with_a_wrong_encryption_key_list(client, org_admin, org, settings, caplog):
    store(org, "production", FIRST, active=True)
    settings.PORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretUnreadable):
        connection_for(org)
    client.force_login(org_admin)
    with caplog.at_level(logging.DEBUG):
        response = client.post(reverse("e2b_check", args=[org.slug]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"cannot be decrypted" in response.content
    assert FIRST not in caplog.text
    org.refresh_from_db()
    assert org.last_check_outcome == ""


def test_it_reencrypts_every_key_under_the_first_encryption_key(org, other_org, settings):
    old_key = settings.PORTAL_ENCRYPTION_KEYS[0]
    store(org, "a", FIRST, active=True)
    store(other_org, "b", SECOND, active=True)
    new_key = Fernet.generate_key().decode()
    settings.PORTAL_ENCRYPTION_KEYS = [new_key, old_key]
    assert reencrypt_keys() == {"keys": 2, "changed": 2}
    assert reencrypt_keys() == {"keys": 2, "changed": 0}
    settings.PORTAL_ENCRYPTION_KEYS = [new_key]
    assert sorted(k.secret() for k in E2BApiKey.objects.all()) == [FIRST, SECOND]


def test_it_reencrypts_from_the_command_line(org, settings, capsys):
    old_key = settings.PORTAL_ENCRYPTION_KEYS[0]
    store(org, "a", FIRST, active=True)
    settings.PORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    call_command("reencrypt_secrets")
    out = capsys.readouterr().out
    assert "1 E2B key" in out and "1 re-encrypted" in out
    assert FIRST not in out


def test_it_refuses_to_reencrypt_with_a_wrong_key_list(org, settings):
    store(org, "a", FIRST, active=True)
    settings.PORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("reencrypt_secrets")


def test_it_adds_keys_through_the_service_with_an_audit(org, org_admin, rf):
    request = rf.post("/")
    request.user = org_admin
    key = add_key(request, org, "svc", FIRST)
    assert key.is_active
    assert AuditEvent.objects.get(action="e2b_key.add").actor_user == org_admin

import pytest
from django.urls import reverse

from portal.models import AuditEvent, Membership, Role, User
from tests.isolation import covers


def test_it_adds_an_existing_user(client, org_admin, org, other_admin):
    client.force_login(org_admin)
    response = client.post(reverse("members", args=[org.slug]), {"email": other_admin.email, "role": "member"})
    assert response.status_code == 302
    assert Membership.objects.get(user=other_admin, organization=org).role == Role.MEMBER
    event = AuditEvent.objects.get(action="member.add")
    assert event.details == {"role": "member", "account_created": False}


def test_it_creates_an_account_and_shows_its_password_once(client, org_admin, org):
    client.force_login(org_admin)
    response = client.post(
        reverse("members", args=[org.slug]), {"email": "New.Person@Acme.example", "role": "admin"}, follow=True
    )
    user = User.objects.get(email="new.person@acme.example")
    assert Membership.objects.get(user=user, organization=org).role == Role.ADMIN
    assert b"One-time password" in response.content
    assert response["Cache-Control"] == "no-store"
    # The password travels in this page only, never in a cookie.
    assert "messages" not in response.cookies
    again = client.get(reverse("members", args=[org.slug]))
    assert b"One-time password" not in again.content


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"email": "not-an-email", "role": "member"}, b"Enter a valid email address"),
        ({"email": "x@example.com", "role": "owner"}, b"Select a valid choice"),
        ({"email": "", "role": "member"}, b"This field is required"),
    ],
)
def test_it_rejects_bad_input_with_a_form_error(client, org_admin, org, data, error):
    client.force_login(org_admin)
    response = client.post(reverse("members", args=[org.slug]), data)
    assert response.status_code == 200
    assert error in response.content
    assert Membership.objects.filter(organization=org).count() == 1


def test_it_rejects_a_duplicate_member(client, org_admin, org_member, org):
    client.force_login(org_admin)
    response = client.post(reverse("members", args=[org.slug]), {"email": org_member.email, "role": "member"})
    assert b"already a member" in response.content


def test_it_changes_a_role(client, org_admin, org_member, org):
    client.force_login(org_admin)
    membership = Membership.objects.get(user=org_member)
    client.post(reverse("member_role", args=[org.slug, membership.pk]), {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert AuditEvent.objects.get(action="member.role_change").details == {"from": "member", "to": "admin"}


def test_it_refuses_to_demote_the_last_admin(client, org_admin, org):
    client.force_login(org_admin)
    membership = Membership.objects.get(user=org_admin)
    response = client.post(reverse("member_role", args=[org.slug, membership.pk]), {"role": "member"}, follow=True)
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert b"at least one admin" in response.content


def test_it_refuses_to_remove_the_last_admin(client, org_admin, org):
    client.force_login(org_admin)
    membership = Membership.objects.get(user=org_admin)
    response = client.post(reverse("member_remove", args=[org.slug, membership.pk]), follow=True)
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert b"at least one admin" in response.content


def test_it_removes_a_member_in_place_with_htmx(client, org_admin, org_member, org):
    client.force_login(org_admin)
    membership = Membership.objects.get(user=org_member)
    response = client.post(reverse("member_remove", args=[org.slug, membership.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b'id="members"' in response.content
    assert b"<html" not in response.content
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action="member.remove").exists()


@pytest.mark.parametrize("persona", ["org_member", "support"])
def test_it_lets_only_admins_change_members(client, personas, org, persona):
    client.force_login(personas[persona])
    target = Membership.objects.get(user=personas["org_admin"])
    assert client.post(reverse("members", args=[org.slug]), {"email": "a@b.example", "role": "member"}).status_code == 403
    assert client.post(reverse("member_role", args=[org.slug, target.pk]), {"role": "member"}).status_code == 403
    assert client.post(reverse("member_remove", args=[org.slug, target.pk])).status_code == 403
    assert Membership.objects.filter(organization=org).count() == 2


@covers("member_role", "member_remove")
def test_it_answers_404_for_another_organizations_members(client, other_admin, org_admin, org, other_org):
    target = Membership.objects.get(user=org_admin)
    client.force_login(other_admin)
    assert client.post(reverse("member_role", args=[org.slug, target.pk]), {"role": "member"}).status_code == 404
    assert client.post(reverse("member_remove", args=[org.slug, target.pk])).status_code == 404
    # A membership ID of Acme under Globex's own slug is not Globex's either.
    assert client.post(reverse("member_remove", args=[other_org.slug, target.pk])).status_code == 404
    assert client.post(reverse("member_role", args=[other_org.slug, 999999]), {"role": "member"}).status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()


def test_it_lets_a_platform_admin_manage_members(client, platform_admin, org_admin, org):
    client.force_login(platform_admin)
    response = client.post(reverse("members", args=[org.slug]), {"email": "x@acme.example", "role": "member"})
    assert response.status_code == 200
    assert b"One-time password" in response.content
    assert Membership.objects.filter(organization=org, user__email="x@acme.example").exists()

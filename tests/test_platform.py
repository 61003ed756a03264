from django.urls import reverse

from portal.models import AuditEvent, Membership, Organization, Role


def test_it_creates_an_organization_with_its_first_admin(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post(
        reverse("platform_orgs"), {"name": "Initech", "slug": "initech", "admin_email": "boss@initech.example"}, follow=True
    )
    org = Organization.objects.get(slug="initech")
    assert Membership.objects.get(organization=org).role == Role.ADMIN
    assert b"One-time password" in response.content
    assert org.template_alias == "initech-sandbox"
    actions = set(AuditEvent.objects.exclude(action="staff.view").values_list("action", flat=True))
    assert actions == {"organization.create", "member.add"}


def test_it_rejects_a_duplicate_slug(client, platform_admin, org):
    client.force_login(platform_admin)
    response = client.post(reverse("platform_orgs"), {"name": "Other", "slug": org.slug, "admin_email": "a@b.example"})
    assert response.status_code == 200
    assert b"exists already" in response.content
    assert Organization.objects.count() == 1


def test_it_rejects_a_bad_slug(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post(reverse("platform_orgs"), {"name": "Bad", "slug": "Bad Slug!", "admin_email": "a@b.example"})
    assert b"lowercase letters, digits and hyphens" in response.content
    assert not Organization.objects.exists()


def test_it_refuses_organization_creation_to_support(client, support):
    client.force_login(support)
    response = client.post(reverse("platform_orgs"), {"name": "X", "slug": "x", "admin_email": "a@b.example"})
    assert response.status_code == 403
    assert not Organization.objects.exists()


def test_it_filters_and_pages_the_audit_log(client, platform_admin, org):
    AuditEvent.objects.bulk_create(
        [AuditEvent(organization=org, action="member.add" if i % 2 else "key.add", actor_label=f"user{i}@x") for i in range(120)]
    )
    client.force_login(platform_admin)
    page1 = client.get(reverse("platform_audit"), {"action": "key.add"})
    assert page1.content.count(b"<code>key.add</code>") == 50
    assert b"<code>member.add</code>" not in page1.content
    page2 = client.get(reverse("platform_audit"), {"action": "key.add", "page": 2})
    assert page2.content.count(b"<code>key.add</code>") == 10
    by_actor = client.get(reverse("platform_audit"), {"actor": "user7@"})
    assert by_actor.content.count(b"user7@x") == 1


def test_it_shows_an_org_admin_support_views_of_their_organization(client, support, org_admin, org):
    client.force_login(support)
    client.get(reverse("members", args=[org.slug]))
    client.force_login(org_admin)
    response = client.get(reverse("org_audit", args=[org.slug]))
    assert b"staff.view" in response.content
    assert support.email.encode() in response.content


def test_it_records_staff_views_of_the_organizations_the_audit_log_shows(client, support, org, other_org):
    AuditEvent.objects.create(organization=org, action="key.add", actor_label="someone")
    client.force_login(support)
    client.get(reverse("platform_audit"))
    viewed = AuditEvent.objects.filter(action="staff.view", actor_user=support)
    assert {e.organization for e in viewed} == {org}

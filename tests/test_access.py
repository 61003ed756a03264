import pytest
from django.urls import reverse

from portal.models import AuditEvent
from tests.isolation import covers

ORG_PAGES = ["org_home", "members", "org_audit"]

# Expected status of each page per persona (the organization is Acme).
PAGE_MATRIX = {
    "org_home": {"platform_admin": 200, "support": 200, "org_admin": 200, "org_member": 200, "other_admin": 404},
    "members": {"platform_admin": 200, "support": 200, "org_admin": 200, "org_member": 200, "other_admin": 404},
    "org_audit": {"platform_admin": 200, "support": 403, "org_admin": 200, "org_member": 403, "other_admin": 404},
}
PLATFORM_MATRIX = {
    "platform_orgs": {"platform_admin": 200, "support": 200, "org_admin": 404, "org_member": 404, "other_admin": 404},
    "platform_audit": {"platform_admin": 200, "support": 200, "org_admin": 404, "org_member": 404, "other_admin": 404},
}


@pytest.mark.parametrize("persona", ["platform_admin", "support", "org_admin", "org_member", "other_admin"])
@pytest.mark.parametrize("page", ORG_PAGES)
def test_it_gives_each_role_what_it_may_see(client, personas, org, persona, page):
    client.force_login(personas[persona])
    response = client.get(reverse(page, args=[org.slug]))
    assert response.status_code == PAGE_MATRIX[page][persona]


@pytest.mark.parametrize("persona", ["platform_admin", "support", "org_admin", "org_member", "other_admin"])
@pytest.mark.parametrize("page", sorted(PLATFORM_MATRIX))
def test_it_keeps_platform_pages_to_platform_staff(client, personas, persona, page):
    client.force_login(personas[persona])
    assert client.get(reverse(page)).status_code == PLATFORM_MATRIX[page][persona]


@covers("org_home", "members", "org_audit")
@pytest.mark.parametrize("page", ORG_PAGES)
def test_it_answers_404_for_another_organizations_pages(client, other_admin, org, page):
    client.force_login(other_admin)
    assert client.get(reverse(page, args=[org.slug])).status_code == 404


def test_it_answers_404_for_an_unknown_organization(client, org_admin):
    client.force_login(org_admin)
    assert client.get("/orgs/no-such-org/").status_code == 404


def test_it_sends_anonymous_visitors_to_login(client, org):
    response = client.get(reverse("org_home", args=[org.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_records_a_support_view_in_the_organizations_audit_log(client, support, org):
    client.force_login(support)
    client.get(reverse("org_home", args=[org.slug]))
    event = AuditEvent.objects.get(action="staff.view")
    assert event.organization == org
    assert event.actor_user == support
    assert event.target == reverse("org_home", args=[org.slug])


def test_it_does_not_record_a_members_own_views(client, org_member, org):
    client.force_login(org_member)
    client.get(reverse("org_home", args=[org.slug]))
    assert not AuditEvent.objects.exists()


def test_it_shows_the_support_banner(client, support, org):
    client.force_login(support)
    response = client.get(reverse("org_home", args=[org.slug]))
    assert b"as platform support (read-only)" in response.content


def test_it_lists_only_own_organizations_in_the_switcher(client, org_admin, other_org):
    client.force_login(org_admin)
    response = client.get(reverse("org_list"))
    assert b"Acme" in response.content
    assert b"Globex" not in response.content


def test_it_refuses_a_view_with_no_access_decision(rf, org_admin):
    from django.http import HttpResponse

    from portal.access import AccessDecisionMiddleware

    def undecided_view(request):
        return HttpResponse("secret")

    request = rf.get("/somewhere")
    request.user = org_admin
    request.resolver_match = None
    response = AccessDecisionMiddleware(lambda r: None).process_view(request, undecided_view, (), {})
    assert response.status_code == 403


def test_it_keeps_django_admin_to_platform_admins(client, personas):
    for name, user in personas.items():
        client.force_login(user)
        response = client.get("/admin/")
        if name == "platform_admin":
            assert response.status_code == 200
        else:
            assert response.status_code == 302


def test_it_records_a_support_view_made_through_htmx_too(client, support, org):
    client.force_login(support)
    client.get(reverse("members", args=[org.slug]), headers={"HX-Request": "true"})
    assert AuditEvent.objects.filter(action="staff.view", organization=org, actor_user=support).count() == 1


def test_it_records_a_pages_refreshes_as_one_visit(client, support, org):
    client.force_login(support)
    for _ in range(3):
        client.get(reverse("org_home", args=[org.slug]))
    client.get(reverse("members", args=[org.slug]))
    targets = sorted(AuditEvent.objects.filter(action="staff.view").values_list("target", flat=True))
    assert targets == [reverse("org_home", args=[org.slug]), reverse("members", args=[org.slug])]

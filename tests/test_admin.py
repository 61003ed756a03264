from django.urls import reverse

from portal.models import AuditEvent, Membership, Role


def test_it_audits_changes_made_in_the_django_admin(client, platform_admin, org):
    client.force_login(platform_admin)
    response = client.post(
        reverse("admin:portal_organization_change", args=[org.pk]),
        {
            "name": "Acme Corporation",
            "slug": org.slug,
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
            "provider": "e2b",
            "e2b_domain": "",
            "api_url": "",
            "sandbox_url": "",
            "template_alias": org.template_alias,
            "template_cpu_count": 4,
            "template_memory_mb": 8192,
            "runtime_template": "",
            "last_check_outcome": "",
            "last_check_message": "",
            "memberships-TOTAL_FORMS": 1,
            "memberships-INITIAL_FORMS": 0,
            "memberships-0-user": platform_admin.pk,
            "memberships-0-role": "admin",
            "memberships-0-created_at_0": "2026-01-01",
            "memberships-0-created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    org.refresh_from_db()
    assert org.name == "Acme Corporation"
    change = AuditEvent.objects.get(action="admin.change", organization=org)
    assert "name" in change.details["fields"]
    assert AuditEvent.objects.filter(action="admin.add", organization=org, target__startswith="membership").exists()
    assert Membership.objects.get(organization=org, user=platform_admin).role == Role.ADMIN


def test_it_lets_nobody_delete_audit_events_in_the_admin(client, platform_admin, org):
    event = AuditEvent.objects.create(organization=org, action="key.add", actor_label="x")
    client.force_login(platform_admin)
    client.post(reverse("admin:portal_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()

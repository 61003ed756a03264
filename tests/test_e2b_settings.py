import pytest
from django.urls import reverse

from portal.models import AuditEvent, E2BApiKey, Organization
from tests.isolation import covers

VALID = {
    "provider": "e2b",
    "e2b_domain": "e2b.acme.example",
    "api_url": "",
    "sandbox_url": "",
    "template_alias": "acme-runtime",
    "template_cpu_count": "4",
    "template_memory_mb": "8192",
}


def url(org):
    return reverse("e2b_settings", args=[org.slug])


def test_it_saves_settings_and_audits_the_changes(client, org_admin, org):
    client.force_login(org_admin)
    response = client.post(url(org), VALID)
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.provider == "e2b"
    assert org.e2b_domain == "e2b.acme.example"
    assert org.template_alias == "acme-runtime"
    event = AuditEvent.objects.get(action="e2b.settings_change")
    assert event.details["provider"] == {"from": "modal", "to": "e2b"}
    assert "template_cpu_count" not in event.details


def test_it_derives_the_template_alias_from_the_slug_when_blank(client, org_admin, org):
    client.force_login(org_admin)
    client.post(url(org), {**VALID, "template_alias": ""})
    org.refresh_from_db()
    assert org.template_alias == "acme-sandbox"


def test_it_normalizes_the_domain_and_urls(client, org_admin, org):
    client.force_login(org_admin)
    client.post(url(org), {**VALID, "e2b_domain": " E2B.Acme.Example. ", "api_url": "http://127.0.0.1:3000/"})
    org.refresh_from_db()
    assert org.e2b_domain == "e2b.acme.example"
    assert org.api_url == "http://127.0.0.1:3000"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("provider", "docker", "Choose e2b or modal."),
        ("e2b_domain", "https://e2b.acme.example", "bare hostname"),
        ("e2b_domain", "e2b.acme.example/path", "bare hostname"),
        ("e2b_domain", "e2b acme.example", "bare hostname"),
        ("e2b_domain", "e2b.acme.example:443", "bare hostname"),
        ("api_url", "ftp://files.example.com", "absolute http:// or https:// URL"),
        ("api_url", "api.example.com", "absolute http:// or https:// URL"),
        ("sandbox_url", "not a url", "absolute http:// or https:// URL"),
        ("template_alias", "Acme Sandbox!", "lowercase letters, digits, hyphens and underscores"),
        ("template_alias", "-leading", "starting with a letter or digit"),
        ("template_cpu_count", "0", "from 1 to 64"),
        ("template_cpu_count", "65", "from 1 to 64"),
        ("template_cpu_count", "two", "from 1 to 64"),
        ("template_memory_mb", "128", "from 512 to 262144"),
        ("template_memory_mb", "", "from 512 to 262144"),
    ],
)
def test_it_says_what_is_allowed_for_every_invalid_value(client, org_admin, org, field, value, message):
    client.force_login(org_admin)
    response = client.post(url(org), {**VALID, field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    org.refresh_from_db()
    assert org.provider == "modal"


def test_it_answers_htmx_with_the_form_partial(client, org_admin, org):
    client.force_login(org_admin)
    response = client.post(url(org), {**VALID, "template_cpu_count": "99"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert b"<html" not in response.content
    assert b"from 1 to 64" in response.content
    response = client.post(url(org), VALID, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"Saved the E2B settings." in response.content


def test_it_shows_members_the_settings_read_only(client, org_member, org):
    client.force_login(org_member)
    response = client.get(url(org))
    assert response.status_code == 200
    assert response.context["form"] is None
    assert b"Only an org admin changes these settings." in response.content
    assert client.post(url(org), VALID).status_code == 403


def test_it_shows_support_the_settings_with_the_key_masked_and_no_form(client, support, org):
    key = E2BApiKey(organization=org, label="production", is_active=True)
    key.set_secret("e2b_0123456789abcdef0123456789abcdef0123wxyz")
    key.save()
    client.force_login(support)
    response = client.get(url(org))
    assert response.status_code == 200
    assert b"<form method=\"post\" action=\"/orgs/acme/settings/e2b/\"" not in response.content
    assert "e2b_…wxyz".encode() in response.content
    assert b"0123456789abcdef" not in response.content
    assert client.post(url(org), VALID).status_code == 403
    assert Organization.objects.get(pk=org.pk).provider == "modal"
    assert AuditEvent.objects.filter(action="staff.view", organization=org).exists()


@covers("e2b_settings")
def test_it_hides_settings_from_other_organizations(client, other_admin, org):
    client.force_login(other_admin)
    assert client.get(url(org)).status_code == 404
    assert client.post(url(org), VALID).status_code == 404

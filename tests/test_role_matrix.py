"""Every role against every page of the portal, with real objects behind each URL."""

import pytest

from tests.test_browser_pages import page_urls, world  # noqa: F401 (fixture)

PERSONAS = ["platform_admin", "support", "org_admin", "org_member", "other_admin"]

# Pages whose answer differs by role (the organization is Acme). Every other page of an
# organization answers 200 to everyone who belongs to it or is platform staff, and 404
# to another organization's admin; platform pages answer 200 to staff and 404 to the rest.
SPECIAL = {
    "org_audit": {"support": 403, "org_member": 403},
    "access_tokens": {"org_member": 403},
    "template_delete": {"support": 403, "org_member": 403},
    "sandbox_action": {"support": 403},
    "build_start": {p: 405 for p in PERSONAS},
    "logout": {p: 405 for p in PERSONAS},
}
POST_ONLY = {
    "e2b_check", "member_role", "member_remove", "e2b_key_activate", "e2b_key_revoke",
    "access_token_revoke", "build_cancel",
}
ANYONE_SIGNED_IN = {"home": 302, "org_list": 200, "password_change": 200, "password_change_done": 200, "login": 302}


def expected(name, url, persona):
    if name in SPECIAL and persona in SPECIAL[name]:
        return SPECIAL[name][persona]
    if name in ANYONE_SIGNED_IN:
        return ANYONE_SIGNED_IN[name]
    if url.startswith("/platform/"):
        return 200 if persona in ("platform_admin", "support") else 404
    if name in POST_ONLY:
        return 405  # for everyone alike, so it tells nothing about another organization
    if persona == "other_admin":
        return 404
    return 200


@pytest.mark.django_db(transaction=True)
def test_it_answers_each_role_on_every_page(client, personas, world):  # noqa: F811
    wrong = {}
    for persona in PERSONAS:
        client.force_login(personas[persona])
        for name, url in page_urls(world):
            status = client.get(url).status_code
            if status != expected(name, url, persona):
                wrong[(persona, name)] = (status, expected(name, url, persona))
    assert wrong == {}

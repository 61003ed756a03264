"""The web tier keeps no state of its own: two gunicorn servers on one database serve one
person's session interchangeably, each seeing what the other wrote."""

import re

import httpx
import pytest

from portal.models import Membership
from tests.conftest import PASSWORD
from tests.servers import Gunicorn

pytestmark = pytest.mark.django_db(transaction=True)


def csrf_token(html):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_it_serves_one_session_from_two_web_servers(org, org_admin, tmp_path):
    with Gunicorn(tmp_path / "a", workers=1) as first, Gunicorn(tmp_path / "b", workers=1) as second:
        with httpx.Client(base_url=first.url, timeout=10) as a:
            login = a.get("/login/")
            response = a.post(
                "/login/",
                data={"username": org_admin.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(login.text)},
                headers={"Referer": f"{first.url}/login/"},
            )
            assert response.status_code == 302
            members_page = a.get(f"/orgs/{org.slug}/members/")
            assert members_page.status_code == 200
            cookies = httpx.Cookies(a.cookies)

        # The second server knows the session the first one started, and takes its CSRF token.
        with httpx.Client(base_url=second.url, cookies=cookies, timeout=10) as b:
            response = b.post(
                f"/orgs/{org.slug}/members/",
                data={"email": "scaled@acme.example", "role": "member", "csrfmiddlewaretoken": csrf_token(members_page.text)},
                headers={"Referer": f"{second.url}/orgs/{org.slug}/members/"},
            )
            assert response.status_code == 200
            assert "One-time password" in response.text
            membership = Membership.objects.get(organization=org, user__email="scaled@acme.example")
            response = b.post(
                f"/orgs/{org.slug}/members/{membership.pk}/role/",
                data={"role": "admin", "csrfmiddlewaretoken": csrf_token(response.text)},
                headers={"Referer": f"{second.url}/orgs/{org.slug}/members/"},
            )
            assert response.status_code == 302
            cookies = httpx.Cookies(b.cookies)

        # ...and the first shows what the second wrote, with the message the second left.
        with httpx.Client(base_url=first.url, cookies=cookies, timeout=10) as a:
            page = a.get(f"/orgs/{org.slug}/members/")
            assert "scaled@acme.example" in page.text
            assert "scaled@acme.example is now admin." in page.text

"""The all-organizations sandbox page against one organization's list page.

Twenty organizations, each a team of one local E2B that answers every sandbox list after
200 ms of injected latency. The ratio of the two page times, measured in the same run,
shows whether the organizations are fetched concurrently: sequentially it would be ~20.
"""

import statistics
import time

ORGANIZATIONS = 20
LATENCY = 0.2
ROUNDS = 5


def _page_time(client, url):
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def run():
    from django.test import Client
    from e2b import Sandbox

    from e2b_local.testing import LocalE2B
    from portal.models import E2BApiKey, Organization, PlatformRole, Provider, User

    with LocalE2B(teams=1) as e2b:
        orgs = []
        user = User.objects.create_user("fanout-bench@example.com", "x", platform_role=PlatformRole.PLATFORM_ADMIN)
        try:
            for number in range(ORGANIZATIONS):
                org = Organization.objects.create(
                    name=f"Fanout {number:02}",
                    slug=f"fanout-{number:02}",
                    provider=Provider.E2B,
                    api_url=e2b.url,
                    sandbox_url=e2b.url,
                )
                api_key = e2b.add_team(team=f"fanout-{number}")
                key = E2BApiKey(organization=org, label="bench", is_active=True)
                key.set_secret(api_key)
                key.save()
                Sandbox.create("base", timeout=120, **e2b.sdk_kwargs(api_key))
                orgs.append(org)
            e2b.set_fault("/v2/sandboxes", latency=LATENCY)
            client = Client(SERVER_NAME="127.0.0.1")
            client.force_login(user)
            one_org = f"/orgs/{orgs[0].slug}/sandboxes/"
            every_org = "/platform/sandboxes/"
            _page_time(client, one_org), _page_time(client, every_org)  # warm up
            single, fanout = [], []
            for _ in range(ROUNDS):
                single.append(_page_time(client, one_org))
                fanout.append(_page_time(client, every_org))
        finally:
            for org in orgs:
                org.delete()
            user.delete()
    return {"fanout_ratio": statistics.median(fanout) / statistics.median(single)}

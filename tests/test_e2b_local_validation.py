import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from e2b import Sandbox


@pytest.fixture
def team(e2b):
    key = e2b.add_team(f"validation-{time.monotonic_ns()}")
    return key


def get(e2b, key, path, **params):
    return httpx.get(e2b.url + path, params=params, headers={"X-API-Key": key})


def test_it_answers_401_for_a_missing_or_unknown_key(e2b):
    for headers in ({}, {"X-API-Key": "e2b_deadbeef"}):
        response = httpx.get(e2b.url + "/v2/sandboxes", headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"code", "message"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"state": "sleeping"}, "state"),
        ({"order": "sideways"}, "order"),
        ({"startedAfter": "yesterday"}, "startedAfter"),
        ({"nextToken": "garbage"}, "nextToken"),
    ],
)
def test_it_answers_400_naming_the_bad_parameter(e2b, params, field):
    response = get(e2b, e2b.api_key, "/v2/sandboxes", **params)
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "JSON"),
        (b"[]", "object"),
        (b'{"timeout": 5}', "templateID"),
        (b'{"templateID": "base", "timeout": "long"}', "timeout"),
        (b'{"templateID": "base", "metadata": {"a": 1}}', "metadata"),
    ],
)
def test_it_answers_400_for_malformed_bodies(e2b, body, field):
    response = httpx.post(
        e2b.url + "/v2/sandboxes",
        content=body,
        headers={"X-API-Key": e2b.api_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_it_filters_by_template_start_time_and_orders(e2b, team):
    first = Sandbox.create(**e2b.sdk_kwargs(team))
    time.sleep(0.01)
    middle = datetime.now(UTC)
    second = Sandbox.create(**e2b.sdk_kwargs(team))

    def ids(**params):
        response = get(e2b, team, "/v2/sandboxes", **params)
        assert response.status_code == 200
        return [s["sandboxID"] for s in response.json()]

    assert ids() == [second.sandbox_id, first.sandbox_id]
    assert ids(order="asc") == [first.sandbox_id, second.sandbox_id]
    assert ids(startedAfter=middle.isoformat()) == [second.sandbox_id]
    later = (middle + timedelta(hours=1)).isoformat()
    assert ids(startedAfter=later) == []
    assert ids(template="base") == [second.sandbox_id, first.sandbox_id]
    assert ids(template="nothing-like-it") == []
    page = get(e2b, team, "/v2/sandboxes", limit=1)
    assert page.headers["X-Next-Token"]
    rest = get(e2b, team, "/v2/sandboxes", limit=1, nextToken=page.headers["X-Next-Token"])
    assert "X-Next-Token" not in rest.headers
    assert [s["sandboxID"] for s in rest.json()] == [first.sandbox_id]
    first.kill()
    second.kill()

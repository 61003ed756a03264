"""Pytest fixtures that run e2b_local, the loopback E2B, for the real `e2b` SDK to talk to.

- `e2b_server` (session): one shared server with two teams (`.api_key` of team `team-1`,
  `.other_api_key` of team `team-2`; fault `team=` takes these names)
  and 0.6-second template builds. Faults may be left over from another test; prefer `e2b`.
- `e2b` (function): the shared server with its faults reset before and after the test.
- `fresh_e2b` (function): a dedicated server, stopped after the test; for tests that stop it.
"""

import pytest

from e2b_local.testing import LocalE2B


@pytest.fixture(scope="session")
def e2b_server():
    server = LocalE2B(teams=2, build_seconds=0.6)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def e2b(e2b_server):
    e2b_server.reset_faults()
    yield e2b_server
    if e2b_server.running:
        e2b_server.reset_faults()


@pytest.fixture
def fresh_e2b():
    server = LocalE2B(teams=2, build_seconds=0.6)
    try:
        yield server
    finally:
        server.stop()

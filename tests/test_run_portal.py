"""`make run`'s launcher, started for real: the local E2B, a worker and the web server."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_USERS = ["platform@demo.local", "support@demo.local", "admin@acme.demo", "member@acme.demo", "admin@globex.demo"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("run-portal")
    web, e2b = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "SECRET_KEY"))},
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "E2B_LOCAL_URL": f"http://127.0.0.1:{e2b}",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(manage + command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    process = subprocess.Popen(
        [*manage, "run_portal", "--addr", f"127.0.0.1:{web}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{web}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/login/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.3)
    try:
        yield base, e2b, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=20)


def test_it_serves_the_login_page_and_lets_every_demo_user_in(portal):
    base, e2b_port, _ = portal
    for email in DEMO_USERS:
        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get("/login/")
            assert page.status_code == 200
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            response = client.post(
                "/login/",
                data={"username": email, "password": "portal-demo", "csrfmiddlewaretoken": token},
                headers={"Referer": f"{base}/login/"},
            )
            assert response.status_code == 302, email
            home = client.get(response.headers["location"], follow_redirects=True)
            assert home.status_code == 200
            assert email in home.text
    assert httpx.get(f"http://127.0.0.1:{e2b_port}/health", timeout=5).status_code == 200


# Runs last in this module: it stops the shared launcher.
def test_it_stops_everything_on_ctrl_c(portal):
    base, e2b_port, process = portal
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=20)
    for url in (f"{base}/login/", f"http://127.0.0.1:{e2b_port}/health"):
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)

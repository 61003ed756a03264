"""The cost of token authentication: requests per second of `GET /api/v1/org` with a valid
token over those of the unauthenticated `GET /api/v1/health`, on the same gunicorn server.
Both go through the same middleware and API stack, so the ratio is the price of finding,
checking and using the token.

The server runs the production settings (DEBUG off) on loopback against a SQLite database
migrated in a temporary folder. Both endpoints are measured in alternating slices of one
run, over one persistent connection each, so machine speed and drift cancel out.
"""

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
SLICES = 6
SLICE_SECONDS = 0.5
CREATE_TOKEN = """
from portal.models import Organization
from portal.tokens import create_token
org = Organization.objects.create(name="Bench", slug="bench")
print(create_token(org, "bench", ["read"])[1])
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(folder):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "off",
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789abcdef",
        "PORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTAL_TOKEN_PEPPER": "bench-pepper-0123456789",
        "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "off",
        "LOG_LEVEL": "WARNING",
    }


def _wait_until_up(port, server, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited: " + server.stdout.read())
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer /healthz")


def _requests_in(conn, path, headers, seconds):
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        count += 1
    return count


def run():
    with tempfile.TemporaryDirectory(prefix="bench-api-auth-") as folder:
        env = _environment(folder)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        token = subprocess.run(
            [*manage, "shell", "--no-imports", "-c", CREATE_TOKEN], env=env, cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "portal.wsgi",
                "--bind", f"127.0.0.1:{port}",
                "--worker-class", "gthread", "--workers", "1", "--threads", "2",
                "--keep-alive", "30",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_until_up(port, server)
            health = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            api = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            auth = {"Authorization": f"Bearer {token}"}
            _requests_in(health, "/api/v1/health", {}, 0.3)  # warm both paths up
            _requests_in(api, "/api/v1/org", auth, 0.3)
            health_count = api_count = 0
            for _ in range(SLICES):
                health_count += _requests_in(health, "/api/v1/health", {}, SLICE_SECONDS)
                api_count += _requests_in(api, "/api/v1/org", auth, SLICE_SECONDS)
            health.close()
            api.close()
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return {"api_auth_overhead_ratio": api_count / health_count}

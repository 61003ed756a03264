"""The task backend is chosen by settings alone: the build tests with real workers pass
again with PORTAL_TASK_BACKEND=rq against the machine's Redis."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own, emptied first


@pytest.mark.skipif(os.environ.get("PORTAL_TASK_BACKEND") == "rq", reason="this is the outer run")
def test_it_runs_the_worker_build_tests_on_redis():
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    connection.flushdb()
    env = {**os.environ, "PORTAL_TASK_BACKEND": "rq", "REDIS_URL": REDIS_URL}
    if env.get("DATABASE_URL", "").startswith("postgres"):
        # A database of its own: this run's test database is in use by the outer run.
        url = urlsplit(env["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(url._replace(path=url.path + "_rq"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_builds_workers.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]
    connection.flushdb()

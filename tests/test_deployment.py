"""The deployment files: checked as far as a machine without a container engine can."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE_ENV = {
    "SECRET_KEY": "s" * 50,
    "PORTAL_ENCRYPTION_KEYS": "k",
    "PORTAL_TOKEN_PEPPER": "p",
    "POSTGRES_PASSWORD": "pw",
    "PORTAL_HOST": "portal.example.com",
}


def compose_config(env):
    if not shutil.which("docker-compose"):
        pytest.fail("docker-compose is missing: `make test-deps` installs it")
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    return subprocess.run(
        ["docker-compose", "-f", "compose.yaml", "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_composes_postgres_web_and_worker():
    result = compose_config(COMPOSE_ENV)
    assert result.returncode == 0, result.stderr
    for service in ("db:", "migrate:", "web:", "worker:"):
        assert f"\n  {service}" in result.stdout
    assert "db_worker" in result.stdout
    assert "postgres://portal:pw@db:5432/portal" in result.stdout


def test_it_refuses_to_compose_without_secrets():
    env = {k: v for k, v in COMPOSE_ENV.items() if k != "SECRET_KEY"}
    result = compose_config(env)
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_it_runs_the_image_as_a_user_other_than_root():
    users = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.M)
    assert users and users[-1] not in ("root", "0")


def test_it_copies_every_package_the_project_installs():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in packages:
        assert re.search(rf"^COPY {package.rstrip('*')} ", DOCKERFILE, flags=re.M), package


def test_it_serves_with_gunicorn():
    assert "exec gunicorn portal.wsgi" in DOCKERFILE


def test_it_collects_static_files_with_the_images_build_settings(tmp_path):
    step = re.search(r"RUN (SECRET_KEY=.*?collectstatic --noinput)", DOCKERFILE, flags=re.S).group(1)
    assignments = dict(re.findall(r"(\w+)=(\S+)", step.split("python manage.py")[0]))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "SECRET_KEY", "DEBUG"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--dry-run"],
        cwd=ROOT,
        env={**clean, **assignments},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "static files copied" in result.stdout

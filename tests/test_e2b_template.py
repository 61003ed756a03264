"""The E2B sandbox template: Dockerfile, start script, Caddyfile, e2b.toml and build.py."""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from e2b import Template

from e2b_template import template as template_module
from e2b_template.build import read_config
from e2b_template.template import (
    DEFAULT_CPU_COUNT,
    DEFAULT_MEMORY_MB,
    READY_CMD,
    SOURCE_FILES,
    START_CMD,
    TEMPLATE_DIR,
    make_template,
    source_hash,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
START_SCRIPT = TEMPLATE_DIR / "start-services.sh"
CADDYFILE = TEMPLATE_DIR / "Caddyfile"


def template_json(template):
    return json.loads(Template.to_json(template))


@pytest.fixture(scope="module")
def spec():
    return template_json(make_template())


@pytest.fixture(scope="module")
def run_commands(spec):
    return "\n".join(step["args"][0] for step in spec["steps"] if step["type"] == "RUN")


@pytest.fixture(scope="module")
def apt_packages(run_commands):
    """Every package named in an `apt-get install` of the RUN steps."""
    packages = set()
    for arguments in re.findall(r"apt-get install ([^&|;]*)", run_commands):
        packages.update(word for word in arguments.split() if not word.startswith("-"))
    return packages


def scrubbed_env(**extra):
    """No E2B_* variables from the developer's shell, only what the test passes."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra}


def run_build(how, env, *args, timeout=120):
    if how == "module":
        command = [sys.executable, "-m", "e2b_template.build", *args]
    else:
        command = [sys.executable, str(TEMPLATE_DIR / "build.py"), *args]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def copy_sources(destination):
    destination.mkdir()
    for name in SOURCE_FILES:
        shutil.copy2(TEMPLATE_DIR / name, destination / name)
    return destination


# --- the Dockerfile, as the SDK's own parser reads it ------------------------------------


def test_it_parses_the_dockerfile_with_the_sdk_parser(capsys):
    spec = template_json(make_template())

    # The parser prints a line for every instruction or flag it does not support.
    assert capsys.readouterr().out == ""
    assert spec["fromImage"] == "ubuntu:24.04"
    types = [step["type"] for step in spec["steps"]]
    assert types[:2] == ["USER", "WORKDIR"]
    assert spec["steps"][-2:] == [
        {"type": "USER", "args": ["user"], "force": False},
        {"type": "WORKDIR", "args": ["/home/user"], "force": False},
    ]
    assert types.count("RUN") >= 8


TOOLS = {
    "node 20": r"deb\.nodesource\.com/node_20\.x\b",
    "pnpm": r"\bpnpm@\d+",
    "yarn": r"\byarn@1\.",
    "python3.11": r"\bpython3\.11\b",
    "uv": r"-m pip install [^\n]*\buv\b",
    "pip": r"get-pip\.py",
    "postgresql-15": r"\bpostgresql-15\b",
    "redis": r"\bredis-server\b",
    "mailcatcher": r"gem install [^\n]*\bmailcatcher\b",
    "playwright chromium": r"playwright install --with-deps chromium",
    "opencode": r"\bopencode-ai@",
    "docker compose": r"docker compose version",
}

APT_PACKAGES = {
    "git": "git",
    "curl": "curl",
    "wget": "wget",
    "build-essential": "build-essential",
    "node 20": "nodejs",
    "python3.11": "python3.11",
    "postgresql-15": "postgresql-15",
    "redis": "redis-server",
    "caddy": "caddy",
    "docker": "docker-ce",
    "docker compose": "docker-compose-plugin",
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_it_installs_each_tool_of_the_seed(run_commands, tool):
    assert re.search(TOOLS[tool], run_commands), f"{tool} is not installed"


@pytest.mark.parametrize("tool", sorted(APT_PACKAGES))
def test_it_installs_each_system_package_of_the_seed(apt_packages, tool):
    assert APT_PACKAGES[tool] in apt_packages


def test_it_pins_node_20_and_python_3_11(run_commands):
    assert "https://deb.nodesource.com/node_20.x" in run_commands
    assert "node --version | grep -q '^v20\\.'" in run_commands
    assert "python3 --version | grep -q '^Python 3\\.11\\.'" in run_commands


def test_it_sets_up_postgres_with_trust_auth_on_5432(run_commands):
    assert "pg_conftool 15 main set port 5432" in run_commands
    for line in (
        "local   all   all                 trust",
        "host    all   all   127.0.0.1/32  trust",
        "host    all   all   ::1/128       trust",
    ):
        assert line in run_commands
    assert "> /etc/postgresql/15/main/pg_hba.conf" in run_commands


def test_it_copies_the_start_script_and_the_caddyfile(spec):
    copies = {step["args"][0]: step for step in spec["steps"] if step["type"] == "COPY"}
    assert copies["start-services.sh"]["args"][1] == "/usr/local/bin/start-services.sh"
    assert copies["Caddyfile"]["args"][1] == "/etc/caddy/Caddyfile"
    # The SDK hashed the files from the template directory, so it can upload them.
    assert all(re.fullmatch(r"[0-9a-f]{64}", step["filesHash"]) for step in copies.values())


def test_it_sets_the_start_and_ready_commands(spec):
    assert spec["startCmd"] == START_CMD == "/usr/local/bin/start-services.sh"
    assert spec["readyCmd"] == READY_CMD == "/usr/local/bin/start-services.sh --check"


def test_it_starts_the_services_from_the_dockerfile_cmd_too():
    parsed = template_json(
        Template(file_context_path=TEMPLATE_DIR).from_dockerfile(
            str(TEMPLATE_DIR / "e2b.Dockerfile")
        )
    )
    assert parsed["startCmd"] == "/usr/local/bin/start-services.sh --foreground"


def test_it_refuses_a_directory_without_a_dockerfile(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"e2b\.Dockerfile"):
        make_template(tmp_path)


# --- start-services.sh ---------------------------------------------------------------------


def test_it_start_script_passes_bash_n():
    result = subprocess.run(["bash", "-n", str(START_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_it_start_script_passes_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(START_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_start_script_is_executable():
    assert os.access(START_SCRIPT, os.X_OK)


def test_it_start_script_handles_every_service_with_a_bounded_wait():
    text = START_SCRIPT.read_text()
    for check in (
        'pg_isready -q -h 127.0.0.1 -p "$PG_PORT"',
        'redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping',
        '"http://127.0.0.1:${MAILCATCHER_HTTP_PORT}/"',
        '"http://127.0.0.1:${PREVIEW_PORT}/"',
        "docker info",
    ):
        assert check in text
    for port in ("PG_PORT=5432", "REDIS_PORT=6379", "SMTP_PORT=1025", "HTTP_PORT=1080"):
        assert port in text
    assert 'TIMEOUT="${START_SERVICES_TIMEOUT:-60}"' in text
    assert "/var/log/start-services.log" in text


def test_it_start_script_rejects_unknown_arguments():
    result = subprocess.run([str(START_SCRIPT), "--bogus"], capture_output=True, text=True)
    assert result.returncode == 64
    assert "unknown argument: --bogus" in result.stderr


def test_it_start_script_prints_its_usage():
    result = subprocess.run([str(START_SCRIPT), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "Usage: start-services.sh" in result.stdout
    assert "START_SERVICES_TIMEOUT" in result.stdout


# --- Caddyfile and e2b.toml ------------------------------------------------------------------


def test_it_proxies_the_preview_port_to_the_dev_server():
    text = CADDYFILE.read_text()
    assert ":{$PREVIEW_PORT:20000} {" in text
    assert "reverse_proxy {$PREVIEW_UPSTREAM:localhost:3000}" in text


@pytest.mark.parametrize(
    ("env", "listen", "dial"),
    [
        ({}, ":20000", "localhost:3000"),
        (
            {"PREVIEW_PORT": "20001", "PREVIEW_UPSTREAM": "127.0.0.1:5173"},
            ":20001",
            "127.0.0.1:5173",
        ),
    ],
)
def test_it_caddyfile_adapts_with_caddy(env, listen, dial):
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed (apt-get install caddy)")
    base = {k: v for k, v in os.environ.items() if k not in ("PREVIEW_PORT", "PREVIEW_UPSTREAM")}
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env={**base, **env},
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    server = next(iter(config["apps"]["http"]["servers"].values()))
    assert server["listen"] == [listen]
    assert f'"dial":"{dial}"' in json.dumps(server, separators=(",", ":"))


def test_it_describes_the_template_in_e2b_toml():
    config = tomllib.loads((TEMPLATE_DIR / "e2b.toml").read_text())
    assert set(config) == {
        "template_id",
        "template_name",
        "dockerfile",
        "start_cmd",
        "ready_cmd",
        "cpu_count",
        "memory_mb",
    }
    assert (TEMPLATE_DIR / config["dockerfile"]).is_file()
    assert config["start_cmd"] == START_CMD
    assert config["ready_cmd"] == READY_CMD
    assert config["cpu_count"] == DEFAULT_CPU_COUNT == 4
    assert config["memory_mb"] == DEFAULT_MEMORY_MB == 8192


# --- source_hash ---------------------------------------------------------------------------


def test_it_hashes_the_template_source(tmp_path):
    copy = copy_sources(tmp_path / "copy")
    digest = source_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert source_hash(copy) == digest == source_hash()
    assert set(SOURCE_FILES) == {"e2b.Dockerfile", "start-services.sh", "Caddyfile", "e2b.toml"}


@pytest.mark.parametrize("name", SOURCE_FILES)
def test_it_changes_the_source_hash_when_a_file_changes(tmp_path, name):
    copy = copy_sources(tmp_path / "copy")
    before = source_hash(copy)
    with (copy / name).open("a") as file:
        file.write("\n# changed\n")
    assert source_hash(copy) != before


def test_it_needs_every_source_file_to_hash(tmp_path):
    copy = copy_sources(tmp_path / "copy")
    (copy / "Caddyfile").unlink()
    with pytest.raises(FileNotFoundError):
        source_hash(copy)


def test_it_defaults_to_the_package_directory():
    assert Path(template_module.__file__).resolve().parent == TEMPLATE_DIR


# --- build.py ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["module", "script"])
@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "E2B_API_KEY"),
        ({"E2B_TEMPLATE_ALIAS": "sandbox-portal"}, "E2B_API_KEY"),
        ({"E2B_API_KEY": "e2b_0123"}, "E2B_TEMPLATE_ALIAS"),
        ({"E2B_API_KEY": "  ", "E2B_TEMPLATE_ALIAS": "sandbox-portal"}, "E2B_API_KEY"),
    ],
)
def test_it_names_the_missing_variable(how, given, missing):
    result = run_build(how, scrubbed_env(**given))
    assert result.returncode == 2
    assert f"{missing} is not set" in result.stderr
    assert result.stdout == ""


def test_it_passes_the_connection_variables_to_the_sdk():
    alias, params = read_config(
        {
            "E2B_API_KEY": "e2b_abc",
            "E2B_TEMPLATE_ALIAS": "portal-sandbox",
            "E2B_DOMAIN": "e2b.example.com",
            "E2B_API_URL": "http://127.0.0.1:3000",
            "E2B_SANDBOX_URL": "http://127.0.0.1:3001",
        }
    )
    assert alias == "portal-sandbox"
    assert params == {
        "api_key": "e2b_abc",
        "domain": "e2b.example.com",
        "api_url": "http://127.0.0.1:3000",
        "sandbox_url": "http://127.0.0.1:3001",
    }
    assert read_config({"E2B_API_KEY": "k", "E2B_TEMPLATE_ALIAS": "a"}) == ("a", {"api_key": "k"})


def local_env(server, alias="sandbox-portal"):
    return scrubbed_env(
        E2B_API_KEY=server.api_key,
        E2B_TEMPLATE_ALIAS=alias,
        E2B_API_URL=server.url,
        E2B_SANDBOX_URL=server.url,
    )


@pytest.mark.parametrize("how", ["module", "script"])
def test_it_builds_against_e2b_local(e2b, how):
    result = run_build(how, local_env(e2b, alias=f"sandbox-portal-{how}"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"source sha256 {source_hash()}" in result.stdout
    # The shared server may already hold the files from an earlier build.
    for name in ("start-services.sh", "Caddyfile"):
        assert re.search(rf"(Uploaded|Skipping upload of) '{re.escape(name)}'", result.stdout)
    assert "RUN playwright install --with-deps chromium" in result.stdout
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith(f"Template 'sandbox-portal-{how}' is ready (template ID ")
    assert result.stderr == ""


def test_it_reports_the_failing_step(e2b, tmp_path):
    copy = copy_sources(tmp_path / "broken")
    with (copy / "e2b.Dockerfile").open("a") as file:
        file.write("\nRUN echo 'about to fail' && exit 1\n")

    result = run_build("module", local_env(e2b), "--template-dir", str(copy))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "[error]" in result.stdout
    assert "is ready" not in result.stdout
    match = re.search(r"error: build of 'sandbox-portal' failed at step (\d+): (.+)", result.stderr)
    assert match, result.stderr
    assert "exit 1" in match.group(2)


def test_it_reports_a_rejected_api_key(e2b):
    env = {**local_env(e2b), "E2B_API_KEY": "e2b_" + "0" * 40}
    result = run_build("module", env)
    assert result.returncode == 1
    assert "error: build of 'sandbox-portal' failed: AuthenticationException" in result.stderr

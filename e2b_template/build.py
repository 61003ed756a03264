"""Build the Sandbox Portal E2B template with the E2B Python SDK.

    python -m e2b_template.build          (or: python e2b_template/build.py)

Environment:
    E2B_API_KEY         required, a team API key with build permission
    E2B_TEMPLATE_ALIAS  required, the template name to build ("name" or "name:tag")
    E2B_DOMAIN          optional, a self-hosted E2B domain (default: E2B Cloud)
    E2B_API_URL         optional, the API URL itself (e.g. a local E2B-compatible server)
    E2B_SANDBOX_URL     optional, the sandbox agent URL, for the same purpose

Streams the build log to stdout. Exit codes: 0 ready, 1 build failed, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2b import LogEntry, Template, TemplateBuildStatus

from e2b_template.template import (
    DEFAULT_CPU_COUNT,
    DEFAULT_MEMORY_MB,
    TEMPLATE_DIR,
    make_template,
    source_hash,
)

REQUIRED_ENV = ("E2B_API_KEY", "E2B_TEMPLATE_ALIAS")
EXIT_OK = 0
EXIT_BUILD_FAILED = 1
EXIT_CONFIG = 2

POLL_INTERVAL_SECONDS = 0.5
DEFAULT_BUILD_TIMEOUT_SECONDS = 3600
TERMINAL = (TemplateBuildStatus.READY, TemplateBuildStatus.ERROR)


class ConfigError(Exception):
    """The environment does not say how to build."""


def read_config(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The template alias and the SDK connection parameters, from ``env``."""
    missing = [name for name in REQUIRED_ENV if not env.get(name, "").strip()]
    if missing:
        raise ConfigError("; ".join(f"{name} is not set (required)" for name in missing))
    api_params: dict[str, Any] = {"api_key": env["E2B_API_KEY"].strip()}
    optional = {"domain": "E2B_DOMAIN", "api_url": "E2B_API_URL", "sandbox_url": "E2B_SANDBOX_URL"}
    for param, name in optional.items():
        value = env.get(name, "").strip()
        if value:
            api_params[param] = value
    return env["E2B_TEMPLATE_ALIAS"].strip(), api_params


def print_log(entry: LogEntry) -> None:
    print(f"{entry.timestamp:%H:%M:%S} [{entry.level}] {entry.message}", flush=True)


def follow_build(
    build_info: Any,
    api_params: dict[str, Any],
    on_log: Callable[[LogEntry], None],
    timeout: float,
) -> Any:
    """Poll the build until it is ready or failed and its logs are drained."""
    deadline = time.monotonic() + timeout
    offset = 0
    while True:
        status = Template.get_build_status(build_info, logs_offset=offset, **api_params)
        for entry in status.log_entries:
            on_log(entry)
        offset += len(status.log_entries)
        if status.status in TERMINAL:
            if not status.log_entries:
                return status
            continue  # the status call pages its logs: fetch the rest
        if time.monotonic() >= deadline:
            raise TimeoutError(f"build still {status.status.value} after {timeout:.0f}s")
        time.sleep(POLL_INTERVAL_SECONDS)


def build(
    alias: str,
    api_params: dict[str, Any],
    *,
    template_dir: Path = TEMPLATE_DIR,
    skip_cache: bool = False,
    timeout: float = DEFAULT_BUILD_TIMEOUT_SECONDS,
    on_log: Callable[[LogEntry], None] = print_log,
) -> int:
    try:
        template = make_template(template_dir)
        digest = source_hash(template_dir)
    except (OSError, ValueError) as exc:  # unreadable or unparsable template source
        print(f"error: cannot load the template from {template_dir}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"Building template {alias!r} from {template_dir} (source sha256 {digest})", flush=True)
    streamed = 0

    def log(entry: LogEntry) -> None:
        nonlocal streamed
        streamed += 1
        on_log(entry)

    try:
        build_info = Template.build_in_background(
            template,
            name=alias,
            cpu_count=DEFAULT_CPU_COUNT,
            memory_mb=DEFAULT_MEMORY_MB,
            skip_cache=skip_cache,
            on_build_logs=log,
            **api_params,
        )
        print(f"Template ID {build_info.template_id}, build ID {build_info.build_id}", flush=True)
        status = follow_build(build_info, api_params, log, timeout)
    except Exception as exc:  # the SDK raises several unrelated types; report them all
        print(f"error: build of {alias!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BUILD_FAILED

    if status.status == TemplateBuildStatus.READY:
        print(
            f"Template {alias!r} is ready "
            f"(template ID {build_info.template_id}, build ID {build_info.build_id})",
            flush=True,
        )
        return EXIT_OK

    reason = status.reason
    message = reason.message if reason and reason.message else "no reason given"
    where = f" at step {reason.step}" if reason and reason.step else ""
    if reason and not streamed:
        for entry in reason.log_entries:
            on_log(entry)
    print(
        f"error: build of {alias!r} failed{where}: {message} "
        f"(template ID {build_info.template_id}, build ID {build_info.build_id})",
        file=sys.stderr,
    )
    return EXIT_BUILD_FAILED


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2b_template.build",
        description="Build the Sandbox Portal E2B template (see the module docstring).",
    )
    parser.add_argument("--skip-cache", action="store_true", help="rebuild every layer")
    parser.add_argument(
        "--template-dir",
        type=Path,
        default=TEMPLATE_DIR,
        help="directory with e2b.Dockerfile and the files it copies (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_BUILD_TIMEOUT_SECONDS,
        help="seconds to wait for the build (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        alias, api_params = read_config(os.environ if env is None else env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return build(
        alias,
        api_params,
        template_dir=args.template_dir,
        skip_cache=args.skip_cache,
        timeout=args.timeout,
    )


if __name__ == "__main__":
    sys.exit(main())

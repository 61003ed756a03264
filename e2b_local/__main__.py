"""`python -m e2b_local --host 127.0.0.1 --port 3000 --api-key e2b_<hex>[=TEAM]`"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m e2b_local",
        description="A loopback stand-in for E2B's API and envd, for development and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=3000, help="port; 0 picks a free one")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY[=TEAM]",
        help="an API key; each key is one team unless TEAM names a shared one (repeatable)",
    )
    parser.add_argument(
        "--root", type=Path, help="folder for sandbox folders (default: a temp dir)"
    )
    parser.add_argument(
        "--build-seconds", type=float, default=3.0, help="how long a template build takes"
    )
    parser.add_argument(
        "--step-seconds", type=float, help="time per build step (overrides --build-seconds)"
    )
    args = parser.parse_args(argv)
    keys = args.api_key
    if not keys:
        key = f"e2b_{secrets.token_hex(20)}"
        print(f"e2b_local api key: {key}", flush=True)
        keys = [key]
    serve(args.host, args.port, keys, args.root, args.build_seconds, args.step_seconds)


if __name__ == "__main__":
    main()

"""The E2B template definition: the Dockerfile in this directory plus the start command."""

from __future__ import annotations

import hashlib
from pathlib import Path

from e2b import Template
from e2b.template.main import TemplateFinal

TEMPLATE_DIR = Path(__file__).resolve().parent
DOCKERFILE_NAME = "e2b.Dockerfile"

# Everything that decides what gets built. Order matters for source_hash().
SOURCE_FILES = ("e2b.Dockerfile", "start-services.sh", "Caddyfile", "e2b.toml")

START_CMD = "/usr/local/bin/start-services.sh"
# Run repeatedly by E2B until it exits 0; the sandbox is snapshotted once it does.
READY_CMD = "/usr/local/bin/start-services.sh --check"

DEFAULT_CPU_COUNT = 4
DEFAULT_MEMORY_MB = 8192


def make_template(directory: str | Path | None = None) -> TemplateFinal:
    """The template built from ``e2b.Dockerfile`` with the services start command.

    ``directory`` (default: this package's directory) is both where the Dockerfile is read
    from and the file context its COPY instructions resolve against.
    """
    context = Path(directory).resolve() if directory is not None else TEMPLATE_DIR
    dockerfile = context / DOCKERFILE_NAME
    if not dockerfile.is_file():
        # from_dockerfile() would otherwise parse the path string as Dockerfile text.
        raise FileNotFoundError(f"no {DOCKERFILE_NAME} in {context}")
    return (
        Template(file_context_path=context)
        .from_dockerfile(str(dockerfile))
        .set_start_cmd(START_CMD, READY_CMD)
    )


def source_hash(directory: str | Path | None = None) -> str:
    """sha256 (hex) over the template's source files, to record which source was built."""
    context = Path(directory) if directory is not None else TEMPLATE_DIR
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        data = (context / name).read_bytes()
        # Name and length framing, so moving bytes between files changes the hash.
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()

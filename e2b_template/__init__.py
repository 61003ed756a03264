"""The Sandbox Portal E2B template: Dockerfile, service start script and build helpers."""

from e2b_template.template import (
    DEFAULT_CPU_COUNT,
    DEFAULT_MEMORY_MB,
    READY_CMD,
    START_CMD,
    TEMPLATE_DIR,
    make_template,
    source_hash,
)

__all__ = [
    "DEFAULT_CPU_COUNT",
    "DEFAULT_MEMORY_MB",
    "READY_CMD",
    "START_CMD",
    "TEMPLATE_DIR",
    "make_template",
    "source_hash",
]

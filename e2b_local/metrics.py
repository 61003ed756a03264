"""Plausible resource metrics, one sample every 5 s since start, the same for a sandbox on every call."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from .state import Sandbox, now, rfc3339

INTERVAL = 5
MIB = 1024 * 1024


def noise(sandbox_id: str, index: int, channel: str) -> float:
    digest = hashlib.sha256(f"{sandbox_id}:{channel}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sample(sandbox: Sandbox, index: int) -> dict:
    moment = int(sandbox.started_at.timestamp()) + index * INTERVAL
    template = sandbox.template
    mem_total = template.memory_mb * MIB
    disk_total = template.disk_size_mb * MIB
    wave = (math.sin(index / 6 + noise(sandbox.sandbox_id, 0, "phase") * 6.28) + 1) / 2
    cpu = round(2 + 40 * wave + 8 * noise(sandbox.sandbox_id, index, "cpu"), 2)
    mem_used = int(mem_total * (0.2 + 0.3 * wave + 0.05 * noise(sandbox.sandbox_id, index, "mem")))
    return {
        "timestamp": rfc3339(datetime.fromtimestamp(moment, UTC)),
        "timestampUnix": moment,
        "cpuCount": template.cpu_count,
        "cpuUsedPct": cpu,
        "memUsed": mem_used,
        "memTotal": mem_total,
        "memCache": int(mem_used * 0.25),
        "diskUsed": int(disk_total * (0.1 + 0.01 * min(index, 30))),
        "diskTotal": disk_total,
    }


def metric_series(sandbox: Sandbox, start: int | None, end: int | None) -> list[dict]:
    first = int(sandbox.started_at.timestamp())
    last = int(now().timestamp())
    if end is not None:
        last = min(last, end)
    count = (last - first) // INTERVAL + 1 if last >= first else 0
    samples = []
    for index in range(max(count, 0)):
        moment = first + index * INTERVAL
        if start is not None and moment < start:
            continue
        samples.append(sample(sandbox, index))
    return samples


def latest_metric(sandbox: Sandbox) -> dict:
    elapsed = max(0, int(now().timestamp()) - int(sandbox.started_at.timestamp()))
    return sample(sandbox, elapsed // INTERVAL)

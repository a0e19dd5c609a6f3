"""What a benchmark figure was measured on: cores, memory, load, versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import psutil

PACKAGES = ("dagster", "pandas", "pandera", "numpy", "httpx", "sqlalchemy", "psycopg",
            "mailchimp-marketing")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU model, load average and the versions that matter."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "memory_available_gb": round(psutil.virtual_memory().available / 2**30, 1),
        "load_average": [round(x, 2) for x in load] if load[0] is not None else None,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {p: _version(p) for p in PACKAGES},
    }


def load_average() -> list[float] | None:
    """The 1/5/15-minute load average (other work sharing the machine)."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(x, 2) for x in os.getloadavg()]


def uptime() -> str | None:
    """`uptime`'s line (the load other work puts on the shared cores, as a person reads it)."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None

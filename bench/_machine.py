"""A one-line description of the machine, so a report says where its figures come from."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["describe_machine"]


def describe_machine() -> str:
    """CPU model, cores, kernel and Python, e.g. ``AMD EPYC, 2 cores, Linux 6.18, CPython 3.11.7``.

    Example:
        >>> "cores" in describe_machine()
        True
    """
    cores = os.cpu_count() or 1
    python = f"{platform.python_implementation()} {platform.python_version()}"
    kernel = f"{platform.system()} {platform.release()}"
    return f"{_cpu_model()}, {cores} cores, {kernel}, {python}"


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"

"""What every benchmark prints with its figures: the machine it ran on, and a median timer."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# The flags that decide which float32 kernels TensorFlow's oneDNN can use (AVX2 or AVX-512).
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16")


def vector_flags() -> str:
    """The CPU's :data:`VECTOR_FLAGS` that it has (from /proc/cpuinfo), or "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return " ".join(flag for flag in VECTOR_FLAGS if flag in flags) or "none of " + " ".join(VECTOR_FLAGS)
    except OSError:
        pass
    return "unknown"


def machine() -> str:
    """One line: usable cores, CPU model, load average (other work inflates timings), Python."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"
    return (
        f"{platform.machine()}, {usable} usable core(s) of {os.cpu_count()}, {cpu_model()}; "
        f"load average {load}; Python {sys.version.split()[0]}"
    )


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time (s) of ``repeats`` calls after one warm-up call (tracing, allocation)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory in MiB of process ``pid`` (default: this one; Linux /proc), NaN elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")

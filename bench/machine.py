"""What a benchmark run was measured on: the facts a reader needs to compare figures.

CPU, cores, RAM and accelerators come from :func:`runtime.hardware.detect` (what
``ladle info --json`` prints), so the report describes the machine exactly as ladle's
own placement sees it. Package versions come from the installed distributions.

:func:`memcpy_bandwidth` measures the one physical figure the report needs for decoding:
how fast this machine moves memory. Decoding one token reads every weight once, so a
single stream can go no faster than ``bandwidth / weights bytes per token``. Bytes are
counted as STREAM's "Copy" kernel counts them: each byte copied is read once and written
once, so a copy of N bytes moves 2N. The copy runs on one thread and on one thread per
core (each on its own slice), and the faster of the two is the bandwidth: a bound must not
be beaten by a system that reads with more threads.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import socket
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import REPO
from runtime.hardware import detect

PACKAGES = (
    "llama-cpp-python",
    "ladle",
    "lark",
    "pydantic",
    "jinja2",
    "fastapi",
    "uvicorn",
    "httpx",
    "numpy",
    "matplotlib",
)
"""The distributions whose versions the report lists (Python's own is added)."""

COPY_BYTES = 256 << 20
"""Large enough to overflow any CPU cache, so the copy measures memory, not cache."""


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Python's version and each of :data:`PACKAGES`' (``None`` when not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    found.update((name, _version(name)) for name in PACKAGES)
    return found


def _copy_rates(threads: int, repeats: int, size: int) -> list[float]:
    """Bytes moved per second (read + write) by ``repeats`` copies of ``size`` bytes,
    split over ``threads`` threads (numpy releases the GIL while it copies)."""
    source = np.ones(size, dtype=np.uint8)
    target = np.zeros_like(source)  # zeros, not empty: the first copy must not fault pages in
    step = size // threads
    slices = [slice(index * step, (index + 1) * step) for index in range(threads)]
    rates = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda part: np.copyto(target[part], source[part]), slices))
            rates.append(2 * step * threads / (time.perf_counter() - start))
    return rates


def memcpy_bandwidth(cores: int, repeats: int = 7, size: int = COPY_BYTES) -> dict[str, Any]:
    """The machine's memory bandwidth in bytes/s: the best configuration's STAT
    (``median``, ``min``, ``max``, ``runs``) and ``threads``, the thread count that gave it,
    plus ``best``, the fastest copy of all, which the decode bound uses."""
    configurations = {threads: _copy_rates(threads, repeats, size) for threads in {1, cores}}
    threads, rates = max(configurations.items(), key=lambda item: statistics.median(item[1]))
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "runs": rates,
        "threads": threads,
        "best": max(max(each) for each in configurations.values()),
        "bytes_copied": size,
        "counting": "STREAM Copy: read + write, 2 bytes moved per byte copied",
    }


def commit(folder: Path = REPO) -> str | None:
    """The checkout's commit, ``+changes`` when files differ from it (bench/results/ aside);
    None outside a git checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, check=False, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "--short=12", "HEAD")
    if head is None:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return f"{head}+changes" if changed else head


def facts(command: str, quick: bool) -> dict[str, Any]:
    """Everything the report's "Machine" section shows, measured now."""
    hardware = detect()
    return {
        "host": socket.gethostname(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "os": platform.platform(),
        "cpu": hardware.cpu.model,
        "physical_cores": hardware.cpu.physical_cores,
        "logical_cores": hardware.cpu.logical_cores,
        "cpu_quota": hardware.cpu.quota,
        "simd": list(hardware.cpu.simd),
        "ram_bytes": hardware.memory.total,
        "accelerators": [
            {
                "name": device.name,
                "description": device.description,
                "backend": device.backend,
                "memory_bytes": device.memory_total,
            }
            for device in hardware.accelerators
        ],
        "llama_cpp": {
            "version": hardware.llama.version,
            "system_info": hardware.llama.system_info,
            "gpu_offload": hardware.llama.gpu_offload,
            "problem": hardware.llama.problem,
        },
        "versions": versions(),
        "commit": commit(),
        "memcpy_bandwidth": memcpy_bandwidth(
            hardware.cpu.threads, repeats=3 if quick else 7, size=COPY_BYTES
        ),
        "command": command,
    }

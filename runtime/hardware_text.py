"""Parsers for the texts that describe this machine, kept pure so that tests feed them.

Each takes what a file or a command printed (``/proc/cpuinfo``, ``/proc/meminfo``, the
cgroup files, macOS's ``vm_stat``, llama.cpp's system info) and returns numbers;
:mod:`runtime.hardware` does the reading.
"""

from __future__ import annotations

import re

# Values in a cgroup file this large mean "no limit" (v1 writes 2**63 rounded to a page).
_UNLIMITED = 1 << 60
# Build features that llama.cpp lists among the CPU's but that are no instruction set.
_NOT_SIMD = frozenset(
    {"LLAMAFILE", "OPENMP", "REPACK", "AARCH64_REPACK", "BLAS", "ACCELERATE", "KLEIDIAI"}
)
_VM_STAT_PAGE = re.compile(r"page size of (\d+) bytes")
_VM_STAT_LINE = re.compile(r"^Pages (free|inactive|speculative):\s+(\d+)", re.MULTILINE)

Features = dict[str, dict[str, str]]


def parse_system_info(text: str) -> Features:
    """``llama_print_system_info()`` as ``{backend: {feature: value}}``.

    Two formats are in use. Since late 2024 each backend names itself and its features:
    ``CUDA : ARCHS = 900 | USE_GRAPHS = 1 | CPU : SSE3 = 1 | AVX2 = 1 | …`` (0.3.36
    prints ``CPU : SSE3 = 1 | … | OPENMP = 1 | REPACK = 1 |`` on a CPU build). Before,
    only the CPU's flags were listed, with no name and zeros included:
    ``AVX = 1 | AVX_VNNI = 0 | AVX2 = 1 | … | LLAMAFILE = 1 |``; those go under ``CPU``.
    """
    features: Features = {}
    section = "CPU"
    for item in text.split("|"):
        part = item.strip()
        head, colon, rest = part.partition(":")
        if colon and "=" not in head:
            section, part = head.strip(), rest.strip()
        key, equals, value = part.partition("=")
        if equals and key.strip():
            features.setdefault(section, {})[key.strip()] = value.strip()
    return features


def simd_flags(features: Features) -> tuple[str, ...]:
    """The CPU instruction sets llama.cpp uses (value ``1``), in the order it lists them."""
    cpu = features.get("CPU", {})
    return tuple(name for name, value in cpu.items() if value == "1" and name not in _NOT_SIMD)


def parse_cpuinfo(text: str, allowed: set[int] | None = None) -> tuple[str, int, int]:
    """``(model name, physical cores, logical CPUs)`` from ``/proc/cpuinfo``.

    Only the CPUs in ``allowed`` (the process's affinity) count. Physical cores are the
    distinct ("physical id", "core id") pairs; a CPU without a "core id" (ARM kernels
    write none) counts as a core of its own. The model is the first "model name" (x86)
    or "Hardware" / "cpu model" line (ARM, MIPS); ``""`` when there is none.
    """
    model, cores, logical = "", set(), 0
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, colon, value = line.partition(":")
            if colon:
                fields.setdefault(key.strip(), value.strip())
        model = model or fields.get("model name") or fields.get("cpu model") or ""
        model = model or fields.get("Hardware", "")
        number = fields.get("processor", "")
        if not number.isdigit() or (allowed is not None and int(number) not in allowed):
            continue
        logical += 1
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
        else:
            cores.add(("cpu", number))
    return model, len(cores), logical


def parse_meminfo(text: str) -> tuple[int, int]:
    """``(MemTotal, MemAvailable)`` in bytes from ``/proc/meminfo`` (0 when absent).

    Kernels before 3.14 have no MemAvailable: MemFree + Buffers + Cached stands in.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        parts = value.split()
        if colon and parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    available = values.get("MemAvailable")
    if available is None:
        available = sum(values.get(key, 0) for key in ("MemFree", "Buffers", "Cached"))
    return values.get("MemTotal", 0), available


def cgroup_memory(
    limit: str | None, usage: str | None, stat: str | None
) -> tuple[int | None, int | None]:
    """``(limit, headroom)`` of a memory cgroup, ``(None, None)`` when unlimited.

    ``limit`` is ``memory.max`` (v2: a number or ``max``) or ``memory.limit_in_bytes``
    (v1: a huge number when unlimited). The headroom is the limit less what the cgroup
    uses, not counting the inactive page cache the kernel would drop first (the
    "working set" that container runtimes kill on).
    """
    value = (limit or "").strip()
    if not value.isdigit() or int(value) >= _UNLIMITED:
        return None, None
    used = int(usage.strip()) if usage and usage.strip().isdigit() else 0
    inactive = 0
    for line in (stat or "").splitlines():
        key, _, number = line.partition(" ")
        if key in ("inactive_file", "total_inactive_file") and number.strip().isdigit():
            inactive = int(number)
    return int(value), max(0, int(value) - max(0, used - inactive))


def cgroup_cpu_quota(
    cpu_max: str | None, v1_quota: str | None, v1_period: str | None
) -> float | None:
    """CPUs' worth of time a cgroup allows: ``cpu.max`` is ``"200000 100000"`` (2.0) or
    ``"max 100000"`` (no limit); v1 splits it into ``cfs_quota_us`` (-1: no limit) and
    ``cfs_period_us``."""
    if cpu_max is not None:
        quota, _, period = cpu_max.strip().partition(" ")
    else:
        quota, period = (v1_quota or "").strip(), (v1_period or "").strip()
    if not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return int(quota) / int(period)


def parse_vm_stat(text: str, page_size: int) -> int:
    """Bytes macOS could hand out now, from ``vm_stat``: free, inactive and speculative
    pages (what Activity Monitor does not count as used)."""
    match = _VM_STAT_PAGE.search(text)
    page = int(match[1]) if match else page_size
    return sum(int(count) for _, count in _VM_STAT_LINE.findall(text)) * page

"""Hardware detection: the parsers on fixture texts, then ``detect`` on this machine."""

from __future__ import annotations

import pytest

from runtime.hardware import CPUInfo, detect, detect_isolated
from runtime.hardware_text import (
    cgroup_cpu_quota,
    cgroup_memory,
    parse_cpuinfo,
    parse_meminfo,
    parse_system_info,
    parse_vm_stat,
    simd_flags,
)
from tests.conftest import FIXTURES

HARDWARE = FIXTURES / "hardware"
GiB = 2**30

# What llama_print_system_info() printed, by llama-cpp-python build.
CPU_0_3_36 = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | "
    "OPENMP = 1 | REPACK = 1 | "
)
CUDA_BUILD = (
    "CUDA : ARCHS = 900 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | "
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
METAL_BUILD = (
    "Metal : EMBED_LIBRARY = 1 | BF16 = 1 | CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | "
    "MATMUL_INT8 = 1 | DOTPROD = 1 | ACCELERATE = 1 | REPACK = 1 | "
)
OLD_0_2 = (
    "AVX = 1 | AVX_VNNI = 0 | AVX2 = 1 | AVX512 = 0 | AVX512_VBMI = 0 | AVX512_VNNI = 0 | "
    "AVX512_BF16 = 0 | FMA = 1 | NEON = 0 | SVE = 0 | ARM_FMA = 0 | F16C = 1 | FP16_VA = 0 | "
    "WASM_SIMD = 0 | BLAS = 0 | SSE3 = 1 | SSSE3 = 1 | VSX = 0 | MATMUL_INT8 = 0 | "
    "LLAMAFILE = 1 | "
)


@pytest.mark.parametrize(
    ("text", "backends", "simd"),
    [
        (
            CPU_0_3_36,
            ["CPU"],
            "SSE3 SSSE3 AVX AVX2 F16C FMA BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16",
        ),
        (CUDA_BUILD, ["CUDA", "CPU"], "SSE3 SSSE3 AVX AVX2 F16C FMA BMI2"),
        (METAL_BUILD, ["Metal", "CPU"], "NEON ARM_FMA FP16_VA MATMUL_INT8 DOTPROD"),
        (OLD_0_2, ["CPU"], "AVX AVX2 FMA F16C SSE3 SSSE3"),
        ("", [], ""),
    ],
    ids=["cpu-0.3.36", "cuda", "metal", "old-0.2", "empty"],
)
def test_system_info_formats(text: str, backends: list[str], simd: str) -> None:
    features = parse_system_info(text)
    assert list(features) == backends
    assert " ".join(simd_flags(features)) == simd


def test_system_info_keeps_backend_settings() -> None:
    features = parse_system_info(CUDA_BUILD)
    assert features["CUDA"] == {"ARCHS": "900", "USE_GRAPHS": "1", "PEER_MAX_BATCH_SIZE": "128"}
    assert features["CPU"]["OPENMP"] == "1"
    assert parse_system_info(OLD_0_2)["CPU"]["AVX_VNNI"] == "0"


def test_cpuinfo_counts_physical_cores_across_sockets() -> None:
    text = (HARDWARE / "cpuinfo_xeon_2s.txt").read_text()
    model = "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz"
    assert parse_cpuinfo(text) == (model, 4, 8)
    # CPUs 0 and 4 are the two threads of socket 0's first core.
    assert parse_cpuinfo(text, allowed={0, 4}) == (model, 1, 2)
    assert parse_cpuinfo(text, allowed={0, 1, 2, 3}) == (model, 4, 4)


def test_cpuinfo_without_core_ids_counts_every_cpu() -> None:
    text = (HARDWARE / "cpuinfo_raspberry_pi4.txt").read_text()
    assert parse_cpuinfo(text) == ("BCM2835", 4, 4)
    assert parse_cpuinfo("") == ("", 0, 0)


def test_meminfo() -> None:
    total, available = parse_meminfo((HARDWARE / "meminfo.txt").read_text())
    assert (total, available) == (32765256 * 1024, 20401812 * 1024)


def test_meminfo_before_memavailable_existed() -> None:
    total, available = parse_meminfo((HARDWARE / "meminfo_linux_3.10.txt").read_text())
    assert (total, available) == (8052964 * 1024, (2125412 + 301244 + 3127332) * 1024)


def test_vm_stat_uses_its_own_page_size() -> None:
    text = (HARDWARE / "vm_stat.txt").read_text()
    assert parse_vm_stat(text, page_size=4096) == (12000 + 380000 + 8000) * 16384


@pytest.mark.parametrize(
    ("limit", "usage", "stat", "expected"),
    [
        ("max\n", "123\n", "", (None, None)),
        ("9223372036854771712\n", "4863143936\n", "", (None, None)),  # v1: no limit
        (f"{8 * GiB}\n", f"{3 * GiB}\n", f"anon 1\ninactive_file {GiB}\n", (8 * GiB, 6 * GiB)),
        (f"{4 * GiB}", f"{3 * GiB}", f"total_inactive_file {GiB}", (4 * GiB, 2 * GiB)),
        (f"{GiB}", f"{2 * GiB}", None, (GiB, 0)),
        (None, None, None, (None, None)),
    ],
    ids=["v2-max", "v1-unlimited", "v2-limit", "v1-limit", "over-limit", "no-cgroup"],
)
def test_cgroup_memory(
    limit: str | None,
    usage: str | None,
    stat: str | None,
    expected: tuple[int | None, int | None],
) -> None:
    assert cgroup_memory(limit, usage, stat) == expected


@pytest.mark.parametrize(
    ("cpu_max", "quota", "period", "expected"),
    [
        ("max 100000\n", None, None, None),
        ("250000 100000\n", None, None, 2.5),
        (None, "-1\n", "100000\n", None),
        (None, "50000\n", "100000\n", 0.5),
        (None, None, None, None),
    ],
)
def test_cgroup_cpu_quota(
    cpu_max: str | None, quota: str | None, period: str | None, expected: float | None
) -> None:
    assert cgroup_cpu_quota(cpu_max, quota, period) == expected


@pytest.mark.parametrize(
    ("physical", "logical", "quota", "threads"),
    [(4, 8, None, 4), (4, 8, 2.5, 2), (4, 8, 0.5, 1), (8, 2, None, 2)],
)
def test_threads_follow_physical_cores_and_quota(
    physical: int, logical: int, quota: float | None, threads: int
) -> None:
    cpu = CPUInfo(model="x", physical_cores=physical, logical_cores=logical, quota=quota)
    assert cpu.threads == threads


def test_detect_this_machine() -> None:
    hardware = detect()
    assert detect() is hardware  # cached: reading it again is free
    assert 1 <= hardware.cpu.physical_cores <= hardware.cpu.logical_cores
    assert 0 < hardware.memory.available <= hardware.memory.total
    assert hardware.llama.problem is None and hardware.llama.device_api
    assert hardware.llama.system_info and "CPU" in hardware.llama.features
    assert hardware.llama.version != "unknown"
    assert hardware.llama.patched  # llama-cpp/wheel.py's build, as make installs it
    if not hardware.llama.gpu_offload:
        assert hardware.gpus == ()
    for device in hardware.accelerators:
        assert device.name and device.backend and device.memory_free <= device.memory_total


def test_detect_isolated_matches_detect() -> None:
    isolated = detect_isolated()
    assert isolated.llama.problem is None
    assert isolated.cpu == detect().cpu
    assert [device.name for device in isolated.accelerators] == [
        device.name for device in detect().accelerators
    ]

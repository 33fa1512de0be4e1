"""What this machine can run models on: CPU, RAM, and the accelerators llama.cpp sees.

:func:`detect` reads everything once per process (it is cached; ``detect.cache_clear()``
forgets it) and returns a :class:`Hardware`:

- CPU: the model name and the logical CPUs this process may run on
  (``os.sched_getaffinity``); physical cores are the distinct ("physical id", "core id")
  pairs of those CPUs in ``/proc/cpuinfo``, which is what llama.cpp's own thread default
  counts. ARM kernels write no "core id"; there every CPU counts as a core. A cgroup CPU
  quota (``cpu.max``, or v1's ``cpu.cfs_quota_us``) caps the threads worth starting.
- SIMD: the CPU features llama.cpp was built for and found, from
  ``llama_print_system_info()``, whose format changed over the years (see
  :func:`parse_system_info`).
- RAM: ``MemTotal`` and ``MemAvailable`` from ``/proc/meminfo`` (``sysconf`` elsewhere,
  ``sysctl``/``vm_stat`` on macOS), capped by a cgroup memory limit (``memory.max`` or
  v1's ``memory.limit_in_bytes``) minus what the cgroup already uses, less the page
  cache it could drop.
- Accelerators: llama.cpp's ggml backend device registry (``ggml_backend_dev_*``): each
  CUDA, ROCm, Metal or Vulkan device llama-cpp-python was built with, with its free and
  total memory. llama-cpp-python 0.3.36 binds no Python function for these, but loads
  ``libggml`` (``llama_cpp._ggml.libggml``); the few C functions are declared here.

Querying a CUDA device's free memory creates a CUDA context (a few hundred MB of VRAM)
in the calling process. :func:`detect_isolated` runs the detection in a child process
(``python -m runtime.hardware``) for a server that must not hold one, and that must not
crash if a driver does; it too runs once per process. :func:`memory_now` reads RAM again
(no GPU, no child process: a tenth of a millisecond), for a server that plans a load
beside models it has already loaded (:mod:`runtime.placement`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from runtime.hardware_text import (
    cgroup_cpu_quota,
    cgroup_memory,
    parse_cpuinfo,
    parse_meminfo,
    parse_system_info,
    parse_vm_stat,
    simd_flags,
)

DeviceKind = Literal["gpu", "igpu", "accel"]
# enum ggml_backend_dev_type (ggml-backend.h): CPU, GPU, IGPU, ACCEL, META. The CPU is
# described by CPUInfo; a META device wraps others for tensor parallelism.
_DEVICE_KINDS: dict[int, DeviceKind] = {1: "gpu", 2: "igpu", 3: "accel"}
_PROBE_TIMEOUT_S = 60.0
PATCHED_VERSION = "+ladle."
"""What ``llama-cpp/wheel.py`` puts in the version of the llama-cpp-python it builds."""


class CPUInfo(BaseModel):
    """The processor, as far as llama.cpp's threads are concerned."""

    model_config = ConfigDict(frozen=True)

    model: str
    physical_cores: int
    logical_cores: int
    quota: float | None = None
    """CPUs' worth of time a cgroup allows (``cpu.max``), if limited."""
    simd: tuple[str, ...] = ()

    @property
    def threads(self) -> int:
        """Threads worth running: one per physical core, within the CPU quota."""
        cores = min(self.physical_cores, self.logical_cores)
        if self.quota is not None:
            cores = min(cores, int(self.quota))
        return max(1, cores)


class MemoryInfo(BaseModel):
    """System RAM in bytes; ``available`` already respects a cgroup limit."""

    model_config = ConfigDict(frozen=True)

    total: int
    available: int
    cgroup_limit: int | None = None


class Accelerator(BaseModel):
    """One ggml backend device other than the CPU, e.g. ``CUDA0``."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str
    description: str
    backend: str
    kind: DeviceKind
    memory_total: int
    memory_free: int

    @property
    def holds_layers(self) -> bool:
        """GPUs take model layers; ACCEL devices (BLAS, AMX) only help the CPU."""
        return self.kind != "accel"


class LlamaBuild(BaseModel):
    """How the installed llama-cpp-python was built, and what it reports."""

    model_config = ConfigDict(frozen=True)

    version: str = "unknown"
    gpu_offload: bool = False
    mmap: bool = False
    mlock: bool = False
    rpc: bool = False
    max_devices: int = 0
    system_info: str = ""
    features: dict[str, dict[str, str]] = {}
    device_api: bool = False
    """Whether the device list came from ggml's device registry."""
    problem: str | None = None
    """Why something could not be read (llama_cpp failed to import, …)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def patched(self) -> bool:
        """Built by ``llama-cpp/wheel.py`` with ladle's patches to llama.cpp (its version
        carries the local part ``+ladle.<key>``): among them, one token and a batch get
        the same logits, which greedy speculative decoding needs (llama-cpp/README.md)."""
        return PATCHED_VERSION in self.version


class Hardware(BaseModel):
    """Everything :func:`detect` found; plain data, JSON-serialisable."""

    model_config = ConfigDict(frozen=True)

    platform: str
    cpu: CPUInfo
    memory: MemoryInfo
    accelerators: tuple[Accelerator, ...] = ()
    llama: LlamaBuild = LlamaBuild()

    @property
    def gpus(self) -> tuple[Accelerator, ...]:
        """The accelerators that can hold model layers."""
        return tuple(device for device in self.accelerators if device.holds_layers)


@functools.cache
def detect() -> Hardware:
    """Detect this machine's hardware (once per process; later calls are free)."""
    llama, devices, cpu_description = _llama_build()
    return Hardware(
        platform=f"{platform.system()} {platform.machine()}".strip(),
        cpu=_cpu(cpu_description, simd_flags(llama.features)),
        memory=_memory(),
        accelerators=devices,
        llama=llama,
    )


@functools.cache
def detect_isolated(timeout: float = _PROBE_TIMEOUT_S) -> Hardware:
    """:func:`detect` run in a child process, so that this one holds no GPU context.

    Falls back to CPU and RAM only (no accelerators) if the child fails or times out.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-m", "runtime.hardware"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            cwd=Path(__file__).parent.parent,
        )
        return Hardware.model_validate_json(result.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        problem = f"hardware probe failed: {type(error).__name__}"
        return Hardware(
            platform=f"{platform.system()} {platform.machine()}".strip(),
            cpu=_cpu("", ()),
            memory=_memory(),
            llama=LlamaBuild(problem=problem),
        )


def memory_now() -> MemoryInfo:
    """System RAM as it is now (not cached): ``MemAvailable`` within the cgroup's limit."""
    return _memory()


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cpu(fallback_model: str, simd: tuple[str, ...]) -> CPUInfo:
    allowed = _allowed_cpus()
    quota = cgroup_cpu_quota(
        _read("/sys/fs/cgroup/cpu.max"),
        _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    )
    if sys.platform == "darwin":
        values = _sysctl("machdep.cpu.brand_string", "hw.physicalcpu", "hw.logicalcpu")
        if len(values) == 3 and values[1].isdigit() and values[2].isdigit():
            return CPUInfo(
                model=values[0],
                physical_cores=int(values[1]),
                logical_cores=int(values[2]),
                simd=simd,
            )
    model, physical, logical = parse_cpuinfo(_read("/proc/cpuinfo") or "", allowed)
    logical = len(allowed) if allowed else logical or os.cpu_count() or 1
    return CPUInfo(
        model=model or fallback_model or platform.processor() or platform.machine(),
        physical_cores=min(physical or logical, logical),
        logical_cores=logical,
        quota=quota,
        simd=simd,
    )


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on macOS or Windows
        return None


def _memory() -> MemoryInfo:
    total, available = _system_memory()
    limit, headroom = cgroup_memory(*_cgroup_memory_files())
    if headroom is not None:
        available = min(available, headroom)
    if limit is not None:
        total = min(total, limit)
    return MemoryInfo(total=total, available=max(0, available), cgroup_limit=limit)


def _system_memory() -> tuple[int, int]:
    meminfo = _read("/proc/meminfo")
    if meminfo:
        total, available = parse_meminfo(meminfo)
        if total:
            return total, available
    if sys.platform == "darwin":
        values = _sysctl("hw.memsize", "hw.pagesize")
        if len(values) == 2 and all(value.isdigit() for value in values):
            vm_stat = _run(["vm_stat"])
            total, page = int(values[0]), int(values[1])
            return total, parse_vm_stat(vm_stat, page) if vm_stat else total
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page
        return total, os.sysconf("SC_AVPHYS_PAGES") * page
    except (AttributeError, ValueError, OSError):
        return 0, 0


def _cgroup_memory_files() -> tuple[str | None, str | None, str | None]:
    """(limit, usage, stat) of this process's memory cgroup, v2 or else v1."""
    for folder in _cgroup_folders("", Path("/sys/fs/cgroup")):
        limit = _read(folder / "memory.max")
        if limit is not None:
            return limit, _read(folder / "memory.current"), _read(folder / "memory.stat")
    for folder in _cgroup_folders("memory", Path("/sys/fs/cgroup/memory")):
        limit = _read(folder / "memory.limit_in_bytes")
        if limit is not None:
            usage = _read(folder / "memory.usage_in_bytes")
            return limit, usage, _read(folder / "memory.stat")
    return None, None, None


def _cgroup_folders(controller: str, root: Path) -> Iterator[Path]:
    """This process's cgroup folder under ``root``, from ``/proc/self/cgroup`` lines
    ``0::/path`` (v2, ``controller`` empty) or ``4:memory:/path`` (v1); then ``root``
    itself (inside a container the cgroup namespace makes that the process's own)."""
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        number, _, rest = line.strip().partition(":")
        controllers, _, path = rest.partition(":")
        if controller:
            wanted = controller in controllers.split(",")
        else:
            wanted = number == "0" and not controllers
        if wanted and path.strip("/"):
            yield root / path.strip("/")
    yield root


def _sysctl(*names: str) -> list[str]:
    output = _run(["sysctl", "-n", *names])
    return [line.strip() for line in output.splitlines()] if output else []


def _run(command: list[str]) -> str | None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def _llama_build() -> tuple[LlamaBuild, tuple[Accelerator, ...], str]:
    """llama.cpp's build flags, its devices, and its description of the CPU."""
    try:
        import llama_cpp
    except Exception as error:  # a broken native library raises OSError, RuntimeError, …
        return LlamaBuild(problem=f"llama_cpp failed to import: {error}"), (), ""
    system_info = bytes(llama_cpp.llama_print_system_info()).decode("utf-8", "replace")
    devices, cpu_description, problem = _devices()
    build = LlamaBuild(
        version=str(getattr(llama_cpp, "__version__", "unknown")),
        gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        mmap=bool(llama_cpp.llama_supports_mmap()),
        mlock=bool(llama_cpp.llama_supports_mlock()),
        rpc=bool(llama_cpp.llama_supports_rpc()),
        max_devices=int(llama_cpp.llama_max_devices()),
        system_info=system_info.strip(),
        features=parse_system_info(system_info),
        device_api=problem is None,
        problem=problem,
    )
    return build, devices, cpu_description


def _devices() -> tuple[tuple[Accelerator, ...], str, str | None]:
    """The ggml devices (but the CPU), the CPU device's description, and any problem."""
    try:
        from llama_cpp._ggml import libggml

        api = _DeviceAPI(libggml)
    except (ImportError, AttributeError, OSError) as error:
        return (), "", f"ggml's device API is not available: {error}"
    accelerators: list[Accelerator] = []
    cpu_description = ""
    for index in range(api.count()):
        device = api.get(index)
        kind = api.type(device)
        if kind == 0:
            cpu_description = api.text(api.description, device)
        if kind not in _DEVICE_KINDS:
            continue
        free, total = api.memory(device)
        accelerators.append(
            Accelerator(
                index=index,
                name=api.text(api.name, device),
                description=api.text(api.description, device),
                backend=api.text(api.reg_name, api.backend_reg(device)),
                kind=_DEVICE_KINDS[kind],
                memory_total=total,
                memory_free=free,
            )
        )
    return tuple(accelerators), cpu_description, None


class _DeviceAPI:
    """The ggml-backend.h device functions, declared on llama-cpp-python's libggml.

    Prototypes are built here rather than by setting ``restype`` on the shared library's
    attributes, which llama-cpp-python itself might use.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        pointer, size = ctypes.c_void_p, ctypes.c_size_t
        self.count = ctypes.CFUNCTYPE(size)(("ggml_backend_dev_count", lib))
        self.get = ctypes.CFUNCTYPE(pointer, size)(("ggml_backend_dev_get", lib))
        self.name = ctypes.CFUNCTYPE(ctypes.c_char_p, pointer)(("ggml_backend_dev_name", lib))
        self.description = ctypes.CFUNCTYPE(ctypes.c_char_p, pointer)(
            ("ggml_backend_dev_description", lib)
        )
        self.type = ctypes.CFUNCTYPE(ctypes.c_int, pointer)(("ggml_backend_dev_type", lib))
        self.backend_reg = ctypes.CFUNCTYPE(pointer, pointer)(("ggml_backend_dev_backend_reg", lib))
        self.reg_name = ctypes.CFUNCTYPE(ctypes.c_char_p, pointer)(("ggml_backend_reg_name", lib))
        self._memory = ctypes.CFUNCTYPE(None, pointer, ctypes.POINTER(size), ctypes.POINTER(size))(
            ("ggml_backend_dev_memory", lib)
        )

    def memory(self, device: int | None) -> tuple[int, int]:
        """(free, total) bytes."""
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        self._memory(device, ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value

    @staticmethod
    def text(function: Callable[[int | None], bytes | None], device: int | None) -> str:
        value = function(device)
        return value.decode("utf-8", "replace") if value else ""


if __name__ == "__main__":  # the child process of detect_isolated()
    print(detect().model_dump_json())

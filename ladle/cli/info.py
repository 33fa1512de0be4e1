"""``ladle info``: the hardware ladle would run models on, and how llama.cpp was built."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ladle.units import human_bytes
from ladle.versions import __version__

if TYPE_CHECKING:
    from rich.table import Table

    from runtime.hardware import Hardware


def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show the CPU (cores, SIMD features), RAM, GPUs and the llama.cpp build ladle uses.

    GPUs appear when llama-cpp-python was built with CUDA, Metal, ROCm or Vulkan (see
    "GPU support" in the README); otherwise models run on the CPU.

    Example: ladle info
    Example: ladle info --json
    """
    from runtime.hardware import detect

    hardware = detect()
    if as_json:
        typer.echo(
            json.dumps(
                {**describe(hardware), "memory_defaults": memory_defaults(hardware)}, indent=2
            )
        )
        return
    from rich.console import Console

    console = Console(highlight=False, emoji=False)
    console.print(_system_table(hardware))
    console.print(_accelerator_table(hardware))
    console.print(_llama_table(hardware))
    console.print(_key_values("Memory defaults", list(memory_defaults(hardware).items())))


def describe(hardware: Hardware) -> dict[str, Any]:
    """What ``ladle info --json`` prints: the versions, then everything detected."""
    return {
        "ladle_version": __version__,
        "threads": hardware.cpu.threads,
        **hardware.model_dump(mode="json"),
    }


def memory_defaults(hardware: Hardware) -> dict[str, str]:
    """The KV cache, flash attention and context a model gets when it does not say
    (``LADLE_KV_CACHE_TYPE``, ``LADLE_FLASH_ATTENTION``, ``LADLE_CONTEXT_LENGTH``, or the
    context :mod:`runtime.context_size` chooses from this machine's free memory)."""
    from ladle.settings import Settings
    from runtime.context_size import gpu_free, tier_context

    settings = Settings.from_environment()
    if settings.context_length is not None:
        context = f"{settings.context_length:,} (LADLE_CONTEXT_LENGTH)"
    else:
        free = gpu_free(hardware, -1)
        where = f"{human_bytes(free)} free on the GPUs" if free else "the CPU"
        context = f"{tier_context(free):,} ({where}), at most a model's trained length"
    return {
        "KV cache type": settings.kv_cache_type,
        "flash attention": settings.flash_attention,
        "context (no num_ctx)": context,
    }


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _system_table(hardware: Hardware) -> Table:
    cpu, memory = hardware.cpu, hardware.memory
    cores = f"{cpu.physical_cores} physical, {cpu.logical_cores} logical ({cpu.threads} threads)"
    if cpu.quota is not None:
        cores += f", cgroup quota {cpu.quota:g} CPUs"
    ram = f"{human_bytes(memory.total)} total, {human_bytes(memory.available)} available"
    if memory.cgroup_limit is not None:
        ram += f" (cgroup limit {human_bytes(memory.cgroup_limit)})"
    return _key_values(
        "System",
        [
            ("platform", hardware.platform),
            ("CPU", cpu.model or "unknown"),
            ("cores", cores),
            ("SIMD", " ".join(cpu.simd) or "none reported"),
            ("RAM", ram),
        ],
    )


def _accelerator_table(hardware: Hardware) -> Table:
    from rich.table import Table

    table = Table(title="Accelerators", title_justify="left", box=None)
    for column in ("NAME", "BACKEND", "TYPE", "DESCRIPTION", "FREE", "TOTAL"):
        table.add_column(column, justify="right" if column in ("FREE", "TOTAL") else "left")
    for device in hardware.accelerators:
        table.add_row(
            device.name,
            device.backend,
            device.kind.upper(),
            device.description,
            human_bytes(device.memory_free),
            human_bytes(device.memory_total),
        )
    if not hardware.accelerators:
        why = "none found" if hardware.llama.gpu_offload else "llama.cpp built without GPU"
        table.add_row("-", "-", "-", f"{why}: models run 100% on the CPU", "-", "-")
    return table


def _llama_table(hardware: Hardware) -> Table:
    build = hardware.llama
    rows = [
        ("llama-cpp-python", build.version),
        ("ladle's patches", _patches(build.patched)),
        ("GPU offload", _yes(build.gpu_offload)),
        ("mmap, mlock", f"{_yes(build.mmap)}, {_yes(build.mlock)}"),
        ("RPC", _yes(build.rpc)),
        ("max devices", str(build.max_devices)),
        *(
            (f"{backend} build", _features(features))
            for backend, features in build.features.items()
        ),
        ("ladle", __version__),
    ]
    if build.problem:
        rows.append(("problem", build.problem))
    return _key_values("llama.cpp", rows)


def _features(features: dict[str, str]) -> str:
    """``SSE3 AVX2 … ARCHS=900``: what ``llama_print_system_info`` says is on (``= 1``)
    or set; features at 0 are left out (the JSON keeps the whole string)."""
    words = (name if value == "1" else f"{name}={value}" for name, value in features.items())
    return " ".join(word for word in words if not word.endswith("=0")) or "-"


def _patches(patched: bool) -> str:
    if patched:
        return "yes"
    return "no: greedy output may change with speculation (llama-cpp/README.md)"


def _yes(value: bool) -> str:
    return "yes" if value else "no"

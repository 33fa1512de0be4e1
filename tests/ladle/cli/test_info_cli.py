"""``ladle info``: tables and JSON describing this machine, through Typer's runner."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from ladle import __version__
from ladle.cli.app import app
from runtime.hardware import Accelerator, detect

runner = CliRunner()


def test_info_tables() -> None:
    cpu = detect().cpu
    result = runner.invoke(app, ["info"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{cpu.physical_cores} physical, {cpu.logical_cores} logical" in result.output
    for heading in ("System", "Accelerators", "llama.cpp", "llama-cpp-python", "CPU build"):
        assert heading in result.output
    assert (cpu.simd[0] if cpu.simd else "none reported") in result.output
    assert re.search(r"ladle's patches\s+yes", result.output)  # make's build of llama.cpp
    if not detect().accelerators:
        assert "models run 100% on the CPU" in result.output


def test_info_json() -> None:
    hardware = detect()
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ladle_version"] == __version__
    assert data["cpu"]["physical_cores"] == hardware.cpu.physical_cores
    assert data["threads"] == hardware.cpu.threads
    assert data["memory"]["total"] == hardware.memory.total
    assert data["llama"]["system_info"] == hardware.llama.system_info
    assert len(data["accelerators"]) == len(hardware.accelerators)


def test_info_shows_gpu_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = Accelerator(
        index=1,
        name="CUDA0",
        description="NVIDIA H100 80GB HBM3",
        backend="CUDA",
        kind="gpu",
        memory_total=85_520_809_984,
        memory_free=84_986_691_584,
    )
    with_gpu = detect().model_copy(update={"accelerators": (gpu,)})
    monkeypatch.setattr("runtime.hardware.detect", lambda: with_gpu)
    result = runner.invoke(app, ["info"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "CUDA0" in line)
    assert row.split() == [
        "CUDA0",
        "CUDA",
        "GPU",
        "NVIDIA",
        "H100",
        "80GB",
        "HBM3",
        "85",
        "GB",
        "86",
        "GB",
    ]
    data = json.loads(runner.invoke(app, ["info", "--json"]).output)
    assert data["accelerators"][0]["memory_free"] == 84_986_691_584

"""llama.cpp's own ``llama-batched-bench`` on the concurrency workload: the ceiling.

For each number of streams B it evaluates B prompts of P tokens in one batch and then
generates N tokens for each of them, step by step, B tokens a step, in one process: no
server, no client, no HTTP, no sampling in Python. Counted as the concurrency workload
counts (the B * N generated tokens over the whole time, prompts included), it is the
most continuous batching can give on this machine with this llama.cpp and this model,
the reference the concurrency targets are read against. It is built beside
``llama-server`` (:mod:`bench.llama_server`), run with the same threads, and recorded as
one more system under ``serving.concurrency``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.llama_server import Build
from bench.serving_figures import CEILING
from bench.stats import summary
from bench.systems import Setup

KEY = CEILING
LABEL = "llama.cpp llama-batched-bench (one process: the ceiling)"


class BatchedBenchError(Exception):
    """llama-batched-bench failed, or printed no table."""


def argv(
    binary: Path, setup: Setup, prompt: int, n_predict: int, levels: tuple[int, ...]
) -> list[str]:
    # The servers' context: n_ctx tokens for each of max(levels) sequences.
    context = setup.n_ctx * max(levels)
    return [
        str(binary),
        *("-m", str(setup.model), "-c", str(context), "-b", "512", "-ub", "512"),
        *("-npp", str(prompt), "-ntg", str(n_predict)),
        *("-npl", ",".join(str(level) for level in levels)),
        *("-t", str(setup.threads), "-tb", str(setup.threads), "-ngl", "0"),
    ]


def parse(output: str, n_predict: int) -> dict[int, float]:
    """Generated tokens/s per number of streams, from the table the tool prints:
    ``| PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |``."""
    rates = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 10 or not cells[0].isdigit():
            continue
        streams, total_s = int(cells[2]), float(cells[8])
        if total_s > 0:  # printed to the millisecond: a tiny model can show 0.000
            rates[streams] = streams * n_predict / total_s
    if not rates:
        raise BatchedBenchError("llama-batched-bench printed no results table")
    return rates


def measure(
    build: Build, setup: Setup, prompt: int, n_predict: int, levels: tuple[int, ...], rounds: int
) -> dict[str, Any]:
    """``{"<level>": {"aggregate_tps": STAT}}`` over ``rounds`` runs, and the command."""
    binary = build.tool("llama-batched-bench")
    command = argv(binary, setup, prompt, n_predict, levels)
    runs: dict[int, list[float]] = {}
    for _ in range(rounds):
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.splitlines()[-5:])
            raise BatchedBenchError(f"llama-batched-bench exited with {done.returncode}: {tail}")
        for level, rate in parse(done.stdout, n_predict).items():
            runs.setdefault(level, []).append(rate)
    shown = ["llama-batched-bench", *command[1:]]
    shown[shown.index("-m") + 1] = setup.model.name
    return {
        "figures": {str(level): {"aggregate_tps": summary(rates)} for level, rates in runs.items()},
        "described": {"label": LABEL, "command": " ".join(shown)},
    }

"""Prompt evaluation of long prompts: ``ladle serve`` against ``llama-server``, same run.

Both servers load the same GGUF with the same threads, one sequence of
:data:`N_CTX` tokens, every layer on the CPU (as the serving benchmark runs them:
:mod:`bench.http_systems`), and their default cache (``f16``, flash attention ``auto``).
Each prompt is a cut of :data:`bench.kv_cache.TEXT` of 4,000 or 8,000 tokens (the model's
own tokenizer counts them) that starts with its size and request number, so that neither
server answers it from a prefix cached by an earlier request (llama-server keeps earlier
prompts' states in host memory, ``--cache-ram``, and restores the longest match: an
8,000-token prompt that began as a 4,000-token one did would cost it only the second
half); its own count of evaluated tokens is checked. One token is generated. The
servers run side by side and take turns, request by request. The figure is each
server's own prompt-evaluation time (ladle's ``prompt_eval_duration``,
llama-server's ``timings.prompt_ms``), its median over :data:`REPEATS` requests, as
tokens per second.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

from bench.http_systems import LadleApi, LlamaServer, build_image
from bench.llama_server import BuildError
from bench.llama_server import build as build_llama_server
from bench.prompts import Tokenizer
from bench.systems import Setup, System

N_CTX = 8192
"""Per sequence: SmolLM2's trained context, room for the 8,000-token prompt."""
SIZES = {False: (4000, 8000), True: (200,)}
REPEATS = {False: 3, True: 1}
SEED = 42


def compare(model: Path, folder: Path, quick: bool) -> dict[str, Any]:
    """Prompt tokens a second for each size, on each server (or why a server is missing)."""
    from bench.kv_cache import TEXT, threads

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(model)
    try:
        text = TEXT.read_text(encoding="utf-8")
        prompts = {
            size: [
                tokenizer.cut(f"Request {size}.{i}. {text}", size - 1)
                for i in range(REPEATS[quick])
            ]
            for size in SIZES[quick]
        }
        counts = {size: tokenizer.count(prompts[size][0]) for size in prompts}
    finally:
        tokenizer.close()
    setup = Setup(model, threads(), N_CTX, 1, SEED, ())
    results: dict[str, Any] = {"prompt_tokens": {str(k): v for k, v in counts.items()}}
    build_image(model, folder / "store")
    systems: dict[str, System] = {"ladle": LadleApi(setup, folder / "store")}
    server = _llama_server(setup)
    if isinstance(server, str):
        results["llama_server"] = {"skipped": server}
    else:
        systems["llama_server"] = server
    results |= asyncio.run(_measure(systems, prompts, counts))
    return results


def _llama_server(setup: Setup) -> System | str:
    try:
        return LlamaServer(setup, build_llama_server())
    except BuildError as error:
        return f"llama-server could not be built: {error}"


async def _measure(
    systems: dict[str, System], prompts: dict[int, list[str]], counts: dict[int, int]
) -> dict[str, Any]:
    """Both servers up at once, their requests taking turns, so that a change of load on
    the machine during the run falls on both alike."""
    for system in systems.values():
        await system.open()
    try:
        for system in systems.values():
            await system.stream("Warm up.", 1)  # the load, and the first allocations
        seconds: dict[str, dict[int, list[float]]] = {key: {} for key in systems}
        for size, texts in prompts.items():
            for text in texts:
                for key, system in systems.items():
                    took = await _prompt_seconds(system, text, counts[size])
                    seconds[key].setdefault(size, []).append(took)
        return {key: _rates(seconds[key], counts, systems[key]) for key in systems}
    finally:
        for system in systems.values():
            await system.close()


def _rates(seconds: dict[int, list[float]], counts: dict[int, int], system: System) -> Any:
    rates = {
        str(size): {"tps": counts[size] / statistics.median(runs), "runs_s": runs}
        for size, runs in seconds.items()
    }
    return {"prompt_eval": rates, "describe": system.describe()}


async def _prompt_seconds(system: System, prompt: str, tokens: int) -> float:
    stream = await system.stream(prompt, 1)
    if not stream.prompt_eval_s:
        raise RuntimeError(f"{system.label} reported no prompt evaluation time")
    evaluated = stream.prompt_evaluated
    if evaluated is not None and evaluated < tokens * 0.99:
        raise RuntimeError(
            f"{system.label} evaluated {evaluated} of the prompt's {tokens} tokens:"
            " it answered from a cached prefix"
        )
    return float(stream.prompt_eval_s)

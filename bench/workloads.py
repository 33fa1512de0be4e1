"""The serving benchmark's workloads, run over every open system in alternation.

Each workload goes round by round; in each round every system takes its turn, in an
order that rotates by one place per round (:meth:`Bench.order`), so that machine drift
spreads over all systems instead of landing on one. A system that fails a workload
leaves that workload only (its "systems" entry says why) and goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.prompts import QUESTIONS, SYSTEM_PROMPT, Tokenizer, chat, numbered
from bench.servers import MIB, PeakRss
from bench.stats import Stream, aggregate_tps, per_turn_medians, percentile, summary
from bench.systems import Setup, System


@dataclass(frozen=True)
class Plan:
    """How much of each workload to run: the full run fits 12 minutes on 2 cores."""

    n_ctx: int = 4096
    parallel: int = 16
    prompt_tokens: int = 512
    n_predict: int = 128
    rounds: int = 5
    levels: tuple[int, ...] = (1, 2, 4, 8, 16)
    concurrency_prompt_tokens: int = 32
    concurrency_n_predict: int = 64
    concurrency_rounds: int = 3
    turns: int = 10
    reply_tokens: int = 24
    chat_system: str = SYSTEM_PROMPT * 4  # about 50 tokens, as a short agent prompt
    multiturn_rounds: int = 3
    cold_rounds: int = 3
    ttft_pairs: int = 10
    short_prompt_tokens: int = 32
    overload_clients: int = 64
    overload_requests: int = 1000
    overload_max_queue: int = 16
    overload_parallel: int = 4  # ladle's default LADLE_NUM_PARALLEL
    overload_window: int = 100


QUICK = Plan(
    n_ctx=256, parallel=4, prompt_tokens=96, n_predict=24, rounds=1, levels=(1, 2, 4),
    concurrency_prompt_tokens=16, concurrency_n_predict=16, concurrency_rounds=1, turns=2,
    reply_tokens=6, chat_system="Be brief.", multiturn_rounds=1, cold_rounds=1, ttft_pairs=3,
    short_prompt_tokens=16,
    overload_requests=300, overload_window=50,
)  # fmt: skip


def memory_bytes(model: Path, n_ctx: int, slots: int) -> tuple[int, int]:
    """(weights, KV cache) bytes for ``slots`` sequences of ``n_ctx``, as ladle estimates."""
    from builder.gguf.file import inspect_gguf
    from runtime.memory import estimate

    needed = estimate(inspect_gguf(model), n_ctx, slots)
    return needed.weights, needed.kv


class Bench:
    """One run: the open systems, the plan, and the results as they are filled in."""

    def __init__(self, plan: Plan, setup: Setup, tokenizer: Tokenizer) -> None:
        self.plan, self.setup, self.tokenizer = plan, setup, tokenizer
        self.systems: list[System] = []
        self.described: dict[str, dict[str, Any]] = {}
        self.short: dict[str, int] = {}
        self.failed: dict[str, dict[str, str]] = {}
        self._numbers = iter(range(1, 1_000_000))

    def prompt(self, n_tokens: int) -> str:
        """A fresh prompt (a new request number: nothing cached can answer it)."""
        return numbered(self.tokenizer, next(self._numbers), n_tokens)

    def order(self, round_: int, workload: str) -> list[System]:
        """The systems still in ``workload``, rotated one more place each round (A B C,
        B C A, ...), so that no system always runs first or right after another."""
        shift = round_ % max(1, len(self.systems))
        rotated = self.systems[shift:] + self.systems[:shift]
        return [s for s in rotated if workload not in self.failed.get(s.key, {})]

    def ran(self, key: str, workload: str) -> bool:
        """Whether ``key`` got through every round of ``workload``."""
        return workload not in self.failed.get(key, {})

    async def guarded(self, system: System, workload: str, work: Awaitable[Any]) -> Any:
        """``work``'s result, or None when it failed: one peer failing must not end the
        run, so the system leaves this workload and its "systems" entry says why."""
        try:
            return await work
        except Exception as error:
            self.failed.setdefault(system.key, {})[workload] = repr(error)
            self.described.setdefault(system.key, {})["failed"] = self.failed[system.key]
            return None

    def check(self, system: System, stream: Stream, n_predict: int) -> Stream:
        if stream.tokens != n_predict:
            self.short[system.key] = self.short.get(system.key, 0) + 1
        return stream

    async def stream(self, system: System, prompt: str, n_predict: int) -> Stream:
        return self.check(system, await system.stream(prompt, n_predict), n_predict)

    # -- workloads ---------------------------------------------------------------------

    async def single(self) -> tuple[dict[str, Any], dict[str, list[Stream]]]:
        runs: dict[str, list[Stream]] = {}
        for round_ in range(self.plan.rounds):
            prompt = self.prompt(self.plan.prompt_tokens)
            for system in self.order(round_, "single"):
                got = await self.guarded(system, "single", self._single(system, prompt))
                if got is not None:
                    runs.setdefault(system.key, []).append(got)
        figures = {
            key: {
                "ttft_s": summary([s.ttft_s for s in streams]),
                "decode_tps": summary([s.decode_tps for s in streams]),
                "prompt_tps": summary([s.prompt_tps for s in streams]),
            }
            for key, streams in runs.items()
            if self.ran(key, "single")
        }
        return figures, runs

    async def _single(self, system: System, prompt: str) -> Stream:
        got = await self.stream(system, prompt, self.plan.n_predict)
        got.prompt_tokens = self.tokenizer.count(prompt)
        _ = got.ttft_s, got.decode_tps  # a stream without them fails here, in the guard
        return got

    async def concurrency(self, peaks: dict[str, int]) -> dict[str, Any]:
        rates: dict[str, dict[int, list[float]]] = {}
        latencies: dict[str, dict[int, list[float]]] = {}
        top = max(self.plan.levels)
        for level in self.plan.levels:
            for round_ in range(self.plan.concurrency_rounds):
                prompts = [self.prompt(self.plan.concurrency_prompt_tokens) for _ in range(level)]
                for system in self.order(round_, "concurrency"):
                    done = await self.guarded(
                        system, "concurrency", self._batch(system, prompts, level == top, peaks)
                    )
                    if done is not None:
                        streams, wall = done
                        rates.setdefault(system.key, {}).setdefault(level, []).append(
                            aggregate_tps(streams, wall)
                        )
                        latencies.setdefault(system.key, {}).setdefault(level, []).extend(
                            s.latency_s for s in streams
                        )
        return {
            key: {
                str(level): {
                    "aggregate_tps": summary(rates[key][level]),
                    "latency_p50_s": round(percentile(latencies[key][level], 50), 4),
                    "latency_p99_s": round(percentile(latencies[key][level], 99), 4),
                }
                for level in by_level
            }
            for key, by_level in rates.items()
            if self.ran(key, "concurrency")
        }

    async def _batch(
        self, system: System, prompts: list[str], sample: bool, peaks: dict[str, int]
    ) -> tuple[list[Stream], float]:
        n_predict = self.plan.concurrency_n_predict
        pid = system.pid()
        with PeakRss(pid) if (sample and pid) else contextlib.nullcontext() as peak:
            started = time.perf_counter()
            streams = await asyncio.gather(*(self.stream(system, p, n_predict) for p in prompts))
            wall = time.perf_counter() - started
        if isinstance(peak, PeakRss):
            peaks[system.key] = max(peaks.get(system.key, 0), peak.peak)
        return list(streams), wall

    async def multiturn(self) -> dict[str, Any]:
        """A chat of ``turns`` user turns, each answered; the engine's prompt-evaluation
        time per turn, then the last turn's prompt again with nothing cached."""
        per_round: dict[str, list[list[float]]] = {}
        cold: dict[str, list[float]] = {}
        for round_ in range(self.plan.multiturn_rounds):
            for system in self.order(round_, "multiturn"):
                if system.key == "llama_cpp_server":  # reports no prompt-evaluation time
                    continue
                done = await self.guarded(system, "multiturn", self._chat(system))
                if done is not None:
                    per_round.setdefault(system.key, []).append(done[0])
                    cold.setdefault(system.key, []).append(done[1])
        return {
            key: {
                "turn_prompt_eval_s": per_turn_medians(turns),
                "cold_prompt_eval_s": round(statistics.median(cold[key]), 4),
            }
            for key, turns in per_round.items()
            if self.ran(key, "multiturn")
        }

    async def _chat(self, system: System) -> tuple[list[float], float]:
        """One conversation (its own number first: no other round's cache applies), and
        its last prompt again under another number, so evaluated whole."""
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(self.plan.turns)]
        turns: list[str] = []
        evals = []
        instructions = f"Conversation {next(self._numbers)}. {self.plan.chat_system}"
        for question in questions:
            turns.append(question)
            answer = await self.stream(system, chat(instructions, turns), self.plan.reply_tokens)
            evals.append(_prompt_eval(answer))
            turns.append(answer.text.strip())
        instructions = f"Conversation {next(self._numbers)}. {self.plan.chat_system}"
        again = await self.stream(system, chat(instructions, turns[:-1]), self.plan.reply_tokens)
        return evals, _prompt_eval(again)

    async def cold_starts(self) -> dict[str, Any]:
        runs: dict[str, list[float]] = {}
        for round_ in range(self.plan.cold_rounds):
            prompt = self.prompt(self.plan.short_prompt_tokens)
            for system in self.order(round_, "cold_start"):
                took = await self.guarded(system, "cold_start", system.cold_start(prompt))
                if took is not None:
                    runs.setdefault(system.key, []).append(took)
        return {key: summary(v) for key, v in runs.items() if self.ran(key, "cold_start")}

    async def api_overhead(self, single: dict[str, list[Stream]]) -> dict[str, Any]:
        """TTFT of the same short prompts through the runner and through ``/api/generate``
        (alternating which goes first), and the single-stream decode rates of both."""
        api = next((s for s in self.systems if s.key == "ladle_api"), None)
        runner = next((s for s in self.systems if s.key == "ladle_runner"), None)
        if api is None or runner is None:
            return {"skipped": "ladle_api or ladle_runner did not run"}
        engine, through_api = [], []
        try:
            for pair in range(self.plan.ttft_pairs):
                prompt = self.prompt(self.plan.short_prompt_tokens)
                first, second = (runner, api) if pair % 2 == 0 else (api, runner)
                a, b = await first.stream(prompt, 2), await second.stream(prompt, 2)
                engine.append((a if first is runner else b).ttft_s)
                through_api.append((b if first is runner else a).ttft_s)
        except Exception as error:  # reported; the other figures stand
            return {"skipped": repr(error)}
        differences = [x - y for x, y in zip(through_api, engine, strict=True)]
        runner_tps = [s.decode_tps for s in single.get("ladle_runner", [])]
        api_tps = [s.decode_tps for s in single.get("ladle_api", [])]
        result: dict[str, Any] = {
            "ttft_engine_s": summary(engine),
            "ttft_api_s": summary(through_api),
            "ttft_overhead_ms": round(statistics.median(differences) * 1000, 2),
            "ttft_target_ms": 10,
        }
        if runner_tps and api_tps:
            result |= {
                "stream_tps_runner": summary(runner_tps),
                "stream_tps_api": summary(api_tps),
                "stream_tps_ratio": round(
                    statistics.median(api_tps) / statistics.median(runner_tps), 3
                ),
                "stream_tps_target": 0.95,
            }
        return result

    def memory(self, idle: dict[str, int], peaks: dict[str, int]) -> dict[str, Any]:
        result = {}
        for system in self.systems:
            if system.key not in idle:
                continue
            weights, kv = memory_bytes(self.setup.model, self.setup.n_ctx, system.slots)
            result[system.key] = {
                "idle": round(idle[system.key] / MIB, 1),
                "load": round(max(peaks.get(system.key, 0), idle[system.key]) / MIB, 1),
                "weights": round(weights / MIB, 1),
                "kv_cache": round(kv / MIB, 1),
                "slots": system.slots,
            }
        return result

    def same_text(self, single: dict[str, list[Stream]]) -> dict[str, bool]:
        """Whether each system's first single-stream output equals raw llama-cpp-python's
        (greedy decoding of the same prompt: they should agree, or nearly)."""
        if "raw" not in single:
            return {}
        reference = single["raw"][0].text
        return {key: streams[0].text == reference for key, streams in single.items()}


def _prompt_eval(stream: Stream) -> float:
    if stream.prompt_eval_s is None:
        raise ValueError("the system reports no prompt-evaluation time")
    return stream.prompt_eval_s

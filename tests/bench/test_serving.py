"""The serving benchmark's pure parts: statistics, SSE parsing, the llama-server build cache,
process handling, the overload tally, and the shape of the results (fake systems, no model)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import batched_bench, llama_server, servers
from bench.http_systems import events
from bench.overload import NO_RETRY_AFTER_WAIT_S, Tally, retry_after_s
from bench.stats import Stream, aggregate_tps, per_turn_medians, percentile, summary
from bench.systems import Setup, System
from bench.workloads import QUICK, Bench, Plan
from ladle.errors import InvalidOptionError
from runtime.api.options import generation

# -- statistics ------------------------------------------------------------------------


def test_summary_is_median_spread_and_runs() -> None:
    assert summary([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3, 1, 2]}
    assert summary([1.0, 2.0])["median"] == 1.5
    with pytest.raises(ValueError, match="at least one"):
        summary([])


@pytest.mark.parametrize("size", [1, 2, 5, 16, 31])
@pytest.mark.parametrize("q", [0, 50, 90, 99, 100])
def test_percentile_matches_numpy(size: int, q: float) -> None:
    values = [random.Random(size).uniform(0, 10) for _ in range(size)]
    values = [v * (i + 1) for i, v in enumerate(values)]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_stream_rates_as_a_client_sees_them() -> None:
    stream = Stream(started=10.0, stamps=[10.5, 10.6, 11.5], finished=11.6, tokens=11)
    stream.prompt_tokens = 100
    assert stream.ttft_s == pytest.approx(0.5)
    assert stream.decode_tps == pytest.approx(10 / 1.0)  # tokens after the first / time
    assert stream.prompt_tps == pytest.approx(200.0)
    assert stream.latency_s == pytest.approx(1.6)


def test_stream_without_tokens_has_no_rates() -> None:
    with pytest.raises(ValueError, match="no token"):
        _ = Stream(started=0.0).ttft_s
    with pytest.raises(ValueError, match="two tokens"):
        _ = Stream(started=0.0, stamps=[1.0], tokens=1).decode_tps


def test_aggregate_and_per_turn() -> None:
    streams = [Stream(started=0.0, tokens=64), Stream(started=0.0, tokens=64)]
    assert aggregate_tps(streams, 2.0) == 64.0
    with pytest.raises(ValueError):
        aggregate_tps(streams, 0.0)
    assert per_turn_medians([[1.0, 5.0], [3.0, 1.0], [2.0, 3.0]]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="same number"):
        per_turn_medians([[1.0], [1.0, 2.0]])


# -- llama-server output ---------------------------------------------------------------


def test_events_reads_server_sent_events() -> None:
    body = [
        'data: {"content": "Hel", "stop": false}',
        "",
        ": a comment line",
        'data: {"content": "lo", "stop": true, "timings": {"predicted_n": 2}}',
        "data: [DONE]",
    ]
    got = list(events(body))
    assert [e["content"] for e in got] == ["Hel", "lo"]
    assert got[1]["timings"]["predicted_n"] == 2


# -- the llama-server build ------------------------------------------------------------


def test_stamp_names_version_and_flags() -> None:
    one = llama_server.stamp("0.3.36", llama_server.CMAKE_FLAGS)
    assert one != llama_server.stamp("0.3.37", llama_server.CMAKE_FLAGS)
    assert one != llama_server.stamp("0.3.36", (*llama_server.CMAKE_FLAGS, "-DGGML_AVX=OFF"))
    flags = " ".join(llama_server.CMAKE_FLAGS)
    for wanted in ("-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF"):
        assert wanted in flags


def test_a_stamped_binary_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_server, "CACHE", tmp_path)
    version = llama_server.installed_version()
    folder = tmp_path / f"llama-cpp-{version}"
    binary = folder / "build" / "bin" / "llama-server"
    binary.parent.mkdir(parents=True)
    for target in llama_server.TARGETS:
        binary.with_name(target).write_text("#!/bin/sh\n")
    (folder / "stamp.json").write_text(llama_server.stamp(version, llama_server.CMAKE_FLAGS))
    monkeypatch.setattr(llama_server.shutil, "which", lambda _name: None)  # cmake unused
    built = llama_server.build()
    assert (built.binary, built.build_s) == (binary, 0.0)
    assert built.describe().startswith("cmake -DCMAKE_BUILD_TYPE=Release")
    assert built.tool("llama-batched-bench") == binary.with_name("llama-batched-bench")


def test_a_build_missing_a_target_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llama_server, "CACHE", tmp_path)
    version = llama_server.installed_version()
    folder = tmp_path / f"llama-cpp-{version}"
    binary = folder / "build" / "bin" / "llama-server"  # an older build: the server alone
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    (folder / "stamp.json").write_text(llama_server.stamp(version, llama_server.CMAKE_FLAGS))
    monkeypatch.setattr(llama_server.shutil, "which", lambda _name: None)
    with pytest.raises(llama_server.BuildError, match="cmake is not installed"):
        llama_server.build()


BATCHED_OUTPUT = """
main: n_kv_max = 1536, n_batch = 512, n_ubatch = 512, flash_attn = -1, n_threads = 2

|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|
|    32 |     64 |    1 |     96 |    0.133 |   240.14 |    0.592 |   108.18 |    0.725 |   132.44 |
|    32 |     64 |    8 |    768 |    0.962 |   266.08 |    2.608 |   196.31 |    3.570 |   215.11 |
"""


def test_batched_bench_counts_generated_tokens_over_the_whole_time() -> None:
    rates = batched_bench.parse(BATCHED_OUTPUT, 64)
    assert rates == pytest.approx({1: 64 / 0.725, 8: 8 * 64 / 3.570})
    with pytest.raises(batched_bench.BatchedBenchError, match="no results table"):
        batched_bench.parse("error: failed to load model\n", 64)


def test_batched_bench_runs_the_concurrency_workload(tmp_path: Path) -> None:
    setup = Setup(tmp_path / "m.gguf", 2, 4096, 16, 42, (2,))
    argv = batched_bench.argv(tmp_path / "llama-batched-bench", setup, 32, 64, (1, 2, 4, 8, 16))
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert options == {
        "-m": str(tmp_path / "m.gguf"), "-c": str(16 * 4096), "-b": "512", "-ub": "512",
        "-npp": "32", "-ntg": "64", "-npl": "1,2,4,8,16", "-t": "2", "-tb": "2", "-ngl": "0",
    }  # fmt: skip


def test_a_build_without_cmake_is_a_build_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llama_server, "CACHE", tmp_path)
    monkeypatch.setattr(llama_server.shutil, "which", lambda _name: None)
    with pytest.raises(llama_server.BuildError, match="cmake is not installed"):
        llama_server.build()


# -- processes -------------------------------------------------------------------------


def test_rss_counts_the_process_tree() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in servers.process_tree(servers.os.getpid()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert servers.rss_bytes(servers.os.getpid()) > servers.rss_bytes(child.pid) > 0
    finally:
        child.kill()
        child.wait()
    assert servers.rss_bytes(child.pid) == 0


def test_a_started_server_answers_and_is_stopped() -> None:
    port = servers.free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with servers.started(argv, port) as server:
        server.wait_ready("/", timeout=30)
        process = server.process
    assert process.poll() is not None


def test_a_server_that_exits_is_reported_with_its_log() -> None:
    argv = [sys.executable, "-c", "print('no model here'); raise SystemExit(3)"]
    with (
        servers.started(argv, servers.free_port()) as server,
        pytest.raises(servers.ServerError, match=r"exited with 3.*no model here"),
    ):
        server.wait_ready("/", timeout=30)


# -- overload tally --------------------------------------------------------------------


def test_tally_windows_of_rss() -> None:
    tally = Tally(accepted=3, rejected=2, completed=3, retry_after_seen=True)
    tally.rss = [100 * servers.MIB] * 4 + [200 * servers.MIB] * 4
    tally.reject_latencies = [0.001, 0.003]
    got = tally.summary(clients=64, max_queue=16, requests=5, window=4)
    assert (got["rss_mib_first_100"], got["rss_mib_last_100"]) == (100.0, 200.0)
    assert got["accepted"] + got["rejected_503"] == got["requests"]
    assert got["reject_latency_max_s"] == 0.003


def test_retry_after_is_honoured_when_it_is_seconds() -> None:
    assert retry_after_s("2") == 2.0
    assert retry_after_s(None) == NO_RETRY_AFTER_WAIT_S
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == NO_RETRY_AFTER_WAIT_S
    assert retry_after_s("-3") == 0.0


# -- ignore_eos, the request option the benchmark added to ladle's API -----------------


def test_ignore_eos_option_reaches_the_runner_request() -> None:
    assert generation({}, {"ignore_eos": True}).request("hi").ignore_eos is True
    assert generation({}, {}).request("hi").ignore_eos is False
    with pytest.raises(InvalidOptionError, match="ignore_eos"):
        generation({}, {"ignore_eos": "yes"})


# -- the results' shape, with fake systems ---------------------------------------------


class Fake(System):
    """A system that 'generates' at a fixed rate, without a model."""

    label = "fake"

    def __init__(self, key: str, setup: Setup, broken: set[str] | None = None) -> None:
        super().__init__(setup)
        self.key, self.broken = key, broken or set()

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "command": "fake"}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def stream(self, prompt: str, n_predict: int) -> Stream:
        if "stream" in self.broken:
            raise RuntimeError("broken on purpose")
        result = Stream(started=time.perf_counter())
        for _ in range(n_predict):
            await asyncio.sleep(0.0005)
            result.stamps.append(time.perf_counter())
        result.finished, result.tokens, result.text = time.perf_counter(), n_predict, "same"
        result.prompt_eval_s = 0.001 * len(prompt) / 100
        return result

    async def cold_start(self, prompt: str) -> float:
        if "cold" in self.broken:
            raise RuntimeError("cannot start")
        return 0.25

    def pid(self) -> int | None:
        return servers.os.getpid()


class Tokens:
    """Counts words as tokens: enough for prompts of a given size."""

    def count(self, text: str) -> int:
        return len(text.split())

    def cut(self, text: str, n_tokens: int) -> str:
        return " ".join(text.split()[:n_tokens])


TINY_PLAN = Plan(
    n_ctx=256, parallel=2, prompt_tokens=20, n_predict=5, rounds=2, levels=(1, 2),
    concurrency_prompt_tokens=8, concurrency_n_predict=4, concurrency_rounds=2, turns=3,
    reply_tokens=3, multiturn_rounds=2, cold_rounds=2, ttft_pairs=2, short_prompt_tokens=8,
)  # fmt: skip


def _bench(*systems: Fake) -> Bench:
    setup = Setup(Path("m.gguf"), 2, 256, 2, 42, (2,))
    bench = Bench(TINY_PLAN, setup, Tokens())  # type: ignore[arg-type]
    bench.systems = list(systems)
    bench.described = {s.key: s.describe() for s in systems}
    return bench


def _stat_shaped(stat: dict[str, Any], runs: int) -> None:
    assert set(stat) == {"median", "min", "max", "runs"}
    assert len(stat["runs"]) == runs
    assert stat["min"] <= stat["median"] <= stat["max"]


def test_workloads_fill_the_schema() -> None:
    setup = Setup(Path("m.gguf"), 2, 256, 2, 42, (2,))
    bench = _bench(Fake("ladle_api", setup), Fake("ladle_runner", setup), Fake("raw", setup))

    async def scenario() -> dict[str, Any]:
        peaks: dict[str, int] = {}
        single, runs = await bench.single()
        return {
            "single": single,
            "api_overhead": await bench.api_overhead(runs),
            "concurrency": await bench.concurrency(peaks),
            "multiturn": await bench.multiturn(),
            "cold_start_s": await bench.cold_starts(),
            "memory_mib": {"peaks": peaks},
            "same": bench.same_text(runs),
        }

    got = asyncio.run(scenario())
    for key in ("ladle_api", "ladle_runner", "raw"):
        for figure in ("ttft_s", "decode_tps", "prompt_tps"):
            _stat_shaped(got["single"][key][figure], TINY_PLAN.rounds)
        assert set(got["concurrency"][key]) == {"1", "2"}
        level = got["concurrency"][key]["2"]
        _stat_shaped(level["aggregate_tps"], TINY_PLAN.concurrency_rounds)
        assert level["latency_p50_s"] <= level["latency_p99_s"]
        assert len(got["multiturn"][key]["turn_prompt_eval_s"]) == TINY_PLAN.turns
        assert got["cold_start_s"][key]["median"] == 0.25
        assert got["memory_mib"]["peaks"][key] > 0
    for figure in ("ttft_engine_s", "ttft_api_s", "stream_tps_runner", "stream_tps_api"):
        _stat_shaped(got["api_overhead"][figure], TINY_PLAN.ttft_pairs)
    assert got["same"] == {"ladle_api": True, "ladle_runner": True, "raw": True}
    assert bench.short == {}


def test_a_failing_system_leaves_only_that_workload() -> None:
    setup = Setup(Path("m.gguf"), 2, 256, 2, 42, (2,))
    bench = _bench(Fake("raw", setup), Fake("llama_server", setup, broken={"cold"}))
    cold = asyncio.run(bench.cold_starts())
    single, _ = asyncio.run(bench.single())
    assert set(cold) == {"raw"}
    assert set(single) == {"raw", "llama_server"}
    assert "cannot start" in bench.described["llama_server"]["failed"]["cold_start"]


def test_quick_plan_is_smaller_than_the_full_one() -> None:
    full = Plan()
    assert full.levels == (1, 2, 4, 8, 16) and full.prompt_tokens == 512
    assert (full.overload_clients, full.overload_max_queue, full.overload_requests) == (
        64,
        16,
        1000,
    )
    assert QUICK.rounds <= full.rounds and max(QUICK.levels) < max(full.levels)


# -- the in-process systems, on the tiny model ------------------------------------------


def test_raw_serves_concurrent_requests_one_after_another(tiny_model: Path) -> None:
    from bench.systems import Raw

    raw = Raw(Setup(tiny_model, 1, 256, 1, 42, (2,)))

    async def three() -> list[Stream]:
        await raw.open()
        try:
            return list(await asyncio.gather(*(raw.stream("hello world", 30) for _ in range(3))))
        finally:
            await raw.close()

    streams = asyncio.run(three())
    assert [s.tokens for s in streams] == [30, 30, 30]
    assert {s.finish for s in streams} == {"length"}  # each ran to the tokens asked for
    # One after another: the last one's first token came after the first one had ended
    # (a check on order, not on speed, so a busy machine cannot fail it).
    assert max(s.ttft_s for s in streams) >= min(s.latency_s for s in streams)
    assert len({s.text for s in streams}) == 1  # greedy: the same prompt, the same text


def test_the_runner_ignores_eos_when_asked(tiny_model: Path) -> None:
    from bench.systems import LadleRunner

    runner = LadleRunner(Setup(tiny_model, 1, 256, 1, 42, (2,)))

    async def one() -> Stream:
        await runner.open()
        try:
            return await runner.stream("hello world", 40)
        finally:
            await runner.close()

    stream = asyncio.run(one())
    assert (stream.tokens, stream.finish) == (40, "length")
    assert stream.prompt_eval_s is not None and stream.prompt_eval_s > 0

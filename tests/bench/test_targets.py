# ruff: noqa: RUF001 - the report writes spreads with en dashes, ratios with multiplication signs
"""The targets table (bench/targets.py) against a fixture results file: every issue's
targets are there, and each is met, not met or not measured for the right reason."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.figures import MissingFigureError, Stat, dig, spread
from bench.targets import TARGETS, evaluate

FULL = Path(__file__).parent / "results_full.json"


@pytest.fixture
def results() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FULL.read_text(encoding="utf-8"))
    return loaded


def outcomes(results: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Figure → (status, detail)."""
    return {o.target.figure: (o.status, o.detail) for o in evaluate(results)}


def test_every_issue_with_speed_targets_is_in_the_table() -> None:
    assert {target.issue for target in TARGETS} == {2, 3, 4, 5, 6, 7, 8, 9, 18, 19, 22}
    assert len({target.figure for target in TARGETS}) == len(TARGETS)


def test_the_full_fixture(results: dict[str, Any]) -> None:
    found = outcomes(results)
    assert found["Parse a 1 MB Modelfile (`modelfile.parse`)"] == ("met", "281 ms < 1 s")
    assert found["Import the 253 MB Gemma GGUF (whole `ladle create`) vs `cp`"] == (
        "not met",
        "0.35× ≥ 0.50×",
    )
    assert found["8 streams, aggregate tok/s vs llama_cpp.server"] == ("not met", "2.85× ≥ 3.00×")
    assert found["8 streams, aggregate tok/s vs ladle's own single stream"][0] == "not met"
    assert found["8 streams, aggregate tok/s vs llama.cpp's llama-server (8 slots)"] == (
        "met",
        "0.84× ≥ 0.80×",
    )
    assert found["Second turn of a chat: prompt evaluation vs cold"] == ("met", "1.63 % ≤ 20 %")
    assert found["Server RSS beyond the weights and KV cache"] == ("met", "95.6 MB < 200 MB")
    assert found["`make bench` wall time"] == ("met", "13.0 min < 20 min")
    cli = "The same create through the CLI (`ladle create`, a new process, wall clock)"
    assert found[cli] == ("not met", "312 ms < 300 ms")
    statuses = [o.status for o in evaluate(results)]
    assert (statuses.count("met"), statuses.count("not met")) == (21, 4)


def test_a_missing_section_is_not_measured(results: dict[str, Any]) -> None:
    del results["serving"]
    for outcome in evaluate(results):
        if outcome.target.issue in (8, 9):
            assert (outcome.status, outcome.detail) == ("not measured", "no serving in the results")


def test_a_failed_or_skipped_module_says_so(results: dict[str, Any]) -> None:
    results["registry"] = {"skipped": "docker-registry or curl is not installed"}
    results["serving"] = {"error": "RuntimeError: boom"}
    found = outcomes(results)
    assert found["`push` of it vs `curl --upload-file`"] == (
        "not measured",
        "registry skipped: docker-registry or curl is not installed",
    )
    assert found["Cold start: request to first token"] == (
        "not measured",
        "serving failed: RuntimeError: boom",
    )


def test_a_skipped_peer_gives_its_own_reason(results: dict[str, Any]) -> None:
    serving = results["serving"]
    serving["systems"]["llama_server"] = {"skipped": "cmake is not installed"}
    for workload in ("single", "concurrency", "multiturn", "cold_start_s"):
        serving[workload].pop("llama_server", None)
    found = outcomes(results)
    assert found["8 streams, aggregate tok/s vs llama.cpp's llama-server (8 slots)"] == (
        "not measured",
        "serving.systems.llama_server skipped: cmake is not installed",
    )
    assert found["8 streams, aggregate tok/s vs llama_cpp.server"][0] == "not met"


def test_the_ceiling_is_given_beside_the_concurrency_ratios(results: dict[str, Any]) -> None:
    serving = results["serving"]
    serving["systems"]["llama_batched_bench"] = {"label": "llama-batched-bench"}
    serving["concurrency"]["llama_batched_bench"] = {
        level: {"aggregate_tps": {"median": rate, "min": rate, "max": rate, "runs": [rate]}}
        for level, rate in (("1", 100.0), ("8", 160.0))
    }
    notes = {o.target.figure: o.reading.note for o in evaluate(results) if o.reading}
    server = serving["concurrency"]["llama_cpp_server"]["8"]["aggregate_tps"]["median"]
    assert notes["8 streams, aggregate tok/s vs llama_cpp.server"] == (
        f"the ceiling, llama.cpp's llama-batched-bench: 160 tok/s, {160 / server:.2f}×"
    )
    assert notes["8 streams, aggregate tok/s vs ladle's own single stream"] == (
        "the ceiling, llama.cpp's llama-batched-bench: 160 tok/s, 1.60×"
    )
    assert notes["8 streams, aggregate tok/s vs llama.cpp's llama-server (8 slots)"] == ""
    del serving["concurrency"]["llama_batched_bench"]  # not run: no note, the same status
    assert not any(o.reading and "ceiling" in o.reading.note for o in evaluate(results))


def test_a_peer_absent_from_one_workload(results: dict[str, Any]) -> None:
    del results["serving"]["concurrency"]["llama_cpp_server"]
    status, detail = outcomes(results)["8 streams, aggregate tok/s vs llama_cpp.server"]
    assert status == "not measured"
    assert detail == "no serving.concurrency.llama_cpp_server in the results"


def test_failures_veto_a_target(results: dict[str, Any]) -> None:
    results["serving"]["overload"].update(failed=3, retry_after_seen=False)
    found = outcomes(results)
    status, detail = found["64 clients, queue 16: every accepted request completes"]
    assert status == "not met"
    assert detail.endswith("but 3 accepted requests failed")
    status, detail = found["64 clients, queue 16: the excess get 503 with Retry-After"]
    assert (status, detail) == ("not met", "588 ≥ 1, but no Retry-After header on the 503s")


def test_thresholds_are_inclusive_only_where_the_issue_says_at_least_or_at_most(
    results: dict[str, Any],
) -> None:
    single = results["serving"]["single"]
    single["ladle_api"]["decode_tps"]["median"] = 0.95 * single["raw"]["decode_tps"]["median"]
    results["modelfile_parse"]["parse"]["median_s"] = 1.0  # "under 1 s": 1.0 is not under
    found = outcomes(results)
    assert found["Single stream decode tok/s vs raw llama-cpp-python"][0] == "met"
    assert found["Parse a 1 MB Modelfile (`modelfile.parse`)"][0] == "not met"


def test_a_quick_run_does_not_judge_the_full_runs_time(results: dict[str, Any]) -> None:
    results["quick"] = True
    results["modelfile_parse"]["bytes"] = 100_011
    found = outcomes(results)
    assert found["`make bench` wall time"] == (
        "not measured",
        "a quick run; the full run's time is what counts",
    )
    reading = next(o.reading for o in evaluate(results) if o.target.issue == 2)
    assert reading is not None and reading.note == "a 100 KB input (quick run)"


def test_unreadable_figures_are_not_measured(results: dict[str, Any]) -> None:
    results["builder"]["list_200"]["cli"] = {"median_s": "fast"}
    results["serving"]["api_overhead"]["ttft_api_s"] = [0.2]
    found = outcomes(results)
    assert found["`ladle list` with 200 images (CLI, wall clock)"] == (
        "not measured",
        "builder.list_200.cli is not a statistic",
    )
    assert found["Time to first token, `/api/generate` minus the runner's own"][0] == (
        "not measured"
    )


def test_an_empty_results_file() -> None:
    assert {o.status for o in evaluate({})} == {"not measured"}


def test_stat_reads_both_shapes_and_plain_numbers() -> None:
    data: dict[str, Any] = {
        "new": {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [1.0, 2.0, 3.0]},
        "old": {"median_s": 0.5, "min_s": 0.4, "max_s": 0.9, "runs": 7},
        "plain": 4,
    }
    assert Stat.read(data, "new") == Stat(2.0, 1.0, 3.0, 3)
    assert Stat.read(data, "old") == Stat(0.5, 0.4, 0.9, 7)
    assert Stat.read(data, "plain") == Stat(4.0, 4.0, 4.0, None)
    rate = Stat.read(data, "old").map(lambda seconds: 100 / seconds)
    assert (rate.low, rate.median, rate.high) == pytest.approx((100 / 0.9, 200, 250))


def test_dig_names_the_first_missing_step() -> None:
    data = {"a": {"b": {"skipped": "why not"}}}
    with pytest.raises(MissingFigureError, match=re.escape("no a.x in the results")):
        dig(data, "a", "x", "y")
    with pytest.raises(MissingFigureError, match=re.escape("a.b skipped: why not")):
        dig(data, "a", "b", "c")


@pytest.mark.parametrize(
    ("stat", "unit", "text"),
    [
        (Stat(0.281, 0.25, 0.373, 7), "s", "281 ms (250–373, 7 runs)"),
        (Stat(1.23, 1.21, 1.33, 3), "s", "1.23 s (1.21–1.33, 3 runs)"),
        (Stat(0.000238, 0.000228, 0.000243), "s", "238 µs (228–243)"),
        (Stat(122.7, 111.0, 131.0, 3), "tok/s", "123 tok/s (111–131, 3 runs)"),
        (Stat(1832, 1832, 1832, 1), "B", "1,832 B (1 run)"),
        (Stat(781, 781, 781), "s", "13.0 min"),
    ],
)
def test_spread(stat: Stat, unit: str, text: str) -> None:
    assert spread(stat, unit) == text


def test_speculation_and_cluster_targets_read_their_figures() -> None:
    def mode(tps: float) -> dict[str, Any]:
        return {"tps": tps, "tps_runs": [tps - 1, tps, tps + 1], "drafted": 0, "accepted": 0}

    ladle = {
        key: {"off": mode(20), "ngram": mode(34), "draft": mode(19.5), "identical": True}
        for key in ("rewrite", "summary", "chat")
    }
    ladle["summary"]["identical"] = False
    server = {key: {"off": mode(21), "ngram": mode(30)} for key in ("rewrite", "chat")}
    cluster = {
        "plain": {"ttft_ms": 100.0, "tokens_per_s": 40.0},
        "cluster_1_replica": {"ttft_ms": 112.0, "tokens_per_s": 38.0},
    }
    found = outcomes({"speculation": {"ladle": ladle, "llama_server": server}, "cluster": cluster})
    assert found["(a) rewrite a file: n-gram speculation vs ladle without"][0] == "met"
    assert found["(a) rewrite a file: ladle n-gram vs llama-server's n-gram speculation"][0] == (
        "met"
    )
    assert found["(c) free chat: with a draft vs without (falls back when it cannot pay)"][0] == (
        "met"
    )
    identical = found["Workloads whose greedy output is identical off, n-gram and draft"]
    assert identical[0] == "not met"
    assert found["One replica on the cluster: time to first token over plain serve"][0] == "met"
    assert found["One replica on the cluster: one stream's tokens/s vs plain serve"][0] == "met"

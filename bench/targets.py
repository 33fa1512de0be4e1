"""Every speed target the issues set, and how to tell from a results file whether it is met.

One :class:`Target` per target sentence of the issues' "Speed" sections (and issue 7's
own time limit for ``make bench``). Each names the issue, the figure, the goal as the
issue words it, and a ``read`` function (:mod:`bench.readings`) that takes ladle's
figure, the peer's figure and the value the goal compares out of the results. ``read``
is ``None`` where no bench module measures the figure: the report then says "not
measured by make bench" rather than leaving the target out.

:func:`evaluate` turns the table and a results file into :class:`Outcome` rows: met,
not met, or not measured with the reason (the module was not run, was skipped, failed,
or a peer did not run that workload).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bench.cluster_report import stream_ratio, ttft_overhead
from bench.figures import TIMES, MissingFigureError, quantity
from bench.kv_readings import MODELS, kv_bytes_share, perplexity_drift, prompt_eval
from bench.prompt_cache_report import restart_share, shared_prefix_share
from bench.readings import (
    Reading,
    Results,
    api_stream,
    api_ttft,
    bench_wall,
    cold_start,
    derived_bytes,
    gguf_import,
    memory,
    overload_503,
    overload_complete,
    overload_memory,
    parse_1mb,
    registry,
    render_20,
    second_turn,
    seconds,
    single_stream,
    streams_8,
    tui_stream,
)
from bench.serving_figures import LADLE
from bench.speculation_report import (
    draft_on_chat,
    identical_workloads,
    ngram_speedup,
    ngram_vs_llama_server,
)

Status = Literal["met", "not met", "not measured"]
NOT_BY_MAKE_BENCH = "not measured by make bench"
_COMPARE = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}
_SYMBOL = {"<": "<", "<=": "≤", ">=": "≥"}


@dataclass(frozen=True)
class Target:
    """One target of one issue."""

    issue: int
    figure: str
    goal: str
    comparison: Literal["<", "<=", ">="]
    threshold: float
    unit: str
    read: Callable[[Results], Reading] | None

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the goal."""
        return bool(_COMPARE[self.comparison](value, self.threshold))


@dataclass(frozen=True)
class Outcome:
    """A target judged against one results file."""

    target: Target
    status: Status
    detail: str
    reading: Reading | None = None


TARGETS: tuple[Target, ...] = (
    Target(2, "Parse a 1 MB Modelfile (`modelfile.parse`)", "< 1 s", "<", 1.0, "s", parse_1mb),
    Target(
        3,
        "Create a derived image over the 98 MB SmolLM2 base (in-process)",
        "< 0.3 s",
        "<",
        0.3,
        "s",
        seconds("builder", "derived_create"),
    ),
    Target(3, "Bytes that derived create writes", "< 100 KB", "<", 100_000, "B", derived_bytes),
    Target(
        3,
        "The same create through the CLI (`ladle create`, a new process, wall clock)",
        "< 0.3 s",
        "<",
        0.3,
        "s",
        seconds("builder", "derived_cli"),
    ),
    Target(
        3,
        "Import the 253 MB Gemma GGUF (whole `ladle create`) vs `cp`",
        "≥ ½ of cp",
        ">=",
        0.5,
        TIMES,
        gguf_import("ladle_create"),
    ),
    Target(
        3,
        "The import's copy step alone (hash while copying, fsync) vs `cp`",
        "≥ ½ of cp",
        ">=",
        0.5,
        TIMES,
        gguf_import("ladle_copy_step"),
    ),
    Target(
        3,
        "`ladle list` with 200 images (CLI, wall clock)",
        "< 0.3 s",
        "<",
        0.3,
        "s",
        seconds("builder", "list_200", "cli"),
    ),
    Target(4, "Render a 20-message conversation", "< 1 ms", "<", 0.001, "s", render_20),
    Target(5, "TUI streams without dropping text", "≥ 200 tok/s", ">=", 200, "tok/s", tui_stream),
    Target(
        5,
        "TUI startup to an input prompt (server running)",
        "< 1 s",
        "<",
        1.0,
        "s",
        seconds("tui", "startup_s", who="ladle chat"),
    ),
    Target(
        6,
        "`pull` of the 253 MB image from a loopback registry vs `curl`",
        "≥ ½ of curl",
        ">=",
        0.5,
        TIMES,
        registry("pull", "curl_get"),
    ),
    Target(
        6,
        "`push` of it vs `curl --upload-file`",
        "≥ ½ of curl",
        ">=",
        0.5,
        TIMES,
        registry("push", "curl_upload"),
    ),
    Target(7, "`make bench` wall time", "< 20 min", "<", 1200.0, "s", bench_wall),
    Target(
        8,
        "Time to first token, `/api/generate` minus the runner's own",
        "≤ +10 ms",
        "<=",
        0.010,
        "s",
        api_ttft,
    ),
    Target(8, "Streaming tok/s, API vs runner", f"≥ 0.95{TIMES}", ">=", 0.95, TIMES, api_stream),
    Target(
        8,
        "64 clients, queue 16: the excess get 503 with Retry-After",
        "some 503s",
        ">=",
        1,
        "",
        overload_503,
    ),
    Target(
        8,
        "64 clients, queue 16: every accepted request completes",
        "100 %",
        ">=",
        100,
        "%",
        overload_complete,
    ),
    Target(
        8,
        "64 clients, queue 16: memory flat over 1,000 requests (RSS growth)",
        "≤ 5 %",
        "<=",
        5,
        "%",
        overload_memory,
    ),
    Target(
        9,
        "Single stream decode tok/s vs raw llama-cpp-python",
        f"≥ 0.95{TIMES}",
        ">=",
        0.95,
        TIMES,
        single_stream,
    ),
    Target(
        9,
        "8 streams, aggregate tok/s vs llama_cpp.server",
        f"≥ 3{TIMES}",
        ">=",
        3.0,
        TIMES,
        streams_8("llama_cpp_server"),
    ),
    Target(
        9,
        "8 streams, aggregate tok/s vs ladle's own single stream",
        f"≥ 1.8{TIMES}",
        ">=",
        1.8,
        TIMES,
        streams_8(LADLE, streams="1"),
    ),
    Target(
        9,
        "8 streams, aggregate tok/s vs llama.cpp's llama-server (8 slots)",
        f"≥ 0.8{TIMES}",
        ">=",
        0.8,
        TIMES,
        streams_8("llama_server"),
    ),
    Target(
        9,
        "Second turn of a chat: prompt evaluation vs cold",
        "≤ 20 %",
        "<=",
        20,
        "%",
        second_turn,
    ),
    Target(9, "Cold start: request to first token", "< 1.5 s", "<", 1.5, "s", cold_start),
    Target(
        9,
        "Server RSS beyond the weights and KV cache",
        "< 200 MB",
        "<",
        200,
        "MB",
        memory,
    ),
    *(
        Target(
            18,
            f"{name}: KV bytes a token, `{kind}` of `f16`",
            f"≤ {limit}%",
            "<=",
            limit,
            "%",
            kv_bytes_share(model, kind),
        )
        for model, name in MODELS.items()
        for kind, limit in (("q8_0", 55), ("q4_0", 30))
    ),
    *(
        Target(
            18,
            f"{name}: `q8_0` perplexity vs `f16`",
            "within 1%",
            "<=",
            1,
            "%",
            perplexity_drift(model, "q8_0"),
        )
        for model, name in MODELS.items()
    ),
    *(
        Target(
            18,
            f"{name}: prompt eval of {size} tokens vs llama-server",
            f"≥ 0.95{TIMES}",
            ">=",
            0.95,
            TIMES,
            prompt_eval(model, size),
        )
        for model, name in MODELS.items()
        for size in ("4000", "8000")
    ),
    Target(
        18,
        "16 chats sharing a 2,000-token system prompt: prompt evaluation vs each in full",
        "≤ 25 %",
        "<=",
        25,
        "%",
        shared_prefix_share,
    ),
    Target(
        18,
        "A 3,000-token chat, server restarted: next turn's prompt evaluation vs cold",
        "≤ 20 %",
        "<=",
        20,
        "%",
        restart_share,
    ),
    Target(
        19,
        "(a) rewrite a file: n-gram speculation vs ladle without",
        f"≥ 1.5{TIMES}",
        ">=",
        1.5,
        TIMES,
        ngram_speedup,
    ),
    Target(
        19,
        "(a) rewrite a file: ladle n-gram vs llama-server's n-gram speculation",
        f"≥ 1.0{TIMES}",
        ">=",
        1.0,
        TIMES,
        ngram_vs_llama_server,
    ),
    Target(
        19,
        "(c) free chat: with a draft vs without (falls back when it cannot pay)",
        f"≥ 0.95{TIMES}",
        ">=",
        0.95,
        TIMES,
        draft_on_chat,
    ),
    Target(
        19,
        "Workloads whose greedy output is identical off, n-gram and draft",
        "3 of 3",
        ">=",
        3,
        "of 3",
        identical_workloads,
    ),
    Target(
        22,
        "One replica on the cluster: time to first token over plain serve",
        "≤ 20 ms",
        "<=",
        20,
        "ms",
        ttft_overhead,
    ),
    Target(
        22,
        "One replica on the cluster: one stream's tokens/s vs plain serve",
        f"≥ 0.9{TIMES}",
        ">=",
        0.9,
        TIMES,
        stream_ratio,
    ),
)


def judge(target: Target, results: Results) -> Outcome:
    """``target`` against ``results``."""
    if target.read is None:
        return Outcome(target, "not measured", NOT_BY_MAKE_BENCH)
    try:
        reading = target.read(results)
    except MissingFigureError as why:
        return Outcome(target, "not measured", str(why))
    except (ArithmeticError, TypeError, ValueError) as error:
        return Outcome(target, "not measured", f"unreadable figures ({error})")
    comparison = (
        f"{quantity(reading.value, target.unit)} {_SYMBOL[target.comparison]} "
        f"{quantity(target.threshold, target.unit)}"
    )
    if reading.veto:
        return Outcome(target, "not met", f"{comparison}, but {reading.veto}", reading)
    status: Status = "met" if target.holds(reading.value) else "not met"
    return Outcome(target, status, comparison, reading)


def evaluate(results: Results) -> list[Outcome]:
    """Every target, in the table's order, judged against ``results``."""
    return [judge(target, results) for target in TARGETS]

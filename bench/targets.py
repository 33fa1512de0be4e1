"""Every speed target the issues set, and how to tell from a results file whether it is met.

One :class:`Target` per target sentence of the issues' "Speed" sections (and issue 7's
own time limit for ``make bench``). Each names the issue, the figure, the goal as the
issue words it, and a ``read`` function that takes ladle's figure, the peer's figure and
the value the goal compares out of the results. ``read`` is ``None`` where no bench
module measures the figure: the report then says "not measured by make bench" rather
than leaving the target out.

:func:`evaluate` turns the table and a results file into :class:`Outcome` rows: met,
not met, or not measured with the reason (the module was not run, was skipped, failed,
or a peer did not run that workload).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bench.figures import TIMES, MissingFigureError, Stat, dig, number, quantity
from bench.serving_figures import (
    CEILING,
    LADLE,
    label,
    rss_beyond_model_mb,
    system_stat,
)

Results = Mapping[str, Any]
Status = Literal["met", "not met", "not measured"]
NOT_BY_MAKE_BENCH = "not measured by make bench"
_COMPARE = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}
_SYMBOL = {"<": "<", "<=": "≤", ">=": "≥"}


@dataclass(frozen=True)
class Side:
    """One system's figure in a row of the table."""

    label: str
    stat: Stat
    unit: str


@dataclass(frozen=True)
class Reading:
    """What a results file says about one target: ladle's figure, the peer's, and
    ``value``, the number the goal is about (a ratio, a difference, or ladle's median).
    ``veto`` fails the target whatever ``value`` is (e.g. requests that failed)."""

    ladle: Side
    value: float
    peer: Side | None = None
    note: str = ""
    veto: str = ""


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


def _ratio(ladle: Side, peer: Side, note: str = "") -> Reading:
    return Reading(ladle, ladle.stat.median / peer.stat.median, peer, note)


def _seconds(*path: str, who: str = "ladle") -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        stat = Stat.read(results, *path)
        return Reading(Side(who, stat, "s"), stat.median)

    return read


# Issue 2: the Modelfile language.
def _parse_1mb(results: Results) -> Reading:
    stat = Stat.read(results, "modelfile_parse", "parse")
    size = number(results, "modelfile_parse", "bytes")
    note = "" if size >= 990_000 else f"a {size / 1e3:,.0f} KB input (quick run)"
    return Reading(Side("ladle", stat, "s"), stat.median, note=note)


# Issue 3: the builder.
def _derived_bytes(results: Results) -> Reading:
    written = number(results, "builder", "derived_create", "bytes_written_max")
    return Reading(Side("ladle", Stat.single(written), "B"), written, note="the most of any run")


def _mb_per_s(results: Results, size: float, *path: str) -> Stat:
    return Stat.read(results, *path).map(lambda seconds: size / seconds / 1e6)


def _gguf_import(step: str) -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        size = number(results, "builder", "gguf_import", "bytes")
        ladle = _mb_per_s(results, size, "builder", "gguf_import", step)
        cp = _mb_per_s(results, size, "builder", "gguf_import", "cp")
        return _ratio(Side("ladle", ladle, "MB/s"), Side("cp + sync", cp, "MB/s"))

    return read


# Issue 4: chat templates.
_TEMPLATES = {
    "gguf_jinja": "SmolLM2's GGUF",
    "go_messages": "Go .Messages",
    "go_legacy": "Go legacy",
}


def _render_20(results: Results) -> Reading:
    found = {}
    for key, name in _TEMPLATES.items():
        try:
            found[name] = Stat.read(results, "render", key, "render_20")
        except MissingFigureError:
            continue
    if not found:
        dig(results, "render")  # says why when the module did not run
        raise MissingFigureError("no render.*.render_20 in the results")
    name, stat = max(found.items(), key=lambda item: item[1].median)
    return Reading(Side("ladle", stat, "s"), stat.median, note=f"slowest: {name} template")


# Issue 5: the TUI.
def _tui_stream(results: Results) -> Reading:
    capacity = number(results, "tui", "stream_tps_capacity")
    dropped = number(results, "tui", "dropped")
    veto = f"{dropped:.0f} pieces dropped or reordered" if dropped else ""
    return Reading(Side("ladle chat", Stat.single(capacity), "tok/s"), capacity, veto=veto)


# Issue 6: distribution.
def _registry(step: str, curl: str) -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        image = number(results, "registry", "image_bytes")
        blob = number(results, "registry", "weights_bytes")
        ladle = _mb_per_s(results, image, "registry", step)
        peer = _mb_per_s(results, blob, "registry", curl)
        return _ratio(Side("ladle", ladle, "MB/s"), Side("curl", peer, "MB/s"))

    return read


# Issue 7: the harness itself.
def _bench_wall(results: Results) -> Reading:
    if results.get("quick"):
        raise MissingFigureError("a quick run; the full run's time is what counts")
    if results.get("only"):
        raise MissingFigureError("a partial run (--only)")
    wall = number(results, "wall_s")
    return Reading(Side("make bench", Stat.single(wall), "s"), wall)


# Issue 8: the HTTP API.
def _api_ttft(results: Results) -> Reading:
    api = Stat.read(results, "serving", "api_overhead", "ttft_api_s")
    engine = Stat.read(results, "serving", "api_overhead", "ttft_engine_s")
    try:  # the median of paired differences, when the module recorded it
        overhead = number(results, "serving", "api_overhead", "ttft_overhead_ms") / 1000
        note = "median of paired differences"
    except MissingFigureError:
        overhead, note = api.median - engine.median, "difference of the medians"
    return Reading(Side("/api/generate", api, "s"), overhead, Side("runner", engine, "s"), note)


def _api_stream(results: Results) -> Reading:
    api = Stat.read(results, "serving", "api_overhead", "stream_tps_api")
    runner = Stat.read(results, "serving", "api_overhead", "stream_tps_runner")
    return _ratio(Side("/api/generate", api, "tok/s"), Side("runner", runner, "tok/s"))


def _overload(results: Results) -> dict[str, float]:
    keys = ("accepted", "rejected_503", "completed", "failed")
    return {key: number(results, "serving", "overload", key) for key in keys}


def _overload_503(results: Results) -> Reading:
    counts = _overload(results)
    retry_after = dig(results, "serving", "overload", "retry_after_seen") is True
    rejected = counts["rejected_503"]
    veto = "" if retry_after else "no Retry-After header on the 503s"
    return Reading(Side("rejected with 503", Stat.single(rejected), ""), rejected, veto=veto)


def _overload_complete(results: Results) -> Reading:
    counts = _overload(results)
    if not counts["accepted"]:
        raise MissingFigureError("no request was accepted")
    share = 100 * counts["completed"] / counts["accepted"]
    veto = f"{counts['failed']:.0f} accepted requests failed" if counts["failed"] else ""
    note = f"{counts['completed']:,.0f} of {counts['accepted']:,.0f}"
    return Reading(Side("completed", Stat.single(share), "%"), share, note=note, veto=veto)


def _overload_memory(results: Results) -> Reading:
    first = number(results, "serving", "overload", "rss_mib_first_100")
    last = number(results, "serving", "overload", "rss_mib_last_100")
    return Reading(
        Side("last 100", Stat.single(last), "MiB"),
        100 * (last - first) / first,
        Side("first 100", Stat.single(first), "MiB"),
    )


# Issue 9: the runtime, against its peers.
def _system_side(results: Results, system: str, *path: str, unit: str) -> Side:
    return Side(label(results, system), system_stat(results, system, *path), unit)


def _single_stream(results: Results) -> Reading:
    ladle = _system_side(results, LADLE, "single", "decode_tps", unit="tok/s")
    raw = _system_side(results, "raw", "single", "decode_tps", unit="tok/s")
    return _ratio(ladle, raw)


def _streams_8(peer: str, streams: str = "8") -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        ladle = _system_side(results, LADLE, "concurrency", "8", "aggregate_tps", unit="tok/s")
        other = _system_side(results, peer, "concurrency", streams, "aggregate_tps", unit="tok/s")
        if peer == LADLE:
            other = Side(f"{other.label}, 1 stream", other.stat, other.unit)
        note = "" if peer == "llama_server" else _ceiling(results, other, peer == LADLE)
        return _ratio(ladle, other, note)

    return read


def _ceiling(results: Results, peer: Side, own_single: bool) -> str:
    """The same ratio for llama.cpp's llama-batched-bench, the most batching gives here;
    with ``own_single``, its 8 streams over its own single stream."""
    try:
        top = system_stat(results, CEILING, "concurrency", "8", "aggregate_tps").median
        if own_single:
            peer = Side("", system_stat(results, CEILING, "concurrency", "1", "aggregate_tps"), "")
    except MissingFigureError:
        return ""
    return (
        f"the ceiling, llama.cpp's llama-batched-bench: {quantity(top, 'tok/s')}, "
        f"{top / peer.stat.median:.2f}{TIMES}"
    )


def _second_turn(results: Results) -> Reading:
    turns = dig(results, "serving", "multiturn", LADLE, "turn_prompt_eval_s")
    cold = number(results, "serving", "multiturn", LADLE, "cold_prompt_eval_s")
    if not isinstance(turns, list) or len(turns) < 2:
        raise MissingFigureError("serving.multiturn has no second turn")
    second = float(turns[1])
    return Reading(
        Side("2nd turn", Stat.single(second), "s"),
        100 * second / cold,
        Side("cold", Stat.single(cold), "s"),
    )


def _cold_start(results: Results) -> Reading:
    """``ladle serve`` with its default settings, as a user starts it; the 16-slot
    server of the other workloads is given beside it (its KV cache is 16 times larger)."""
    stat = Stat.read(results, "serving", "cold_start_defaults_s", LADLE)
    try:
        busy = system_stat(results, LADLE, "cold_start_s")
        note = f"with 16 slots of 4,096 tokens: {quantity(busy.median, 's')}"
    except MissingFigureError:
        note = ""
    return Reading(Side("ladle serve, default settings", stat, "s"), stat.median, note=note)


def _memory(results: Results) -> Reading:
    idle, load = (rss_beyond_model_mb(results, LADLE, phase) for phase in ("idle", "load"))
    note = f"idle: {quantity(idle, 'MB')}"
    return Reading(Side("under load", Stat.single(load), "MB"), load, note=note)


TARGETS: tuple[Target, ...] = (
    Target(2, "Parse a 1 MB Modelfile (`modelfile.parse`)", "< 1 s", "<", 1.0, "s", _parse_1mb),
    Target(
        3,
        "Create a derived image over the 98 MB SmolLM2 base (in-process)",
        "< 0.3 s",
        "<",
        0.3,
        "s",
        _seconds("builder", "derived_create"),
    ),
    Target(3, "Bytes that derived create writes", "< 100 KB", "<", 100_000, "B", _derived_bytes),
    Target(
        3,
        "The same create through the CLI (`ladle create`, a new process, wall clock)",
        "< 0.3 s",
        "<",
        0.3,
        "s",
        _seconds("builder", "derived_cli"),
    ),
    Target(
        3,
        "Import the 253 MB Gemma GGUF (whole `ladle create`) vs `cp`",
        "≥ ½ of cp",
        ">=",
        0.5,
        TIMES,
        _gguf_import("ladle_create"),
    ),
    Target(
        3,
        "The import's copy step alone (hash while copying, fsync) vs `cp`",
        "≥ ½ of cp",
        ">=",
        0.5,
        TIMES,
        _gguf_import("ladle_copy_step"),
    ),
    Target(
        3,
        "`ladle list` with 200 images (CLI, wall clock)",
        "< 0.3 s",
        "<",
        0.3,
        "s",
        _seconds("builder", "list_200", "cli"),
    ),
    Target(4, "Render a 20-message conversation", "< 1 ms", "<", 0.001, "s", _render_20),
    Target(5, "TUI streams without dropping text", "≥ 200 tok/s", ">=", 200, "tok/s", _tui_stream),
    Target(
        5,
        "TUI startup to an input prompt (server running)",
        "< 1 s",
        "<",
        1.0,
        "s",
        _seconds("tui", "startup_s", who="ladle chat"),
    ),
    Target(
        6,
        "`pull` of the 253 MB image from a loopback registry vs `curl`",
        "≥ ½ of curl",
        ">=",
        0.5,
        TIMES,
        _registry("pull", "curl_get"),
    ),
    Target(
        6,
        "`push` of it vs `curl --upload-file`",
        "≥ ½ of curl",
        ">=",
        0.5,
        TIMES,
        _registry("push", "curl_upload"),
    ),
    Target(7, "`make bench` wall time", "< 20 min", "<", 1200.0, "s", _bench_wall),
    Target(
        8,
        "Time to first token, `/api/generate` minus the runner's own",
        "≤ +10 ms",
        "<=",
        0.010,
        "s",
        _api_ttft,
    ),
    Target(8, "Streaming tok/s, API vs runner", f"≥ 0.95{TIMES}", ">=", 0.95, TIMES, _api_stream),
    Target(
        8,
        "64 clients, queue 16: the excess get 503 with Retry-After",
        "some 503s",
        ">=",
        1,
        "",
        _overload_503,
    ),
    Target(
        8,
        "64 clients, queue 16: every accepted request completes",
        "100 %",
        ">=",
        100,
        "%",
        _overload_complete,
    ),
    Target(
        8,
        "64 clients, queue 16: memory flat over 1,000 requests (RSS growth)",
        "≤ 5 %",
        "<=",
        5,
        "%",
        _overload_memory,
    ),
    Target(
        9,
        "Single stream decode tok/s vs raw llama-cpp-python",
        f"≥ 0.95{TIMES}",
        ">=",
        0.95,
        TIMES,
        _single_stream,
    ),
    Target(
        9,
        "8 streams, aggregate tok/s vs llama_cpp.server",
        f"≥ 3{TIMES}",
        ">=",
        3.0,
        TIMES,
        _streams_8("llama_cpp_server"),
    ),
    Target(
        9,
        "8 streams, aggregate tok/s vs ladle's own single stream",
        f"≥ 1.8{TIMES}",
        ">=",
        1.8,
        TIMES,
        _streams_8(LADLE, streams="1"),
    ),
    Target(
        9,
        "8 streams, aggregate tok/s vs llama.cpp's llama-server (8 slots)",
        f"≥ 0.8{TIMES}",
        ">=",
        0.8,
        TIMES,
        _streams_8("llama_server"),
    ),
    Target(
        9,
        "Second turn of a chat: prompt evaluation vs cold",
        "≤ 20 %",
        "<=",
        20,
        "%",
        _second_turn,
    ),
    Target(9, "Cold start: request to first token", "< 1.5 s", "<", 1.5, "s", _cold_start),
    Target(
        9,
        "Server RSS beyond the weights and KV cache",
        "< 200 MB",
        "<",
        200,
        "MB",
        _memory,
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

"""How each speed target's figures are read out of a results file.

One function per target of :data:`bench.targets.TARGETS` (or a factory, where several
targets read alike): it takes the results and returns a :class:`Reading`, ladle's figure,
the peer's and the value the goal compares, or raises :class:`MissingFigureError` with
the reason a figure is not there. They live apart from the table so that the table reads
as the issues word their targets, one row each, and this module as the arithmetic behind
the rows: ratios, differences, shares, and the notes that go beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.figures import TIMES, MissingFigureError, Stat, dig, number, quantity
from bench.serving_figures import (
    CEILING,
    LADLE,
    label,
    rss_beyond_model_mb,
    system_stat,
)

Results = Mapping[str, Any]


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


def _ratio(ladle: Side, peer: Side, note: str = "") -> Reading:
    return Reading(ladle, ladle.stat.median / peer.stat.median, peer, note)


def seconds(*path: str, who: str = "ladle") -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        stat = Stat.read(results, *path)
        return Reading(Side(who, stat, "s"), stat.median)

    return read


# Issue 2: the Modelfile language.
def parse_1mb(results: Results) -> Reading:
    stat = Stat.read(results, "modelfile_parse", "parse")
    size = number(results, "modelfile_parse", "bytes")
    note = "" if size >= 990_000 else f"a {size / 1e3:,.0f} KB input (quick run)"
    return Reading(Side("ladle", stat, "s"), stat.median, note=note)


# Issue 3: the builder.
def derived_bytes(results: Results) -> Reading:
    written = number(results, "builder", "derived_create", "bytes_written_max")
    return Reading(Side("ladle", Stat.single(written), "B"), written, note="the most of any run")


def _mb_per_s(results: Results, size: float, *path: str) -> Stat:
    return Stat.read(results, *path).map(lambda seconds: size / seconds / 1e6)


def gguf_import(step: str) -> Callable[[Results], Reading]:
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


def render_20(results: Results) -> Reading:
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
def tui_stream(results: Results) -> Reading:
    capacity = number(results, "tui", "stream_tps_capacity")
    dropped = number(results, "tui", "dropped")
    veto = f"{dropped:.0f} pieces dropped or reordered" if dropped else ""
    return Reading(Side("ladle chat", Stat.single(capacity), "tok/s"), capacity, veto=veto)


# Issue 6: distribution.
def registry(step: str, curl: str) -> Callable[[Results], Reading]:
    def read(results: Results) -> Reading:
        image = number(results, "registry", "image_bytes")
        blob = number(results, "registry", "weights_bytes")
        ladle = _mb_per_s(results, image, "registry", step)
        peer = _mb_per_s(results, blob, "registry", curl)
        return _ratio(Side("ladle", ladle, "MB/s"), Side("curl", peer, "MB/s"))

    return read


# Issue 7: the harness itself.
def bench_wall(results: Results) -> Reading:
    if results.get("quick"):
        raise MissingFigureError("a quick run; the full run's time is what counts")
    if results.get("only"):
        raise MissingFigureError("a partial run (--only)")
    wall = number(results, "wall_s")
    return Reading(Side("make bench", Stat.single(wall), "s"), wall)


# Issue 8: the HTTP API.
def api_ttft(results: Results) -> Reading:
    api = Stat.read(results, "serving", "api_overhead", "ttft_api_s")
    engine = Stat.read(results, "serving", "api_overhead", "ttft_engine_s")
    try:  # the median of paired differences, when the module recorded it
        overhead = number(results, "serving", "api_overhead", "ttft_overhead_ms") / 1000
        note = "median of paired differences"
    except MissingFigureError:
        overhead, note = api.median - engine.median, "difference of the medians"
    return Reading(Side("/api/generate", api, "s"), overhead, Side("runner", engine, "s"), note)


def api_stream(results: Results) -> Reading:
    api = Stat.read(results, "serving", "api_overhead", "stream_tps_api")
    runner = Stat.read(results, "serving", "api_overhead", "stream_tps_runner")
    return _ratio(Side("/api/generate", api, "tok/s"), Side("runner", runner, "tok/s"))


def _overload(results: Results) -> dict[str, float]:
    keys = ("accepted", "rejected_503", "completed", "failed")
    return {key: number(results, "serving", "overload", key) for key in keys}


def overload_503(results: Results) -> Reading:
    counts = _overload(results)
    retry_after = dig(results, "serving", "overload", "retry_after_seen") is True
    rejected = counts["rejected_503"]
    veto = "" if retry_after else "no Retry-After header on the 503s"
    return Reading(Side("rejected with 503", Stat.single(rejected), ""), rejected, veto=veto)


def overload_complete(results: Results) -> Reading:
    counts = _overload(results)
    if not counts["accepted"]:
        raise MissingFigureError("no request was accepted")
    share = 100 * counts["completed"] / counts["accepted"]
    veto = f"{counts['failed']:.0f} accepted requests failed" if counts["failed"] else ""
    note = f"{counts['completed']:,.0f} of {counts['accepted']:,.0f}"
    return Reading(Side("completed", Stat.single(share), "%"), share, note=note, veto=veto)


def overload_memory(results: Results) -> Reading:
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


def single_stream(results: Results) -> Reading:
    ladle = _system_side(results, LADLE, "single", "decode_tps", unit="tok/s")
    raw = _system_side(results, "raw", "single", "decode_tps", unit="tok/s")
    return _ratio(ladle, raw)


def streams_8(peer: str, streams: str = "8") -> Callable[[Results], Reading]:
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


def second_turn(results: Results) -> Reading:
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


def cold_start(results: Results) -> Reading:
    """``ladle serve`` with its default settings, as a user starts it; the 16-slot
    server of the other workloads is given beside it (its KV cache is 16 times larger)."""
    stat = Stat.read(results, "serving", "cold_start_defaults_s", LADLE)
    try:
        busy = system_stat(results, LADLE, "cold_start_s")
        note = f"with 16 slots of 4,096 tokens: {quantity(busy.median, 's')}"
    except MissingFigureError:
        note = ""
    return Reading(Side("ladle serve, default settings", stat, "s"), stat.median, note=note)


def memory(results: Results) -> Reading:
    idle, load = (rss_beyond_model_mb(results, LADLE, phase) for phase in ("idle", "load"))
    note = f"idle: {quantity(idle, 'MB')}"
    return Reading(Side("under load", Stat.single(load), "MB"), load, note=note)

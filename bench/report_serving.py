"""The report's serving section: ladle next to raw llama-cpp-python, llama_cpp.server and
llama.cpp's ``llama-server``, from the ``serving`` results (``bench/serving.py``).

Every table has one row per system that ran the workload; a system that did not is
listed with its reason under the systems table, not silently dropped. Decode figures
carry the fraction of the memory-bandwidth bound they reach (see ``bench/machine.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.figures import DASH, MissingFigureError, Stat, dig, number, plain, quantity, spread
from bench.markdown import code, notes, table
from bench.serving_figures import (
    decode_bound,
    label,
    rss_beyond_model_mb,
    skipped,
    system_stat,
    systems,
    workload,
)

Results = Mapping[str, Any]
LEVELS = ("1", "2", "4", "8", "16")


def _stat_cell(results: Results, unit: str, *path: str) -> str:
    """The statistic at ``path`` as ``median (min-max, runs)``, or a dash."""
    try:
        return spread(Stat.read(results, *path), unit)
    except MissingFigureError:
        return "—"


def _value_cell(results: Results, unit: str, *path: str) -> str:
    """The number at ``path`` with its unit, or a dash."""
    try:
        return quantity(number(results, *path), unit)
    except MissingFigureError:
        return "—"


def _compact(stat: Stat, scale: float = 1.0) -> str:
    """``median (low-high)`` without a unit, for wide tables."""
    if stat.low == stat.high:
        return plain(stat.median * scale)
    low, high = plain(stat.low * scale), plain(stat.high * scale)
    return f"{plain(stat.median * scale)} ({low}{DASH}{high})"


def _flat(values: Mapping[str, Any]) -> str:
    """``key value, key value`` for a settings-like dict; nested dicts in brackets."""
    parts = []
    for key, value in values.items():
        shown = f"({_flat(value)})" if isinstance(value, Mapping) else _shown(value)
        parts.append(f"{key} {shown}")
    return ", ".join(parts) or "none"


def _checks(results: Results) -> list[str]:
    """The module's own sanity checks (``serving.checks``), when it recorded any."""
    try:
        checks = dig(results, "serving", "checks")
    except MissingFigureError:
        return []
    if not isinstance(checks, Mapping) or not checks:
        return []
    return [f"Checks: {_flat(checks)}.", ""]


def _model(results: Results) -> list[str]:
    lines = []
    try:
        model = dig(results, "serving", "model")
        size = f"{float(model['bytes']) / 1e6:,.1f} MB"
        per_token = float(model["weights_bytes_per_token"]) / 1e6
        layers = model.get("n_layer", "?")
        lines.append(
            f"Model: **{model.get('name', '?')}** ({size}, {layers} layers; "
            f"{per_token:,.1f} MB of weights read per decoded token)."
        )
    except (MissingFigureError, KeyError, TypeError, ValueError):
        lines.append("Model: not recorded.")
    lines.append("")
    try:
        settings = dig(results, "serving", "settings")
    except MissingFigureError:
        return lines
    if isinstance(settings, Mapping) and settings:
        rows = [
            [code(str(key)), _flat(value) if isinstance(value, Mapping) else _shown(value)]
            for key, value in settings.items()
        ]
        lines += ["Settings:", "", *table(["setting", "value"], rows)]
    return lines


def _systems(results: Results) -> list[str]:
    rows = []
    for system in systems(results):
        node = dig(results, "serving", "systems")[system]
        reason = skipped(results, system)
        if reason is not None:
            rows.append([code(system), system, "—", f"did not run: {reason}"])
            continue
        command = node.get("command", "")
        build = node.get("build")
        what = code(command) if command else "in the benchmark's process"
        if build:
            what += f"; built with {code(str(build))}"
        rows.append(
            [code(system), str(node.get("label", system)), str(node.get("version", "—")), what]
        )
    if not rows:
        return ["Systems: not recorded.", ""]
    return table(["key", "system", "version", "command"], rows)


def _bound_line(results: Results) -> tuple[list[str], float | None]:
    try:
        bound = decode_bound(results)
    except MissingFigureError as why:
        return [f"Decode bound: not computed ({why}).", ""], None
    bandwidth = number(results, "machine", "memcpy_bandwidth", "best")
    per_token = number(results, "serving", "model", "weights_bytes_per_token")
    line = (
        f"Decode bound for one stream: memory bandwidth {bandwidth / 1e9:,.1f} GB/s ÷ "
        f"{per_token / 1e6:,.1f} MB of weights per token = **{bound:,.0f} tok/s**; "
        "each decode figure shows the share of it reached."
    )
    return [line, ""], bound


def _share(results: Results, system: str, bound: float | None) -> str:
    """The share of the decode bound a system's single stream reaches."""
    try:
        decode = system_stat(results, system, "single", "decode_tps")
    except MissingFigureError:
        return "—"
    return f"{100 * decode.median / bound:.0f} %" if bound else "—"


def _single(results: Results) -> list[str]:
    lines, bound = _bound_line(results)
    rows = []
    for system in systems(results):
        if not _ran(results, "single", system):
            continue
        path = ("serving", "single", system)
        rows.append(
            [
                label(results, system),
                _stat_cell(results, "s", *path, "ttft_s"),
                _stat_cell(results, "tok/s", *path, "decode_tps"),
                _share(results, system, bound),
                _stat_cell(results, "tok/s", *path, "prompt_tps"),
            ]
        )
    if not rows:
        return ["No single-stream figures in this run.", ""]
    header = ["system", "time to first token", "decode", "of the bound", "prompt eval"]
    return [*lines, *table(header, rows, "lrrrr")]


def _ran(results: Results, name: str, system: str) -> bool:
    """Whether ``system`` has figures for the workload ``name``."""
    try:
        workload(results, name, system)
    except MissingFigureError:
        return False
    return True


def _compact_cell(results: Results, *path: str) -> str:
    try:
        return _compact(Stat.read(results, *path))
    except MissingFigureError:
        return "—"


def _latency_cell(results: Results, *path: str) -> str:
    p50 = _value_cell(results, "s", *path, "latency_p50_s")
    p99 = _value_cell(results, "s", *path, "latency_p99_s")
    return "—" if p50 == p99 == "—" else f"{p50} / {p99}"


def _concurrency(results: Results, charts: Mapping[str, str]) -> list[str]:
    aggregate, latency = [], []
    for system in systems(results):
        if not _ran(results, "concurrency", system):
            continue
        path = ("serving", "concurrency", system)
        name = label(results, system)
        aggregate.append(
            [name, *(_compact_cell(results, *path, n, "aggregate_tps") for n in LEVELS)]
        )
        cells = [_latency_cell(results, *path, n) for n in LEVELS]
        if any(cell != "—" for cell in cells):  # llama-batched-bench times no requests
            latency.append([name, *cells])
    if not aggregate:
        return ["No concurrency figures in this run.", ""]
    streams = [f"{level} stream{'s' if level != '1' else ''}" for level in LEVELS]
    lines = [f"Aggregate decode tokens/s, median (min{DASH}max):", ""]
    lines += table(["system", *streams], aggregate, "lrrrrr")
    lines += ["Request latency, p50 / p99:", ""]
    lines += table(["system", *streams], latency, "lrrrrr")
    if "concurrency" in charts:
        lines += [f"![Aggregate tokens/s against concurrent streams]({charts['concurrency']})", ""]
    return lines


def _turn_cell(results: Results, system: str, turn: int) -> str:
    try:
        turns = dig(results, "serving", "multiturn", system, "turn_prompt_eval_s")
        return quantity(float(turns[turn]), "s")
    except (MissingFigureError, IndexError, TypeError, ValueError):
        return "—"


def _multiturn(results: Results, charts: Mapping[str, str]) -> list[str]:
    ran = [system for system in systems(results) if _ran(results, "multiturn", system)]
    if not ran:
        return ["No multi-turn figures in this run.", ""]
    turns = max(
        len(workload(results, "multiturn", system).get("turn_prompt_eval_s", [])) for system in ran
    )
    rows = [
        [f"turn {turn + 1}", *(_turn_cell(results, system, turn) for system in ran)]
        for turn in range(turns)
    ]
    cold = ["cold (the same prompt, nothing cached)"]
    cold += [
        _value_cell(results, "s", "serving", "multiturn", system, "cold_prompt_eval_s")
        for system in ran
    ]
    lines = ["Prompt evaluation time per turn (median):", ""]
    header = ["", *(label(results, system) for system in ran)]
    lines += table(header, [*rows, cold], "l" + "r" * len(ran))
    if "multiturn" in charts:
        lines += [f"![Prompt evaluation per turn]({charts['multiturn']})", ""]
    return lines


def _beyond_cell(results: Results, system: str, phase: str) -> str:
    try:
        return quantity(rss_beyond_model_mb(results, system, phase), "MB")
    except MissingFigureError:
        return "—"


def _cold_and_memory(results: Results) -> list[str]:
    cold = [
        [label(results, system), _stat_cell(results, "s", "serving", "cold_start_s", system)]
        for system in systems(results)
        if _ran(results, "cold_start_s", system)
    ]
    memory = [
        [
            label(results, system),
            *(
                _value_cell(results, "MiB", "serving", "memory_mib", system, key)
                for key in ("idle", "load", "weights", "kv_cache")
            ),
            *(_beyond_cell(results, system, phase) for phase in ("idle", "load")),
        ]
        for system in systems(results)
        if _ran(results, "memory_mib", system)
    ]
    lines = ["Cold start, request to first token on an unloaded model:", ""]
    lines += table(["system", "cold start"], cold, "lr") if cold else ["Not measured.", ""]
    lines += ["Server memory (RSS of the server and its children):", ""]
    header = ["system", "idle", "under load", "weights", "KV cache"]
    header += ["beyond both, idle", "beyond both, load"]
    lines += table(header, memory, "lrrrrrr") if memory else ["Not measured.", ""]
    return lines


def _api_overhead(results: Results) -> list[str]:
    try:
        dig(results, "serving", "api_overhead")
    except MissingFigureError as why:
        return [f"API overhead: not measured ({why}).", ""]
    path = ("serving", "api_overhead")
    rows = [
        [
            "time to first token",
            _stat_cell(results, "s", *path, "ttft_engine_s"),
            _stat_cell(results, "s", *path, "ttft_api_s"),
        ],
        [
            "streaming decode",
            _stat_cell(results, "tok/s", *path, "stream_tps_runner"),
            _stat_cell(results, "tok/s", *path, "stream_tps_api"),
        ],
    ]
    return [
        "The HTTP API's cost, same prompt, runner directly vs `/api/generate`:",
        "",
        *table(["figure", "runner", "API"], rows, "lrr"),
    ]


_OVERLOAD = {
    "clients": "concurrent clients",
    "max_queue": "queue limit (LADLE_MAX_QUEUE)",
    "requests": "requests sent",
    "accepted": "accepted",
    "rejected_503": "rejected with 503",
    "completed": "accepted and completed",
    "failed": "accepted and failed",
    "retry_after_seen": "503s carried Retry-After",
    "rss_mib_first_100": "server RSS, first 100 requests (MiB)",
    "rss_mib_last_100": "server RSS, last 100 requests (MiB)",
}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(each) for each in value) + "]"
    return plain(value) if isinstance(value, int | float) else str(value)


def _overload(results: Results) -> list[str]:
    try:
        node = dig(results, "serving", "overload")
    except MissingFigureError as why:
        return [f"Overload: not measured ({why}).", ""]
    rows = [
        [_OVERLOAD.get(key, key.replace("_", " ")), _shown(value)] for key, value in node.items()
    ]
    return [
        "Overload (issue 8): many clients against a bounded queue:",
        "",
        *table(["", "value"], rows, "lr"),
    ]


def _second_model(results: Results) -> list[str]:
    """The single stream on the second model (``serving.second_model``), rendered with the
    same tables as the first, from a view of the results rooted at it."""
    title = ["### Single stream on a second model", ""]
    try:
        dig(results, "serving")
        second = dig(results, "serving", "second_model")
    except MissingFigureError as why:
        serving = results.get("serving")
        present = isinstance(serving, Mapping) and "second_model" in serving
        return [*title, f"Not measured: {why}.", ""] if present else []
    if not isinstance(second, Mapping):
        return []
    view = {"machine": results.get("machine", {}), "serving": second}
    return [*title, *_model(view), *_single(view)]


def section(results: Results, charts: Mapping[str, str]) -> list[str]:
    """The serving section, or why it is absent."""
    lines = ["## Serving: ladle next to its peers", ""]
    try:
        dig(results, "serving")
    except MissingFigureError as why:
        return [*lines, f"Not measured in this run: {why}.", "", *notes("serving")]
    lines += _model(results) + _systems(results)
    lines += ["### Single stream", "", *_single(results)]
    if "ttft" in charts:
        lines += [f"![Time to first token per system]({charts['ttft']})", ""]
    lines += _second_model(results)
    lines += ["### Concurrent streams", "", *_concurrency(results, charts)]
    lines += ["### Multi-turn chat (prefix reuse)", "", *_multiturn(results, charts)]
    lines += ["### Cold start and memory", "", *_cold_and_memory(results)]
    lines += ["### API overhead and overload", "", *_api_overhead(results), *_overload(results)]
    lines += _checks(results)
    return [*lines, *notes("serving"), *notes("decode_bound")]

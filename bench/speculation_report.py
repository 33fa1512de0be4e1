"""The report's speculative decoding section (issue 19), from ``results["speculation"]``.

Tables: tokens/s per workload for ladle (off, n-gram, draft) and llama-server (off,
``ngram-simple``, draft), each with its speed-up over its own "off" and its acceptance
(accepted/proposed); a text bar chart of the same figures, which renders wherever the
Markdown does; and what a verify batch of ``1 + k`` tokens costs per model file type.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from bench.figures import MissingFigureError, Stat, dig, number
from bench.markdown import notes, table
from bench.readings import Reading, Side

Results = Mapping[str, Any]
SYSTEMS = (("ladle", "ladle"), ("llama_server", "llama-server"))
MODES = (("off", "off"), ("ngram", "n-gram"), ("draft", "draft"))
LABELS = {"rewrite": "(a) rewrite a file", "summary": "(b) summary", "chat": "(c) free chat"}
BAR_WIDTH = 40


def section(results: Results) -> list[str]:
    """The section's Markdown lines."""
    lines = ["## Speculative decoding", ""]
    found = results.get("speculation")
    if not isinstance(found, Mapping):
        return []  # a results file from before the benchmark, or a run without it
    if "ladle" not in found:
        why = found.get("error") or found.get("skipped") or "no figures"
        return [*lines, f"Not measured in this run: {why}.", ""]
    lines += [
        f"Model {found['model']}; draft {found['draft']}. {found['threads']} threads, "
        f"flash attention {found.get('flash_attention', 'auto')}, "
        f"median of {found['runs']} run(s), load average {found['load_average']:.1f} "
        f"before and {found.get('load_average_after', 0):.1f} after.",
        "",
    ]
    lines += _speed_table(found)
    lines += _chart(found)
    lines += _cost_table(found)
    return [*lines, *notes("speculation")]


def _figure(found: Results, system: str, workload: str, mode: str) -> Mapping[str, Any] | None:
    figures = found.get(system, {})
    value = figures.get(workload, {}).get(mode) if isinstance(figures, Mapping) else None
    return value if isinstance(value, Mapping) else None


def _speed_table(found: Results) -> list[str]:
    rows = []
    for workload, label in LABELS.items():
        for system, system_label in SYSTEMS:
            base = _figure(found, system, workload, "off")
            for mode, mode_label in MODES:
                figure = _figure(found, system, workload, mode)
                if figure is None or base is None:
                    continue
                rows.append(_speed_row(label, f"{system_label} {mode_label}", figure, base))
        identical = found["ladle"].get(workload, {}).get("identical")
        if identical is not None:
            rows.append([label, "ladle greedy output identical", "yes" if identical else "NO"])
    header = ["workload", "system", "tokens/s", "vs off", "accepted/proposed"]
    return table(header, [row + [""] * (5 - len(row)) for row in rows], "llrrr")


def _speed_row(
    label: str, name: str, figure: Mapping[str, Any], base: Mapping[str, Any]
) -> list[str]:
    tps, off = float(figure["tps"]), float(base["tps"])
    drafted, accepted = int(figure.get("drafted", 0)), int(figure.get("accepted", 0))
    acceptance = f"{accepted}/{drafted} ({accepted / drafted:.0%})" if drafted else "—"
    return [label, name, f"{tps:.1f}", f"{tps / off:.2f}x" if off else "—", acceptance]


def _chart(found: Results) -> list[str]:
    """Tokens/s as bars of block characters, one per system and mode, per workload."""
    values = [
        float(figure["tps"])
        for workload in LABELS
        for system, _ in SYSTEMS
        for mode, _ in MODES
        if (figure := _figure(found, system, workload, mode)) is not None
    ]
    if not values:
        return []
    top = max(values) or 1.0
    lines = ["Tokens/s per workload (longer is faster):", "", "```"]
    for workload, label in LABELS.items():
        lines.append(label)
        for system, system_label in SYSTEMS:
            for mode, mode_label in MODES:
                figure = _figure(found, system, workload, mode)
                if figure is None:
                    continue
                tps = float(figure["tps"])
                bar = "█" * max(1, round(BAR_WIDTH * tps / top))
                lines.append(f"  {system_label + ' ' + mode_label:<20} {bar} {tps:.1f}")
    return [*lines, "```", ""]


def _cost_table(found: Results) -> list[str]:
    costs = found.get("verify_cost")
    if not isinstance(costs, Mapping) or not costs:
        return []
    sizes = sorted({int(n) for cost in costs.values() for n in cost["ratio"]})
    header = ["file type", "1 token (ms)", *(f"{n} tokens" for n in sizes if n > 1)]
    rows = [
        [
            name,
            f"{cost['one_token_s'] * 1000:.1f}",
            *(f"{cost['ratio'][str(n)]:.2f}x" for n in sizes if n > 1),
        ]
        for name, cost in costs.items()
    ]
    lines = ["What a decode of n tokens (a verify batch) costs, in one-token steps:", ""]
    return lines + table(header, rows, "l" + "r" * (len(header) - 1))


# -- the targets (bench/targets.py) -------------------------------------------


def _tps(results: Results, system: str, workload: str, mode: str) -> float:
    return number(results, "speculation", system, workload, mode, "tps")


def _runs(results: Results, system: str, workload: str, mode: str) -> Stat:
    rates = dig(results, "speculation", system, workload, mode, "tps_runs")
    if isinstance(rates, list) and rates:
        return Stat(statistics.median(rates), min(rates), max(rates), len(rates))
    return Stat.single(_tps(results, system, workload, mode))


def ngram_speedup(results: Results) -> Reading:
    """Issue 19: n-gram speculation on the rewrite, tokens/s over ladle without it."""
    on, off = _runs(results, "ladle", "rewrite", "ngram"), _runs(results, "ladle", "rewrite", "off")
    side, base = Side("n-gram", on, "tok/s"), Side("off", off, "tok/s")
    return Reading(side, on.median / off.median, base)


def ngram_vs_llama_server(results: Results) -> Reading:
    """Issue 19: ladle's n-gram speculation on the rewrite over llama-server's own."""
    ladle = _runs(results, "ladle", "rewrite", "ngram")
    peer = _runs(results, "llama_server", "rewrite", "ngram")
    side, other = Side("ladle n-gram", ladle, "tok/s"), Side("llama-server n-gram", peer, "tok/s")
    return Reading(side, ladle.median / peer.median, other)


def draft_on_chat(results: Results) -> Reading:
    """Issue 19: free chat with a draft, tokens/s over ladle without one."""
    on, off = _runs(results, "ladle", "chat", "draft"), _runs(results, "ladle", "chat", "off")
    return Reading(Side("draft", on, "tok/s"), on.median / off.median, Side("off", off, "tok/s"))


def identical_workloads(results: Results) -> Reading:
    """Issue 19: workloads whose greedy tokens were the same in ladle's three modes."""
    workloads = [dig(results, "speculation", "ladle", key, "identical") for key in LABELS]
    if any(value is None for value in workloads):
        raise MissingFigureError("speculation: ladle: identical")
    same = sum(1 for value in workloads if value)
    return Reading(Side("identical", Stat.single(same), "of 3"), same)

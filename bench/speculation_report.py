"""The report's speculative decoding section (issue 19), from ``results["speculation"]``.

Tables: tokens/s per workload for ladle (off, n-gram, draft) and llama-server (off,
``ngram-simple``, draft), each with its speed-up over its own "off" and its acceptance
(accepted/proposed); a text bar chart of the same figures, which renders wherever the
Markdown does; and what a verify batch of ``1 + k`` tokens costs per model file type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.markdown import notes, table

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

"""The report's three charts, drawn from the ``serving`` section with matplotlib.

* ``concurrency.png``: aggregate tokens/s against concurrent streams, one line per system;
* ``ttft.png``: time to first token of a single stream, one bar per system;
* ``multiturn.png``: prompt-evaluation time of each turn of a 10-turn chat per system,
  with each system's cold evaluation as a dashed line.

Error bars span the fastest and slowest run, as the tables' "min-max" do. Figures are
drawn on :class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot's
global state, so rendering works with no display. A chart whose data is absent is not
drawn; :func:`draw` returns only the charts it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.figures import DASH, MissingFigureError, Stat
from bench.serving_figures import label, system_stat, systems, workload

CHARTS = ("concurrency", "ttft", "multiturn")
_SIZE = (7.0, 4.2)
_DPI = 110


def _new_figure() -> Figure:
    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _color(results: Mapping[str, Any], system: str) -> str:
    """The same colour for a system in every chart: its place in ``systems``."""
    return f"C{systems(results).index(system) % 10}"


def _error_bars(stats: list[Stat], scale: float = 1.0) -> list[list[float]]:
    """Distances below and above each median, as ``errorbar``'s ``yerr`` wants them."""
    return [
        [(stat.median - stat.low) * scale for stat in stats],
        [(stat.high - stat.median) * scale for stat in stats],
    ]


def _concurrency(results: Mapping[str, Any]) -> Figure | None:
    figure = _new_figure()
    axes = figure.add_subplot()
    drawn = False
    for system in systems(results):
        try:
            levels = workload(results, "concurrency", system)
            points = sorted(int(level) for level in levels)
            stats = [
                system_stat(results, system, "concurrency", str(n), "aggregate_tps") for n in points
            ]
        except (MissingFigureError, TypeError, ValueError):
            continue
        medians = [stat.median for stat in stats]
        yerr = _error_bars(stats)
        name, color = label(results, system), _color(results, system)
        axes.errorbar(points, medians, yerr=yerr, marker="o", capsize=3, label=name, color=color)
        drawn = True
    if not drawn:
        return None
    axes.set_xscale("log", base=2)
    axes.set_xlabel("concurrent streams")
    axes.set_ylabel(f"aggregate tokens/s (median; bars: min{DASH}max)")
    axes.set_title("Decode throughput against concurrency")
    axes.xaxis.set_major_formatter("{x:.0f}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def _ttft(results: Mapping[str, Any]) -> Figure | None:
    names, stats, colors = [], [], []
    for system in systems(results):
        try:
            stats.append(system_stat(results, system, "single", "ttft_s"))
        except MissingFigureError:
            continue
        names.append(label(results, system))
        colors.append(_color(results, system))
    if not stats:
        return None
    figure = _new_figure()
    axes = figure.add_subplot()
    positions = list(range(len(stats)))
    medians = [stat.median * 1000 for stat in stats]
    axes.barh(positions, medians, xerr=_error_bars(stats, 1000), capsize=3, color=colors)
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    axes.set_xlabel(f"time to first token, ms (median; bars: min{DASH}max)")
    axes.set_title("Time to first token, one stream")
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def _multiturn(results: Mapping[str, Any]) -> Figure | None:
    figure = _new_figure()
    axes = figure.add_subplot()
    drawn = False
    for system in systems(results):
        try:
            node = workload(results, "multiturn", system)
            turns = [float(seconds) * 1000 for seconds in node["turn_prompt_eval_s"]]
            cold = float(node["cold_prompt_eval_s"]) * 1000
        except (MissingFigureError, KeyError, TypeError, ValueError):
            continue
        name, color = label(results, system), _color(results, system)
        axes.plot(range(1, len(turns) + 1), turns, marker="o", label=name, color=color)
        axes.axhline(cold, linestyle="--", color=color, alpha=0.6)
        drawn = True
    if not drawn:
        return None
    axes.set_yscale("log")
    axes.set_xlabel("turn")
    axes.set_ylabel("prompt evaluation, ms (log scale)")
    axes.set_title("Multi-turn chat: prompt evaluation per turn (dashed: cold)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    return figure


_DRAWERS = {"concurrency": _concurrency, "ttft": _ttft, "multiturn": _multiturn}


def draw(results: Mapping[str, Any], folder: Path) -> dict[str, Path]:
    """Write each chart there is data for as ``folder/<name>.png``; remove the stale
    PNG of a chart there is no data for, so the report never shows an old one."""
    written: dict[str, Path] = {}
    for name in CHARTS:
        path = folder / f"{name}.png"
        figure = _DRAWERS[name](results)
        if figure is None:
            path.unlink(missing_ok=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        # No "Software" entry: the same figures give the same bytes across versions.
        figure.savefig(path, format="png", metadata={"Software": None})
        written[name] = path
    return written

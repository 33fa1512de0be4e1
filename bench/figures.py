"""Reading figures out of a results file, and writing them for people.

A results file (``bench/results/*.json``) is whatever the bench modules returned, so the
report must cope with what is not there: a module that was not run, one that recorded
``{"skipped": why}`` or ``{"error": what}``, a peer that did not run one workload. Every
lookup goes through :func:`dig`, which raises :class:`MissingFigureError` with a reason a reader can
act on, instead of a ``KeyError`` deep inside the renderer.

Two shapes of statistics occur: the serving schema's STAT (``median``, ``min``, ``max``,
``runs`` as a list of samples) and the older modules' (``median_s``, ``min_s``,
``max_s``, ``runs`` as a count). :meth:`Stat.read` accepts both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

TIMES = "\N{MULTIPLICATION SIGN}"
"""The unit of a ratio (ladle's figure over a peer's)."""
DASH = "\N{EN DASH}"
"""Between the fastest and the slowest run."""


class MissingFigureError(Exception):
    """A figure the results do not hold; ``str()`` says why, for the report."""


def _absent_because(node: Any, where: str) -> str | None:
    """Why ``node`` holds no figures: it was skipped or it failed."""
    if isinstance(node, Mapping):
        if "skipped" in node:
            return f"{where} skipped: {node['skipped']}"
        if "error" in node:
            return f"{where} failed: {node['error']}"
    return None


def dig(results: Any, *path: str) -> Any:
    """``results[path[0]][path[1]]…``; :class:`MissingFigureError` names the first step
    that is absent, skipped or failed."""
    node = results
    for depth, key in enumerate(path):
        where = ".".join(path[: depth + 1])
        if not isinstance(node, Mapping) or key not in node:
            reason = _absent_because(node, ".".join(path[:depth]) or "results")
            raise MissingFigureError(reason or f"no {where} in the results")
        node = node[key]
        reason = _absent_because(node, where)
        if reason:
            raise MissingFigureError(reason)
    return node


def number(results: Any, *path: str) -> float:
    """A plain number at ``path``."""
    value = dig(results, *path)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MissingFigureError(f"{'.'.join(path)} is not a number")
    return float(value)


@dataclass(frozen=True)
class Stat:
    """A figure over several runs: the median, the fastest and slowest (``low`` and
    ``high`` are the smallest and largest values), and how many runs, when known."""

    median: float
    low: float
    high: float
    runs: int | None = None

    @classmethod
    def read(cls, results: Any, *path: str) -> Stat:
        """The statistic at ``path``, in either of the two shapes, or a plain number
        (a figure measured once)."""
        node = dig(results, *path)
        where = ".".join(path)
        if isinstance(node, int | float) and not isinstance(node, bool):
            return cls.single(number(results, *path))
        if not isinstance(node, Mapping):
            raise MissingFigureError(f"{where} is not a statistic")
        suffix = "" if "median" in node else "_s"
        try:
            median, low, high = (float(node[key + suffix]) for key in ("median", "min", "max"))
        except (KeyError, TypeError, ValueError):
            raise MissingFigureError(f"{where} is not a statistic") from None
        runs = node.get("runs")
        count = len(runs) if isinstance(runs, list) else runs if isinstance(runs, int) else None
        return cls(median, low, high, count)

    @classmethod
    def single(cls, value: float, runs: int | None = None) -> Stat:
        """One value with no spread: a figure measured once, or computed."""
        return cls(value, value, value, runs)

    def counted(self, runs: int | None) -> Stat:
        """The same figures with ``runs`` filled in where the results left it out."""
        return self if self.runs is not None or runs is None else replace(self, runs=runs)

    def map(self, function: Callable[[float], float]) -> Stat:
        """Each figure through ``function``; a decreasing one (a time turned into a
        rate) swaps the fastest and slowest so ``low <= high`` still holds."""
        low, high = sorted((function(self.low), function(self.high)))
        return Stat(function(self.median), low, high, self.runs)


def plain(value: float) -> str:
    """A number with about three significant digits, thousands separated."""
    size = abs(value)
    if value == int(value) and size < 1e15:
        return f"{int(value):,}"
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1 or size == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


_TIME_SCALES = ((120.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "µs"))


def _time_scale(seconds: float) -> tuple[float, str]:
    for limit, unit in _TIME_SCALES:
        if abs(seconds) >= limit:
            return (60.0 if unit == "min" else limit), unit
    return _TIME_SCALES[-1]


def quantity(value: float, unit: str) -> str:
    """One value with its unit; seconds are shown in s, ms or µs as fits."""
    if unit == "s":
        factor, shown = _time_scale(value)
        return f"{plain(value / factor)} {shown}"
    if unit == TIMES:
        return f"{value:.2f}{TIMES}"
    return f"{plain(value)} {unit}".rstrip()


def spread(stat: Stat, unit: str) -> str:
    """``median unit (low-high, n runs)``, all in the median's unit."""
    runs = "" if stat.runs is None else f", {stat.runs} run{'s' if stat.runs != 1 else ''}"
    if stat.runs == 1 or stat.low == stat.high:
        return f"{quantity(stat.median, unit)}{f' ({runs[2:]})' if runs else ''}"
    if unit == "s":
        factor, shown = _time_scale(stat.median)
        low, high = plain(stat.low / factor), plain(stat.high / factor)
        return f"{plain(stat.median / factor)} {shown} ({low}{DASH}{high}{runs})"
    return f"{quantity(stat.median, unit)} ({plain(stat.low)}{DASH}{plain(stat.high)}{runs})"

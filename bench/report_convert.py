"""The report's section on converting a Hugging Face checkpoint (issue 20,
:mod:`bench.convert`): seconds and peak memory, next to the largest shard.

A results file from before the module existed has no ``convert`` key: no section then
(rather than a "not measured" line in every older report).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.figures import DASH, TIMES, MissingFigureError, Stat, number, spread
from bench.markdown import table

Results = Mapping[str, Any]

TITLE = "Checkpoint conversion (safetensors to GGUF)"


def section(results: Results) -> list[str]:
    """The section: a table of the conversion's figures, or why there are none."""
    found = results.get("convert")
    if found is None:
        return []
    lines = [f"## {TITLE}", ""]
    if not isinstance(found, Mapping) or "error" in found or "skipped" in found:
        reason = found.get("error") or found.get("skipped") if isinstance(found, Mapping) else None
        return [*lines, f"Not measured in this run: {reason or 'no figures'}.", ""]
    try:
        rows = _rows(results)
        shard = number(results, "convert", "largest_shard_bytes")
    except MissingFigureError as why:
        return [*lines, f"Not measured in this run: {why}.", ""]
    peak = Stat.read(results, "convert", "peak_rss_bytes").median
    lines += [
        "SmolLM2-135M-Instruct written out as a Hugging Face folder (one F32 safetensors "
        f"file of {shard / 1e6:.0f} MB), converted by `builder.convert` in a fresh process "
        "into a fresh store; peak RSS is the process's `VmHWM` (the file's mapped pages "
        "included). The target is a peak under twice the largest shard; it is "
        f"{peak / shard:.2f}{TIMES} the shard: **{'met' if peak < 2 * shard else 'not met'}**.",
        "",
    ]
    return [*lines, *table(["figure", f"median (min{DASH}max, runs)"], rows, "lr")]


def _rows(results: Results) -> list[list[str]]:
    def megabytes(key: str) -> str:
        stat = Stat.read(results, "convert", key).map(lambda value: value / 1e6)
        return spread(stat, "MB")

    return [
        ["convert to GGUF (wall)", spread(Stat.read(results, "convert", "convert"), "s")],
        ["peak RSS of the converting process", megabytes("peak_rss_bytes")],
        ["RSS before converting (imports)", megabytes("baseline_rss_bytes")],
        [
            "convert again (cache hit: the inputs hashed)",
            spread(Stat.read(results, "convert", "cached"), "s"),
        ],
    ]

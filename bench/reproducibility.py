"""Run against run: does each target's figure land inside the spread the previous run
reported?

Issue 7 asks for numbers "reproducible within the spread it reports". A full run keeps,
under ``previous`` in its results, the target figures of the run before it on the same
host (:func:`snapshot`, taken from that run's results file before it is replaced), and
the report checks each of this run's medians against that run's fastest-to-slowest range
(:func:`section`). Only figures measured over several runs take part: a single value has
no spread to land in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.figures import Stat, spread
from bench.markdown import notes, table
from bench.targets import Outcome, evaluate

Results = Mapping[str, Any]


def snapshot(results: Results, source: str) -> dict[str, Any]:
    """The target figures of ``results`` (ladle's side of each row), for the next run;
    ``source`` names where they come from (a results file)."""
    figures = {}
    for outcome in evaluate(results):
        reading = outcome.reading
        if reading is None:
            continue
        stat = reading.ladle.stat
        figures[outcome.target.figure] = {
            "median": stat.median, "min": stat.low, "max": stat.high,
            "runs": stat.runs, "unit": reading.ladle.unit,
        }  # fmt: skip
    machine = results.get("machine")
    commit = machine.get("commit") if isinstance(machine, Mapping) else None
    return {"date": results.get("date"), "source": source, "commit": commit, "figures": figures}


def previous_of(path: Path) -> dict[str, Any] | None:
    """The snapshot of the full run saved at ``path`` (about to be replaced), or None
    when there is none there, or it is a quick or partial run."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict) or results.get("quick") or results.get("only"):
        return None
    return snapshot(results, path.name)


def _spread_of(node: Mapping[str, Any]) -> Stat:
    runs = node.get("runs")
    return Stat(float(node["median"]), float(node["min"]), float(node["max"]), runs)


def _code_line(results: Results, previous: Mapping[str, Any]) -> list[str]:
    """Whether both runs measured the same code (their commits, when recorded)."""
    machine = results.get("machine")
    now = machine.get("commit") if isinstance(machine, Mapping) else None
    before = previous.get("commit")
    if not now or not before:
        return ["The commit of one of the runs is not recorded.", ""]
    if now == before and not now.endswith("+changes"):
        return [f"Both runs measured the same code (commit `{now}`).", ""]
    return [
        f"The code changed between the runs (`{before}` then `{now}`): a figure may have "
        "moved because of it.",
        "",
    ]


def section(results: Results, outcomes: list[Outcome]) -> list[str]:
    """The report's section: each figure now (``outcomes``, the targets judged against
    ``results``) and in the previous run, whether this run's median is inside the
    previous run's range, and whether the two ranges overlap."""
    lines = ["## Reproducibility", ""]
    previous = results.get("previous")
    if not isinstance(previous, Mapping) or not isinstance(previous.get("figures"), Mapping):
        return [*lines, "No earlier full run of this host to compare with.", ""]
    figures = previous["figures"]
    rows, inside, overlap = [], 0, 0
    for outcome in outcomes:
        reading, old = outcome.reading, figures.get(outcome.target.figure)
        if reading is None or not isinstance(old, Mapping):
            continue
        try:
            before = _spread_of(old)
        except (KeyError, TypeError, ValueError):
            continue
        now = reading.ladle.stat
        if before.low == before.high or now.low == now.high:
            continue  # measured once: no spread to land in
        unit = str(old.get("unit", reading.ladle.unit))
        within = before.low <= now.median <= before.high
        meets = now.low <= before.high and before.low <= now.high
        inside, overlap = inside + within, overlap + meets
        change = (now.median / before.median - 1) * 100 if before.median else 0.0
        rows.append(
            [
                outcome.target.figure,
                spread(now, unit),
                spread(before, unit),
                f"{change:+.0f} %",
                "yes" if within else "**no**",
                "yes" if meets else "**no**",
            ]
        )
    source = previous.get("source", "the previous results")
    date = str(previous.get("date", ""))[:16].replace("T", " ")
    lines += [
        f"Against the previous full run on this host ({source}, measured {date}), of the "
        f"{len(rows)} figures measured over several runs: **{inside}** have their median inside "
        "the previous run's fastest-to-slowest range, and the two ranges overlap for "
        f"**{overlap}**.",
        "",
    ]
    lines += _code_line(results, previous)
    header = ["figure", "this run", "previous run", "median moved", "inside", "overlap"]
    return [*lines, *table(header, rows, "lrrrll"), *notes("reproducibility")]

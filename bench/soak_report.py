"""The soak's section of the benchmark report (:mod:`bench.soak`).

``python -m bench`` writes docs/BENCHMARKS.md whole from its results file; the soak runs
after it (``make bench``) and writes its own section into the same file, between two
markers: replaced when it is there, appended otherwise. The figures come from the soak's
results file, named in the section with the command, the machine and the date.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.markdown import table

BEGIN = "<!-- soak: written by `python -m bench.soak --report` (make bench); do not edit -->"
END = "<!-- /soak -->"


def write_section(report: Path, results: Mapping[str, Any], source: Path) -> None:
    """Put the soak's section into ``report`` (replacing the one there)."""
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    start, end = text.find(BEGIN), text.find(END)
    section = "\n".join([BEGIN, *section_lines(results, source, report), END])
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    report.write_text(text, encoding="utf-8")


def section_lines(results: Mapping[str, Any], source: Path, report: Path) -> list[str]:
    """The section: what ran where, the targets, memory, and every kind of request."""
    machine, probe = results["machine"], results["version_probe"]
    link = os.path.relpath(source, report.parent)
    cores = f"{machine['physical_cores']} physical, {machine['logical_cores']} logical cores"
    lines = [
        "## Soak: valid and hostile traffic at once (issue 16)",
        "",
        f"`{results['command']}` on `{machine['host']}` ({machine['cpu']}, {cores}), "
        f"{machine['date'][:10]}, commit {machine['commit'] or 'unknown'}; "
        f"results: [`{source.name}`]({link}). {results['minutes']:g} minutes on "
        f"{results['model']}: {results['clients']['valid']} clients sending valid "
        f"requests, {results['clients']['hostile']} sending hostile ones, and a probe of "
        "`/api/version` every 0.1 s.",
        "",
    ]
    errors, p99 = results["server_errors"], probe["p99_ms"]
    target = probe["target_p99_ms"]
    rows = [
        ["5xx answers", "0", f"{errors:,} of {results['requests']:,}", _met(errors == 0)],
        [
            "`/api/version` p99 while it runs",
            f"< {target:g} ms",
            f"{p99:.1f} ms (p50 {probe['p50_ms']:.1f}, max {probe['max_ms']:.1f}; "
            f"{probe['count']:,} probes)",
            _met(p99 < target),
        ],
        ["tracebacks in the server's log", "0", str(results["tracebacks_in_log"]), ""],
    ]
    lines += table(["figure", "target", "measured", "status"], rows, "l")
    lines += [*_memory(results["rss_mib"]), *_traffic(results["by_kind"])]
    for example in results["server_error_examples"]:
        lines.append(f"- {example}")
    return lines


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _memory(rss: Mapping[str, Mapping[str, float]]) -> list[str]:
    start, end = rss["start"], rss["end"]
    rows = [
        ["server", f"{start['server']:,.1f} MiB", f"{end['server']:,.1f} MiB"],
        [
            "runners",
            f"{start['runners']:,.1f} MiB ({start['n_runners']:g})",
            f"{end['runners']:,.1f} MiB ({end['n_runners']:g})",
        ],
    ]
    return ["RSS after the warm-up and at the end:", "", *table(["", "start", "end"], rows, "l")]


def _traffic(by_kind: Mapping[str, Mapping[str, int]]) -> list[str]:
    rows = [
        [kind, ", ".join(f"{outcome}: {count:,}" for outcome, count in seen.items())]
        for kind, seen in by_kind.items()
    ]
    header = ["request", "answers (`left`: the client gave up first, on purpose)"]
    return ["Every request, by how it ended:", "", *table(header, rows, "l")]

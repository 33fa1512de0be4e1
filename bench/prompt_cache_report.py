"""The report's section for :mod:`bench.prompt_cache`: shared prefixes and restarts."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import REPO
from bench.figures import Stat, number
from bench.markdown import notes, table
from bench.readings import Reading, Side

Results = Mapping[str, Any]


def _hits(hits: Mapping[str, Any]) -> str:
    """``ps``'s counters: hits by source and tokens saved."""
    if not hits:
        return "none"
    sources = ", ".join(f"{hits.get(key, 0)} {key}" for key in ("memory", "shared", "disk"))
    return f"{sources}; {hits.get('tokens_saved', 0):,} tokens saved"


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.0%} (target ≤ {target:.0%}: {'met' if ratio <= target else 'missed'})"


def _shared(part: Mapping[str, Any]) -> list[list[str]]:
    full, shared = part["full"], part["shared"]
    return [
        [
            f"{part['chats']} chats, a {part['system_tokens']:,}-token system prompt: "
            "prompt evaluation, all chats",
            f"{shared['prompt_eval_s']:.2f} s shared, {full['prompt_eval_s']:.2f} s each in full",
        ],
        ["  shared / in full", _verdict(part["ratio"], part["target"])],
        ["  hits (`/api/ps`)", _hits(shared.get("hits", {}))],
    ]


def _restart(part: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            f"a {part['history_tokens']:,}-token chat, server restarted: next turn's "
            "prompt evaluation",
            f"{part['warm_prompt_eval_s']:.2f} s after the restart "
            f"({part['warm_cached_tokens']:,} of {part['warm_prompt_tokens']:,} tokens from "
            f"disk), {part['cold_prompt_eval_s']:.2f} s cold",
        ],
        ["  after restart / cold", _verdict(part["ratio"], part["target"])],
        ["  saved on disk", f"{part['saved_bytes'] / 2**20:.1f} MiB"],
    ]


def section(results: Results) -> list[str]:
    """Issue 18: a shared system prompt across chats, and a chat across a restart."""
    lines = ["## Prompt caches (shared prefixes, restarts)", ""]
    found = results.get("prompt_cache")
    if not isinstance(found, Mapping) or "shared" not in found:
        why = (found or {}).get("error") or (found or {}).get("skipped") or "no results"
        return [*lines, f"Not measured in this run: {why}.", ""]
    rows = _shared(found["shared"]) + _restart(found["restart"])
    lines += [f"{found['model']}, {found['threads']} threads, through `ladle serve`.", ""]
    return [*lines, *table(["figure", "value"], rows, "ll"), *notes("prompt_cache")]


def shared_prefix_share(results: Results) -> Reading:
    """Issue 18: 16 chats' prompt evaluation with a shared system prompt, % of in full."""
    shared = number(results, "prompt_cache", "shared", "shared", "prompt_eval_s")
    full = number(results, "prompt_cache", "shared", "full", "prompt_eval_s")
    return Reading(
        Side("shared", Stat.single(shared), "s"),
        100 * shared / full,
        Side("each in full", Stat.single(full), "s"),
    )


def restart_share(results: Results) -> Reading:
    """Issue 18: the next turn's prompt evaluation after a restart, % of the cold one."""
    warm = number(results, "prompt_cache", "restart", "warm_prompt_eval_s")
    cold = number(results, "prompt_cache", "restart", "cold_prompt_eval_s")
    return Reading(
        Side("after restart", Stat.single(warm), "s"),
        100 * warm / cold,
        Side("cold", Stat.single(cold), "s"),
    )


_BLOCK = re.compile(r"<!-- prompt_cache: .*?<!-- /prompt_cache -->\n", re.DOTALL)


def write_block(results: Results, docs: Path = REPO / "docs" / "BENCHMARKS.md") -> Path:
    """Save ``results`` as bench/results/prompt-cache-<date>.json and put their section
    (between markers, replacing an earlier one) at the end of ``docs``; the JSON's path."""
    date = time.strftime("%Y-%m-%d")
    saved = REPO / "bench" / "results" / f"prompt-cache-{date}.json"
    saved.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    load = ", ".join(f"{value:.1f}" for value in results.get("load_average", ()))
    block = [
        "<!-- prompt_cache: written by `python -m bench.prompt_cache --report`; do not edit -->",
        *section(results),
        f"Measured {date}, load average {load} at the end; results: "
        f"[`{saved.name}`](../bench/results/{saved.name}).",
        "<!-- /prompt_cache -->",
    ]
    text = _BLOCK.sub("", docs.read_text(encoding="utf-8")).rstrip("\n")
    docs.write_text(text + "\n\n" + "\n".join(block) + "\n", encoding="utf-8")
    return saved
